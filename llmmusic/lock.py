"""An exclusive lock on a dataset folder, so that only one process writes to it at a time.

The lock is an ``flock`` on ``<folder>/.llmmusic.lock``, which holds the pid of its holder. The kernel
releases it when the holder exits, however it exits (``kill -9`` included): a lock file left by a dead
process is simply taken over. The file is removed when the lock is released.

Used in: ``llmmusic.generation.generate.Generator.run``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from llmmusic.errors import DatasetLocked

LOCK_FILE = ".llmmusic.lock"


def lock_holder(folder: str | os.PathLike) -> int | None:
    """The pid recorded in a folder's lock file, or None (no file, or not readable)."""
    try:
        return int(json.loads((Path(folder) / LOCK_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class FolderLock:
    """``with FolderLock(folder, "generate"):`` holds the folder's lock or raises :class:`DatasetLocked`.

    Args:
        folder: the folder (created if missing).
        purpose: what the holder does, recorded in the lock file and named to a refused writer.
    """

    def __init__(self, folder: str | os.PathLike, purpose: str = "write") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (never waits)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = lock_holder(self.folder)
                raise DatasetLocked(f"{self.folder}: another process (pid {holder if holder else 'unknown'}) is "
                                    f"writing to this dataset; wait for it to end or use another --out",
                                    holder) from None
            if self._same_file(fd):
                break
            os.close(fd)  # the holder removed the file as we opened it: lock the new one
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # before unlocking: no one can lock this file after us
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
