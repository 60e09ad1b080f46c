"""The book's chapters, ``notebooks/NN_topic.py``, executed by the notebook runner into ``book/executed``.

A :class:`Chapter` is a :class:`~llmmusic.book.notebook.Notebook` whose quick-mode parameters are its
metadata ``llmmusic.small``. :func:`execute_chapter` runs one into ``book/executed/NN_topic.ipynb``
(its media and provenance records beside it) and keeps the last good run when it fails;
:func:`execute_labs` runs the course labs of the chapters into ``book/executed/labs``;
:func:`kept_run` reads the record of a notebook an earlier build executed.

Used in: llmmusic/book/build.py, llmmusic/book/toc.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from llmmusic.book.notebook import Notebook, read_any, slowest_cells
from llmmusic.book.runner import NotebookError, execute
from llmmusic.paths import ROOT

NOTEBOOKS = ROOT / "notebooks"
CHAPTER_PATTERN = "[0-9][0-9]_*.py"
EXECUTED = Path("book") / "executed"  # relative to the book's source folder
LABS = "labs"  # executed course labs, under the executed folder
EXECUTED_ENV = "LLMMUSIC_BOOK_EXECUTED"  # where a chapter's Provenance writes (llmmusic.book.provenance)


class BookError(NotebookError):
    """A chapter failed or the book could not be built; the message says where and why."""


@dataclass(frozen=True)
class Chapter(Notebook):
    """One chapter notebook: ``number`` is its two digits (``"01"``), ``name`` its file stem."""

    number: str

    def small_parameters(self) -> dict[str, Any]:
        """The chapter's declared quick-mode parameters (metadata ``llmmusic.small``; empty if none)."""
        return self.preset("small")


@dataclass
class ChapterRun:
    """What happened to one chapter in a build (recorded in run-info.json)."""

    chapter: str
    notebook: str
    status: str  # executed | failed | kept (previous executed copy) | placeholder | skipped
    parameters: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None
    output: str | None = None
    error: str | None = None
    slowest_cells: list[dict[str, Any]] = field(default_factory=list)


def discover_chapters(notebooks: str | Path = NOTEBOOKS) -> list[Chapter]:
    """Every ``NN_topic.py`` under ``notebooks``, in chapter order."""
    return [Chapter(p.stem[:2], p.stem, p) for p in sorted(Path(notebooks).glob(CHAPTER_PATTERN))]


def select_chapters(chapters: Sequence[Chapter], wanted: Sequence[str] | None) -> list[Chapter]:
    """The chapters named in ``wanted`` (``"1"``, ``"01"`` or ``"01_prompt_design"``); all if empty."""
    if not wanted:
        return list(chapters)
    chosen: list[Chapter] = []
    for item in wanted:
        key = item.zfill(2) if item.isdigit() else item
        match = [c for c in chapters if c.number == key or c.name == key]
        if not match:
            raise BookError(f"no chapter {item!r}; available: {', '.join(c.name for c in chapters) or 'none'}")
        chosen += [c for c in match if c not in chosen]
    return sorted(chosen, key=lambda c: c.name)


def _chapter_outputs(executed_dir: Path, name: str) -> list[Path]:
    """What a chapter run writes: its executed notebook, media folder and provenance records."""
    return [executed_dir / f"{name}.ipynb", executed_dir / "media" / name, executed_dir / "provenance" / f"{name}.json"]


def _restore(executed_dir: Path, name: str, backup: Path) -> None:
    """Put back the outputs :func:`execute_chapter` moved to ``backup`` (a failed run's are removed)."""
    for i, path in enumerate(_chapter_outputs(executed_dir, name)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        if (backup / str(i)).exists():
            shutil.move(str(backup / str(i)), str(path))


def execute_chapter(chapter: Chapter, parameters: Mapping[str, Any], executed_dir: Path,
                    kernel: str = "python3", timeout_s: int | None = None,
                    stream: TextIO | None = None) -> ChapterRun:
    """Execute one chapter into ``executed_dir/NN_topic.ipynb``, reporting each cell and the chapter's
    loop progress on ``stream`` (default stdout; see :class:`~llmmusic.book.cell_progress.CellProgress`).

    On failure the previous executed notebook, media and records are put back (the book keeps the
    last good run) and the failed notebook is kept as ``NN_topic.failed.ipynb``.

    Raises:
        BookError: a cell raised; the message shows the cell and the error.
    """
    out = executed_dir / f"{chapter.name}.ipynb"
    failed = executed_dir / f"{chapter.name}.failed.ipynb"
    executed_dir.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=f".{chapter.name}.", dir=executed_dir))
    for i, path in enumerate(_chapter_outputs(executed_dir, chapter.name)):
        if path.exists():
            shutil.move(str(path), str(backup / str(i)))
    ran = execute(chapter, out, parameters, cwd=ROOT, kernel=kernel, timeout_s=timeout_s,
                  stream=stream if stream is not None else sys.stdout, env={EXECUTED_ENV: str(executed_dir)})
    run = ChapterRun(chapter.number, chapter.name, "executed", ran.parameters, ran.wall_s, str(out),
                     slowest_cells=ran.slowest_cells)
    if ran.error is None:
        failed.unlink(missing_ok=True)
        shutil.rmtree(backup)
        return run
    error = f"chapter {chapter.name} failed: {ran.error}"
    if out.exists():
        os.replace(out, failed)
        error += f"\n\n(the failed notebook is {failed}; the previous executed copy, if any, is kept)"
    _restore(executed_dir, chapter.name, backup)
    shutil.rmtree(backup)
    raise BookError(error)


def execute_labs(numbers: Sequence[str], executed_dir: Path, small: bool = False, kernel: str = "python3",
                 timeout_s: int | None = None, stream: TextIO | None = None) -> list[dict[str, Any]]:
    """Execute the course labs of the chapters ``numbers`` (lab N for chapter 0N) once, with their
    solutions, into ``executed_dir/labs/labN_topic.ipynb`` (the HTML build shows these copies).

    ``small`` applies each lab's tiny parameters. A failing lab keeps its previous copy.

    Returns:
        one run-info record per lab: ``lab``, ``status``, ``parameters``, ``wall_s``, ``slowest_cells``.
    Raises:
        BookError: a lab's cell raised (the message shows the cell and its error).
    """
    from llmmusic.book.pages import present_notebook
    from llmmusic.course import discover_labs, run_lab

    stream = stream if stream is not None else sys.stdout
    wanted = {int(n) for n in numbers}
    out_dir = executed_dir / LABS
    done = []
    for lab in (lab for lab in discover_labs() if lab.number in wanted):
        target = out_dir / f"{lab.name}.ipynb"
        running = out_dir / f".{lab.name}.running.ipynb"
        print(f"[book] executing {lab.name}{' (tiny parameters)' if small else ''}", file=stream, flush=True)
        run = run_lab(lab, out=running, solutions=True, tiny=small, kernel=kernel, timeout_s=timeout_s,
                      cwd=lab.source.parent, stream=stream)
        if run.error:
            running.unlink(missing_ok=True)
            raise BookError(f"lab {lab.name} failed: {run.error}\n(the previous executed copy, if any, is kept)")
        os.replace(running, target)
        present_notebook(target, chapter=False)
        print(f"[book] {lab.name}: {run.wall_s:.1f} s", file=stream, flush=True)
        done.append({"lab": lab.name, "status": "executed", "parameters": run.parameters, "wall_s": run.wall_s,
                     "slowest_cells": run.slowest_cells})
    return done


def kept_run(number: str, path: Path) -> ChapterRun:
    """The record of an executed notebook kept from an earlier build: its parameters, wall time and
    slowest cells as papermill recorded them in the notebook (status ``kept``, or ``placeholder``)."""
    nb = read_any(path)
    if (nb.metadata.get("llmmusic") or {}).get("placeholder"):
        return ChapterRun(number, path.stem, "placeholder", output=str(path))
    ran = nb.metadata.get("papermill") or {}
    wall = ran.get("duration")
    return ChapterRun(number, path.stem, "kept", dict(ran.get("parameters") or {}),
                      round(float(wall), 2) if wall is not None else None, str(path),
                      slowest_cells=slowest_cells(nb))
