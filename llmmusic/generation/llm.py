"""One LLM client over ``openai.OpenAI``: the embedded server by default, any
OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp) by ``base_url``.

Every call goes through the content-addressed :class:`~llmmusic.generation.cache.CallCache`;
a cache hit makes no request (and does not even start the embedded server).
Transient failures (rate limits, 5xx, timeouts, connection errors) are retried with
exponential backoff, or after the delay a ``Retry-After`` header asks for; every retry is
counted in :class:`CallStats`. The API key is read from ``OPENAI_API_KEY`` only and is never
stored, and credentials inside a ``base_url`` (``user:password@``, ``?api-key=...``) are
redacted wherever the URL is recorded (:func:`redact_url`).

Used in: notebooks/01_prompt_design.py, notebooks/03_zero_shot.py.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmmusic.generation.cache import CachedCall, CallCache, cache_key
from llmmusic.generation.server import DEFAULT_MODEL, MODELS, EmbeddedServer, ServerInfo, is_healthy

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
#: The longest wait a ``Retry-After`` header can impose on one retry (seconds).
MAX_RETRY_AFTER = 300.0
#: Query parameters of a base URL kept as they are; every other value is redacted.
PUBLIC_QUERY_KEYS = frozenset({"api-version", "api_version"})
REDACTED = "REDACTED"


def redact_url(url: str | None) -> str | None:
    """``url`` without credentials: user info and query values (but ``api-version``) become ``REDACTED``."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = urlencode([(k, v if k.lower() in PUBLIC_QUERY_KEYS else REDACTED)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def retry_after(exc: BaseException) -> float | None:
    """The delay (seconds) a failed response asks for in ``Retry-After`` / ``retry-after-ms``, or None."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:  # an HTTP date
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None  # an unreadable header: fall back to the backoff


class CacheMiss(LookupError):
    """Raised in ``cache_only`` mode when a request is not in the cache."""


class MalformedReply(RuntimeError):
    """The endpoint answered, but not with a chat completion (a body that is not JSON, or no choice)."""


@dataclass
class Reply:
    """An LLM reply (fresh or from the cache)."""

    text: str
    finish_reason: str | None
    usage: dict[str, int]
    latency_s: float
    cached: bool
    cache_key: str
    logprobs: Any = None


def reply_usage(body: Mapping[str, Any]) -> dict[str, int]:
    """The token counts of a chat completion's JSON body (a live reply's or a batch result's): prompt and
    completion tokens, and ``cached_prompt_tokens``, the prompt tokens the server took from its cache instead of
    processing them again, when it says (OpenAI's ``usage.prompt_tokens_details.cached_tokens``, else
    llama-server's ``timings.cache_n``). ``{}`` for a body without usage."""
    usage = body.get("usage")
    if not isinstance(usage, Mapping) or not usage:
        return {}
    out = {"prompt_tokens": usage.get("prompt_tokens", 0) or 0, "completion_tokens": usage.get("completion_tokens", 0) or 0}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    if cached is None:
        timings = body.get("timings")
        cached = timings.get("cache_n") if isinstance(timings, Mapping) else None
    if isinstance(cached, (int, float)) and not isinstance(cached, bool) and cached >= 0:
        out["cached_prompt_tokens"] = int(cached)
    return out


@dataclass
class CallStats:
    """Counters over a client's lifetime."""

    calls: int = 0  # requests actually sent (successful)
    cache_hits: int = 0
    retries: int = 0  # failed requests that were sent again
    failed: int = 0  # failed requests given up (the call raised)
    retry_reasons: dict[str, int] = field(default_factory=dict)  # error type -> retries
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens the server reused from an earlier request (when it says)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


@dataclass
class LLMClient:
    """Chat completions through one code path, cached.

    Args:
        base_url: an OpenAI-compatible root (``https://api.openai.com/v1``, ``http://host:8000/v1``);
            ``None`` starts/reuses the embedded llama.cpp server.
        model: the model name sent to the endpoint; for the embedded server a key of
            :data:`llmmusic.generation.server.MODELS` (default ``qwen2.5-coder-1.5b``).
        cache: a :class:`CallCache` or a path to its SQLite file; ``None`` = no cache.
        cache_only: never send a request; raise :class:`CacheMiss` instead.
        parallel: slots of the embedded server.
        max_retries: retries of transient errors per call.
        timeout: seconds per request (a slower reply is a transient error).
        json_object_schemas: send a ``json_schema`` response format as llama-cpp-python's
            ``{"type": "json_object", "schema": ...}`` (its server rejects the OpenAI form); set
            automatically when the embedded server fell back to ``llama_cpp.server``. The cache key
            keeps the OpenAI form, so the request is the same one.
    """

    base_url: str | None = None
    model: str | None = None
    cache: CallCache | str | Path | None = None
    cache_only: bool = False
    parallel: int = 4
    max_retries: int = 6
    timeout: float = 900.0
    json_object_schemas: bool = False
    stats: CallStats = field(default_factory=CallStats)

    def __post_init__(self) -> None:
        if self.base_url is None:
            self.model = self.model or DEFAULT_MODEL
            if self.model not in MODELS:
                raise ValueError(f"unknown embedded model {self.model!r}; expected one of {sorted(MODELS)}")
            self.endpoint_kind = EMBEDDED
        else:
            if not self.model:
                raise ValueError("--model is required with --base-url")
            self.endpoint_kind = "openai" if "api.openai.com" in self.base_url else "openai-compatible"
        if isinstance(self.cache, (str, Path)):
            self.cache = CallCache(self.cache)
        self._client: Any = None
        self._server: EmbeddedServer | None = None
        self.server_info: ServerInfo | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._closing = threading.Event()  # wakes retries waiting out their delay

    # ------------------------------------------------------------------ identity
    @property
    def model_id(self) -> str:
        """The model as recorded in cache keys and manifests (embedded: key@sha256 prefix)."""
        if self.endpoint_kind == EMBEDDED:
            return f"{self.model}@{MODELS[self.model].sha256[:16]}"
        return str(self.model)

    def describe(self) -> dict[str, Any]:
        """Model and endpoint facts for manifests and provenance (never the key)."""
        info: dict[str, Any] = {"model": self.model_id, "endpoint": self.endpoint_kind}
        if self.endpoint_kind == EMBEDDED:
            spec = MODELS[str(self.model)]
            info.update(model_name=spec.name, model_sha256=spec.sha256, model_licence=spec.licence)
            if self.server_info is not None:
                info.update(engine=self.server_info.engine, engine_version=self.server_info.version,
                            parallel=self.server_info.parallel)
        else:
            info["base_url"] = redact_url(self.base_url)
        return info

    # ------------------------------------------------------------------ transport
    def _openai(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("LLMClient is closed (its run is stopping)")
            if self._client is None:
                import openai

                if self.endpoint_kind == EMBEDDED:
                    self._server = EmbeddedServer(model=str(self.model), parallel=self.parallel)
                    self.server_info = self._server.start()
                    base_url, api_key = self.server_info.base_url, "no-key-needed"
                else:
                    base_url = self.base_url
                    api_key = os.environ.get("OPENAI_API_KEY")
                    if not api_key and self.endpoint_kind == "openai":
                        raise RuntimeError("OPENAI_API_KEY is not set (needed for api.openai.com)")
                    api_key = api_key or "no-key-needed"
                self._client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                             timeout=self.timeout)
            return self._client

    def request_for(self, messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
        """The cache request: everything that determines the reply (no key, no URL)."""
        return {"model": self.model_id, "endpoint": self.endpoint_kind, "messages": messages,
                **{k: v for k, v in sorted(params.items()) if v is not None}}

    def chat(self, messages: list[dict[str, str]], *, temperature: float = 0.7, top_p: float | None = 0.9,
             max_tokens: int = 1200, seed: int | None = None, response_format: dict[str, Any] | None = None,
             logprobs: bool | None = None, top_logprobs: int | None = None,
             extra_body: dict[str, Any] | None = None) -> Reply:
        """One chat completion, cached. Raises after ``max_retries`` transient failures."""
        params = dict(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                      response_format=response_format, logprobs=logprobs, top_logprobs=top_logprobs,
                      extra_body=extra_body)
        request = self.request_for(messages, **params)
        key = cache_key(request)
        cache: CallCache | None = self.cache  # type: ignore[assignment]
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                with self._lock:
                    self.stats.cache_hits += 1
                return Reply(hit.text, hit.finish_reason, hit.usage, hit.latency_s, True, key, hit.logprobs)
        if self.cache_only:
            raise CacheMiss(f"request {key[:12]} is not in the cache and cache_only is set")
        reply = self._send(messages, params, key)
        if cache is not None:
            cache.put(key, request, CachedCall(key, reply.text, reply.finish_reason, reply.usage,
                                               reply.logprobs, reply.latency_s, time.time()))
        return reply

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` in the served model's tokenizer, no special tokens (see :meth:`tokenize_pieces`)."""
        return [token for token, _ in self.tokenize_pieces(text)]

    def tokenize_pieces(self, text: str) -> list[tuple[int, str]]:
        """``(id, piece)`` of every token of ``text``, from the endpoint's ``/tokenize`` (llama-server), cached.

        The request goes through the same ``openai`` client as the chat completions (its headers and
        timeout) to ``/tokenize`` at the endpoint's root; an answer in the cache makes no request and
        starts no server. Only chat completions are counted in :attr:`stats`.

        Raises:
            CacheMiss: ``cache_only`` is set and ``text`` was never tokenised.
            openai.APIError: the endpoint has no ``/tokenize`` (e.g. OpenAI) or did not answer.
            MalformedReply: the answer holds no token list.
        """
        request = {"model": self.model_id, "endpoint": self.endpoint_kind, "tokenize": text}
        key = cache_key(request)
        cache: CallCache | None = self.cache  # type: ignore[assignment]
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            return [(int(token), str(piece)) for token, piece in json.loads(hit.text)]
        if self.cache_only:
            raise CacheMiss(f"tokenisation {key[:12]} is not in the cache and cache_only is set")
        client = self._openai()
        root = str(client.base_url).rstrip("/").removesuffix("/v1")
        start = time.monotonic()
        answer = client.post(f"{root}/tokenize", body={"content": text, "add_special": False, "with_pieces": True},
                             cast_to=object)
        try:
            tokens = [(int(t["id"]), str(t["piece"])) for t in answer["tokens"]]
        except (TypeError, KeyError, ValueError) as exc:
            raise MalformedReply(f"the endpoint's /tokenize answer holds no tokens: {str(answer)[:120]!r}") from exc
        if cache is not None:
            cache.put(key, request, CachedCall(key, json.dumps(tokens, ensure_ascii=False), None, {}, None,
                                               time.monotonic() - start, time.time()))
        return tokens

    def _send(self, messages: list[dict[str, str]], params: dict[str, Any], key: str) -> Reply:
        import openai

        self._openai()  # resolves the server, whose engine decides the schema form
        kwargs = {k: v for k, v in params.items() if v is not None}
        fmt = kwargs.get("response_format")
        if fmt and fmt.get("type") == "json_schema" and (
                self.json_object_schemas or (self.server_info and self.server_info.engine == "llama_cpp.server")):
            kwargs["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
        transient = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                     openai.InternalServerError)
        for attempt in range(self.max_retries + 1):
            client = self._openai()
            start = time.monotonic()
            try:
                resp = client.chat.completions.create(model=str(self.model), messages=messages, **kwargs)
                break
            except transient as exc:
                if attempt == self.max_retries or self._closing.is_set():
                    self._count_failure()
                    raise
                if isinstance(exc, openai.APIConnectionError):
                    self._forget_dead_server(client)
                self._wait_before_retry(exc, attempt)
            except ValueError as exc:  # the body is not JSON
                self._count_failure()
                raise MalformedReply(f"the endpoint's reply is not JSON ({exc})") from exc
            except Exception:
                self._count_failure()
                raise
        latency = time.monotonic() - start
        if not getattr(resp, "choices", None) or getattr(resp.choices[0], "message", None) is None:
            self._count_failure()
            raise MalformedReply(f"the endpoint's reply is not a chat completion: {str(resp)[:120]!r}")
        choice = resp.choices[0]
        usage = reply_usage({"usage": resp.usage.model_dump(),  # the usage and llama-server's timings only
                             "timings": (resp.model_extra or {}).get("timings")}) if resp.usage else {}
        lp = choice.logprobs.model_dump() if getattr(choice, "logprobs", None) is not None else None
        with self._lock:
            self.stats.calls += 1
            self.stats.seconds += latency
            self.stats.prompt_tokens += usage.get("prompt_tokens", 0)
            self.stats.completion_tokens += usage.get("completion_tokens", 0)
            self.stats.cached_prompt_tokens += usage.get("cached_prompt_tokens", 0)
        return Reply(choice.message.content or "", choice.finish_reason, usage, latency, False, key, lp)

    def _wait_before_retry(self, exc: BaseException, attempt: int) -> None:
        """Count the retry and wait: ``Retry-After`` when the reply names it, else a jittered backoff."""
        asked = retry_after(exc)
        delay = min(MAX_RETRY_AFTER, asked) if asked is not None else min(60.0, 2.0 ** attempt) * (0.5 + random.random())
        reason = type(exc).__name__
        log.warning("transient LLM error (%s); retry %d in %.1f s%s", reason, attempt + 1, delay,
                    " (Retry-After)" if asked is not None else "")
        with self._lock:
            self.stats.retries += 1
            self.stats.retry_reasons[reason] = self.stats.retry_reasons.get(reason, 0) + 1
        self._closing.wait(delay)

    def _count_failure(self) -> None:
        with self._lock:
            self.stats.failed += 1

    def _forget_dead_server(self, client: Any) -> None:
        """After a connection error, drop an embedded server that no longer answers ``/health``.

        The next attempt then reuses whichever server now runs (another process may have restarted it
        on a new port) or starts one.
        """
        with self._lock:
            if (self.endpoint_kind != EMBEDDED or client is not self._client or self.server_info is None
                    or is_healthy(self.server_info.base_url.removesuffix("/v1"))):
                return
            log.warning("embedded server at %s is gone; resolving it again", self.server_info.base_url)
            self._client, self.server_info = None, None

    def close(self) -> None:
        """Close the cache and stop the embedded server if this client started it; later calls fail instead
        of starting one."""
        with self._lock:
            self._closed = True
        self._closing.set()
        if isinstance(self.cache, CallCache):
            self.cache.close()
        if self._server is not None:
            self._server.stop()
