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

**Runner.** :func:`run_lab` executes a lab with the book's notebook runner
(:mod:`llmmusic.book.runner`, the one that runs the chapters) into the student's own notebook,
without the solution cells unless asked (``llmmusic lab N``).

**Autograder.** Each lab's checks are ``course/checks/labN.py``: a list ``PARTS`` of :class:`Part`.
:func:`grade` runs them on a namespace; :func:`answers_from_notebook` / :func:`answers_from_module`
build that namespace from a student's notebook or module (``llmmusic check labN``).

**Solutions switch.** ``LLMMUSIC_SOLUTIONS=hide`` (or ``show``) at book-build time; this package is
also a Sphinx extension (``_config.yml``) that sets sphinx-exercise's ``hide_solutions`` from it,
removes gated solutions (code cells and their outputs included) when hidden, and strips solution
cells from the downloadable sources of the built pages. :func:`solutions_confoverrides` gives the
same switch as Sphinx config overrides for a runner.

Modules:

- :mod:`~llmmusic.course.labs` -- the labs, :func:`run_lab`, :func:`sample_pieces`;
- :mod:`~llmmusic.course.solutions` -- stripping solutions, the show/hide switch;
- :mod:`~llmmusic.course.autograder` -- :class:`Part`, :func:`grade`, :func:`check` and the ``expect`` helpers;
- :mod:`~llmmusic.course.answers` -- the names a student's notebook or module defines;
- :mod:`~llmmusic.course.guide` -- the instructor's guide's table of lab times;
- :mod:`~llmmusic.course.sphinx_ext` -- the Sphinx extension.

Used in: ``llmmusic lab``, ``llmmusic check``, course/labs/*.py, tests/test_course.py,
benchmarks/bench_labs.py, the book's Sphinx build.
"""

from __future__ import annotations

from llmmusic.book.notebook import cell_text, declared_parameters, image_outputs
from llmmusic.book.notebook import sync_pair as sync_lab
from llmmusic.course.answers import answers_from_module, answers_from_notebook
from llmmusic.course.autograder import (CheckFailure, Part, PartResult, check, expect, expect_callable, expect_close,
                                        grade, load_parts, report)
from llmmusic.course.guide import timing_table
from llmmusic.course.labs import (CHECKS_DIR, COURSE, DEFAULT_OUT_DIR, LAB_PATTERN, LABS_DIR, CourseError, Lab, LabRun,
                                  default_output, discover_labs, get_lab, run_lab, sample_pieces)
from llmmusic.course.solutions import (SOLUTION_TAGS, SOLUTIONS_ENV, has_solutions, solutions_confoverrides,
                                       solutions_mode, strip_solutions)
from llmmusic.course.sphinx_ext import setup
from llmmusic.paths import ROOT

__all__ = [
    "CHECKS_DIR", "COURSE", "DEFAULT_OUT_DIR", "LAB_PATTERN", "LABS_DIR", "ROOT", "SOLUTION_TAGS", "SOLUTIONS_ENV",
    "Lab", "LabRun", "Part", "PartResult", "CheckFailure", "CourseError", "discover_labs", "get_lab", "run_lab",
    "sample_pieces", "sync_lab", "strip_solutions", "has_solutions", "solutions_mode", "solutions_confoverrides",
    "load_parts", "grade", "report", "check", "answers_from_notebook", "answers_from_module", "expect",
    "expect_close", "expect_callable", "image_outputs", "cell_text", "default_output", "declared_parameters",
    "timing_table", "setup",
]
