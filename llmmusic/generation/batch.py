"""Batch files for a generation run: OpenAI's Batch API and vLLM's ``run-batch``, and an estimate first.

* :func:`export_batch` writes every pending request of a run as one line of OpenAI Batch API JSONL:
  ``{"custom_id": <cache key>, "method": "POST", "url": "/v1/chat/completions", "body": ...}``, the body
  being the JSON the live path sends (:func:`wire_body`), structured-outputs schema or grammar included.
  Each pending song contributes the call of its next attempt. A plan-then-compose variant needs two
  rounds: the first export holds the plan calls; once their results are imported, the next export
  holds the compose calls (a song whose plan is already cached goes straight to its compose call).
* :func:`import_batch` reads a results JSONL (OpenAI's output or error file, ``vllm run-batch -o``, or
  :func:`run_batch`) into the call cache under each ``custom_id``. A following normal run then writes
  the MIDI files and manifest rows from the cache with zero calls. Lines that give no usable reply are
  recorded in ``batch-imports.jsonl`` beside the manifest, with their reason: a malformed line, a
  ``custom_id`` that is no pending request of this run, and a failed request (which also gets an
  ``error`` manifest row ``batch_error:<reason>``, so the song is exported again); a reply that did not
  finish with ``stop`` is cached and logged, and the run's manifest row says what became of it
  (``truncated``, ...). Importing the same file twice adds nothing.
* :func:`run_batch` sends a batch file's requests to an OpenAI-compatible server (by default the
  embedded llama-server) and writes a results file: the role ``vllm run-batch`` plays on a GPU machine.
* :func:`estimate` counts a run's requests and expected tokens, hours and cost before anything is sent.

Used in: ``llmmusic generate --export-batch/--import-batch/--estimate``, ``llmmusic batch run``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from llmmusic import atomic
from llmmusic.generation.cache import CachedCall, cache_key
from llmmusic.data.dataset import DEFAULT_DATASET, MANIFEST, PARAMS, RUNS, ManifestRow, read_manifest_rows, repair_torn_tail
from llmmusic.errors import DataError, UserError
from llmmusic.generation.generate import Generator, Song
from llmmusic.generation.llm import LLMClient
from llmmusic.lock import FolderLock

log = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
IMPORT_LOG = "batch-imports.jsonl"
#: OpenAI's limits for one batch input file.
OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 200 * 1024 * 1024
#: Characters per token assumed when no measured usage is found (a rough rule for English text and JSON).
CHARS_PER_TOKEN = 4.0


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
    usage = {"prompt_tokens": usage.get("prompt_tokens", 0) or 0,
             "completion_tokens": usage.get("completion_tokens", 0) or 0} if usage else {}
    created = body.get("created")
    return CachedCall("", text, choice.get("finish_reason"), usage, choice.get("logprobs"), 0.0,
                      float(created) if isinstance(created, (int, float)) and created > 0 else time.time())


def _results(path: Path) -> Iterator[tuple[int, str]]:
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
        for number, line in _results(path):
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


# ---------------------------------------------------------------------------------------------- runner
@dataclass
class RunBatchSummary:
    """What :func:`run_batch` did."""

    requests: int = 0
    skipped: int = 0  # custom_ids already in the results file (a resumed run)
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_batch(path: str | Path) -> list[dict[str, Any]]:
    """The request lines of a batch file, checked.

    Raises:
        DataError: a line is not a request line, or two lines share a ``custom_id``.
    """
    lines, ids = [], set()
    for number, text in _results(Path(path)):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            line = None
        if not (isinstance(line, dict) and isinstance(line.get("custom_id"), str) and line.get("method") == "POST"
                and isinstance(line.get("url"), str) and isinstance(line.get("body"), dict)):
            raise DataError(f"{path}: line {number} is not a batch request line "
                            '({"custom_id", "method": "POST", "url", "body"})')
        if line["custom_id"] in ids:
            raise DataError(f"{path}: line {number} repeats custom_id {line['custom_id']}")
        ids.add(line["custom_id"])
        lines.append(line)
    return lines


def _post(root: str, line: dict[str, Any], timeout: float, retries: int) -> dict[str, Any]:
    """Send one request line; its results line (a connection failure after ``retries`` retries, or an
    HTTP error status, is a failed request, as in a Batch API results file)."""
    data = json.dumps(line["body"]).encode("utf-8")
    request = urllib.request.Request(root + line["url"], data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                response = {"status_code": resp.status, "request_id": "", "body": json.loads(resp.read())}
            error = None
            break
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = {"error": {"message": raw.decode("utf-8", "replace")[:500]}}
            response, error = {"status_code": exc.code, "request_id": "", "body": body}, None
            if exc.code not in (429, 500, 502, 503, 504):
                break
        except (OSError, ValueError) as exc:  # connection refused or reset, timeout, a body that is not JSON
            response, error = None, {"code": type(exc).__name__, "message": str(exc)[:500]}
        if attempt < retries:
            time.sleep(min(30.0, 2.0 ** attempt))
    return {"id": f"batch_req_{hashlib.sha256(line['custom_id'].encode()).hexdigest()[:24]}",
            "custom_id": line["custom_id"], "response": response, "error": error}


def run_batch(requests_path: str | Path, results_path: str | Path, base_url: str | None = None,
              concurrency: int = 4, timeout: float = 900.0, retries: int = 3, parallel: int = 4) -> RunBatchSummary:
    """Send every request of a batch file to an OpenAI-compatible server and append one results line each.

    Args:
        requests_path: a batch file (:func:`export_batch`).
        results_path: the results file; requests whose ``custom_id`` is already in it are skipped, so an
            interrupted run continues.
        base_url: the server's OpenAI root (``http://host:8000/v1``); ``None`` = the embedded llama-server
            of the model the bodies name (started, or reused when one is running).
        concurrency: requests in flight. timeout: seconds per request. retries: of connection errors,
            429 and 5xx. parallel: slots of an embedded server started here.
    """
    from llmmusic.generation.server import MODELS, EmbeddedServer

    lines = read_batch(requests_path)
    repair_torn_tail(results_path)
    done = {row.get("custom_id") for row in read_manifest_rows(results_path)} if Path(results_path).exists() else set()
    todo = [line for line in lines if line["custom_id"] not in done]
    summary = RunBatchSummary(requests=len(todo), skipped=len(lines) - len(todo))
    if not todo:
        return summary
    server = None
    if base_url is None:
        models = {line["body"].get("model") for line in todo}
        if len(models) != 1 or next(iter(models)) not in MODELS:
            raise UserError(f"{requests_path}: the bodies name {sorted(map(str, models))}, not one embedded model "
                            f"({', '.join(sorted(MODELS))}); give --base-url")
        server = EmbeddedServer(model=str(next(iter(models))), parallel=parallel)
        base_url = server.start().base_url
    root = base_url.rstrip("/").removesuffix("/v1")
    start = time.monotonic()
    work: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    for line in todo:
        work.put(line)
    results: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def worker() -> None:
        while True:
            try:
                line = work.get_nowait()
            except queue.Empty:
                return
            results.put(_post(root, line, timeout, retries))

    for k in range(min(concurrency, len(todo))):  # daemon threads: a stopped run does not wait for them
        threading.Thread(target=worker, name=f"batch-{k}", daemon=True).start()
    try:
        for _ in todo:
            while True:
                try:
                    row = results.get(timeout=0.5)  # wakes twice a second so a signal is handled at once
                    break
                except queue.Empty:
                    continue
            atomic.append_line(results_path, json.dumps(row, ensure_ascii=False))
            ok = row["error"] is None and row["response"]["status_code"] == 200
            summary.ok += ok
            summary.failed += not ok
    finally:
        summary.seconds = round(time.monotonic() - start, 3)
        if server is not None:
            server.stop()  # only a server started here
    return summary


# ---------------------------------------------------------------------------------------------- estimate
@dataclass
class StageTokens:
    """Mean tokens per request of one stage, and where they come from."""

    prompt: float
    completion: float
    replies: int = 0  # measured replies (0: not measured)


@dataclass
class Estimate:
    """What a run will take, before anything is sent (see :func:`estimate`)."""

    songs: int
    requests: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    tokens_source: str
    replies_per_piece: float | None
    pieces_per_hour: float | None
    throughput_source: str
    hours: float | None
    price_in: float | None
    price_out: float | None
    cost: float | None
    awaiting_run: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_requests": self.total_requests}

    def text(self) -> str:
        """The estimate as a few lines for a person."""
        stages = (", ".join(f"{n} {stage}" for stage, n in self.requests.items()) if len(self.requests) > 1
                  else "one per song")
        lines = [f"songs pending       {self.songs}",
                 f"requests            {self.total_requests} ({stages}; first attempts)",
                 f"prompt tokens       {self.prompt_tokens:,}",
                 f"completion tokens   {self.completion_tokens:,}",
                 f"  tokens per request: {self.tokens_source}"]
        if self.replies_per_piece:
            lines.append(f"  retries: {self.replies_per_piece:.2f} replies per valid piece measured, so about "
                         f"{round(self.total_requests * self.replies_per_piece)} requests in all")
        if self.hours is not None:
            lines.append(f"hours               {self.hours:.1f} at {self.pieces_per_hour:g} pieces/hour "
                         f"({self.throughput_source})")
        else:
            lines.append(f"hours               unknown ({self.throughput_source}); pass --pieces-per-hour")
        if self.cost is not None:
            lines.append(f"cost                {self.cost:.2f} at {self.price_in:g} / {self.price_out:g} per million "
                         "prompt / completion tokens (the prices you passed)")
            if self.replies_per_piece:
                lines.append(f"  with the measured retries: about {self.cost * self.replies_per_piece:.2f}")
        else:
            lines.append("cost                pass --price-in and --price-out (per million tokens) for a cost")
        if self.awaiting_run:
            lines.append(f"({self.awaiting_run} song(s) have a cached reply that a normal run records first)")
        return "\n".join(lines)


def measured_tokens(dataset_dir: str | Path, prompt_version: str, decoding: str) -> dict[str, StageTokens]:
    """Mean prompt and completion tokens per request measured in a dataset's manifest, per stage (rows of
    ``prompt_version`` and ``decoding`` with usage; fresh and cached replies alike)."""
    rows = [r for r in read_manifest_rows(Path(dataset_dir) / MANIFEST)
            if r.get("prompt_version") == prompt_version and r.get("decoding") == decoding]
    stages: dict[str, StageTokens] = {}
    compose = [r["usage"] for r in rows if isinstance(r.get("usage"), dict) and r["usage"]]
    # each plan reply once: the rows of one attempt (a compose error after it, say) repeat its usage
    plans = list({r["plan_cache_key"]: r["plan_usage"] for r in rows if r.get("plan_cache_key")
                  and isinstance(r.get("plan_usage"), dict) and r["plan_usage"]}.values())
    for stage, usages in (("compose", compose), ("plan", plans)):
        if usages:
            stages[stage] = StageTokens(statistics.fmean(u.get("prompt_tokens", 0) for u in usages),
                                        statistics.fmean(u.get("completion_tokens", 0) for u in usages), len(usages))
    return stages


def replies_per_piece(dataset_dir: str | Path, prompt_version: str, decoding: str) -> float | None:
    """Replies (attempts that got one) per valid piece in a dataset, for this prompt; None without a valid piece."""
    rows = [r for r in read_manifest_rows(Path(dataset_dir) / MANIFEST)
            if r.get("prompt_version") == prompt_version and r.get("decoding") == decoding]
    valid = {(r["genre"], r["style"], r["index"]) for r in rows if r.get("status") == "valid"}
    replies = sum(1 for r in rows if r.get("status") != "error")
    return replies / len(valid) if valid else None


def measured_throughput(dataset_dir: str | Path, model: str) -> tuple[float, int] | None:
    """(median pieces per hour, runs) over a dataset's finished runs of ``model`` that made fresh calls, or None."""
    runs = [r for r in read_manifest_rows(Path(dataset_dir) / RUNS)
            if not r.get("interrupted") and r.get("pieces_per_hour") and (r.get("llm") or {}).get("model") == model
            and (r.get("llm_calls") or r.get("completion_tokens"))]
    return (statistics.median(r["pieces_per_hour"] for r in runs), len(runs)) if runs else None


def _token_source(generator: Generator, tokens_from: Path | None) -> tuple[Path | None, dict[str, StageTokens]]:
    """The dataset whose measured usage gives tokens per request: ``tokens_from``, else the run's own folder,
    else the first dataset beside the committed one with replies to the same prompt."""
    version, decoding = generator.variant.version, generator.config.decoding
    if tokens_from is not None:
        return tokens_from, measured_tokens(tokens_from, version, decoding)
    root = DEFAULT_DATASET.parent
    candidates = [generator.config.out, DEFAULT_DATASET, *sorted(p for p in root.glob("*") if p.is_dir())]
    for folder in dict.fromkeys(Path(c) for c in candidates):
        if (folder / MANIFEST).is_file():
            stages = measured_tokens(folder, version, decoding)
            if "compose" in stages:
                return folder, stages
    return None, {}


def _model_of(dataset_dir: Path) -> str:
    models = Counter(r.get("model") for r in read_manifest_rows(dataset_dir / MANIFEST) if r.get("model"))
    return models.most_common(1)[0][0] if models else "an unknown model"


def _unmeasured(call: PendingCall, stage: str, max_tokens: int) -> StageTokens:
    """Tokens of one request without a measurement: its characters / :data:`CHARS_PER_TOKEN` (a compose
    call after a pending plan: the plan call's, its own prompt being unknown yet) and the reply budget."""
    chars = sum(len(m["content"]) for m in call.messages)
    return StageTokens(chars / CHARS_PER_TOKEN, call.params["max_tokens"] if stage == call.stage else max_tokens)


def estimate(generator: Generator, pieces_per_hour: float | None = None, price_in: float | None = None,
             price_out: float | None = None, tokens_from: str | Path | None = None) -> Estimate:
    """Requests, tokens, hours and cost of ``generator``'s run (its pending songs, ``limit`` applied).

    Tokens per request are the means measured in a dataset's manifest for the same prompt version and
    decoding (``tokens_from``, else the run's folder, else a dataset under ``data/llm-midi``), counted by
    the model that made it; with none, prompt tokens are the characters of each request's messages
    / :data:`CHARS_PER_TOKEN` and completion tokens the reply budget (an upper bound). A plan call
    pending implies its compose call. Hours: ``pieces_per_hour``, else the median of the finished runs in
    the run's folder, else in the token source. Cost: only with both prices (per million tokens).
    """
    pending = pending_calls(generator, generator.config.limit)
    source, stages = _token_source(generator, Path(tokens_from) if tokens_from is not None else None)
    version, decoding = generator.variant.version, generator.config.decoding
    requests = Counter({"plan": 0, "compose": 0} if generator.variant.needs_plan else {"compose": 0})
    prompt = completion = 0.0
    for call in pending.calls:
        for stage in ("plan", "compose") if call.stage == "plan" else ("compose",):
            requests[stage] += 1
            tokens = stages.get(stage) or _unmeasured(call, stage, generator.config.max_tokens or 0)
            prompt += tokens.prompt
            completion += tokens.completion
    if source is not None and stages:
        described = "; ".join(f"{stage} {t.prompt:.1f} prompt + {t.completion:.1f} completion ({t.replies} replies)"
                              for stage, t in stages.items())
        tokens_source = (f"measured in {source}: {described}, counted by {_model_of(source)}'s tokenizer "
                         "(another model's tokenizer counts somewhat differently)")
        missing = [s for s in requests if requests[s] and s not in stages]
        if missing:
            tokens_source += f"; {', '.join(missing)}: characters / {CHARS_PER_TOKEN:g} and the reply budget"
    else:
        tokens_source = (f"no measured usage for prompt {version} ({decoding}); prompt tokens = characters / "
                         f"{CHARS_PER_TOKEN:g}, completion tokens = the reply budget (an upper bound)")
    retry = replies_per_piece(source, version, decoding) if source is not None else None
    throughput_source = "--pieces-per-hour"
    if pieces_per_hour is None:
        model = generator.client.model_id
        for folder in dict.fromkeys(p for p in (generator.config.out, source) if p is not None):
            measured = measured_throughput(folder, model)
            if measured is not None:
                pieces_per_hour = measured[0]
                throughput_source = (f"median of {measured[1]} finished run(s) of {model} in "
                                     f"{Path(folder) / RUNS}, on the machines they name")
                break
        else:
            throughput_source = f"no finished run of {model} measured"
    songs = len({(c.song.genre, c.song.style, c.song.index) for c in pending.calls})
    hours = songs / pieces_per_hour if pieces_per_hour else None
    cost = (prompt / 1e6 * price_in + completion / 1e6 * price_out
            if price_in is not None and price_out is not None else None)
    return Estimate(songs=songs, requests=dict(requests), prompt_tokens=round(prompt),
                    completion_tokens=round(completion), tokens_source=tokens_source, replies_per_piece=retry,
                    pieces_per_hour=pieces_per_hour, throughput_source=throughput_source, hours=hours,
                    price_in=price_in, price_out=price_out, cost=cost, awaiting_run=pending.awaiting_run)
