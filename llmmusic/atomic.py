"""Atomic file writes (write to a temporary file in the same folder, fsync, rename), and JSON reads
that name the file when its content is not what was expected."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from llmmusic.errors import DataError


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would surprise readers of a dataset
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to ``path`` with a single ``write`` + fsync (a crash leaves at most a torn last line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike, what: str, kind: type = dict) -> Any:
    """The JSON value in ``path``, which must be a ``kind`` (``what`` names it in the error).

    Raises:
        FileNotFoundError: no file.
        DataError: not UTF-8 JSON, or not a ``kind``.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected {what}") from None
    if not isinstance(value, kind):
        raise DataError(f"{path}: expected {what} (a JSON {kind.__name__}), got a {type(value).__name__}")
    return value
