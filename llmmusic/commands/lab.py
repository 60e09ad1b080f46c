"""``llmmusic lab N``: run a course lab into your own executed notebook (offline, no GPU, no API key)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmmusic.course import CourseError, default_output, discover_labs, get_lab, run_lab
from llmmusic.book.parameters import cli_parameters
from llmmusic.commands._options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run a course lab into your own executed notebook",
                       description="Execute lab N (course/labs/labN_topic.py) with papermill into your own "
                                   "notebook, without the solutions, and print where it is. Open it in Jupyter, "
                                   "answer the exercises, then grade them with `llmmusic check labN`.")
    p.add_argument("lab", nargs="?", help="the lab: a number (1-5), labN or the lab's file name")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a lab parameter (as papermill -p: numbers, True/False/None; [..] / {..} as YAML)")
    p.add_argument("-r", "--raw", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a parameter to the string VALUE as is")
    p.add_argument("--out", type=Path, help="the executed notebook (default: my-labs/labN_topic.ipynb)")
    p.add_argument("--solutions", action="store_true", help="keep the solution cells (for instructors)")
    p.add_argument("--tiny", action="store_true", help="use the lab's tiny test parameters (seconds)")
    p.add_argument("--timeout", type=positive_int, help="per-cell timeout in seconds (default: none)")
    p.add_argument("--list", action="store_true", help="list the labs and their parameters")
    p.set_defaults(func=run)


def _list() -> int:
    from llmmusic.course import declared_parameters

    for lab in discover_labs():
        params = ", ".join(f"{k}={v}" for k, v in declared_parameters(lab).items())
        print(f"{lab.key}  {lab.title}\n      {lab.source.relative_to(lab.source.parents[2])}\n      parameters: {params}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    if not args.lab:
        print("llmmusic lab: name a lab (e.g. `llmmusic lab 1`) or use --list", file=sys.stderr)
        return 2
    params = cli_parameters(args.parameter, args.raw)
    try:
        lab = get_lab(args.lab)
        out = args.out or default_output(lab)
        print(f"running {lab.key} ({lab.title}) {params or ''}...", flush=True)
        result = run_lab(lab, params, out=out, solutions=args.solutions, tiny=args.tiny, timeout_s=args.timeout)
    except CourseError as exc:
        print(f"llmmusic lab: {exc}", file=sys.stderr)
        return 2
    if result.error:
        print(f"{lab.key} stopped after {result.wall_s:.1f} s: {result.error}\n"
              f"the notebook, up to the failing cell, is {result.output}", file=sys.stderr)
        return 1
    print(f"{lab.key} ran in {result.wall_s:.1f} s: {result.output}")
    print(f"open it with `jupyter lab {result.output}`; grade your answers with "
          f"`llmmusic check {lab.key} --notebook {result.output}`")
    return 0
