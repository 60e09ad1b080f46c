"""The labs, ``course/labs/labN_topic.py``: notebooks run by the book's notebook runner.

A :class:`Lab` is a :class:`~llmmusic.book.notebook.Notebook` whose quick test parameters are its
metadata ``llmmusic.tiny``. :func:`run_lab` executes one with :func:`llmmusic.book.runner.execute`
into the student's own notebook, without the solution cells unless asked (``llmmusic lab N``);
:func:`sample_pieces` is the labs' small, genre-spread slice of a dataset.

Used in: llmmusic/commands/lab.py, llmmusic/book/chapters.py, course/labs/*.py, tests/test_course.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TextIO

from llmmusic.book.notebook import Notebook
from llmmusic.book.runner import Execution, NotebookError, choose_parameters, execute
from llmmusic.paths import ROOT

COURSE = ROOT / "course"
LABS_DIR = COURSE / "labs"
CHECKS_DIR = COURSE / "checks"
LAB_PATTERN = "lab[0-9]*_*.py"
DEFAULT_OUT_DIR = "my-labs"  # relative to the working directory


class CourseError(NotebookError):
    """A lab could not be found, prepared or run; the message says which and why."""


@dataclass(frozen=True)
class Lab(Notebook):
    """One lab notebook: ``number`` is the lab number (1-5), ``name`` its file stem (``lab2_dataset_statistics``)."""

    number: int

    @property
    def key(self) -> str:
        """The autograder's name for the lab: ``labN``."""
        return f"lab{self.number}"

    @property
    def title(self) -> str:
        """The first ``# # Title`` heading of the source (else the file stem)."""
        return self.heading() or self.name

    def tiny_parameters(self) -> dict[str, Any]:
        """The lab's quick parameters for tests (metadata ``llmmusic.tiny``)."""
        return self.preset("tiny")


@dataclass
class LabRun(Execution):
    """One execution of a lab (:class:`~llmmusic.book.runner.Execution`); ``solutions``: whether the
    solution cells were kept."""

    solutions: bool = False

    @property
    def lab(self) -> str:
        """The lab's file stem."""
        return self.name


def discover_labs(labs_dir: str | Path = LABS_DIR) -> list[Lab]:
    """Every ``labN_topic.py`` under ``labs_dir``, by number."""
    labs = []
    for path in Path(labs_dir).glob(LAB_PATTERN):
        m = re.match(r"lab(\d+)_", path.stem)
        if m:
            labs.append(Lab(int(m.group(1)), path.stem, path))
    return sorted(labs, key=lambda lab: lab.number)


def get_lab(key: str | int, labs_dir: str | Path = LABS_DIR) -> Lab:
    """The lab named by ``key``: ``2``, ``"2"``, ``"lab2"`` or ``"lab2_dataset_statistics"``.

    Raises:
        CourseError: no such lab (the message lists the labs there are).
    """
    labs = discover_labs(labs_dir)
    text = str(key).strip()
    m = re.fullmatch(r"(?:lab)?(\d+)", text)
    for lab in labs:
        if (m and lab.number == int(m.group(1))) or lab.name == text:
            return lab
    available = ", ".join(f"{lab.key} ({lab.name})" for lab in labs) or "none"
    raise CourseError(f"no lab {key!r} in {labs_dir}; available: {available}")




def sample_pieces(dataset_dir: str | Path, n: int, by: str = "genre") -> list[Any]:
    """``n`` valid pieces of a dataset spread as evenly as it allows over the values of ``by``.

    Groups take turns (round-robin, in label order) until ``n`` pieces are chosen or the dataset is
    exhausted; each group's pieces are its first ones in grid order, read with
    :func:`llmmusic.data.dataset.load_pieces`, and the result interleaves the groups, so a small lab sees
    every group it can.

    Args:
        dataset_dir: the dataset folder.
        n: number of pieces.
        by: ``genre`` or ``style``.
    Returns:
        ``min(n, valid pieces)`` pieces.
    """
    from llmmusic.data.dataset import load_manifest, load_pieces, valid_rows

    if by not in ("genre", "style"):
        raise ValueError(f"by={by!r}: expected 'genre' or 'style'")
    sizes = valid_rows(load_manifest(dataset_dir))[by].value_counts().sort_index()
    take = dict.fromkeys(sizes.index, 0)
    while sum(take.values()) < min(n, int(sizes.sum())):
        for group in sizes.index:
            if take[group] < sizes[group] and sum(take.values()) < n:
                take[group] += 1
    loaded = [load_pieces(dataset_dir, limit=k, **{f"{by}s": [g]}) for g, k in take.items() if k]
    return [group[i] for i in range(max(take.values(), default=0)) for group in loaded if i < len(group)]


def default_output(lab: Lab, out_dir: str | Path | None = None) -> Path:
    """Where ``llmmusic lab`` writes a student's executed notebook: ``./my-labs/labN_topic.ipynb``."""
    return Path(out_dir if out_dir is not None else Path.cwd() / DEFAULT_OUT_DIR) / f"{lab.name}.ipynb"


def run_lab(lab: Lab | str | int, params: Mapping[str, Any] | None = None, out: str | Path | None = None,
            solutions: bool = False, tiny: bool = False, kernel: str = "python3",
            timeout_s: int | None = None, cwd: str | Path | None = None, stream: TextIO | None = None) -> LabRun:
    """Execute a lab with the notebook runner.

    Args:
        lab: a :class:`Lab` or its key (see :func:`get_lab`).
        params: parameters to inject (must be declared by the lab's ``parameters`` cell).
        out: the executed notebook (default :func:`default_output`).
        solutions: keep the solution cells (the book and the tests do; students' copies do not).
        tiny: apply the lab's tiny parameters first (``params`` win over them).
        kernel: Jupyter kernel name.
        timeout_s: per-cell timeout (``None``: none).
        cwd: working directory of the kernel (default: the output's folder).
        stream: where to report each cell as it runs (``None``: nowhere).
    Returns:
        the :class:`LabRun`; ``error`` is set (and the notebook kept, with the error) if a cell raised.
    Raises:
        CourseError: an unknown parameter.
    """
    from llmmusic.course.solutions import strip_solutions

    lab = lab if isinstance(lab, Lab) else get_lab(lab)
    try:
        injected = choose_parameters(lab, params, preset="tiny" if tiny else None, strict=True)
    except NotebookError as exc:
        raise CourseError(str(exc)) from None
    content = None if solutions else strip_solutions(lab.read())
    ran = execute(lab, out if out is not None else default_output(lab), injected, content=content, cwd=cwd,
                  kernel=kernel, timeout_s=timeout_s, stream=stream)
    return LabRun(**vars(ran), solutions=solutions)
