"""Batch results into the call cache: ``import_batch`` and the log of lines that gave no usable reply."""


from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from llmmusic import atomic
from llmmusic.data.dataset import ManifestRow, read_manifest_rows, repair_torn_tail
from llmmusic.errors import DataError, UserError
from llmmusic.generation.batch.requests import pending_calls
from llmmusic.generation.cache import CachedCall
from llmmusic.generation.generate import Generator
from llmmusic.generation.llm import reply_usage
from llmmusic.lock import FolderLock

log = logging.getLogger(__name__)

IMPORT_LOG = "batch-imports.jsonl"


# ---------------------------------------------------------------------------------------------- results
@dataclass
class ImportSummary:
    """What :func:`import_batch` did with a results file, line by line."""

    path: str
    lines: int = 0
    cached: int = 0  # replies added to the call cache
    not_stopped: int = 0  # of those, replies whose finish reason is not "stop" (logged)
    already: int = 0  # lines imported before, or replies already in the cache: nothing added
    failed: int = 0  # failed requests: logged, and an error manifest row each
    malformed: int = 0  # lines that are no results line: logged
    unknown: int = 0  # custom_ids that are no pending call of this run: logged

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Problem(Exception):
    """A results line that gives no reply: (kind, reason)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def _reply(record: dict[str, Any]) -> CachedCall:
    """The reply in one results line, as the cache stores it.

    Raises:
        _Problem: the request failed (``failed``) or the line holds no chat completion (``malformed``).
    """
    error, response = record.get("error"), record.get("response")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        raise _Problem("failed", f"{code or 'error'}: {message}")
    if not isinstance(response, dict):
        raise _Problem("malformed", "no response and no error")
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        detail = body.get("error") if isinstance(body, dict) else body
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        raise _Problem("failed", f"http_{status}: {detail}")
    try:
        choice = body["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        usage = body.get("usage") or {}
        if not isinstance(text, str) or not isinstance(usage, dict):
            raise TypeError
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _Problem("malformed", "the response body is not a chat completion") from None
    usage = reply_usage(body)
    created = body.get("created")
    return CachedCall("", text, choice.get("finish_reason"), usage, choice.get("logprobs"), 0.0,
                      float(created) if isinstance(created, (int, float)) and created > 0 else time.time())


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line.strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); expected batch results as JSON lines") from None


def import_batch(generator: Generator, path: str | Path) -> ImportSummary:
    """Read a Batch API / vLLM results file into the call cache of ``generator``'s run, holding the
    dataset folder's lock (see the module docstring for what is recorded where)."""
    path = Path(path)
    cache = generator.client.cache
    if cache is None:
        raise UserError("importing a batch needs the call cache")
    out = generator.config.out
    summary = ImportSummary(str(path))
    with FolderLock(out, "llmmusic generate --import-batch"):
        generator._check_params()
        repair_torn_tail(generator.manifest_path)
        repair_torn_tail(out / IMPORT_LOG)
        seen = {row.get("line_sha256") for row in read_manifest_rows(out / IMPORT_LOG)}
        calls = {c.key: c for c in pending_calls(generator).calls}
        for number, line in jsonl_lines(path):
            summary.lines += 1
            digest = hashlib.sha256(line.encode("utf-8")).hexdigest()
            if digest in seen:
                summary.already += 1
                continue
            seen.add(digest)
            entry: dict[str, Any] = {"file": str(path), "line": number, "line_sha256": digest}
            try:
                record = json.loads(line)
                key = record.get("custom_id") if isinstance(record, dict) else None
                if not isinstance(key, str) or not key:
                    raise _Problem("malformed", "not a JSON object with a custom_id")
            except json.JSONDecodeError as exc:
                _log_problem(out, entry, _Problem("malformed", f"not JSON ({exc.msg})"), summary)
                continue
            except _Problem as problem:
                _log_problem(out, entry, problem, summary)
                continue
            entry["custom_id"] = key
            if cache.get(key) is not None:  # type: ignore[union-attr]
                summary.already += 1
                continue
            call = calls.get(key)
            if call is None:
                _log_problem(out, entry, _Problem("unknown", "custom_id is no pending call of this run "
                                                             "(another dataset or options, or done since)"), summary)
                continue
            song = call.song
            entry.update(genre=song.genre, style=song.style, index=song.index, attempt=call.attempt, stage=call.stage)
            try:
                reply = _reply(record)
            except _Problem as problem:
                _log_problem(out, entry, problem, summary)
                if problem.kind in ("failed", "malformed"):  # an attempt without a reply, as the live path records it
                    prefix = "plan_batch_error" if call.stage == "plan" else "batch_error"
                    reason = "malformed" if problem.kind == "malformed" else problem.reason.split(":")[0]
                    generator._append(ManifestRow(**generator._base(song, call.attempt), **call.plan_fields,
                                                  status="error", failure=f"{prefix}:{reason}"))
                continue
            reply.key = key
            cache.put(key, call.request, reply)  # type: ignore[union-attr]
            summary.cached += 1
            if reply.finish_reason != "stop":
                summary.not_stopped += 1
                _log_problem(out, entry, _Problem("not_stopped", f"finish_reason {reply.finish_reason}"), None)
        cache.checkpoint()  # type: ignore[union-attr]
    return summary


def _log_problem(out: Path, entry: dict[str, Any], problem: _Problem, summary: ImportSummary | None) -> None:
    """Record one results line that gave no clean reply in the import log (and count it)."""
    row = {**entry, "kind": problem.kind, "reason": problem.reason,
           "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic.append_line(out / IMPORT_LOG, json.dumps(row, sort_keys=True, ensure_ascii=False))
    if summary is not None:
        setattr(summary, problem.kind, getattr(summary, problem.kind) + 1)
    log.warning("%s line %s: %s (%s)", entry["file"], entry["line"], problem.kind, problem.reason)
