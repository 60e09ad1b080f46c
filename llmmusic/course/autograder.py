"""The autograder: each lab's checks, ``course/checks/labN.py``, are a list ``PARTS`` of :class:`Part`.

:func:`grade` runs them on a namespace of the student's answers (:mod:`llmmusic.course.answers`
builds it) and :func:`report` writes one line per part; in a lab, ``check("labN", globals())`` does
both. The checks are written with :func:`expect`, :func:`expect_close` and :func:`expect_callable`.

Used in: llmmusic/commands/check.py, course/checks/*.py, course/labs/*.py, course/test_my_answers.py.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from llmmusic.course.labs import CHECKS_DIR, CourseError, Lab, get_lab


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

