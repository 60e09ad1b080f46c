"""Shared command-line options and the checks of every option value (private: not a command).

Every numeric or list option of every command is parsed by one of the ``type=`` functions here, so a
bad value is refused by argparse before anything runs, with a message naming the option and what it
expects (``argument --limit: expected a positive integer, got '-1'``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from urllib.parse import urlsplit
from typing import Callable, Sequence

from llmmusic.generation.llm import LLMClient, redact_url
from llmmusic.generation.server import DEFAULT_MODEL


def _number(text: str, kind: type, lowest: float, inclusive: bool, what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < lowest or (value == lowest and not inclusive):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return int(_number(text, int, 1, True, "a positive integer"))


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return int(_number(text, int, 0, True, "an integer >= 0"))


def positive_float(text: str) -> float:
    """A number > 0."""
    return float(_number(text, float, 0.0, False, "a positive number"))


def nonnegative_float(text: str) -> float:
    """A number >= 0."""
    return float(_number(text, float, 0.0, True, "a number >= 0"))


def fraction(text: str) -> float:
    """A number in [0, 1) (a dropout rate)."""
    value = nonnegative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return value


def name_list(text: str) -> list[str]:
    """A comma-separated, non-empty list of names (``Jazz,Rock``)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {text!r}")
    return names


def choice_list(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """A ``type=`` for a comma-separated list of names out of ``allowed`` (unknown ones are named)."""

    def parse(text: str) -> list[str]:
        names = name_list(text)
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; "
                                             f"expected some of {', '.join(allowed)}")
        return names

    parse.__name__ = "list"  # argparse names the type in some messages
    return parse


def folder(text: str) -> Path:
    """A folder that may not exist yet, but is not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; expected a folder")
    return path


def existing_folder(text: str) -> Path:
    """A folder that exists."""
    path = folder(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path


def output_file(text: str) -> Path:
    """A file to (re)write: not a folder, and not inside a file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
    return path


def existing_file(text: str) -> Path:
    """A file that exists."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    return path


def http_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError("expected an http(s) URL such as http://localhost:8000/v1, "
                                         f"got {redact_url(text)!r}")
    return text


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--model``, ``--parallel``, ``--timeout``, ``--cache-only``."""
    group = parser.add_argument_group("LLM endpoint")
    group.add_argument("--base-url", type=http_url, default=None,
                       help="OpenAI-compatible endpoint (e.g. https://api.openai.com/v1); default: the embedded "
                            "llama-server. The key comes from OPENAI_API_KEY.")
    group.add_argument("--model", default=None,
                       help=f"model name at the endpoint (embedded default: {DEFAULT_MODEL}; e.g. gpt-4o)")
    group.add_argument("--parallel", type=positive_int, default=4, help="slots of the embedded server (default 4)")
    group.add_argument("--timeout", type=positive_float, default=900.0,
                       help="seconds to wait for one reply before retrying it (default 900)")
    group.add_argument("--cache-only", action="store_true", help="never call the LLM; fail on a cache miss")


def client_from_args(args: argparse.Namespace, cache: Path | None) -> LLMClient:
    """An :class:`LLMClient` configured from the options above."""
    return LLMClient(base_url=args.base_url, model=args.model, cache=cache, cache_only=args.cache_only,
                     parallel=args.parallel, timeout=args.timeout)
