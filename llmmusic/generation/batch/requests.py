"""The requests of a run as a batch file: pending calls, their wire bodies, and ``export_batch``."""


from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmmusic import atomic
from llmmusic.data.dataset import PARAMS, repair_torn_tail
from llmmusic.generation.cache import cache_key
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import Song
from llmmusic.generation.llm import LLMClient

log = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
#: OpenAI's limits for one batch input file.
OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 200 * 1024 * 1024


# ---------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class PendingCall:
    """The next LLM call one pending song needs.

    Attributes:
        stage: ``compose`` (the piece) or ``plan`` (the plan call of a plan-then-compose variant).
        key: the cache key (the batch line's ``custom_id``); request: what the cache stores with it.
        plan_fields: for a compose call after a plan, the manifest fields naming the plan call.
    """

    song: Song
    attempt: int
    stage: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    key: str
    request: dict[str, Any]
    plan_fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pending:
    """A run's pending calls, and the songs that wait for a normal run before they need another."""

    calls: list[PendingCall] = field(default_factory=list)
    awaiting_run: int = 0  # the next call's reply is cached (or its plan is unusable): a normal run records it


def _call(generator: Generator, song: Song, attempt: int, stage: str, messages: list[dict[str, str]],
          params: dict[str, Any], **plan_fields: Any) -> PendingCall:
    request = generator.client.request_for(messages, **params)
    return PendingCall(song, attempt, stage, messages, params, cache_key(request), request, plan_fields)


def pending_calls(generator: Generator, limit: int | None = None) -> Pending:
    """The call each pending song of ``generator``'s run needs next (``limit`` songs at most), built by the
    live path's own :meth:`Generator.request` / :meth:`Generator.plan_request`."""
    cache = generator.client.cache
    variant = generator.variant
    todo = generator.pending()
    if limit is not None:
        todo = todo[:limit]
    result = Pending()
    for song, attempt in todo:
        fields: dict[str, Any] = {}
        plan = None
        if variant.needs_plan:
            plan_call = _call(generator, song, attempt, "plan", *generator.plan_request(song, attempt))
            hit = cache.get(plan_call.key) if cache is not None else None  # type: ignore[union-attr]
            if hit is None:
                result.calls.append(plan_call)
                continue
            plan, failure = variant.parse_plan(hit.text)  # type: ignore[attr-defined]
            if failure is not None:
                result.awaiting_run += 1
                continue
            fields = dict(plan_cache_key=plan_call.key, plan_usage=hit.usage)
        call = _call(generator, song, attempt, "compose", *generator.request(song, attempt, plan), **fields)
        if cache is not None and cache.get(call.key) is not None:  # type: ignore[union-attr]
            result.awaiting_run += 1
        else:
            result.calls.append(call)
    return result


def wire_body(client: LLMClient, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body ``client.chat(messages, **params)`` sends: the model name the endpoint knows, the
    messages, every parameter that is set, and ``extra_body`` merged in at the top level, as the
    ``openai`` client merges it. (llama-cpp-python's fallback server, which takes a schema only as
    ``json_object``, is no batch target.)"""
    sent = {k: v for k, v in params.items() if v is not None}
    extra = sent.pop("extra_body", None) or {}
    return {"model": str(client.model), "messages": messages, **sent, **extra}


def batch_line(client: LLMClient, call: PendingCall) -> dict[str, Any]:
    """One OpenAI Batch API request line for ``call``."""
    return {"custom_id": call.key, "method": "POST", "url": CHAT_URL,
            "body": wire_body(client, call.messages, call.params)}


def _check_recorded_params(generator: Generator) -> None:
    """Refuse a dataset made with other parameters (writes nothing when it has none yet)."""
    if (generator.config.out / PARAMS).exists():
        generator._check_params()


@dataclass
class ExportSummary:
    """What :func:`export_batch` wrote."""

    path: str
    requests: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    awaiting_run: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_batch(generator: Generator, path: str | Path) -> ExportSummary:
    """Write the run's pending calls to ``path`` as OpenAI Batch API JSONL (nothing is sent).

    Nothing is written when no call is pending. Raises :class:`UserError` when the dataset was made
    with other parameters.
    """
    _check_recorded_params(generator)
    repair_torn_tail(generator.manifest_path)
    pending = pending_calls(generator, generator.config.limit)
    summary = ExportSummary(str(path), len(pending.calls), dict(Counter(c.stage for c in pending.calls)),
                            pending.awaiting_run)
    if pending.calls:
        text = "".join(json.dumps(batch_line(generator.client, c), ensure_ascii=False) + "\n" for c in pending.calls)
        data = text.encode("utf-8")
        summary.bytes = len(data)
        atomic.write_bytes(path, data)
        if summary.requests > OPENAI_MAX_REQUESTS or summary.bytes > OPENAI_MAX_BYTES:
            log.warning("%s: %d requests, %d bytes: more than one OpenAI batch holds (%d requests, %d MB); "
                        "export in parts with --limit", path, summary.requests, summary.bytes,
                        OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES >> 20)
    return summary
