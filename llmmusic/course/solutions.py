"""Solutions: strip them from a lab, and the switch that shows or hides them in the book.

A lab's solution cells are tagged ``solution`` (``reference``: the subset that defines the checked
names), or lie between ``{solution-start}`` and ``{solution-end}`` markdown cells; ``{solution}``
blocks may also sit inside markdown cells. :func:`strip_solutions` removes all of them.
``LLMMUSIC_SOLUTIONS=hide`` (or ``show``) at book-build time is the switch (:func:`solutions_mode`);
:func:`solutions_confoverrides` gives it as Sphinx config overrides for a runner.

Used in: llmmusic/course/labs.py, llmmusic/course/sphinx_ext.py, llmmusic/commands/book.py.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from llmmusic.course.labs import CourseError

SOLUTIONS_ENV = "LLMMUSIC_SOLUTIONS"
SOLUTION_TAGS = frozenset({"solution", "reference"})
_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|:{3,})\{(solution|solution-start|solution-end)\}")


def _strip_solution_blocks(markdown: str) -> str:
    """``markdown`` without its ``{solution}`` directive blocks (fenced with backticks or colons)."""
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if m and m.group(3) == "solution":
            fence = m.group(2)
            i += 1
            while i < len(lines) and lines[i].strip() != fence:
                i += 1
            i += 1  # the closing fence
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out).strip("\n")


def _directive(cell: Any, name: str) -> bool:
    return cell.cell_type == "markdown" and any(
        (m := _FENCE_OPEN.match(line)) and m.group(3) == name for line in cell.source.splitlines())


def strip_solutions(notebook: Any) -> Any:
    """A copy of ``notebook`` without solutions: cells tagged ``solution`` or ``reference``, every
    cell from a ``{solution-start}`` markdown cell to its ``{solution-end}``, and ``{solution}``
    blocks inside markdown cells.

    Args:
        notebook: an nbformat notebook (not modified).
    Returns:
        the stripped copy.
    """
    nb = copy.deepcopy(notebook)
    cells, gated = [], False
    for cell in nb.cells:
        if _directive(cell, "solution-start"):
            gated = True
        if gated:
            if _directive(cell, "solution-end"):
                gated = False
            continue
        if SOLUTION_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if cell.cell_type == "markdown" and "{solution}" in cell.source:
            cell.source = _strip_solution_blocks(cell.source)
            if not cell.source.strip():
                continue
        cells.append(cell)
    if gated:
        raise CourseError("a {solution-start} cell has no matching {solution-end} cell")
    nb.cells = cells
    recorded = nb.metadata.get("papermill", {})
    if not isinstance(recorded.get("input_path", ""), str):  # a whole input notebook recorded by papermill
        recorded["input_path"] = None
    return nb


def has_solutions(notebook: Any) -> bool:
    """True if ``notebook`` holds any solution cell or block."""
    return len(strip_solutions(notebook).cells) != len(notebook.cells) or any(
        c.cell_type == "markdown" and "{solution" in c.source for c in notebook.cells)


def solutions_mode(value: str | None = None) -> str:
    """``"show"`` or ``"hide"``: ``value``, else ``$LLMMUSIC_SOLUTIONS``, else ``"show"``.

    Raises:
        ValueError: any other value (the message names the variable).
    """
    raw = value if value is not None else os.environ.get(SOLUTIONS_ENV, "show")
    mode = str(raw).strip().lower() or "show"
    if mode not in ("show", "hide"):
        raise ValueError(f"{SOLUTIONS_ENV}={raw!r}: expected 'show' or 'hide'")
    return mode


def solutions_confoverrides(mode: str | None = None) -> dict[str, Any]:
    """Sphinx config overrides for a build with solutions shown or hidden (see :func:`solutions_mode`);
    for a book runner's ``confoverrides``."""
    return {"hide_solutions": solutions_mode(mode) == "hide"}


def strip_file(path: Path) -> bool:
    """Strip solutions from a built notebook or Jupytext file in place; True if it changed."""
    import jupytext
    import nbformat

    try:
        if path.suffix == ".ipynb":
            nb = nbformat.read(str(path), as_version=4)
        else:
            text = path.read_text(encoding="utf-8")
            if "# %%" not in text:
                return False
            nb = jupytext.reads(text, fmt="py:percent")
    except Exception:  # not a notebook: leave it alone
        return False
    if not has_solutions(nb):
        return False
    stripped = strip_solutions(nb)
    if path.suffix == ".ipynb":
        nbformat.write(stripped, str(path))
    else:
        path.write_text(jupytext.writes(stripped, fmt="py:percent"), encoding="utf-8")
    return True
