"""Progress of long loops inside a chapter, shown in the terminal of ``llmmusic book``.

A chapter's cell output belongs to the page, so a training loop cannot print its progress there
without cluttering the book. While the notebook runner (:mod:`llmmusic.book.runner`) executes a
chapter or lab it sets ``LLMMUSIC_PROGRESS`` to a file; :func:`report` appends a line to it, and the
runner prints each new line with the notebook and cell it came from
(:class:`llmmusic.book.cell_progress.CellProgress`). Outside the runner :func:`report` does
nothing, so the package's loops (CNN epochs and folds, melody-model epochs, zero-shot pieces) call it
unconditionally.

Used in: llmmusic/experiments (CNN, melody model, zero-shot loops), llmmusic/book/cell_progress.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "LLMMUSIC_PROGRESS"
_last: dict[str, float] = {}


def report(message: str, key: str | None = None, every_s: float = 0.0) -> None:
    """Send one progress line to the book runner (no-op when no runner listens).

    Args:
        message: one line, e.g. ``"epoch 3/20 val loss 1.234"``.
        key: lines with the same key are rate-limited together (default: the message's first word).
        every_s: send at most one line per ``every_s`` seconds for this key (0: every line).
    """
    target = os.environ.get(ENV)
    if not target:
        return
    key = key if key is not None else message.split(" ", 1)[0]
    now = time.monotonic()
    if every_s and now - _last.get(key, -every_s) < every_s:
        return
    _last[key] = now
    line = " ".join(str(message).split())  # one line, whatever the message held
    try:
        with open(Path(target), "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:  # progress is a courtesy: never fail a chapter over it
        pass
