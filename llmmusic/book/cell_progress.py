"""What a notebook's execution shows on the terminal: a line per executed cell, and its loops' progress.

:class:`CellProgress` prints a line per finished code cell with its time and the notebook's elapsed
time, relays the lines its long loops send (:func:`llmmusic.progress.report`, through the file named by
``LLMMUSIC_PROGRESS``), and prints a line every ``heartbeat_s`` while one cell runs without sending any.
:func:`progress_engine` is the papermill engine that tells it when each cell starts and ends.

Used in: llmmusic/book/runner.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from llmmusic.book.notebook import first_line
from llmmusic.progress import ENV

ENGINE = "llmmusic-progress"  # the papermill engine name under which progress_engine is registered


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for the terminal."""
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class CellProgress:
    """The terminal lines of one notebook's execution (see the module docstring).

    Use as a context manager around the execution; :func:`progress_engine` calls :meth:`begin`,
    :meth:`cell_start` and :meth:`cell_complete`.
    """

    def __init__(self, name: str, channel: Path, stream: TextIO | None = None, heartbeat_s: float = 30.0,
                 poll_s: float = 1.0, prefix: str = "[book]") -> None:
        self.name, self.channel, self.prefix = name, channel, prefix
        self.stream = stream if stream is not None else sys.stdout
        self.heartbeat_s, self.poll_s = heartbeat_s, poll_s
        self.total = 0
        self.done = 0
        self.cell: tuple[int, float, str] | None = None  # (code-cell number, start, first line)
        self.start = time.monotonic()
        self.last_line = self.start
        self._offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CellProgress":
        self.channel.parent.mkdir(parents=True, exist_ok=True)
        self.channel.write_text("", encoding="utf-8")
        self._env_before = os.environ.get(ENV)
        os.environ[ENV] = str(self.channel)  # the kernel inherits it
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._relay()
        if self._env_before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self._env_before
        self.channel.unlink(missing_ok=True)

    def _print(self, text: str) -> None:
        with self._lock:
            print(f"{self.prefix} {self.name} {text}", file=self.stream, flush=True)
            self.last_line = time.monotonic()

    def _where(self) -> str:
        return f"cell {self.cell[0]}/{self.total}" if self.cell else f"{self.done}/{self.total} cells"

    def begin(self, cells: Sequence[Any]) -> None:
        """The notebook about to run (after papermill injected its parameters)."""
        self.total = sum(c.cell_type == "code" for c in cells)
        self.done = 0

    def cell_start(self, cell: Any) -> None:
        if cell.cell_type == "code":
            self.cell = (self.done + 1, time.monotonic(), first_line(cell.source))

    def cell_complete(self, cell: Any) -> None:
        if cell.cell_type != "code" or self.cell is None:
            return
        number, started, line = self.cell
        self.done, self.cell = number, None
        now = time.monotonic()
        self._print(f"cell {number}/{self.total} {now - started:6.1f} s  (elapsed {clock(now - self.start)})  {line}")

    def _relay(self) -> None:
        """Print the loop progress lines sent since the last call."""
        try:
            with open(self.channel, encoding="utf-8") as handle:
                handle.seek(self._offset)
                text = handle.read()
        except OSError:
            return
        complete = text[:text.rfind("\n") + 1]
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            if line.strip():
                self._print(f"{self._where()} | {line.strip()}")

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._relay()
            if self.cell is not None and time.monotonic() - max(self.last_line, self.cell[1]) >= self.heartbeat_s:
                self._print(f"{self._where()} running for {time.monotonic() - self.cell[1]:.0f} s  {self.cell[2]}")


def progress_engine(progress: CellProgress) -> type:
    """A papermill engine (nbclient's) that tells ``progress`` when each cell starts and ends."""
    from papermill.engines import NBClientEngine

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            progress.begin(nb_man.nb.cells)
            start, complete = nb_man.cell_start, nb_man.cell_complete

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                progress.cell_start(cell)
                return start(cell, cell_index, **kw)

            def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                result = complete(cell, cell_index=cell_index, **kw)
                progress.cell_complete(cell)
                return result

            nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return ProgressEngine
