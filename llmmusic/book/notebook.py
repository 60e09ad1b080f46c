"""Notebook files: the Jupytext source and its paired ``.ipynb``, declared parameters, executed outputs.

A :class:`Notebook` is a Jupytext percent-format ``.py`` file paired with an ``.ipynb`` beside it;
the book's chapters (:class:`llmmusic.book.chapters.Chapter`) and the course's labs
(:class:`llmmusic.course.labs.Lab`) are notebooks. This module reads them (:func:`read_any`),
keeps the pair in step (:func:`sync_pair`), reads the cell tagged ``parameters``
(:func:`declared_parameters`) and the preset parameters in the notebook metadata
(:meth:`Notebook.preset`), inspects executed notebooks (:func:`error_outputs`,
:func:`slowest_cells`, :func:`image_outputs`, :func:`cell_text`) and folds their set-up cells
(:func:`fold_plumbing`).

Used in: llmmusic/book/runner.py, llmmusic/book/chapters.py, llmmusic/book/provenance.py, llmmusic/course.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARAMETERS_TAG = "parameters"
FOLD_TAG = "hide-input"  # parameters and set-up cells: code folded, outputs shown
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Notebook:
    """One notebook.

    Attributes:
        number: its number in its series (a chapter's ``"01"``, a lab's ``1``).
        name: the file stem (``"01_prompt_design"``).
        source: the Jupytext ``.py`` file.
    """

    number: Any
    name: str
    source: Path

    @property
    def paired(self) -> Path:
        """The paired ``.ipynb`` beside the source."""
        return self.source.with_suffix(".ipynb")

    def heading(self) -> str | None:
        """The first ``# # Title`` heading of the source (a percent-format markdown cell), if any."""
        for line in self.source.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#\s+#\s+(.+)$", line)
            if m:
                return m.group(1).strip()
        return None

    def read(self) -> Any:
        """The notebook as an nbformat notebook (from its Jupytext source)."""
        return read_any(self.source)

    def preset(self, key: str) -> dict[str, Any]:
        """Parameters the notebook declares in its metadata under ``llmmusic.<key>`` (e.g. ``small``, ``tiny``)."""
        return dict((self.read().metadata.get("llmmusic") or {}).get(key) or {})


def read_any(path: str | Path) -> Any:
    """An ``.ipynb`` or a Jupytext file as an nbformat notebook."""
    path = Path(path)
    if path.suffix == ".ipynb":
        import nbformat

        return nbformat.read(str(path), as_version=4)
    import jupytext

    return jupytext.read(path)


def sync_pair(notebook: Notebook, content: Any | None = None) -> bool:
    """Write the paired ``.ipynb`` from the ``.py`` source (or ``content``, read from it) if it differs;
    True if rewritten. Cell ids come from the cells' text, so the pair only changes with the source."""
    import jupytext

    content = content if content is not None else notebook.read()
    content.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    seen: set[str] = set()
    for cell in content.cells:
        base = hashlib.sha1(f"{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
        cell_id, k = base, 1
        while cell_id in seen:
            cell_id, k = f"{base}-{k}", k + 1
        seen.add(cell_id)
        cell["id"] = cell_id
    text = jupytext.writes(content, fmt="ipynb")
    if notebook.paired.exists() and notebook.paired.read_text(encoding="utf-8") == text:
        return False
    from llmmusic.atomic import write_text

    write_text(notebook.paired, text)
    return True


# --------------------------------------------------------------------------------------------- parameters
def tags(cell: Any) -> list[str]:
    """The cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def parameters_cell(content: Any) -> Any | None:
    """The first cell tagged ``parameters`` of an nbformat notebook (``None`` if there is none)."""
    return next((c for c in content.cells if PARAMETERS_TAG in tags(c)), None)


def parameter_defaults(source: str) -> dict[str, str]:
    """Names and default values (as source text) assigned at the top level of a ``parameters`` cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and node.value is not None:
                found[target.id] = ast.get_source_segment(source, node.value) or ""
    return found


def declared_parameters(notebook: Notebook | str | Path) -> dict[str, str]:
    """Names and default values (as source text) of the notebook's cell tagged ``parameters``, in order
    (a :class:`Notebook`'s pair is synchronised first, as papermill runs the pair)."""
    if isinstance(notebook, Notebook):
        content = notebook.read()
        sync_pair(notebook, content)
    else:
        content = read_any(notebook)
    cell = parameters_cell(content)
    return parameter_defaults(cell.source) if cell is not None else {}


# --------------------------------------------------------------------------------------------- executed notebooks
def first_line(source: str, width: int = 60) -> str:
    """The first non-blank, non-comment line of a cell's source, shortened to ``width``."""
    for line in str(source).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            line = line.strip()
            return line if len(line) <= width else line[:width - 3] + "..."
    return ""


def _code_outputs(notebook_path: str | Path) -> list[tuple[int, Any, dict[str, Any]]]:
    """``(cell index, cell, output)`` for every output of an executed notebook's code cells."""
    nb = read_any(notebook_path)
    return [(i, c, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.get("outputs", [])]


def error_outputs(notebook_path: str | Path) -> list[str]:
    """``"cell N: Ename: value"`` for every error output of an executed notebook."""
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, _, o in _code_outputs(notebook_path)
            if o.get("output_type") == "error"]


def image_outputs(notebook_path: str | Path) -> int:
    """Number of ``image/png`` outputs in an executed notebook (its figures)."""
    return sum("image/png" in o.get("data", {}) for _, _, o in _code_outputs(notebook_path))


def cell_text(notebook_path: str | Path, tag: str) -> str:
    """The text outputs (stream and plain text) of the cells tagged ``tag``, joined."""
    return "".join(o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
                   for _, c, o in _code_outputs(notebook_path) if tag in tags(c))


def slowest_cells(notebook: Any, top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` code cells of an executed notebook that took longest (papermill's cell durations).

    Returns:
        ``[{"cell": code-cell number, "seconds": s, "source": first code line}]``, slowest first.
    """
    timed = []
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if duration is not None:
            timed.append({"cell": number, "seconds": round(float(duration), 2), "source": first_line(cell.source)})
    return sorted(timed, key=lambda c: -c["seconds"])[:top]


# --------------------------------------------------------------------------------------------- folding
def plumbing_cells(notebook: Any) -> list[int]:
    """Indices of the cells a reader need not meet first: the cell tagged ``parameters``, papermill's
    ``injected-parameters`` cell, and the code cells that follow them up to the next Markdown cell
    (the set-up: imports, inputs, the chapter's :class:`~llmmusic.book.provenance.Provenance`)."""
    cells = notebook.cells
    first = next((i for i, c in enumerate(cells) if PARAMETERS_TAG in tags(c)), None)
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
        if FOLD_TAG not in tags(cell):
            cell.setdefault("metadata", {})["tags"] = tags(cell) + [FOLD_TAG]
    return found
