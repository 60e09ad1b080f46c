"""A content-addressed cache of LLM calls in SQLite.

The key is the sha256 of a canonical JSON of everything that determines a reply:
model, endpoint kind, messages, sampling parameters, response format (schema) and
seed. The value is the raw reply text, finish reason, token usage, latency, the time
of the call, and (when asked for) log-probabilities. The API key is never part of
either. Safe for several threads and processes (WAL mode, one short transaction per
write).

Used in: every notebook that calls the LLM (through ``llmmusic.generation.llm``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmmusic.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    usage TEXT,
    logprobs TEXT,
    latency_s REAL,
    created REAL
)
"""


def cache_key(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``request`` (sorted keys, no whitespace)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CachedCall:
    """One stored LLM reply."""

    key: str
    text: str
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)
    logprobs: Any = None
    latency_s: float = 0.0
    created: float = 0.0


class CallCache:
    """SQLite-backed store ``key -> CachedCall``.

    Args:
        path: the database file (created with its folder), or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._memory_conn: sqlite3.Connection | None = None
        self._opened: list[sqlite3.Connection] = []  # every thread's connection, for close()
        self._opened_lock = threading.Lock()
        try:
            with self._conn() as conn:
                conn.execute(SCHEMA)
                conn.execute("SELECT key, request, text, finish_reason, usage, logprobs, latency_s, created "
                             "FROM calls LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a call cache ({exc}); expected an SQLite file written by "
                            "llmmusic (move it away to start an empty cache)") from None

    def _conn(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory_conn is None:
                self._memory_conn = sqlite3.connect(":memory:", check_same_thread=False)
            return self._memory_conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # each connection is used by its own thread only; close() may close it from another one
            conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def close(self) -> None:
        """Close every connection (the last one folds the write-ahead log into the file and removes it);
        a later call opens a new one."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def get(self, key: str) -> CachedCall | None:
        """The stored call for ``key``, or ``None``."""
        row = self._conn().execute(
            "SELECT key, text, finish_reason, usage, logprobs, latency_s, created FROM calls WHERE key=?",
            (key,)).fetchone()
        if row is None:
            return None
        return CachedCall(key=row[0], text=row[1], finish_reason=row[2], usage=json.loads(row[3] or "{}"),
                          logprobs=json.loads(row[4]) if row[4] else None, latency_s=row[5] or 0.0,
                          created=row[6] or 0.0)

    def put(self, key: str, request: dict[str, Any], call: CachedCall) -> None:
        """Store ``call`` under ``key`` with the request that made it (first write wins)."""
        with self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?)",
                (key, json.dumps(request, sort_keys=True), call.text, call.finish_reason,
                 json.dumps(call.usage), json.dumps(call.logprobs) if call.logprobs is not None else None,
                 call.latency_s, call.created or time.time()))
        # fold the write into the main file now: a copy of the .sqlite file alone (a git commit, a
        # folder copied without its ignored -wal file) then holds every call answered so far
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (before committing it to git)."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
