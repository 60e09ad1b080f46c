"""A notebook's parameters: papermill's ``-p`` values, the commands that rerun a notebook, and the
parameters of the notebook running now.

:func:`parse_param_value` reads a ``-p`` value as papermill does and :func:`param_args` writes
parameters back as papermill arguments; :func:`regenerate_commands` gives the commands that rerun a
chapter with its parameters; :func:`notebook_parameters` reads a running notebook's parameters (the
names of its cell tagged ``parameters``, with their values in its globals), so a chapter never lists
them again.

Used in: llmmusic/book/provenance.py, llmmusic/book/pages.py, llmmusic/commands/book.py, llmmusic/commands/lab.py.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmmusic.book.inputs import relative_to_root
from llmmusic.paths import ROOT


def _papermill_value(value: Any) -> str:
    """How papermill's ``-p`` would be given ``value`` back unchanged (see :func:`parse_param_value`)."""
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


def param_args(params: Mapping[str, Any]) -> list[str]:
    """Command-line arguments that set ``params`` in papermill (and in ``llmmusic book``).

    Scalars become ``-p name value``; strings that papermill would read as a number, bool or
    None become ``-r name value`` (raw); lists and dicts become ``-y 'name: <json>'``.
    """
    args: list[str] = []
    for name, value in params.items():
        if isinstance(value, Path):
            value = relative_to_root(value)
        if isinstance(value, (list, tuple, dict)):
            args += ["-y", f"{name}: {json.dumps(value, default=str)}"]
        elif isinstance(value, str) and parse_param_value(value) != value:
            args += ["-r", name, value]
        else:
            args += ["-p", name, _papermill_value(value)]
    return args


def parse_param_value(text: str) -> Any:
    """Parse a ``-p`` value as papermill does (True/False/None/int/float, else the string);
    a value starting with ``[`` or ``{`` is read as YAML (so JSON works too)."""
    from papermill.cli import _resolve_type

    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        import yaml

        return yaml.safe_load(stripped)
    return _resolve_type(text)


def cli_parameters(values: Sequence[Sequence[str]], raw: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    """The parameters of ``-p NAME VALUE`` (read by :func:`parse_param_value`) and ``-r NAME VALUE``
    (strings as given) options, the later winning."""
    chosen = {name: parse_param_value(value) for name, value in values}
    chosen.update({name: value for name, value in raw})
    return chosen


def regenerate_commands(notebook: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The exact commands that re-run ``notebook`` with ``params`` (run from the repository root).

    Returns:
        ``{"papermill": "papermill notebooks/NN_x.ipynb out.ipynb -p ...",
        "book": "llmmusic book --chapter NN -p ..."}``.
    """
    args = param_args(params)
    chapter = notebook.split("_", 1)[0]
    book_args: list[str] = []
    i = 0
    while i < len(args):  # ``llmmusic book`` takes -p name value; -y/-r map onto it
        flag = args[i]
        if flag == "-y":
            name, _, value = args[i + 1].partition(": ")
            book_args += ["-p", name, value]
            i += 2
        else:
            book_args += ["-p", args[i + 1], args[i + 2]] if flag == "-p" else ["-r", args[i + 1], args[i + 2]]
            i += 3
    papermill = ["papermill", f"notebooks/{notebook}.ipynb", "out.ipynb", *args]
    book = ["llmmusic", "book", "--chapter", chapter, *book_args]
    return {"papermill": shlex.join(papermill), "book": shlex.join(book)}


# ---------------------------------------------------------------------------------------------- parameters
def running_notebook(notebook: str) -> Path:
    """The file of the notebook running now: the one the runner names (``LLMMUSIC_NOTEBOOK``), else
    ``notebooks/<notebook>.py`` (or its ``.ipynb``) in the repository.

    Raises:
        ValueError: no such file (pass ``params`` to :class:`Provenance` instead).
    """
    from llmmusic.book.runner import NOTEBOOK_ENV

    named = os.environ.get(NOTEBOOK_ENV)
    candidates = [Path(named)] if named else []
    candidates += [ROOT / "notebooks" / f"{notebook}{suffix}" for suffix in (".py", ".ipynb")]
    for path in candidates:
        if path.is_file():
            return path
    raise ValueError(f"{notebook}: the notebook's file is not found (looked for {', '.join(map(str, candidates))}); "
                     f"pass params= to Provenance")


def _user_namespace() -> Mapping[str, Any]:
    """The running notebook's globals (IPython's user namespace; a plain script's ``__main__``)."""
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


def notebook_parameters(notebook: str, namespace: Mapping[str, Any] | None = None,
                        path: str | Path | None = None) -> dict[str, Any]:
    """The parameters of a notebook run: every name its cell tagged ``parameters`` assigns, in order,
    with its value in ``namespace`` now (papermill's injected values replace the defaults there).

    Args:
        notebook: the notebook's id (``NN_topic``).
        namespace: the notebook's globals (default: the running notebook's, :func:`_user_namespace`).
        path: the notebook file (default :func:`running_notebook`).
    Raises:
        ValueError: the file is not found, or a parameter is not defined in ``namespace``.
    """
    from llmmusic.book.notebook import declared_parameters

    names = list(declared_parameters(path if path is not None else running_notebook(notebook)))
    values = namespace if namespace is not None else _user_namespace()
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"{notebook}: parameter(s) {missing} of the cell tagged 'parameters' are not defined; "
                         f"run that cell first or pass params= to Provenance")
    return {name: values[name] for name in names}


