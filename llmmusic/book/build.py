"""``llmmusic book``: execute the chapters and labs, present them, record the run, build the HTML.

:func:`build_book` executes the selected chapters (:mod:`llmmusic.book.chapters`) and their labs,
fills the toc's gaps (:mod:`llmmusic.book.toc`), presents every chapter page
(:mod:`llmmusic.book.pages`), writes ``book/_build/run-info.json`` (parameters, wall time and
slowest cells of every notebook), the provenance page's records and the intro's headline table,
then builds the HTML with Jupyter Book (:func:`build_html`).

Used in: llmmusic/commands/book.py, tests/test_book_build.py.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmmusic.book.cell_progress import clock
from llmmusic.book.chapters import (EXECUTED, LABS, NOTEBOOKS, BookError, Chapter, ChapterRun, discover_chapters,
                                    execute_chapter, execute_labs, kept_run, select_chapters)
from llmmusic.book.notebook import declared_parameters, sync_pair
from llmmusic.book.pages import SOURCES, present_notebook, records_page, repository_url
from llmmusic.book.runner import choose_parameters
from llmmusic.book.toc import fill_toc_gaps
from llmmusic.paths import ROOT

RECORDS_PAGE = "provenance_records.md"
RUN_INFO = "run-info.json"


def build_html(src: Path, out: Path, quiet: bool = False) -> None:
    """Jupyter Book 1.x HTML build of ``src`` (holding ``_config.yml`` and ``_toc.yml``) into ``out``."""
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(str(src), str(out), noconfig=True, path_config=str(src / "_config.yml"),
                          confoverrides={"external_toc_path": (src / "_toc.yml").as_posix(),
                                         "latex_individualpages": False},
                          builder="html", quiet=quiet, doctreedir=str(out.parent / ".doctrees"))
    if isinstance(result, Exception) or result:
        raise BookError(f"the HTML build of {src} failed ({result!r}); see the Sphinx messages above")


def version() -> str:
    """The package version."""
    from llmmusic import __version__

    return __version__


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_parameters(selected: Sequence[Chapter], params: Mapping[str, Any]) -> None:
    """Refuse parameters that none of the selected chapters declares."""
    known = {name for c in selected for name in declared_parameters(c)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise BookError(f"parameter(s) {unknown} are declared by none of the chapters "
                        f"{[c.name for c in selected]}; see each notebook's cell tagged 'parameters'")


def _execute_chapters(selected: Sequence[Chapter], params: Mapping[str, Any], small: bool, executed_dir: Path,
                      runs: dict[str, ChapterRun], begun: float, **options: Any) -> BookError | None:
    """Execute the chapters in order into ``runs``; the first failure stops them and is returned."""
    for k, chapter in enumerate(selected, 1):
        injected = choose_parameters(chapter, params, preset="small" if small else None)
        print(f"[book] [{k}/{len(selected)}] executing {chapter.name} {json.dumps(injected, sort_keys=True)}",
              flush=True)
        try:
            run = execute_chapter(chapter, injected, executed_dir, **options)
        except BookError as exc:
            runs[chapter.name] = ChapterRun(chapter.number, chapter.name, "failed", injected, error=str(exc))
            return exc
        runs[chapter.name] = run
        slow = ", ".join(f"cell {c['cell']} {c['seconds']:.0f} s" for c in run.slowest_cells)
        print(f"[book] {chapter.name}: {run.wall_s:.1f} s (slowest: {slow}; build {clock(time.monotonic() - begun)})",
              flush=True)
    return None


def _kept_labs(executed_dir: Path, ran: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Run-info records of the executed labs kept from an earlier build."""
    names = {lab["lab"] for lab in ran}
    kept = [kept_run("", path) for path in sorted((executed_dir / LABS).glob("lab*.ipynb")) if path.stem not in names]
    return [{"lab": k.notebook, "status": k.status, "parameters": k.parameters, "wall_s": k.wall_s,
             "slowest_cells": k.slowest_cells} for k in kept]


def _present(src: Path, executed_dir: Path, found: Sequence[Chapter], runs: Mapping[str, ChapterRun],
             info: dict[str, Any]) -> None:
    """Copy the chapter sources for the rerun boxes, present every chapter page, write the generated pages."""
    from llmmusic.atomic import write_text
    from llmmusic.book.claims import write_claims
    from llmmusic.book.headline import write_headline
    from llmmusic.book.provenance import load_records

    records = load_records(executed_dir)
    (executed_dir / SOURCES).mkdir(parents=True, exist_ok=True)
    for chapter in found:  # the rerun boxes' downloads, beside the pages whatever the source folder
        sync_pair(chapter)
        for source in (chapter.source, chapter.paired):
            shutil.copy2(source, executed_dir / SOURCES / source.name)
    for run in runs.values():  # every chapter page, run now or kept, gets its summary, box and folds
        if run.status in ("executed", "kept") and run.output:
            present_notebook(run.output, [r for r in records if r["notebook"] == run.notebook], repository_url(src))
    write_headline(executed_dir)
    write_claims(executed_dir)
    info["finished"] = _now()
    write_text(executed_dir / RECORDS_PAGE, records_page(records, info))


def build_book(chapters: Sequence[str] | None = None, params: Mapping[str, Any] | None = None, small: bool = False,
               execute: bool = True, src: str | Path = ROOT, out: str | Path | None = None,
               notebooks: str | Path = NOTEBOOKS, kernel: str = "python3", timeout_s: int | None = None,
               quiet: bool = False, command: str | None = None, labs: bool = True) -> dict[str, Any]:
    """Execute chapters and build the book (see the module docstring of :mod:`llmmusic.book`).

    Args:
        chapters: chapter numbers or names to execute (``None``: all discovered).
        params: parameters injected into every selected chapter that declares them.
        small: inject each chapter's small parameters (``params`` win over them).
        execute: ``False`` only rebuilds the HTML from the executed notebooks already there.
        src: the book's source folder (``_config.yml``, ``_toc.yml``, ``book/``).
        out: HTML output folder (default ``<src>/book/_build/html``).
        notebooks: folder of the chapter sources.
        kernel: Jupyter kernel name.
        timeout_s: per-cell timeout (``None``: none).
        quiet: less Sphinx output.
        command: the command line recorded in run-info (default ``llmmusic book``).
        labs: also execute the course labs of the selected chapters (see :func:`execute_labs`).
    Returns:
        The run-info record (also written to ``<out>/../run-info.json``).
    Raises:
        BookError: a chapter failed (its cell and error are in the message) or the HTML build failed.
    """
    from llmmusic.book.inputs import git_state

    src = Path(src).resolve()
    out = Path(out).resolve() if out is not None else src / "book" / "_build" / "html"
    executed_dir = src / EXECUTED
    params = dict(params or {})
    found = discover_chapters(notebooks)
    selected = select_chapters(found, chapters) if execute else []
    info: dict[str, Any] = {
        "started": _now(), "finished": None, "command": command or "llmmusic book",
        "small": small, "params": params, "execute": execute, "llmmusic": version(), "git": git_state(ROOT),
        "python": sys.version.split()[0], "chapters": [], "labs": [], "html": str(out), "execute_s": None,
        "sphinx_s": None}
    runs: dict[str, ChapterRun] = {}
    run_info_path = out.parent / RUN_INFO
    if execute and params:
        _check_parameters(selected, params)
    begun = time.monotonic()
    options = {"kernel": kernel, "timeout_s": timeout_s}
    failure = _execute_chapters(selected, params, small, executed_dir, runs, begun, **options)
    if failure is None and execute and labs:
        try:
            info["labs"] = execute_labs([c.number for c in selected], executed_dir, small=small, **options)
        except BookError as exc:
            failure = exc
    info["labs"] += _kept_labs(executed_dir, info["labs"])
    warnings = fill_toc_gaps(src, found, runs) + _lab_url_warnings(repository_url(src))
    for warning in warnings:
        print(f"[book] warning: {warning}", flush=True)
    info["chapters"] = [asdict(r) for r in sorted(runs.values(), key=lambda r: r.notebook)]
    info["warnings"] = warnings
    write_run_info(run_info_path, info)
    if failure is not None:
        raise failure
    _present(src, executed_dir, found, runs, info)
    info["execute_s"] = round(time.monotonic() - begun, 2)
    print("[book] building the HTML", flush=True)
    start = time.monotonic()
    build_html(src, out, quiet=quiet)
    info["sphinx_s"] = round(time.monotonic() - start, 2)
    write_run_info(run_info_path, info)
    print(f"[book] HTML build: {info['sphinx_s']:.1f} s; total {clock(time.monotonic() - begun)}", flush=True)
    print(f"[book] open {out / 'index.html'}", flush=True)
    return info


def _lab_url_warnings(repository: str | None) -> list[str]:
    """A warning for each lab whose set-up cell clones another repository than ``repository.url``."""
    from llmmusic.course import discover_labs

    if not repository:
        return []
    warnings = []
    for lab in discover_labs():
        cloned = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", lab.source.read_text(encoding="utf-8")))
        if cloned - {repository}:
            warnings.append(f"{lab.source.relative_to(ROOT)} clones {', '.join(sorted(cloned))}, not repository.url "
                            f"{repository} of _config.yml (see the README's Publishing section)")
    return warnings


def write_run_info(path: Path, info: Mapping[str, Any]) -> None:
    """Write the run-info record as JSON."""
    from llmmusic.atomic import write_text

    write_text(path, json.dumps(info, indent=2, default=str) + "\n")
