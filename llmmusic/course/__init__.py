"""The course "Do language models know music?": labs, the lab runner, the autograder, the solutions switch.

**Labs.** One lab per experiment chapter, ``course/labs/labN_topic.py`` (Jupytext percent format,
paired with ``labN_topic.ipynb``). A lab calls the same ``llmmusic`` functions as its chapter, on a
small slice of the committed dataset, offline (LLM replies come from the committed call caches).
Cells are marked with tags:

* ``parameters`` — every knob (papermill injects new values after it);
* ``answer`` — a cell the student fills in (a function or a value the autograder checks);
* ``solution`` — the reference solution's code (between ``{solution-start}`` and ``{solution-end}``
  markdown cells); ``reference`` — the subset of solution cells that define the checked names;
* ``check`` — runs the autograder on the notebook's own answers and prints one line per part.

A lab's quick parameters for tests live in its notebook metadata (``llmmusic.tiny``).

**Runner.** :func:`run_lab` executes a lab with papermill into the student's own notebook, without
the solution cells unless asked (``llmmusic lab N``).

**Autograder.** Each lab's checks are ``course/checks/labN.py``: a list ``PARTS`` of :class:`Part`.
:func:`grade` runs them on a namespace; :func:`answers_from_notebook` / :func:`answers_from_module`
build that namespace from a student's notebook or module (``llmmusic check labN``).

**Solutions switch.** ``LLMMUSIC_SOLUTIONS=hide`` (or ``show``) at book-build time; this module is
also a Sphinx extension (``_config.yml``) that sets sphinx-exercise's ``hide_solutions`` from it,
removes gated solutions (code cells and their outputs included) when hidden, and strips solution
cells from the downloadable sources of the built pages. :func:`solutions_confoverrides` gives the
same switch as Sphinx config overrides for a runner.

Used in: ``llmmusic lab``, ``llmmusic check``, course/labs/*.py, tests/test_course.py,
benchmarks/bench_labs.py, the book's Sphinx build.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from llmmusic.paths import ROOT

COURSE = ROOT / "course"
LABS_DIR = COURSE / "labs"
CHECKS_DIR = COURSE / "checks"
LAB_PATTERN = "lab[0-9]*_*.py"
SOLUTIONS_ENV = "LLMMUSIC_SOLUTIONS"
SOLUTION_TAGS = frozenset({"solution", "reference"})
DEFAULT_OUT_DIR = "my-labs"  # relative to the working directory


class CourseError(RuntimeError):
    """A lab could not be found, prepared or run; the message says which and why."""


# ============================================================================================ labs
@dataclass(frozen=True)
class Lab:
    """One lab notebook.

    Attributes:
        number: the lab number (1-5).
        name: the file stem, e.g. ``lab2_dataset_statistics``.
        source: the Jupytext ``.py`` file.
    """

    number: int
    name: str
    source: Path

    @property
    def key(self) -> str:
        """The autograder's name for the lab: ``labN``."""
        return f"lab{self.number}"

    @property
    def paired(self) -> Path:
        """The paired ``.ipynb`` beside the source."""
        return self.source.with_suffix(".ipynb")

    @property
    def title(self) -> str:
        """The first ``# # Title`` heading of the source."""
        for line in self.source.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#\s+#\s+(.+)$", line)
            if m:
                return m.group(1).strip()
        return self.name

    def read(self) -> Any:
        """The lab as an nbformat notebook (from its Jupytext source)."""
        import jupytext

        return jupytext.read(self.source)

    def tiny_parameters(self) -> dict[str, Any]:
        """The lab's quick parameters for tests (metadata ``llmmusic.tiny``)."""
        return dict((self.read().metadata.get("llmmusic") or {}).get("tiny") or {})


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


def sync_lab(lab: Lab) -> bool:
    """Write the paired ``.ipynb`` from the ``.py`` source if it differs (as the book does for
    chapters, see :func:`llmmusic.book.sync_pair`); True if rewritten."""
    from llmmusic.book import Chapter, sync_pair

    return sync_pair(Chapter(f"lab{lab.number}", lab.name, lab.source))


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


# ============================================================================================ solutions
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
    import copy

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


# ============================================================================================ runner
@dataclass
class LabRun:
    """One execution of a lab.

    Attributes:
        lab: the lab's file stem.
        output: the executed notebook.
        parameters: the parameters injected.
        solutions: whether the solution cells were kept.
        wall_s: seconds of execution (papermill, kernel start included).
        error: the failing cell and its error, if a cell raised.
    """

    lab: str
    output: Path
    parameters: dict[str, Any]
    solutions: bool
    wall_s: float
    error: str | None = None


def declared_parameters(lab: Lab) -> dict[str, str]:
    """Names and default values (source text) of the lab's cell tagged ``parameters``."""
    from papermill import inspect_notebook

    sync_lab(lab)
    return {name: info["default"] for name, info in inspect_notebook(str(lab.paired)).items()}


def default_output(lab: Lab, out_dir: str | Path | None = None) -> Path:
    """Where ``llmmusic lab`` writes a student's executed notebook: ``./my-labs/labN_topic.ipynb``."""
    return Path(out_dir if out_dir is not None else Path.cwd() / DEFAULT_OUT_DIR) / f"{lab.name}.ipynb"


def _failure(exc: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join(f"    {line}" for line in str(exc.source).splitlines()[:12])
        return f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}\n{source}"
    return f"{type(exc).__name__}: {exc}"


def run_lab(lab: Lab | str | int, params: Mapping[str, Any] | None = None, out: str | Path | None = None,
            solutions: bool = False, tiny: bool = False, kernel: str = "python3",
            timeout_s: int | None = None, cwd: str | Path | None = None) -> LabRun:
    """Execute a lab with papermill.

    Args:
        lab: a :class:`Lab` or its key (see :func:`get_lab`).
        params: parameters to inject (must be declared by the lab's ``parameters`` cell).
        out: the executed notebook (default :func:`default_output`).
        solutions: keep the solution cells (the book and the tests do; students' copies do not).
        tiny: apply the lab's tiny parameters first (``params`` win over them).
        kernel: Jupyter kernel name.
        timeout_s: per-cell timeout (``None``: none).
        cwd: working directory of the kernel (default: the output's folder).
    Returns:
        the :class:`LabRun`; ``error`` is set (and the notebook kept, with the error) if a cell raised.
    Raises:
        CourseError: an unknown parameter.
    """
    import papermill

    lab = lab if isinstance(lab, Lab) else get_lab(lab)
    declared = declared_parameters(lab)
    injected = dict(lab.tiny_parameters()) if tiny else {}
    injected.update(params or {})
    unknown = sorted(set(injected) - set(declared))
    if unknown:
        raise CourseError(f"{lab.name}: parameter(s) {unknown} are not declared; the lab's parameters are "
                          f"{sorted(declared)}")
    notebook = lab.read()
    if not solutions:
        notebook = strip_solutions(notebook)
    notebook.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                "name": "python3"})
    output = Path(out) if out is not None else default_output(lab)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    run = LabRun(lab.name, output.resolve(), injected, solutions, 0.0)
    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{lab.name}.ipynb"  # papermill records the input path, not the notebook
        nbformat.write(notebook, str(source))
        try:
            papermill.execute_notebook(str(source), str(output), parameters=injected, kernel_name=kernel,
                                       cwd=str(cwd or output.parent), progress_bar=False, log_output=False,
                                       execution_timeout=timeout_s)
        except Exception as exc:  # papermill wraps cell errors; the notebook is written with the error
            run.error = _failure(exc)
    run.wall_s = round(time.monotonic() - start, 2)
    if output.is_file():
        executed = nbformat.read(str(output), as_version=4)
        executed.metadata.setdefault("papermill", {})["input_path"] = lab.paired.relative_to(ROOT).as_posix()
        nbformat.write(executed, str(output))
    return run


def image_outputs(notebook_path: str | Path) -> int:
    """Number of ``image/png`` outputs in an executed notebook (the lab's figures)."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def cell_text(notebook_path: str | Path, tag: str) -> str:
    """The text outputs (stream and plain text) of the cells tagged ``tag``, joined."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and tag in cell.get("metadata", {}).get("tags", []):
            for o in cell.get("outputs", []):
                parts.append(o.get("text", "") if o.get("output_type") == "stream"
                             else o.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def timing_table(results_path: str | Path = ROOT / "benchmarks" / "results" / "labs.json") -> str:
    """The instructor's guide's table of lab run times, from ``benchmarks/bench_labs.py``'s results.

    Returns:
        Markdown: one row per lab (median and single runs of the student copy and of the copy with
        solutions), then one line on the machine and the data the labs read.
    """
    record = json.loads(Path(results_path).read_text(encoding="utf-8"))
    lines = [f"| lab | student copy: median (runs), s | with solutions: median (runs), s |", "|---|---|---|"]
    for key, lab in record["labs"].items():
        cells = [f"{lab[form]['median_s']:.1f} ({', '.join(f'{x:.1f}' for x in lab[form]['runs_s'])})"
                 for form in ("student", "with_solutions")]
        lines.append(f"| {key}: {lab['title'].split(': ', 1)[-1]} | {cells[0]} | {cells[1]} |")
    m, d = record["machine"], record["data"]
    load = ", ".join(f"{x:.1f}" for x in m["load_average_before"])
    lines += ["", f"Measured {record['started'][:10]} on {m['cpus']} CPU cores ({m['cpu']}), Python {m['python']}, "
                  f"torch {m.get('torch', 'n/a')}; load average {load} before the runs (the cores were shared with "
                  f"other work); dataset `{d.get('dataset')}` with {d.get('valid_pieces')} valid pieces."]
    if "course_pages" in record:
        b = record["course_pages"]
        lines += ["", f"The course pages alone, built with the book's configuration: {b['first_build_s']:.1f} s the first "
                      f"time (the build executes the five labs with their default parameters and solutions), "
                      f"{b['rebuild_solutions_hidden_s']:.1f} s to rebuild them with the solutions hidden (labs from "
                      f"the execution cache)."]
    return "\n".join(lines)


# ============================================================================================ autograder
class CheckFailure(AssertionError):
    """A check found a wrong answer; the message says what was expected and what came back."""


@dataclass(frozen=True)
class Part:
    """One autograded exercise part.

    Attributes:
        key: ``labN.M`` (the exercise's title starts with it).
        title: what the part asks for, in a few words.
        names: the names the answer must define (functions or values).
        check: ``check(namespace) -> str | None``; raises :class:`CheckFailure` on a wrong answer and
            may return a short note on success.
    """

    key: str
    title: str
    names: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], str | None]


@dataclass
class PartResult:
    """The outcome of one part: ``status`` is pass, fail, missing (not answered) or error."""

    key: str
    title: str
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def load_parts(lab: Lab | str | int, checks_dir: str | Path = CHECKS_DIR) -> list[Part]:
    """The lab's :class:`Part` list, from ``course/checks/labN.py``.

    Raises:
        CourseError: the lab has no checks file or it defines no ``PARTS``.
    """
    lab = lab if isinstance(lab, Lab) else get_lab(lab)
    path = Path(checks_dir) / f"{lab.key}.py"
    if not path.is_file():
        raise CourseError(f"{lab.key}: no autograder checks ({path} does not exist)")
    spec = importlib.util.spec_from_file_location(f"llmmusic_course_checks_{lab.key}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    parts = getattr(module, "PARTS", None)
    if not parts:
        raise CourseError(f"{path}: defines no PARTS")
    return list(parts)


def _is_unanswered(value: Any) -> bool:
    return value is None or value is Ellipsis


def grade(lab: Lab | str | int, namespace: Mapping[str, Any], parts: Sequence[Part] | None = None) -> list[PartResult]:
    """Run every part of a lab's checks on ``namespace`` (the student's answers).

    Args:
        lab: the lab.
        namespace: names defined by the answers (see :func:`answers_from_notebook`).
        parts: the parts (default :func:`load_parts`).
    Returns:
        one :class:`PartResult` per part, in order.
    """
    parts = list(parts) if parts is not None else load_parts(lab)
    results = []
    for part in parts:
        missing = [n for n in part.names if n not in namespace]
        unanswered = [n for n in part.names if n in namespace and _is_unanswered(namespace[n])]
        if missing:
            results.append(PartResult(part.key, part.title, "missing",
                                      f"define {', '.join(f'`{n}`' for n in missing)} (in the cell tagged "
                                      f"'answer' under exercise {part.key})"))
            continue
        if unanswered:
            results.append(PartResult(part.key, part.title, "missing",
                                      f"not answered yet: {', '.join(f'`{n}`' for n in unanswered)} is still None"))
            continue
        try:
            note = part.check(namespace)
        except NotImplementedError:
            results.append(PartResult(part.key, part.title, "missing",
                                      "not answered yet: the function still raises NotImplementedError"))
        except CheckFailure as exc:
            results.append(PartResult(part.key, part.title, "fail", str(exc)))
        except Exception as exc:  # the student's code raised
            results.append(PartResult(part.key, part.title, "error",
                                      f"your answer raised {type(exc).__name__}: {exc}"))
        else:
            results.append(PartResult(part.key, part.title, "pass", note or ""))
    return results


def report(lab: Lab | str | int, results: Sequence[PartResult]) -> str:
    """The grading report: one line per part, then a score line."""
    lab = lab if isinstance(lab, Lab) else get_lab(lab)
    marks = {"pass": "PASS", "fail": "FAIL", "missing": "TODO", "error": "ERROR"}
    lines = [f"{lab.key} ({lab.title})"]
    for r in results:
        lines.append(f"  {marks[r.status]:5s} {r.key} {r.title}" + (f": {r.message}" if r.message else ""))
    passed = sum(r.passed for r in results)
    lines.append(f"  {passed}/{len(results)} parts pass")
    return "\n".join(lines)


def check(lab: str | int, namespace: Mapping[str, Any]) -> list[PartResult]:
    """Grade the answers in ``namespace`` (in a lab: ``check("lab2", globals())``) and print the report.

    Returns:
        the results (never raises on a wrong answer).
    """
    results = grade(lab, namespace)
    print(report(lab, results))
    return results


# --------------------------------------------------------------------------------------------- answers
def _cell_tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _definitions(source: str) -> str:
    """The top-level imports, function and class definitions of a cell (nothing that runs work)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    keep = [node for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) if keep else ""


def _read_any_notebook(path: Path) -> Any:
    if path.suffix == ".ipynb":
        import nbformat

        return nbformat.read(str(path), as_version=4)
    import jupytext

    return jupytext.read(path)


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
    nb = _read_any_notebook(path)
    wanted = "reference" if reference else "answer"
    skipped = {"solution", "reference", "answer", "parameters", "injected-parameters", "check"}
    namespace: dict[str, Any] = {"__name__": "answers"}
    errors: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = _cell_tags(cell)
        if wanted in tags:
            code = cell.source
        elif tags & skipped:
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


# --------------------------------------------------------------------------------------------- check helpers
def expect(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailure` with ``message`` unless ``condition``."""
    if not condition:
        raise CheckFailure(message)


def expect_close(actual: Any, expected: float, what: str, tol: float = 1e-6) -> None:
    """``actual`` is a number within ``tol`` of ``expected`` (NaN equals NaN), else a clear failure."""
    try:
        value = float(actual)
    except (TypeError, ValueError):
        raise CheckFailure(f"{what}: expected a number, got {type(actual).__name__} {actual!r}") from None
    if math.isnan(expected):
        expect(math.isnan(value), f"{what}: expected NaN (not a number), got {value!r}")
        return
    expect(not math.isnan(value) and abs(value - expected) <= tol,
           f"{what}: expected {expected:.6g}, got {value:.6g}")


def expect_callable(namespace: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """``namespace[name]`` if it is callable, else a clear failure."""
    value = namespace[name]
    expect(callable(value), f"`{name}` should be a function, got {type(value).__name__}")
    return value


# ============================================================================================ Sphinx
def _hide_solutions(app: Any, config: Any) -> None:
    """``config-inited``: ``$LLMMUSIC_SOLUTIONS`` (if set) decides sphinx-exercise's ``hide_solutions``."""
    if os.environ.get(SOLUTIONS_ENV):
        config.hide_solutions = solutions_mode() == "hide"


def _strip_file(path: Path) -> bool:
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


def _strip_downloads(app: Any, exception: Exception | None) -> None:
    """``build-finished``: with solutions hidden, the page sources and downloads hold none either."""
    if exception is not None or not app.config.hide_solutions or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for folder in ("_sources", "_downloads"):
        for path in (out / folder).rglob("*"):
            if path.suffix in (".ipynb", ".py") and path.is_file():
                _strip_file(path)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension: the solutions switch for sphinx-exercise (see the module docstring)."""
    from docutils import nodes
    from sphinx.transforms import SphinxTransform
    from sphinx_exercise.directive import SolutionStartDirective
    from sphinx_exercise.nodes import solution_end_node

    app.setup_extension("sphinx_exercise")

    class hidden_solution(nodes.Element):
        """Where a gated solution started in a build with solutions hidden."""

    class HiddenSolutionStart(SolutionStartDirective):
        def run(self) -> list[Any]:
            made = super().run()  # keeps sphinx-exercise's bookkeeping of gated directives
            return [hidden_solution()] if self.env.app.config.hide_solutions else made

    class RemoveHiddenSolutions(SphinxTransform):
        """Drop everything from a hidden solution's start to its ``{solution-end}`` (code cells and
        outputs included: sphinx-exercise alone would leave them on the page)."""

        default_priority = 5

        def apply(self, **kwargs: Any) -> None:
            for marker in list(self.document.findall(hidden_solution)):
                parent = marker.parent
                start = parent.index(marker)
                end = start
                while end < len(parent.children) and not isinstance(parent.children[end], solution_end_node):
                    end += 1
                for child in list(parent.children[start:end + 1]):
                    parent.remove(child)

    app.add_node(hidden_solution)
    app.add_directive("solution-start", HiddenSolutionStart, override=True)
    app.add_transform(RemoveHiddenSolutions)
    app.connect("config-inited", _hide_solutions)
    app.connect("build-finished", _strip_downloads)
    from llmmusic import __version__

    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": __version__}


__all__ = [
    "Lab", "LabRun", "Part", "PartResult", "CheckFailure", "CourseError", "discover_labs", "get_lab", "run_lab",
    "strip_solutions", "has_solutions", "solutions_mode", "solutions_confoverrides", "load_parts", "grade",
    "report", "check", "answers_from_notebook", "answers_from_module", "expect", "expect_close",
    "expect_callable", "image_outputs", "cell_text", "default_output", "declared_parameters",
]
