"""Reading many MIDI files where some may be broken: one loop, one failure format.

Human collections hold files that do not parse, have no notes, or hold nothing in the window
asked for. :func:`read_each` reads what it can and records the rest as ``{"path", "reason"}``
rows (the reason of a :class:`~llmmusic.data.midi.MidiReadError`, or ``"<Error>: <message>"`` for
anything else a broken file raises), so a batch never stops on one file and nothing is dropped
silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from llmmusic.data.midi import MidiReadError

E = TypeVar("E")
R = TypeVar("R")


def failure(path: str | Path, exc: BaseException) -> dict[str, str]:
    """The one failure row: the file and why it was skipped."""
    reason = exc.reason if isinstance(exc, MidiReadError) else f"{type(exc).__name__}: {exc}"
    return {"path": str(path), "reason": reason}


def read_each(entries: Iterable[E], read: Callable[[E], R], failures: list[dict[str, str]] | None = None,
              path: Callable[[E], str | Path] = lambda entry: entry) -> Iterator[tuple[E, R]]:  # type: ignore[assignment,return-value]
    """Yield ``(entry, read(entry))`` for every entry whose file reads.

    Args:
        entries: what to read (paths, or rows holding a path).
        read: reads one entry; raises on a file it cannot use.
        failures: receives :func:`failure` rows for the entries skipped (``None``: not kept).
        path: the file of an entry (default: the entry itself).
    """
    for entry in entries:
        try:
            result = read(entry)
        except Exception as exc:  # a malformed file must not stop a batch
            if failures is not None:
                failures.append(failure(path(entry), exc))
            continue
        yield entry, result
