"""The names a student's answers define, for the autograder: from a notebook or a plain module.

Used in: llmmusic/commands/check.py, course/test_my_answers.py, tests/test_course.py.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
from pathlib import Path
from typing import Any

from llmmusic.book.notebook import read_any, tags


def _definitions(source: str) -> str:
    """The top-level imports, function and class definitions of a cell (nothing that runs work)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    keep = [node for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) if keep else ""



def answers_from_notebook(path: str | Path, reference: bool = False) -> dict[str, Any]:
    """The names a student's notebook defines for the autograder.

    Executes, in a fresh namespace and in order: every code cell tagged ``answer`` (or, with
    ``reference``, every cell tagged ``reference`` instead), plus only the top-level imports and
    function/class definitions of the other code cells (so helpers the student wrote elsewhere are
    found, but no lab work is re-run). Cells tagged ``solution`` are ignored unless ``reference``.

    Args:
        path: an ``.ipynb`` or a Jupytext ``.py`` lab.
        reference: grade the lab's reference solution instead of the answers.
    Returns:
        the namespace; ``__answer_errors__`` lists cells that raised (their names stay undefined).
    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    nb = read_any(path)
    wanted = "reference" if reference else "answer"
    skipped = {"solution", "reference", "answer", "parameters", "injected-parameters", "check"}
    namespace: dict[str, Any] = {"__name__": "answers"}
    errors: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        marked = set(tags(cell))
        if wanted in marked:
            code = cell.source
        elif marked & skipped:
            continue
        else:
            code = _definitions(cell.source)
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        if not code.strip():
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # answers may print; the report is what counts
                exec(compile(code, f"{path.name} cell {index}", "exec"), namespace)
        except Exception as exc:  # reported by the parts whose names stay undefined
            errors.append(f"{path.name} cell {index}: {type(exc).__name__}: {exc}")
    namespace["__answer_errors__"] = errors
    return namespace


def answers_from_module(path: str | Path) -> dict[str, Any]:
    """The names a Python module defines (a student's answers written as a plain ``.py`` file).

    A Jupytext percent-format lab (``# %%`` cells) is read as a notebook instead (see
    :func:`answers_from_notebook`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such module")
    if re.search(r"^# %%", path.read_text(encoding="utf-8"), flags=re.M):
        return answers_from_notebook(path)
    spec = importlib.util.spec_from_file_location(f"answers_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return dict(vars(module))

