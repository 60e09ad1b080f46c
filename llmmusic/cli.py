"""The ``llmmusic`` command line: one sub-command per module in ``llmmusic.commands``.

Each public module there defines ``register(subparsers)``, which adds its sub-command and sets
``func`` on it; ``func(args) -> int`` runs it.

Errors are reported here, once for every command: a wrong option is refused by argparse (exit 2);
an error while running prints one line naming the file or option and what was expected (exit 1),
and ``--debug`` shows its traceback instead. Ctrl-C and ``kill`` (SIGTERM) stop a command with exit
code 130 / 143 and no traceback; a second signal ends the process at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import signal
import sqlite3
import sys
import threading
from typing import Iterator

from llmmusic import __version__, commands
from llmmusic.errors import Interrupted, UserError

#: Errors that describe a bad input rather than a fault of the program: shown without their type.
USER_ERRORS = (UserError, OSError, ValueError, LookupError, sqlite3.Error)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command found in ``llmmusic.commands``."""
    parser = argparse.ArgumentParser(prog="llmmusic", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"llmmusic {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also LLMMUSIC_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue  # private helpers of the commands
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    for command in sub.choices.values():  # `llmmusic generate ... --debug` works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser


def describe_error(exc: BaseException) -> str:
    """One line for ``exc``: its message (naming the file for OS errors); the type for unexpected ones."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, USER_ERRORS) and text:
        return text
    return f"{type(exc).__name__}: {text} (internal error; --debug shows the traceback)"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM raise :class:`Interrupted`; a second signal exits at once."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received:
            os._exit(128 + signum)  # every file is written atomically: a hard stop corrupts nothing
        received.append(signum)
        raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: the exit status of the command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    debug = bool(args.debug or os.environ.get("LLMMUSIC_DEBUG"))
    try:
        with stop_on_signals():
            return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        if debug:
            raise
        signum = exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)
        print(f"llmmusic {args.command}: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    except Exception as exc:
        if debug:
            raise
        print(f"llmmusic {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
