"""The grid run: genre x style x index -> seed, mood, temperature -> LLM call -> MIDI + manifest.

Resumable and crash-safe: MIDI files are written atomically before their manifest row;
manifest rows are appended with one ``write`` each; a song with a valid row is never
asked again, and a repeated request is answered from the call cache, so an
interrupted run (Ctrl-C, kill -9) continues where it stopped and ends with the same
files as an uninterrupted one. A run holds the folder's lock (:mod:`llmmusic.lock`), so a
second writer is refused. A stopped run (:meth:`Generator.run` interrupted) abandons the
requests in flight at once, records each as an ``interrupted`` error row, logs itself, and
writes nothing after that.

Used in: ``llmmusic generate``; notebooks/01_prompt_design.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmmusic import atomic
from llmmusic.data.dataset import (CACHE, MANIFEST, PARAMS, RUNS, ManifestRow, load_params, midi_relpath, plan_relpath,
                      read_manifest_rows, repair_torn_tail)
from llmmusic.errors import UserError
from llmmusic.generation.llm import LLMClient
from llmmusic.lock import FolderLock
from llmmusic.data.midi import midi_bytes
from llmmusic.generation.songs import GenerateConfig, Song, plan_songs
from llmmusic.generation.variants import Variant, get_variant
from llmmusic.generation.server import machine_description

log = logging.getLogger(__name__)

@dataclass
class RunSummary:
    """What a run did."""

    songs_planned: int = 0
    songs_done_before: int = 0
    songs_valid: int = 0
    songs_given_up: int = 0
    attempts: int = 0
    valid_attempts: int = 0
    llm_calls: int = 0
    cache_hits: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0  # of the requests sent (not cache hits)
    cached_prompt_tokens: int = 0  # of those, the ones the server reused from an earlier request's prefix
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    retries: int = 0  # requests sent again after a transient error (rate limit, 5xx, timeout)
    retry_reasons: dict[str, int] = field(default_factory=dict)
    failed_requests: int = 0  # requests given up (each one an error row)
    interrupted_attempts: int = 0  # attempts in flight when the run was stopped (each one an error row)

    @property
    def pieces_per_hour(self) -> float:
        return 3600.0 * self.songs_valid / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0

    @property
    def prompt_reused(self) -> float | None:
        """Share of the sent requests' prompt tokens the server reused from a cached prefix (None: unknown)."""
        return self.cached_prompt_tokens / self.prompt_tokens if self.prompt_tokens and self.cached_prompt_tokens else None

    def as_dict(self) -> dict[str, Any]:
        reused = self.prompt_reused
        return {**asdict(self), "pieces_per_hour": round(self.pieces_per_hour, 2),
                "tokens_per_second": round(self.tokens_per_second, 2),
                "prompt_reused": None if reused is None else round(reused, 3)}


class Generator:
    """Runs a :class:`GenerateConfig` through an :class:`LLMClient` into its dataset folder."""

    def __init__(self, config: GenerateConfig, client: LLMClient) -> None:
        self.config = config
        self.client = client
        self.variant: Variant = get_variant(config.variant)
        self._lock = threading.RLock()  # reentrant: a signal may interrupt the main thread holding it
        self._stopped = False  # set under the lock when the run stops: nothing is written after it
        self._in_flight: dict[int, tuple[Song, int]] = {}  # worker thread id -> (song, attempt)
        self.started = False  # whether run() got past its checks (lock, parameters, manifest) and began
        self.summary = RunSummary()

    @property
    def manifest_path(self) -> Path:
        return self.config.out / MANIFEST

    def _check_params(self) -> None:
        """Record the run parameters, or refuse to mix a dataset with different ones."""
        path = self.config.out / PARAMS
        current = {**self.config.defining(), "model": self.client.model_id, "endpoint": self.client.endpoint_kind,
                   "prompt_version": self.variant.version}
        if path.exists():
            before = load_params(self.config.out)
            diff = {k: (before.get(k), v) for k, v in current.items() if before.get(k) != v}
            if diff:
                raise UserError(f"{path}: this dataset was made with other parameters "
                                f"(field: (recorded, requested)) {diff}; use another --out")
        else:
            atomic.write_text(path, json.dumps(current, indent=2, sort_keys=True) + "\n")

    def _progress_state(self) -> dict[tuple[str, str, int], tuple[bool, int]]:
        """For each song seen in the manifest: (has a valid row, number of replies so far)."""
        state: dict[tuple[str, str, int], tuple[bool, int]] = {}
        for number, row in enumerate(read_manifest_rows(self.manifest_path), 1):
            try:
                key, status = (row["genre"], row["style"], int(row["index"])), row["status"]
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{self.manifest_path}: row {number} lacks genre, style, index or status") from None
            valid, replies = state.get(key, (False, 0))
            state[key] = (valid or status == "valid", replies + (status != "error"))
        return state

    def _record(self, row: ManifestRow, files: dict[str, bytes]) -> bool:
        """Write an attempt's files, then its manifest row; nothing once the run has stopped.

        Returns:
            False when the run had stopped (the attempt is dropped: its song is asked again next run).
        """
        with self._lock:
            if self._stopped:
                return False
            for rel, data in files.items():
                atomic.write_bytes(self.config.out / rel, data)
            self._append(row)
            return True

    def _append(self, row: ManifestRow) -> None:
        """Append ``row`` to the manifest and count it (caller holds the lock)."""
        with self._lock:
            atomic.append_line(self.manifest_path, row.to_json())
            self.summary.attempts += 1
            if row.status == "valid":
                self.summary.valid_attempts += 1
            elif row.failure:
                reason = row.failure.split(":")[0]
                self.summary.failures[reason] = self.summary.failures.get(reason, 0) + 1
            if not row.cached:  # the plan call's tokens are counted when it is answered (see _plan)
                self._count_tokens(row.usage)

    def _count_tokens(self, usage: dict[str, int]) -> None:
        """Add the tokens of one request that was sent (not a cache hit) to the run's summary."""
        with self._lock:
            self.summary.completion_tokens += usage.get("completion_tokens", 0)
            self.summary.prompt_tokens += usage.get("prompt_tokens", 0)
            self.summary.cached_prompt_tokens += usage.get("cached_prompt_tokens", 0)

    def _params(self, song: Song, attempt: int, fmt: tuple[dict[str, Any] | None, dict[str, Any] | None],
                max_tokens: int) -> dict[str, Any]:
        cfg = self.config
        response_format, extra = fmt if cfg.decoding == "schema" else (None, None)
        if cfg.repeat_penalty is not None:
            extra = {**(extra or {}), "repeat_penalty": cfg.repeat_penalty}
        return dict(temperature=song.temperature, top_p=cfg.top_p, max_tokens=max_tokens,
                    seed=song.attempt_seed(attempt), response_format=response_format, extra_body=extra)

    def request(self, song: Song, attempt: int, plan: dict[str, Any] | None = None
                ) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The messages and sampling parameters of one attempt (``client.chat(messages, **params)``)."""
        messages = self.variant.messages(song.genre, song.style, song.mood, plan)
        fmt = self.variant.response_format(self.client.endpoint_kind)
        return messages, self._params(song, attempt, fmt, int(self.config.max_tokens or 0))

    def plan_request(self, song: Song, attempt: int) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The plan call of a plan-then-compose variant."""
        from llmmusic.generation.variants import PLAN_MAX_TOKENS, PlanVariant

        variant = self.variant
        assert isinstance(variant, PlanVariant)
        messages = variant.plan_messages(song.genre, song.style, song.mood)
        fmt = variant.plan_response_format(self.client.endpoint_kind)
        return messages, self._params(song, attempt, fmt, PLAN_MAX_TOKENS)

    def _plan(self, song: Song, attempt: int, base: dict[str, Any]
              ) -> tuple[dict[str, Any] | None, dict[str, Any], ManifestRow | None]:
        """Ask for the plan: (plan, row fields naming the plan call, a failure row or None)."""
        try:
            messages, params = self.plan_request(song, attempt)
            reply = self.client.chat(messages, **params)
        except Exception as exc:  # recorded; the song is retried next run
            log.warning("%s/%s #%d attempt %d plan: %s", song.genre, song.style, song.index, attempt, exc)
            return None, {}, ManifestRow(**base, status="error", failure=f"plan_call_error:{type(exc).__name__}")
        if not reply.cached:
            self._count_tokens(reply.usage)
        fields = dict(plan_cache_key=reply.cache_key, plan_usage=reply.usage)
        plan, failure = self.variant.parse_plan(reply.text)  # type: ignore[attr-defined]
        if failure is not None:
            return None, fields, ManifestRow(**base, **fields, status="invalid", failure=failure,
                                             cached=reply.cached, finish_reason=reply.finish_reason)
        return plan, fields, None

    def _base(self, song: Song, attempt: int) -> dict[str, Any]:
        """The manifest fields every row of one attempt has."""
        cfg = self.config
        return dict(genre=song.genre, style=song.style, index=song.index, attempt=attempt, mood=song.mood,
                    temperature=song.temperature, seed=song.attempt_seed(attempt), model=self.client.model_id,
                    endpoint=self.client.endpoint_kind, decoding=cfg.decoding, prompt_version=self.variant.version,
                    time=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def _attempt(self, song: Song, attempt: int) -> tuple[ManifestRow, dict[str, bytes]]:
        """One LLM attempt at ``song``: (plan,) call, parse; its manifest row and the files a valid piece
        writes (relative path -> bytes; written by :meth:`_record`)."""
        cfg = self.config
        base = self._base(song, attempt)
        plan, plan_fields = None, {}
        if self.variant.needs_plan:
            plan, plan_fields, failed = self._plan(song, attempt, base)
            if failed is not None:
                return failed, {}
        try:
            messages, params = self.request(song, attempt, plan)
            reply = self.client.chat(messages, **params)
        except Exception as exc:  # recorded, never silently dropped; the song is retried next run
            log.warning("%s/%s #%d attempt %d: %s", song.genre, song.style, song.index, attempt, exc)
            return ManifestRow(**base, **plan_fields, status="error", failure=f"call_error:{type(exc).__name__}"), {}
        result = self.variant.parse(reply.text, plan)
        failure = result.failure
        if failure is None and reply.finish_reason == "length" and "truncated" in " ".join(result.repairs):
            failure = "truncated"
        common = dict(base, **plan_fields, repairs=result.repairs, cache_key=reply.cache_key, usage=reply.usage,
                      latency_s=round(reply.latency_s, 3), cached=reply.cached, finish_reason=reply.finish_reason)
        if failure is not None or result.piece is None:
            return ManifestRow(**common, status="invalid", failure=failure or "no_piece"), {}
        piece = result.piece
        data = midi_bytes(piece, writer=cfg.writer)
        rel = midi_relpath(song.genre, song.style, song.index)
        files = {rel: data}
        if plan is not None:
            common["plan_path"] = plan_relpath(rel)
            files[common["plan_path"]] = (json.dumps(plan, indent=2, sort_keys=True) + "\n").encode("utf-8")
        return ManifestRow(**common, status="valid", path=rel, midi_sha256=hashlib.sha256(data).hexdigest(),
                           n_notes={t: len(n) for t, n in piece.tracks().items()}), files

    def _song(self, song: Song, start_attempt: int) -> bool:
        """Try ``song`` until a valid piece or ``max_attempts`` replies (or the run stops); True if valid."""
        me = threading.get_ident()
        for attempt in range(start_attempt, self.config.max_attempts):
            with self._lock:
                if self._stopped:
                    return False
                self._in_flight[me] = (song, attempt)
            try:
                row, files = self._attempt(song, attempt)
                if not self._record(row, files):
                    return False
            finally:
                with self._lock:
                    self._in_flight.pop(me, None)
            if row.status == "valid":
                return True
            if row.status == "error":
                return False  # no reply: leave the song for the next run
        return False

    def pending(self) -> list[tuple[Song, int]]:
        """Songs still to do with the attempt each resumes at."""
        state = self._progress_state()
        todo = []
        for song in plan_songs(self.config):
            valid, replies = state.get((song.genre, song.style, song.index), (False, 0))
            if valid or replies >= self.config.max_attempts:
                self.summary.songs_done_before += 1
                continue
            todo.append((song, replies))
        return todo

    def _log_run(self, start: float, concurrency: int, interrupted: bool) -> None:
        """Append this run's summary to ``runs.jsonl`` (throughput figures for the dataset card)."""
        stats, before = self.client.stats, self._stats0
        self.summary.seconds = time.monotonic() - start
        self.summary.llm_calls = stats.calls - before.calls
        self.summary.cache_hits = stats.cache_hits - before.cache_hits
        self.summary.retries = stats.retries - before.retries
        self.summary.failed_requests = stats.failed - before.failed
        self.summary.retry_reasons = {k: n - before.retry_reasons.get(k, 0) for k, n in stats.retry_reasons.items()
                                      if n > before.retry_reasons.get(k, 0)}
        record = {**self.summary.as_dict(), "concurrency": concurrency, "interrupted": interrupted,
                  "llm": self.client.describe(), "config": {**self.config.defining(),
                  "per_combination": self.config.per_combination, "limit": self.config.limit,
                  "pilot": self.config.pilot},
                  "machine": machine_description(),
                  "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic.append_line(self.config.out / RUNS, json.dumps(record, sort_keys=True))

    def _stop(self, start: float, concurrency: int) -> None:
        """Stop the run now: record each attempt in flight as interrupted, log the run, then write nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for song, attempt in self._in_flight.values():
                self._append(ManifestRow(**self._base(song, attempt), status="error", failure="interrupted"))
                self.summary.interrupted_attempts += 1
            self._in_flight.clear()
            self._log_run(start, concurrency, interrupted=True)

    def _worker(self, todo: "queue.SimpleQueue[tuple[Song, int]]", done: "queue.SimpleQueue[Any]") -> None:
        """Take songs off ``todo`` until it is empty or the run stops; put each outcome on ``done``."""
        while not self._stopped:
            try:
                song, first = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put(self._song(song, first))
            except BaseException as exc:  # handed to the main thread, which stops the run
                done.put(exc)

    def _start_workers(self, todo: list[tuple[Song, int]], concurrency: int) -> "queue.SimpleQueue[Any]":
        """Daemon worker threads over ``todo``: a stopped run leaves them behind instead of waiting for
        their requests (whatever they get back is dropped by :meth:`_record`)."""
        pending: queue.SimpleQueue[tuple[Song, int]] = queue.SimpleQueue()
        for item in todo:
            pending.put(item)
        done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for k in range(min(max(1, concurrency), max(1, len(todo)))):
            threading.Thread(target=self._worker, args=(pending, done), name=f"generate-{k}", daemon=True).start()
        return done

    def run(self, concurrency: int = 4, progress: bool = True) -> RunSummary:
        """Generate every pending song with ``concurrency`` requests in flight, holding the folder's lock.

        Raises:
            DatasetLocked: another process is writing to the folder.
            KeyboardInterrupt: the run was stopped (logged as interrupted first; nothing written after).
        """
        with FolderLock(self.config.out, "llmmusic generate"):
            return self._run(concurrency, progress)

    def _run(self, concurrency: int, progress: bool) -> RunSummary:
        from copy import deepcopy

        from tqdm.auto import tqdm

        self._check_params()
        repair_torn_tail(self.manifest_path)
        todo = self.pending()
        self.started = True
        if self.config.limit is not None:
            todo = todo[: self.config.limit]
        self.summary.songs_planned = len(todo)
        start = time.monotonic()
        self._stats0 = deepcopy(self.client.stats)
        bar = tqdm(total=len(todo), unit="piece", disable=not progress, desc=f"generate {self.config.out.name}")
        try:
            done = self._start_workers(todo, concurrency)
            for _ in todo:
                outcome = _next(done)
                if isinstance(outcome, BaseException):
                    raise outcome
                with self._lock:
                    self.summary.songs_valid += bool(outcome)
                    self.summary.seconds = time.monotonic() - start
                bar.update(1)
                bar.set_postfix(valid=f"{self.summary.valid_attempts}/{self.summary.attempts}",
                                tok_s=f"{self.summary.tokens_per_second:.1f}")
        except BaseException:
            self._stop(start, concurrency)
            raise
        finally:
            bar.close()
        with self._lock:
            self._stopped = True
            self._log_run(start, concurrency, interrupted=False)
        states = self._progress_state()
        self.summary.songs_given_up = sum(1 for valid, n in states.values()
                                          if not valid and n >= self.config.max_attempts)
        if self.client.cache is not None:
            self.client.cache.checkpoint()  # type: ignore[union-attr]
        return self.summary


def _next(done: "queue.SimpleQueue[Any]") -> Any:
    """The next outcome on ``done``, waking twice a second so a signal is handled at once."""
    while True:
        try:
            return done.get(timeout=0.5)
        except queue.Empty:
            continue


def default_cache_path(out: Path) -> Path:
    """The call cache kept beside a dataset."""
    return Path(out) / CACHE
