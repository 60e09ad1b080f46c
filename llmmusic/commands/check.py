"""``llmmusic check labN``: grade your answers to a lab's coding exercises, part by part."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmmusic.course import (CourseError, answers_from_module, answers_from_notebook, default_output, get_lab, grade,
                      report)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="grade your answers to a course lab",
                       description="Run the autograder of lab N on your answers (the cells tagged 'answer' of "
                                   "your notebook, or a Python module) and say which part is right or wrong. "
                                   "Exit status 0 when every part passes, 1 otherwise.")
    p.add_argument("lab", help="the lab: labN, N or the lab's file name")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--notebook", type=Path,
                     help="your notebook (.ipynb or Jupytext .py; default: my-labs/labN_topic.ipynb)")
    src.add_argument("--module", type=Path, help="a Python file defining your answers")
    src.add_argument("--reference", action="store_true", help="grade the lab's reference solution (instructors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        lab = get_lab(args.lab)
        if args.reference:
            namespace = answers_from_notebook(lab.source, reference=True)
        elif args.module is not None:
            namespace = answers_from_module(args.module)
        else:
            path = args.notebook or default_output(lab)
            if args.notebook is None and not path.exists():
                print(f"llmmusic check: {path} does not exist; run `llmmusic lab {lab.number}` first or give "
                      f"--notebook PATH", file=sys.stderr)
                return 2
            namespace = answers_from_notebook(path)
        results = grade(lab, namespace)
    except (CourseError, FileNotFoundError) as exc:
        print(f"llmmusic check: {exc}", file=sys.stderr)
        return 2
    print(report(lab, results))
    for error in namespace.get("__answer_errors__", []):
        print(f"  note: an answer cell raised: {error}")
    return 0 if all(r.passed for r in results) else 1
