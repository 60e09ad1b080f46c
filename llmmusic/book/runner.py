"""The notebook runner: chapters and labs alike are executed here, with papermill.

:func:`choose_parameters` picks the parameters to inject (a preset from the notebook metadata,
e.g. a chapter's ``small`` or a lab's ``tiny``, then the caller's values, checked against the cell
tagged ``parameters``); :func:`execute` runs the notebook into an output file, optionally with a
line per cell and its loops' progress on a terminal stream (:mod:`llmmusic.book.cell_progress`),
and returns an :class:`Execution` whose ``error`` shows the failing cell (:func:`format_failure`).

While a notebook runs, ``LLMMUSIC_NOTEBOOK`` names its paired ``.ipynb``, so code inside it
(:class:`~llmmusic.book.provenance.Provenance`) can read the notebook's own parameters.

Used in: llmmusic/book/chapters.py (chapters and the book's lab copies), llmmusic/course/labs.py
(``llmmusic lab``).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, TextIO

from llmmusic.book.notebook import KERNELSPEC, Notebook, declared_parameters, error_outputs, slowest_cells, sync_pair

NOTEBOOK_ENV = "LLMMUSIC_NOTEBOOK"  # the paired .ipynb of the notebook running now


class NotebookError(RuntimeError):
    """A notebook could not be run as asked (e.g. an undeclared parameter); the message says why."""


@dataclass
class Execution:
    """One execution of a notebook.

    Attributes:
        name: the notebook's file stem.
        output: the executed notebook.
        parameters: the parameters injected.
        wall_s: seconds of execution (papermill, kernel start included).
        error: the failing cell and its error (:func:`format_failure`), or the error outputs; ``None`` if it ran.
        slowest_cells: :func:`~llmmusic.book.notebook.slowest_cells` of the executed notebook.
    """

    name: str
    output: Path
    parameters: dict[str, Any]
    wall_s: float = 0.0
    error: str | None = None
    slowest_cells: list[dict[str, Any]] = field(default_factory=list)


def choose_parameters(notebook: Notebook, given: Mapping[str, Any] | None = None, preset: str | None = None,
                      strict: bool = False) -> dict[str, Any]:
    """The parameters to inject: the notebook's ``preset`` (metadata ``llmmusic.<preset>``), then ``given``.

    Args:
        notebook: the notebook.
        given: the caller's values (they win over the preset).
        preset: a metadata key (``small``, ``tiny``) or ``None``.
        strict: refuse names the ``parameters`` cell does not declare (else they are left out).
    Raises:
        NotebookError: ``strict`` and an undeclared name.
    """
    declared = declared_parameters(notebook)
    chosen = {**(notebook.preset(preset) if preset else {}), **dict(given or {})}
    unknown = sorted(set(chosen) - set(declared))
    if strict and unknown:
        raise NotebookError(f"{notebook.name}: parameter(s) {unknown} are not declared; the notebook's parameters "
                            f"are {sorted(declared)}")
    return {k: v for k, v in chosen.items() if k in declared}


def format_failure(exc: BaseException) -> str:
    """A failing cell with its source, error and traceback (papermill's cell errors), else the exception."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join(f"    {line}" for line in str(exc.source).splitlines())
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(exc.traceback))
        return (f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}\n{source}\n\n"
                f"{trace}")
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of the block."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _papermill(source: Path, output: Path, parameters: Mapping[str, Any], cwd: Path, kernel: str,
               timeout_s: int | None, progress: Any | None) -> None:
    import papermill

    engine = {}
    if progress is not None:
        from papermill.engines import papermill_engines

        from llmmusic.book.cell_progress import ENGINE, progress_engine

        papermill_engines.register(ENGINE, progress_engine(progress))
        engine = {"engine_name": ENGINE}
    papermill.execute_notebook(str(source), str(output), parameters=dict(parameters), kernel_name=kernel,
                               cwd=str(cwd), progress_bar=False, log_output=False, execution_timeout=timeout_s,
                               **engine)


def execute(notebook: Notebook, output: str | Path, parameters: Mapping[str, Any] | None = None,
            content: Any | None = None, cwd: str | Path | None = None, kernel: str = "python3",
            timeout_s: int | None = None, stream: TextIO | None = None,
            env: Mapping[str, str] | None = None) -> Execution:
    """Execute a notebook with papermill into ``output`` (kept, with the error, if a cell raised).

    Args:
        notebook: the notebook (its pair is synchronised first).
        output: the executed notebook.
        parameters: injected after the cell tagged ``parameters`` (see :func:`choose_parameters`).
        content: an nbformat notebook to run instead of the paired one (e.g. a lab without its solutions).
        cwd: working directory of the kernel (default: the output's folder).
        kernel: Jupyter kernel name.
        timeout_s: per-cell timeout (``None``: none).
        stream: where to report each cell and the loops' progress (``None``: nowhere).
        env: more environment variables for the kernel.
    Returns:
        the :class:`Execution`; papermill's record of the input is the paired notebook, relative to the repository.
    """
    import nbformat

    from llmmusic.book.inputs import relative_to_root

    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    sync_pair(notebook)
    run = Execution(notebook.name, output, dict(parameters or {}))
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, environ({NOTEBOOK_ENV: str(notebook.paired), **(env or {})}):
        source = notebook.paired
        if content is not None:  # papermill records an input path, not a notebook object
            content.metadata.setdefault("kernelspec", dict(KERNELSPEC))
            source = Path(tmp) / f"{notebook.name}.ipynb"
            nbformat.write(content, str(source))
        progress = None
        if stream is not None:
            from llmmusic.book.cell_progress import CellProgress

            progress = CellProgress(notebook.name, output.parent / f".{notebook.name}.progress", stream=stream)
        try:
            with progress if progress is not None else contextlib.nullcontext():
                _papermill(source, output, run.parameters, Path(cwd or output.parent), kernel, timeout_s, progress)
        except Exception as exc:  # papermill wraps cell errors; the notebook is written with the error
            run.error = format_failure(exc)
    run.wall_s = round(time.monotonic() - start, 2)
    if output.is_file():
        executed = nbformat.read(str(output), as_version=4)
        executed.metadata.setdefault("papermill", {})["input_path"] = relative_to_root(notebook.paired)
        nbformat.write(executed, str(output))
        errors = error_outputs(output)
        if run.error is None and errors:
            run.error = f"error outputs: {'; '.join(errors)}"
        run.slowest_cells = slowest_cells(executed)
    return run
