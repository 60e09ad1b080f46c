"""``llmmusic book``: execute the chapter notebooks and build the HTML book (offline)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from llmmusic.book import ROOT, BookError, build_book
from llmmusic.course import SOLUTIONS_ENV
from llmmusic.book.parameters import cli_parameters
from llmmusic.commands._options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("book", help="execute the chapter notebooks and build the HTML book",
                       description="Execute each chapter notebook (notebooks/NN_topic.py) with papermill into "
                                   "book/executed/, then build the Jupyter Book HTML into book/_build/html "
                                   "(no network needed).")
    p.add_argument("--chapter", action="append", metavar="NN",
                   help="execute only this chapter (repeatable; e.g. --chapter 01 --chapter 02); the other "
                        "chapters keep their previous executed copy or get a placeholder page")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a notebook parameter (as papermill -p: numbers, True/False/None; [..] / {..} as "
                        "YAML/JSON); applied to every selected chapter that declares it")
    p.add_argument("-r", "--raw", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a parameter to the string VALUE as is (as papermill -r)")
    p.add_argument("--small", action="store_true",
                   help="use each chapter's small parameters (notebook metadata llmmusic.small): a quick build")
    p.add_argument("--no-execute", action="store_true", help="only rebuild the HTML from book/executed/")
    p.add_argument("--out", type=Path, default=ROOT / "book" / "_build" / "html", help="HTML output folder")
    p.add_argument("--timeout", type=positive_int, help="per-cell timeout in seconds (default: none)")
    p.add_argument("--quiet", action="store_true", help="less Sphinx output")
    p.add_argument("--solutions", choices=("show", "hide"),
                   help="show or hide the course's exercise solutions (sets LLMMUSIC_SOLUTIONS; default show)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.solutions:
        os.environ[SOLUTIONS_ENV] = args.solutions  # read by the llmmusic.course Sphinx extension
    params = cli_parameters(args.parameter, args.raw)
    try:
        build_book(chapters=args.chapter, params=params, small=args.small, execute=not args.no_execute,
                   out=args.out, timeout_s=args.timeout, quiet=args.quiet,
                   command=shlex.join(["llmmusic", *sys.argv[1:]]))
    except BookError as exc:
        print(f"\n[book] FAILED: {exc}", file=sys.stderr)
        return 1
    return 0
