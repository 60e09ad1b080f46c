"""Build the book: execute every chapter notebook, then build Jupyter Book 1.x HTML, offline.

``llmmusic book`` (``make book``) runs :func:`build_book`:

1. **discover** the chapters ``notebooks/NN_topic.py`` (Jupytext percent format);
2. **pair** each with ``notebooks/NN_topic.ipynb`` (rewritten only when the ``.py`` changed);
3. **execute** it with papermill into ``book/executed/NN_topic.ipynb``, injecting parameters
   (``-p name value``; ``--small`` applies the chapter's small parameters, see below), with a line
   per executed cell and its time on the terminal, and the progress of long loops
   (:mod:`llmmusic.progress`) in between; the notebook's figures, tables and audio go to
   ``book/executed/media/NN_topic/`` and their provenance records to
   ``book/executed/provenance/NN_topic.json``. A failing cell stops the build and is shown with its
   error;
4. **execute the course labs** of the selected chapters once (lab N for chapter 0N, with their tiny
   parameters under ``--small``) into ``book/executed/labs/``; the HTML build reads those copies
   instead of executing the labs again;
5. **present** every executed chapter (:func:`present_notebook`): the parameters and set-up cells
   are folded (tag ``hide-input``), and the title is followed by "What this chapter shows" (its
   :meth:`~llmmusic.book.provenance.Provenance.summary`, else the captions of its results that quote
   numbers) and a "Rerun this chapter" box with the commands and downloads for that page (the
   chapter sources are copied to ``book/executed/sources/`` for them, whatever the source folder);
6. **record** the parameters, wall time and slowest cells of every chapter and lab in
   ``book/_build/run-info.json``, and write the generated parts of the provenance page
   (``book/executed/provenance_records.md``) and of the intro page (the headline table,
   ``book/executed/headline.md``, :mod:`llmmusic.book.headline`);
7. **build** the HTML from ``_config.yml`` / ``_toc.yml`` with execution off into
   ``book/_build/html``.

Chapters listed in ``_toc.yml`` that were not executed in this run keep their previous executed
copy; a chapter never executed gets a placeholder page saying so, so the book always builds.

**Small parameters.** A chapter declares the parameters of its quick mode in its notebook metadata
(the Jupytext header of ``notebooks/NN_topic.py``)::

    # ---
    # jupyter:
    #   llmmusic:
    #     small: {n_pieces: 8, n_human: 10}
    # ---

``--small`` injects them; ``-p`` values given on the command line win over them.

This module is also the book's Sphinx extension (``sphinx: extra_extensions: [llmmusic.book]``
in ``_config.yml``): it copies ``book/executed/media`` next to the built chapter pages, so the
pages' relative links to audio and figure files resolve, points the Binder/Colab launch buttons
at the source notebooks ``notebooks/NN_topic.ipynb``, and serves each lab page from its executed
copy in ``book/executed/labs/`` when there is one (else myst-nb executes the lab, as a plain
``jupyter-book build`` does). The launch buttons, the repository button and the rerun boxes all
follow one setting, ``repository.url`` in ``_config.yml``.

Used in: ``llmmusic book``, ``make book``, tests/test_book_build.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO
from llmmusic.paths import ROOT

NOTEBOOKS = ROOT / "notebooks"
CHAPTER_PATTERN = "[0-9][0-9]_*.py"
EXECUTED = Path("book") / "executed"  # relative to the book's source folder
RECORDS_PAGE = "provenance_records.md"
LABS = "labs"  # executed course labs, under the executed folder
SOURCES = "sources"  # copies of the chapter sources (.py and paired .ipynb) offered for download, ditto
RUN_INFO = "run-info.json"
FOLD_TAG = "hide-input"  # parameters and set-up cells: code folded, outputs shown
ENGINE = "llmmusic-progress"  # the papermill engine that reports each cell (see CellProgress)


class BookError(RuntimeError):
    """A chapter failed or the book could not be built; the message says where and why."""


@dataclass
class Chapter:
    """One chapter notebook.

    Attributes:
        number: two-digit chapter number (``"01"``).
        name: the file stem (``"01_prompt_design"``).
        source: the Jupytext ``.py`` file.
    """

    number: str
    name: str
    source: Path

    @property
    def paired(self) -> Path:
        """The paired ``.ipynb`` beside the source."""
        return self.source.with_suffix(".ipynb")


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


# --------------------------------------------------------------------------------------------- chapters
def discover_chapters(notebooks: str | Path = NOTEBOOKS) -> list[Chapter]:
    """Every ``NN_topic.py`` under ``notebooks``, in chapter order."""
    found = sorted(Path(notebooks).glob(CHAPTER_PATTERN))
    return [Chapter(p.stem[:2], p.stem, p) for p in found]


def select_chapters(chapters: Sequence[Chapter], wanted: Sequence[str] | None) -> list[Chapter]:
    """The chapters named in ``wanted`` (``"1"``, ``"01"`` or ``"01_prompt_design"``); all if empty."""
    if not wanted:
        return list(chapters)
    chosen = []
    for item in wanted:
        key = item.zfill(2) if item.isdigit() else item
        match = [c for c in chapters if c.number == key or c.name == key]
        if not match:
            raise BookError(f"no chapter {item!r}; available: {', '.join(c.name for c in chapters) or 'none'}")
        chosen += [c for c in match if c not in chosen]
    return sorted(chosen, key=lambda c: c.name)


def read_chapter(chapter: Chapter) -> Any:
    """The chapter as an nbformat notebook (read from its Jupytext source)."""
    import jupytext

    return jupytext.read(chapter.source)


def small_parameters(notebook: Any) -> dict[str, Any]:
    """The chapter's declared quick-mode parameters (``metadata.llmmusic.small``; empty if none)."""
    return dict((notebook.metadata.get("llmmusic") or {}).get("small") or {})


def declared_parameters(chapter: Chapter) -> dict[str, str]:
    """Names and default values (as source text) of the chapter's cell tagged ``parameters``
    (read from the paired ``.ipynb``, synchronised first)."""
    from papermill import inspect_notebook

    sync_pair(chapter)
    return {name: info["default"] for name, info in inspect_notebook(str(chapter.paired)).items()}


def sync_pair(chapter: Chapter, notebook: Any | None = None) -> bool:
    """Write the paired ``.ipynb`` from the ``.py`` source if it differs; True if rewritten."""
    import jupytext

    notebook = notebook if notebook is not None else read_chapter(chapter)
    notebook.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                "name": "python3"})
    seen: set[str] = set()
    for cell in notebook.cells:  # stable cell ids (from the cell's text), so the pair only changes with the source
        base = hashlib.sha1(f"{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
        cell_id, k = base, 1
        while cell_id in seen:
            cell_id, k = f"{base}-{k}", k + 1
        seen.add(cell_id)
        cell["id"] = cell_id
    text = jupytext.writes(notebook, fmt="ipynb")
    if chapter.paired.exists() and chapter.paired.read_text(encoding="utf-8") == text:
        return False
    from llmmusic.atomic import write_text

    write_text(chapter.paired, text)
    return True


# --------------------------------------------------------------------------------------------- execution
def _clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for the terminal."""
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _first_line(source: str, width: int = 60) -> str:
    """The first non-blank, non-comment line of a cell's source, shortened to ``width``."""
    for line in str(source).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            line = line.strip()
            return line if len(line) <= width else line[:width - 3] + "..."
    return ""


class CellProgress:
    """What a chapter's execution shows on the terminal: a line per finished code cell with its time
    and the chapter's elapsed time, the lines its long loops send (:func:`llmmusic.progress.report`,
    through the file named by ``LLMMUSIC_PROGRESS``), and a line every ``heartbeat_s`` while one cell
    runs without sending any.

    Use as a context manager around the execution; :func:`_progress_engine` calls :meth:`begin`,
    :meth:`cell_start` and :meth:`cell_complete`.
    """

    def __init__(self, name: str, channel: Path, stream: TextIO | None = None, heartbeat_s: float = 30.0,
                 poll_s: float = 1.0) -> None:
        self.name, self.channel = name, channel
        self.stream = stream if stream is not None else sys.stdout
        self.heartbeat_s, self.poll_s = heartbeat_s, poll_s
        self.total = 0
        self.done = 0
        self.cell: tuple[int, float, str] | None = None  # (code-cell number, start, first line)
        self.start = time.monotonic()
        self.last_line = self.start
        self._offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CellProgress":
        self.channel.parent.mkdir(parents=True, exist_ok=True)
        self.channel.write_text("", encoding="utf-8")
        self._env_before = os.environ.get("LLMMUSIC_PROGRESS")
        os.environ["LLMMUSIC_PROGRESS"] = str(self.channel)  # the kernel inherits it
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._relay()
        if self._env_before is None:
            os.environ.pop("LLMMUSIC_PROGRESS", None)
        else:
            os.environ["LLMMUSIC_PROGRESS"] = self._env_before
        self.channel.unlink(missing_ok=True)

    def _print(self, text: str) -> None:
        with self._lock:
            print(f"[book] {self.name} {text}", file=self.stream, flush=True)
            self.last_line = time.monotonic()

    def _where(self) -> str:
        return f"cell {self.cell[0]}/{self.total}" if self.cell else f"{self.done}/{self.total} cells"

    def begin(self, cells: Sequence[Any]) -> None:
        """The notebook about to run (after papermill injected its parameters)."""
        self.total = sum(c.cell_type == "code" for c in cells)
        self.done = 0

    def cell_start(self, cell: Any) -> None:
        if cell.cell_type == "code":
            self.cell = (self.done + 1, time.monotonic(), _first_line(cell.source))

    def cell_complete(self, cell: Any) -> None:
        if cell.cell_type != "code" or self.cell is None:
            return
        number, started, line = self.cell
        self.done, self.cell = number, None
        now = time.monotonic()
        self._print(f"cell {number}/{self.total} {now - started:6.1f} s  (chapter {_clock(now - self.start)})  {line}")

    def _relay(self) -> None:
        """Print the loop progress lines sent since the last call."""
        try:
            with open(self.channel, encoding="utf-8") as handle:
                handle.seek(self._offset)
                text = handle.read()
        except OSError:
            return
        complete = text[:text.rfind("\n") + 1]
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            if line.strip():
                self._print(f"{self._where()} | {line.strip()}")

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._relay()
            if self.cell is not None and time.monotonic() - max(self.last_line, self.cell[1]) >= self.heartbeat_s:
                self._print(f"{self._where()} running for {time.monotonic() - self.cell[1]:.0f} s  {self.cell[2]}")


def _progress_engine(progress: CellProgress) -> type:
    """A papermill engine (nbclient's) that tells ``progress`` when each cell starts and ends."""
    from papermill.engines import NBClientEngine

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            progress.begin(nb_man.nb.cells)
            start, complete = nb_man.cell_start, nb_man.cell_complete

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                progress.cell_start(cell)
                return start(cell, cell_index, **kw)

            def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                result = complete(cell, cell_index=cell_index, **kw)
                progress.cell_complete(cell)
                return result

            nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return ProgressEngine


def slowest_cells(notebook: Any, top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` code cells of an executed notebook that took longest (papermill's cell durations).

    Returns:
        ``[{"cell": code-cell number, "seconds": s, "source": first code line}]``, slowest first.
    """
    timed = []
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if duration is not None:
            timed.append({"cell": number, "seconds": round(float(duration), 2), "source": _first_line(cell.source)})
    return sorted(timed, key=lambda c: -c["seconds"])[:top]


def _format_failure(chapter: Chapter, exc: Any) -> str:
    """A failing cell and its error, for the terminal."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join(f"    {line}" for line in str(exc.source).splitlines())
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(exc.traceback))
        return (f"chapter {chapter.name} failed in cell {exc.cell_index} (In [{exc.exec_count}]):\n{source}\n"
                f"{exc.ename}: {exc.evalue}\n\n{trace}")
    return f"chapter {chapter.name} failed: {type(exc).__name__}: {exc}"


def _chapter_outputs(executed_dir: Path, name: str) -> list[Path]:
    """What a chapter run writes: its executed notebook, media folder and provenance records."""
    return [executed_dir / f"{name}.ipynb", executed_dir / "media" / name, executed_dir / "provenance" / f"{name}.json"]


def execute_chapter(chapter: Chapter, parameters: Mapping[str, Any], executed_dir: Path,
                    kernel: str = "python3", timeout_s: int | None = None,
                    stream: TextIO | None = None) -> ChapterRun:
    """Execute one chapter with papermill into ``executed_dir/NN_topic.ipynb``, reporting each cell
    and the chapter's loop progress on ``stream`` (default stdout; see :class:`CellProgress`).

    On failure the previous executed notebook, media and records are put back (the book keeps the
    last good run) and the failed notebook is kept as ``NN_topic.failed.ipynb``.

    Raises:
        BookError: a cell raised; the message shows the cell and the error.
    """
    import tempfile

    import papermill

    notebook = read_chapter(chapter)
    sync_pair(chapter, notebook)
    out = executed_dir / f"{chapter.name}.ipynb"
    failed = executed_dir / f"{chapter.name}.failed.ipynb"
    executed_dir.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=f".{chapter.name}.", dir=executed_dir))
    for i, path in enumerate(_chapter_outputs(executed_dir, chapter.name)):
        if path.exists():
            shutil.move(str(path), str(backup / str(i)))
    env_before = os.environ.get("LLMMUSIC_BOOK_EXECUTED")
    os.environ["LLMMUSIC_BOOK_EXECUTED"] = str(executed_dir)
    start = time.monotonic()
    run = ChapterRun(chapter.number, chapter.name, "executed", dict(parameters), output=str(out))
    error: str | None = None
    from papermill.engines import papermill_engines

    try:
        with CellProgress(chapter.name, executed_dir / f".{chapter.name}.progress", stream=stream) as progress:
            papermill_engines.register(ENGINE, _progress_engine(progress))
            papermill.execute_notebook(str(chapter.paired), str(out), parameters=dict(parameters), kernel_name=kernel,
                                       cwd=str(ROOT), progress_bar=False, log_output=False,
                                       execution_timeout=timeout_s, engine_name=ENGINE)
        errors = error_outputs(out)
        if errors:
            error = f"chapter {chapter.name}: error outputs: {'; '.join(errors)}"
    except Exception as exc:  # papermill wraps cell errors; anything else is a setup failure
        error = _format_failure(chapter, exc)
    finally:
        if env_before is None:
            os.environ.pop("LLMMUSIC_BOOK_EXECUTED", None)
        else:
            os.environ["LLMMUSIC_BOOK_EXECUTED"] = env_before
        run.wall_s = round(time.monotonic() - start, 2)
    if error is None:
        import nbformat

        failed.unlink(missing_ok=True)
        shutil.rmtree(backup)
        run.slowest_cells = slowest_cells(nbformat.read(str(out), as_version=4))
        return run
    if out.exists():
        os.replace(out, failed)
        error += f"\n\n(the failed notebook is {failed}; the previous executed copy, if any, is kept)"
    for i, path in enumerate(_chapter_outputs(executed_dir, chapter.name)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        if (backup / str(i)).exists():
            shutil.move(str(backup / str(i)), str(path))
    shutil.rmtree(backup)
    run.status, run.error = "failed", error
    raise BookError(error)


def error_outputs(notebook_path: str | Path) -> list[str]:
    """``"cell N: Ename: value"`` for every error output of an executed notebook."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {i}: {output.get('ename')}: {output.get('evalue')}")
    return found


# --------------------------------------------------------------------------------------------- presentation
def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def plumbing_cells(notebook: Any) -> list[int]:
    """Indices of the cells a reader need not meet first: the cell tagged ``parameters``, papermill's
    ``injected-parameters`` cell, and the code cells that follow them up to the next Markdown cell
    (the set-up: imports, inputs, the chapter's :class:`~llmmusic.book.provenance.Provenance`)."""
    cells = notebook.cells
    first = next((i for i, c in enumerate(cells) if "parameters" in _tags(c)), None)
    if first is None:
        return []
    end = first
    while end < len(cells) and cells[end].cell_type == "code":
        end += 1
    return list(range(first, end))


def fold_plumbing(notebook: Any) -> list[int]:
    """Tag the :func:`plumbing_cells` ``hide-input`` (code folded, outputs shown); returns their indices."""
    found = plumbing_cells(notebook)
    for i in found:
        cell = notebook.cells[i]
        if FOLD_TAG not in _tags(cell):
            cell.setdefault("metadata", {})["tags"] = _tags(cell) + [FOLD_TAG]
    return found


def chapter_summary(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], bool]:
    """The lines of "What this chapter shows" and whether the chapter wrote them itself.

    The chapter's :meth:`~llmmusic.book.provenance.Provenance.summary`, else (at most four) captions of its
    figures, tables and clips that quote a measured number (two digits or more, or a percentage).
    """
    for rec in records:
        if rec.get("kind") == "summary":
            return list((rec.get("extra") or {}).get("lines") or []), True
    captions: list[str] = []
    for rec in records:
        caption = str(rec.get("caption") or "").strip()
        quotes = re.search(r"\d[.,]?\d|\d\s?%", caption)  # a measured number, not "rows sum to 1"
        if rec.get("kind") in ("figure", "table", "audio") and quotes and caption not in captions:
            captions.append(caption)
    return captions[:4], False


def _summary_markdown(lines: Sequence[str], own: bool) -> str:
    body = "\n".join(f"- {line}" for line in lines)
    note = "" if own else "\n\n<small>From the captions of this chapter's results (it records no summary of its own).</small>"
    return f":::{{admonition}} What this chapter shows\n:class: important chapter-summary\n\n{body}{note}\n:::"


def _rerun_markdown(name: str, parameters: Mapping[str, Any], repository: str | None) -> str:
    from llmmusic.book.provenance import regenerate_commands

    commands = regenerate_commands(name, parameters)
    ran = ("its default parameters" if not parameters else
           "the parameters " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in parameters.items()))
    where = f"the root of a clone of [the repository]({repository})" if repository else "the repository's root"
    return "\n".join([
        ":::{admonition} Rerun this chapter", ":class: tip rerun-chapter", "",
        f"This page ran with {ran}. To run it again, from {where}:", "",
        "```bash",
        f"{commands['book']}   # this page, then the book",
        f"{commands['papermill']}   # the notebook alone",
        "```", "",
        "Every parameter is in the folded cell tagged `parameters` below; `-p NAME VALUE` changes one.",
        f"Download: {{download}}`executed notebook <{name}.ipynb>` · "
        f"{{download}}`source notebook <{SOURCES}/{name}.ipynb>` · "
        f"{{download}}`Jupytext source <{SOURCES}/{name}.py>`",
        ":::"])


def present_notebook(path: str | Path, records: Sequence[Mapping[str, Any]] | None = None,
                     repository: str | None = None, chapter: bool = True) -> None:
    """Arrange an executed notebook for the reader, in place (idempotent).

    Folds the :func:`plumbing_cells`. For a chapter (``chapter=True``) also puts "What this chapter
    shows" (:func:`chapter_summary` of ``records``) right under the title, and a "Rerun this chapter"
    box with the commands for the parameters the page ran with (papermill's record of them) and its
    downloads just before the parameters cell. Cells added by an earlier call are replaced.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if not (c.get("metadata", {}).get("llmmusic") or {}).get("inserted")]
    fold_plumbing(nb)
    if chapter:
        first = nb.cells[0] if nb.cells else None
        if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
            title, _, rest = first.source.partition("\n")
            if rest.strip():  # the title alone, so the summary comes right under it
                first.source = title
                nb.cells.insert(1, nbformat.v4.new_markdown_cell(rest.strip("\n")))
        name = path.stem
        lines, own = chapter_summary(records or [])
        made = []
        if lines:
            made.append((1, _summary_markdown(lines, own), "summary"))
        parameters = (nb.metadata.get("papermill") or {}).get("parameters") or {}
        params_at = next(iter(plumbing_cells(nb)), len(nb.cells))
        made.append((params_at, _rerun_markdown(name, parameters, repository), "rerun"))
        for at, text, kind in sorted(made, key=lambda m: -m[0]):  # later positions first
            cell = nbformat.v4.new_markdown_cell(text, id=f"llmmusic-{kind}")  # a stable id: same text, same file
            cell.metadata["llmmusic"] = {"inserted": kind}
            nb.cells.insert(at, cell)
    nbformat.write(nb, str(path))


def repository_url(src: str | Path = ROOT) -> str | None:
    """``repository.url`` of ``<src>/_config.yml``: the one setting behind the launch buttons, the
    repository button and the rerun boxes (``None`` if unset)."""
    import yaml

    config = yaml.safe_load((Path(src) / "_config.yml").read_text(encoding="utf-8")) or {}
    url = (config.get("repository") or {}).get("url")
    return str(url).rstrip("/") if url else None


# --------------------------------------------------------------------------------------------- labs
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
    import nbformat

    from llmmusic.course import discover_labs, run_lab

    stream = stream if stream is not None else sys.stdout
    wanted = {int(n) for n in numbers}
    out_dir = executed_dir / LABS
    done = []
    for lab in discover_labs():
        if lab.number not in wanted:
            continue
        target = out_dir / f"{lab.name}.ipynb"
        running = out_dir / f".{lab.name}.running.ipynb"
        print(f"[book] executing {lab.name}{' (tiny parameters)' if small else ''}", file=stream, flush=True)
        run = run_lab(lab, out=running, solutions=True, tiny=small, kernel=kernel, timeout_s=timeout_s,
                      cwd=lab.source.parent)
        if run.error:
            running.unlink(missing_ok=True)
            raise BookError(f"lab {lab.name} failed: {run.error}\n(the previous executed copy, if any, is kept)")
        os.replace(running, target)
        present_notebook(target, chapter=False)
        record = {"lab": lab.name, "status": "executed", "parameters": run.parameters, "wall_s": run.wall_s,
                  "slowest_cells": slowest_cells(nbformat.read(str(target), as_version=4))}
        print(f"[book] {lab.name}: {run.wall_s:.1f} s", file=stream, flush=True)
        done.append(record)
    return done


# --------------------------------------------------------------------------------------------- toc
def toc_files(src: str | Path) -> list[str]:
    """Every ``file:`` entry of ``<src>/_toc.yml`` (root first), as written there."""
    import yaml

    toc = yaml.safe_load((Path(src) / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] if "root" in toc else []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def write_placeholder(path: Path, title: str, number: str) -> None:
    """A one-cell notebook saying that a chapter was not executed."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        f"# {title}\n\n"
        f"This chapter was not executed in this build of the book. Build it with\n\n"
        f"```\nllmmusic book --chapter {number}\n```\n")]
    nb.metadata["llmmusic"] = {"placeholder": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def _title(chapter: Chapter | None, stem: str) -> str:
    if chapter is not None:
        for line in chapter.source.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#\s+#\s+(.+)$", line)  # '# # Title' in a percent-format markdown cell
            if m:
                return m.group(1).strip()
    return stem.replace("_", " ").title()


def kept_run(number: str, path: Path) -> ChapterRun:
    """The record of an executed notebook kept from an earlier build: its parameters, wall time and
    slowest cells as papermill recorded them in the notebook (status ``kept``, or ``placeholder``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if (nb.metadata.get("llmmusic") or {}).get("placeholder"):
        return ChapterRun(number, path.stem, "placeholder", output=str(path))
    ran = nb.metadata.get("papermill") or {}
    wall = ran.get("duration")
    return ChapterRun(number, path.stem, "kept", dict(ran.get("parameters") or {}),
                      round(float(wall), 2) if wall is not None else None, str(path),
                      slowest_cells=slowest_cells(nb))


def fill_toc_gaps(src: Path, chapters: Sequence[Chapter], runs: dict[str, ChapterRun]) -> list[str]:
    """Make every executed-chapter entry of the toc exist: keep a previous executed copy, or write a
    placeholder. Returns warnings (e.g. chapters that the toc does not list)."""
    warnings = []
    by_name = {c.name: c for c in chapters}
    listed = set()
    for entry in toc_files(src):
        path = Path(entry)
        if path.parent != EXECUTED:
            continue
        listed.add(path.name)
        target = src / path.with_suffix(".ipynb")
        if path.name in runs:
            continue
        chapter = by_name.get(path.name)
        number = path.name[:2]
        if target.exists():
            runs[path.name] = kept_run(number, target)
        else:
            write_placeholder(target, _title(chapter, path.name), number)
            runs[path.name] = ChapterRun(number, path.name, "placeholder", output=str(target))
    for chapter in chapters:
        if chapter.name not in listed:
            warnings.append(f"notebooks/{chapter.source.name} is not in _toc.yml; add "
                            f"'- file: {EXECUTED.as_posix()}/{chapter.name}' under the Chapters part")
    return warnings


# --------------------------------------------------------------------------------------------- pages
def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def records_page(records: Sequence[Mapping[str, Any]], run_info: Mapping[str, Any]) -> str:
    """The generated part of the provenance page (MyST Markdown)."""
    lines = ["## This build", ""]
    lines.append(f"Built {run_info.get('finished') or run_info.get('started')} with llmmusic "
                 f"{run_info.get('llmmusic')} at commit `{str(run_info.get('git', {}).get('commit'))[:12]}`"
                 + (" (with uncommitted changes)" if run_info.get("git", {}).get("dirty") else "")
                 + f"; command `{_cell(run_info.get('command'))}`.")
    lines += ["", "| notebook | status | wall time (s) | slowest cells (s) | parameters injected |",
              "|---|---|---|---|---|"]
    for ch in [*run_info.get("chapters", []), *run_info.get("labs", [])]:
        params = json.dumps(ch.get("parameters") or {}, sort_keys=True)
        wall = f"{ch['wall_s']:.1f}" if ch.get("wall_s") is not None else ""
        slow = "; ".join(f"cell {c['cell']}: {c['seconds']:.1f} (`{_cell(c['source'])}`)"
                         for c in ch.get("slowest_cells") or [])
        lines.append(f"| {ch.get('notebook') or ch.get('lab')} | {ch['status']} | {wall} | {slow} | `{_cell(params)}` |")
    total = sum(ch.get("wall_s") or 0 for ch in [*run_info.get("chapters", []), *run_info.get("labs", [])])
    lines += ["", f"Wall times add up to {total:.1f} s. A notebook marked `kept` was executed by an earlier build "
                  f"(its times and parameters are papermill's record in the notebook); the HTML build's time is "
                  f"`sphinx_s` in `book/_build/run-info.json`."]
    lines += ["", "## Records", ""]
    if not records:
        lines.append("No provenance records yet: no chapter has been executed.")
    notebook = None
    for rec in records:
        if rec["notebook"] != notebook:
            notebook = rec["notebook"]
            first = rec
            commit = str(first.get("git_commit"))[:12] + (" (dirty)" if first.get("git_dirty") else "")
            inputs = "; ".join(f"{k}: `{v.get('path')}` ({v.get('method')} sha256 `{str(v.get('sha256'))[:16]}`)"
                               for k, v in (first.get("inputs") or {}).items()) or "none"
            model = (first.get("llm") or {}).get("model", "no LLM call")
            lines += ["", f"### {notebook}", "",
                      f"- parameters: `{_cell(json.dumps(first.get('params'), sort_keys=True))}`",
                      f"- inputs: {_cell(inputs)}", f"- model: `{_cell(model)}`",
                      f"- llmmusic {first.get('package_version')}, commit `{commit}`",
                      f"- regenerate: `{_cell(first['commands']['papermill'])}`", "",
                      "| kind | name | caption | files | time | details |", "|---|---|---|---|---|---|"]
        files = " ".join(f'<a href="executed/{f}">{Path(f).suffix.lstrip(".")}</a>' for f in rec.get("files", []))
        extra = rec.get("extra") or {}
        details = ", ".join(f"{k}={extra[k]}" for k in ("synth", "duration_s", "rows") if k in extra)
        lines.append(f"| {rec['kind']} | `{rec['name']}` | {_cell(rec.get('caption', ''))} | {files} | "
                     f"{rec.get('time')} | {_cell(details)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- build
def build_html(src: Path, out: Path, quiet: bool = False) -> None:
    """Jupyter Book 1.x HTML build of ``src`` (holding ``_config.yml`` and ``_toc.yml``) into ``out``."""
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(str(src), str(out), noconfig=True, path_config=str(src / "_config.yml"),
                          confoverrides={"external_toc_path": (src / "_toc.yml").as_posix(),
                                         "latex_individualpages": False},
                          builder="html", quiet=quiet, doctreedir=str(out.parent / ".doctrees"))
    if isinstance(result, Exception) or result:
        raise BookError(f"the HTML build of {src} failed ({result!r}); see the Sphinx messages above")


def _git() -> dict[str, Any]:
    from llmmusic.book.provenance import git_state

    return git_state(ROOT)


def build_book(chapters: Sequence[str] | None = None, params: Mapping[str, Any] | None = None, small: bool = False,
               execute: bool = True, src: str | Path = ROOT, out: str | Path | None = None,
               notebooks: str | Path = NOTEBOOKS, kernel: str = "python3", timeout_s: int | None = None,
               quiet: bool = False, command: str | None = None, labs: bool = True) -> dict[str, Any]:
    """Execute chapters and build the book (see the module docstring).

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
        command: the command line recorded in run-info (default ``sys.argv``).
        labs: also execute the course labs of the selected chapters (see :func:`execute_labs`).
    Returns:
        The run-info record (also written to ``<out>/../run-info.json``).
    Raises:
        BookError: a chapter failed (its cell and error are in the message) or the HTML build failed.
    """
    src = Path(src).resolve()
    out = Path(out).resolve() if out is not None else src / "book" / "_build" / "html"
    executed_dir = src / EXECUTED
    params = dict(params or {})
    found = discover_chapters(notebooks)
    selected = select_chapters(found, chapters) if execute else []
    info: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "finished": None,
        "command": command or "llmmusic book",
        "small": small, "params": params, "execute": execute, "llmmusic": _version(), "git": _git(),
        "python": sys.version.split()[0], "chapters": [], "labs": [], "html": str(out), "execute_s": None,
        "sphinx_s": None}
    runs: dict[str, ChapterRun] = {}
    run_info_path = out.parent / RUN_INFO
    if execute and params:
        known = {name for c in selected for name in declared_parameters(c)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise BookError(f"parameter(s) {unknown} are declared by none of the chapters "
                            f"{[c.name for c in selected]}; see each notebook's cell tagged 'parameters'")
    failure: BookError | None = None
    begun = time.monotonic()
    for k, chapter in enumerate(selected, 1):
        notebook = read_chapter(chapter)
        declared = declared_parameters(chapter)
        injected = {k: v for k, v in small_parameters(notebook).items() if small and k in declared}
        injected.update({k: v for k, v in params.items() if k in declared})
        print(f"[book] [{k}/{len(selected)}] executing {chapter.name} {json.dumps(injected, sort_keys=True)}",
              flush=True)
        try:
            run = execute_chapter(chapter, injected, executed_dir, kernel=kernel, timeout_s=timeout_s)
        except BookError as exc:
            runs[chapter.name] = ChapterRun(chapter.number, chapter.name, "failed", injected, error=str(exc))
            failure = exc
            break
        runs[chapter.name] = run
        slow = ", ".join(f"cell {c['cell']} {c['seconds']:.0f} s" for c in run.slowest_cells)
        print(f"[book] {chapter.name}: {run.wall_s:.1f} s (slowest: {slow}; build {_clock(time.monotonic() - begun)})",
              flush=True)
    if failure is None and execute and labs:
        try:
            info["labs"] = execute_labs([c.number for c in selected], executed_dir, small=small, kernel=kernel,
                                        timeout_s=timeout_s)
        except BookError as exc:
            failure = exc
    ran_labs = {lab["lab"] for lab in info["labs"]}
    for path in sorted((executed_dir / LABS).glob("lab*.ipynb")):  # labs kept from an earlier build
        if path.stem not in ran_labs:
            kept = kept_run("", path)
            info["labs"].append({"lab": path.stem, "status": kept.status, "parameters": kept.parameters,
                                 "wall_s": kept.wall_s, "slowest_cells": kept.slowest_cells})
    warnings = fill_toc_gaps(src, found, runs) + _lab_url_warnings(repository_url(src))
    for warning in warnings:
        print(f"[book] warning: {warning}", flush=True)
    info["chapters"] = [asdict(r) for r in sorted(runs.values(), key=lambda r: r.notebook)]
    info["warnings"] = warnings
    _write_run_info(run_info_path, info)
    if failure is not None:
        raise failure
    from llmmusic.atomic import write_text
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
    info["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info["execute_s"] = round(time.monotonic() - begun, 2)
    write_text(executed_dir / RECORDS_PAGE, records_page(records, info))
    print(f"[book] building the HTML", flush=True)
    start = time.monotonic()
    build_html(src, out, quiet=quiet)
    info["sphinx_s"] = round(time.monotonic() - start, 2)
    _write_run_info(run_info_path, info)
    print(f"[book] HTML build: {info['sphinx_s']:.1f} s; total {_clock(time.monotonic() - begun)}", flush=True)
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


def _version() -> str:
    from llmmusic import __version__

    return __version__


def _write_run_info(path: Path, info: Mapping[str, Any]) -> None:
    from llmmusic.atomic import write_text

    write_text(path, json.dumps(info, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------------------------- Sphinx
def _copy_media(app: Any, exception: Exception | None) -> None:
    """``build-finished``: mirror ``book/executed/media`` into the HTML output at the same place."""
    if exception is not None or app.builder.format != "html":
        return
    media = Path(app.srcdir) / EXECUTED / "media"
    if media.is_dir():
        target = Path(app.outdir) / EXECUTED / "media"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(media, target)


def _launch_to_sources(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """``html-page-context`` (after the theme): Binder/Colab buttons open ``notebooks/NN_topic.ipynb``."""
    prefix = EXECUTED.as_posix() + "/"
    if not pagename.startswith(prefix):
        return

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (v.replace(prefix, "notebooks/") if k == "url" and isinstance(v, str)
                        and v.startswith("http") else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    if "header_buttons" in context:
        context["header_buttons"] = rewrite(context["header_buttons"])


def _executed_lab(app: Any, docname: str, source: list[str]) -> None:
    """``source-read``: a lab page is read from its executed copy (``book/executed/labs``) when there
    is one, with execution off, so the HTML build does not run the lab again."""
    if not docname.startswith("course/labs/") or not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    executed = Path(app.srcdir) / EXECUTED / LABS / f"{Path(docname).name}.ipynb"
    if not executed.is_file():
        return
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    notebook.setdefault("metadata", {}).setdefault("mystnb", {})["execution_mode"] = "off"
    source[0] = json.dumps(notebook)


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """``html-page-context`` (last): each script once. Inline scripts registered both before and after the
    builder starts come twice (filename ``None`` and ``""``), and sphinx-thebe's second
    ``const THEBE_JS_URL = ...`` stops with a SyntaxError in the browser on every page (found by
    tests/test_browser.py)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),  # an inline script's filename is None or ""
               json.dumps(getattr(js, "attributes", {}), sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (see the module docstring)."""
    app.connect("build-finished", _copy_media)
    app.connect("html-page-context", _launch_to_sources, priority=900)
    app.connect("html-page-context", _unique_scripts, priority=950)
    app.connect("source-read", _executed_lab)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": _version()}
