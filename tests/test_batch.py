"""Batch files (OpenAI Batch API / vLLM run-batch) and the estimate: export -> run -> import -> a normal run
that makes zero calls and writes what the live path writes; failed, malformed and truncated results lines
recorded with their reason; a twice-imported file adds nothing; an estimate computed by hand.

The round trips run against a local OpenAI-compatible endpoint on 127.0.0.1 that answers every request
with a reply built from the request's own schema; one test (``server``) sends one request to the real
embedded llama-server."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from llm_stub import StubLLM
from llm_stub import completion as stub_completion

from llmmusic.generation import batch
from llmmusic.generation.cache import CallCache
from llmmusic.cli import main
from llmmusic.data.dataset import ManifestRow, read_manifest_rows
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig, plan_songs
from llmmusic.generation.llm import LLMClient
from llmmusic.generation.server import DEFAULT_MODEL, MODELS
from llmmusic.generation.variants import get_variant

VOLATILE = ("time", "latency_s", "cached")  # what a replayed row may differ in from a live one


def instance(schema: dict[str, Any]) -> Any:
    """A value that conforms to ``schema`` (middle of integer ranges, first of enums, fewest items)."""
    if "anyOf" in schema:
        return instance(schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "object":
        return {k: instance(v) for k, v in schema["properties"].items()}
    if kind == "array":
        if "prefixItems" in schema:
            return [instance(s) for s in schema["prefixItems"]]
        return [instance(schema["items"]) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return (schema["minimum"] + schema["maximum"]) // 2
    if "enum" in schema:
        return schema["enum"][0]
    if "pattern" in schema:
        chars, n = re.fullmatch(r"\^\[(.)[^\]]*\]\{(\d+)\}\$", schema["pattern"]).groups()
        return chars * int(n)
    return "x"


def completion(content: str, finish_reason: str = "stop") -> dict[str, Any]:
    """A completion whose token count grows with the reply (the estimate reads it), with llama-server's
    count of reused prompt tokens (the live and the batch route must both keep it)."""
    return {**stub_completion(content, finish_reason, {"prompt_tokens": 11, "completion_tokens": len(content) // 3,
                                                       "total_tokens": 0}), "timings": {"cache_n": 7}}


def schema_reply(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    fmt = body.get("response_format")
    content = json.dumps(instance(fmt["json_schema"]["schema"])) if fmt else "{}"
    return 200, completion(content)


@pytest.fixture
def endpoint():
    stub = StubLLM(answer=schema_reply).start()
    yield stub.base_url, stub.bodies
    stub.stop()


def embedded_at(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the embedded client's server lookup find ``url`` (the state file a running server writes)."""
    spec = MODELS[DEFAULT_MODEL]
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.json").write_text(json.dumps({
        "base_url": url, "engine": "llama-server", "model_key": DEFAULT_MODEL, "model_sha256": spec.sha256,
        "parallel": 4, "version": "test endpoint", "extra": {}}))
    monkeypatch.setenv("LLMMUSIC_HOME", str(home))


def config(out: Path, **kw: Any) -> GenerateConfig:
    return GenerateConfig(out=out, **{"genres": ["Jazz", "Rock"], "styles": ["Swing"], "per_combination": 1, **kw})


def remote(url: str, out: Path, **kw: Any) -> LLMClient:
    return LLMClient(base_url=url, model="m", cache=out / "cache.sqlite", max_retries=0, **kw)


def live(url: str, out: Path, **kw: Any) -> LLMClient:
    client = remote(url, out)
    Generator(config(out, **kw), client).run(concurrency=1, progress=False)
    return client


def rows_without_volatile(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_manifest_rows(out / "manifest.jsonl")]


def files(out: Path) -> dict[str, str]:
    """sha256 of every file the run wrote under midi/ (pieces and plans)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "midi").rglob("*")) if p.is_file()}


def batch_round(url: str, out: Path, tmp: Path, n: int, **kw: Any) -> batch.ExportSummary:
    """Export the pending calls, run them at ``url``, import the results."""
    generator = Generator(config(out, **kw), remote(url, out))
    exported = batch.export_batch(generator, tmp / f"batch-{n}.jsonl")
    ran = batch.run_batch(tmp / f"batch-{n}.jsonl", tmp / f"results-{n}.jsonl", base_url=url, concurrency=2)
    assert ran.ok == exported.requests and ran.failed == 0
    imported = batch.import_batch(generator, tmp / f"results-{n}.jsonl")
    assert imported.cached == exported.requests and imported.lines == exported.requests
    return exported


def test_exported_body_is_what_the_live_path_sends(endpoint, tmp_path):
    url, bodies = endpoint
    live(url, tmp_path / "live")
    generator = Generator(config(tmp_path / "b"), LLMClient(base_url=url, model="m"))
    summary = batch.export_batch(generator, tmp_path / "batch.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "batch.jsonl").read_text().splitlines()]
    assert summary.requests == len(lines) == 2 and summary.stages == {"compose": 2}
    assert [line["body"] for line in lines] == bodies  # the same JSON, song by song
    assert {line["method"] for line in lines} == {"POST"} and {line["url"] for line in lines} == {batch.CHAT_URL}
    assert "response_format" in lines[0]["body"] and lines[0]["body"]["response_format"]["type"] == "json_schema"
    keys = [r["cache_key"] for r in read_manifest_rows(tmp_path / "live" / "manifest.jsonl")]
    assert [line["custom_id"] for line in lines] == keys  # custom_id is the live path's cache key
    assert not (tmp_path / "b").exists()  # an export creates nothing in the dataset folder


def test_embedded_body_carries_the_grammar_as_the_live_path_does(endpoint, tmp_path, monkeypatch):
    """On the embedded engine a compact variant sends a grammar in the body (extra_body merged in)."""
    url, bodies = endpoint
    embedded_at(url, tmp_path / "home", monkeypatch)
    cfg = dict(variant="events", max_attempts=1)
    Generator(config(tmp_path / "live", **cfg), LLMClient(cache=tmp_path / "live" / "cache.sqlite")).run(
        concurrency=1, progress=False)
    generator = Generator(config(tmp_path / "b", **cfg), LLMClient())
    batch.export_batch(generator, tmp_path / "batch.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "batch.jsonl").read_text().splitlines()]
    assert [line["body"] for line in lines] == bodies and "grammar" in bodies[0] and "extra_body" not in bodies[0]
    assert lines[0]["body"]["model"] == DEFAULT_MODEL


def test_batch_round_trip_writes_what_a_live_run_writes(endpoint, tmp_path):
    url, bodies = endpoint
    live(url, tmp_path / "live")
    sent_live = len(bodies)
    out = tmp_path / "batch"
    batch_round(url, out, tmp_path, 1)
    assert len(bodies) == 2 * sent_live  # the runner sent each request once
    client = remote(url, out)
    summary = Generator(config(out), client).run(concurrency=1, progress=False)
    assert client.stats.calls == 0 and client.stats.cache_hits == 2 and summary.songs_valid == 2
    assert len(bodies) == 2 * sent_live
    assert files(out) == files(tmp_path / "live") and len(files(out)) == 2
    assert rows_without_volatile(out) == rows_without_volatile(tmp_path / "live")
    assert {r["usage"]["cached_prompt_tokens"] for r in read_manifest_rows(out / "manifest.jsonl")} == {7}
    # everything done: the next export has nothing to write
    assert batch.export_batch(Generator(config(out), remote(url, out)), tmp_path / "again.jsonl").requests == 0
    assert not (tmp_path / "again.jsonl").exists()


def test_plan_variant_exports_plans_first_then_compose_calls(endpoint, tmp_path):
    url, bodies = endpoint
    live(url, tmp_path / "live", variant="plan")
    out = tmp_path / "batch"
    assert batch_round(url, out, tmp_path, 1, variant="plan").stages == {"plan": 2}
    assert batch_round(url, out, tmp_path, 2, variant="plan").stages == {"compose": 2}
    client = remote(url, out)
    summary = Generator(config(out, variant="plan"), client).run(concurrency=1, progress=False)
    assert client.stats.calls == 0 and client.stats.cache_hits == 4 and summary.songs_valid == 2
    assert files(out) == files(tmp_path / "live") and len(files(out)) == 4  # MIDI and plan of each song
    assert rows_without_volatile(out) == rows_without_volatile(tmp_path / "live")


def test_import_records_failed_malformed_truncated_and_unknown_lines_once(tmp_path):
    out = tmp_path / "ds"
    cfg = config(out, genres=["Jazz", "Rock", "Pop"], max_attempts=2)
    generator = Generator(cfg, LLMClient(cache=out / "cache.sqlite"))
    batch.export_batch(generator, tmp_path / "batch.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "batch.jsonl").read_text().splitlines()]
    failed, truncated, ok = lines
    g_failed, g_cut, g_ok = (song.genre for song in plan_songs(cfg))  # the export's order
    piece = json.dumps(instance(failed["body"]["response_format"]["json_schema"]["schema"]))
    results = [
        '{"custom_id": "torn',  # malformed: not JSON
        json.dumps({"custom_id": failed["custom_id"], "error": None,
                    "response": {"status_code": 500, "body": {"error": {"message": "server overloaded"}}}}),
        json.dumps({"custom_id": truncated["custom_id"], "error": None,
                    "response": {"status_code": 200, "body": completion(piece[: len(piece) // 2], "length")}}),
        json.dumps({"custom_id": ok["custom_id"], "error": None,
                    "response": {"status_code": 200, "body": completion(piece)}}),
        json.dumps({"custom_id": "0" * 64, "error": None, "response": {"status_code": 200, "body": completion(piece)}}),
    ]
    (tmp_path / "results.jsonl").write_text("\n".join(results) + "\n")
    summary = batch.import_batch(generator, tmp_path / "results.jsonl")
    assert (summary.lines, summary.cached, summary.not_stopped, summary.failed, summary.malformed, summary.unknown,
            summary.already) == (5, 2, 1, 1, 1, 1, 0)
    logged = read_manifest_rows(out / batch.IMPORT_LOG)
    reasons = {row["kind"]: row for row in logged}
    assert set(reasons) == {"malformed", "failed", "not_stopped", "unknown"}
    assert reasons["malformed"]["line"] == 1 and "not JSON" in reasons["malformed"]["reason"]
    assert reasons["failed"]["reason"] == "http_500: server overloaded"
    assert reasons["failed"]["genre"] == g_failed and reasons["failed"]["attempt"] == 0
    assert reasons["not_stopped"]["reason"] == "finish_reason length"
    rows = read_manifest_rows(out / "manifest.jsonl")
    assert [(r["genre"], r["status"], r["failure"]) for r in rows] == [(g_failed, "error", "batch_error:http_500")]

    # the same file again adds nothing: no cache entry, log line or manifest row
    cache_size = len(CallCache(out / "cache.sqlite"))
    again = batch.import_batch(generator, tmp_path / "results.jsonl")
    assert again.already == 5 and again.cached == again.failed == again.malformed == again.unknown == 0
    assert len(CallCache(out / "cache.sqlite")) == cache_size == 2
    assert read_manifest_rows(out / batch.IMPORT_LOG) == logged
    assert read_manifest_rows(out / "manifest.jsonl") == rows

    # a normal run (sending nothing) records the truncated reply with its reason, the valid one as a piece
    client = LLMClient(cache=out / "cache.sqlite", cache_only=True)
    Generator(cfg, client).run(concurrency=1, progress=False)
    assert client.stats.calls == 0
    by_song = {}
    for row in read_manifest_rows(out / "manifest.jsonl"):
        by_song.setdefault(row["genre"], []).append(row)
    cut = [r for r in by_song[g_cut] if r["attempt"] == 0]
    assert len(cut) == 1 and cut[0]["status"] == "invalid" and cut[0]["finish_reason"] == "length"
    assert cut[0]["failure"] and "truncated" in cut[0]["repairs"]  # cut mid-track: a missing track
    assert by_song[g_ok][0]["status"] == "valid" and by_song[g_ok][0]["cached"]
    # the failed request is exported again (same attempt, same custom_id), the truncated song's next attempt too
    retry = batch.export_batch(Generator(cfg, LLMClient(cache=out / "cache.sqlite")), tmp_path / "retry.jsonl")
    ids = [json.loads(x)["custom_id"] for x in (tmp_path / "retry.jsonl").read_text().splitlines()]
    assert retry.requests == 2 and ids[0] == failed["custom_id"] and truncated["custom_id"] not in ids


def test_a_request_the_runner_cannot_send_is_a_failed_line(tmp_path):
    """A connection refused is written as a failed results line, which the import records."""
    out = tmp_path / "ds"
    generator = Generator(config(out, genres=["Jazz"]), LLMClient(cache=out / "cache.sqlite"))
    batch.export_batch(generator, tmp_path / "batch.jsonl")
    stub = StubLLM(answer=schema_reply).start()
    url, _ = stub.base_url, stub.bodies
    stub.stop()  # nothing listens there any more
    ran = batch.run_batch(tmp_path / "batch.jsonl", tmp_path / "results.jsonl", base_url=url, retries=0)
    assert (ran.ok, ran.failed) == (0, 1)
    line = json.loads((tmp_path / "results.jsonl").read_text())
    assert line["response"] is None and line["error"]["code"]
    assert batch.import_batch(generator, tmp_path / "results.jsonl").failed == 1
    row = read_manifest_rows(out / "manifest.jsonl")[0]
    assert row["status"] == "error" and row["failure"].startswith("batch_error:")
    # a rerun of the runner skips what the results file already holds
    assert batch.run_batch(tmp_path / "batch.jsonl", tmp_path / "results.jsonl", base_url=url).skipped == 1


def _row(genre: str, style: str, status: str, prompt: int | None, completion_: int | None, **kw: Any) -> str:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion_} if prompt is not None else {}
    return ManifestRow(genre=genre, style=style, index=0, attempt=0, mood="happy", temperature=0.6, seed=1,
                       status=status, usage=usage, decoding="schema", prompt_version=get_variant("paper").version,
                       model=LLMClient().model_id, **kw).to_json()


def test_estimate_on_a_known_grid(tmp_path, capsys):
    """2 genres x 3 styles x 2 songs = 12; 2 valid -> 10 pending; measured 400 prompt and 1000 completion
    tokens per reply (3 replies), 1.5 replies per valid piece; median throughput 60 pieces/hour."""
    out = tmp_path / "ds"
    out.mkdir()
    (out / "manifest.jsonl").write_text("\n".join([
        _row("Jazz", "Swing", "valid", 400, 1000), _row("Rock", "Swing", "valid", 380, 900),
        _row("Jazz", "Dark", "invalid", 420, 1100, failure="not_json"),
        _row("Rock", "Dark", "error", None, None, failure="call_error:APITimeoutError")]) + "\n")
    model = LLMClient().model_id
    runs = [{"pieces_per_hour": 50, "llm_calls": 5, "llm": {"model": model}},
            {"pieces_per_hour": 70, "llm_calls": 5, "llm": {"model": model}},
            {"pieces_per_hour": 60, "llm_calls": 5, "llm": {"model": model}},
            {"pieces_per_hour": 500, "llm_calls": 5, "llm": {"model": model}, "interrupted": True},
            {"pieces_per_hour": 999, "llm_calls": 5, "llm": {"model": "another"}},
            {"pieces_per_hour": 400, "llm_calls": 0, "llm": {"model": model}}]  # a replay, no fresh call
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    before = sorted(p.name for p in out.iterdir())
    cfg = GenerateConfig(out=out, genres=["Jazz", "Rock"], styles=["Swing", "Dark", "Waltz"], per_combination=2)
    result = batch.estimate(Generator(cfg, LLMClient()), price_in=2.5, price_out=10.0)
    assert result.songs == 10 and result.requests == {"compose": 10}
    assert (result.prompt_tokens, result.completion_tokens) == (10 * 400, 10 * 1000)
    assert result.replies_per_piece == 1.5 and result.pieces_per_hour == 60 and result.hours == pytest.approx(10 / 60)
    assert result.cost == pytest.approx(4000 / 1e6 * 2.5 + 10000 / 1e6 * 10.0)
    assert str(out) in result.tokens_source

    code = main(["generate", "--out", str(out), "--genres", "Jazz,Rock", "--styles", "Swing,Dark,Waltz",
                 "--per-combination", "2", "--limit", "4", "--estimate", "--pieces-per-hour", "8",
                 "--price-in", "2.5", "--price-out", "10"])
    text = capsys.readouterr().out
    assert code == 0
    assert re.search(r"requests +4 ", text) and re.search(r"prompt tokens +1,600\b", text)
    assert re.search(r"completion tokens +4,000\b", text) and re.search(r"hours +0\.5 at 8 pieces/hour", text)
    assert re.search(r"cost +0\.04 at 2\.5 / 10 per million", text)  # 1600 * 2.5e-6 + 4000 * 1e-5 = 0.044
    assert sorted(p.name for p in out.iterdir()) == before  # an estimate writes nothing


def test_estimate_without_measured_usage_states_its_rule(tmp_path):
    cfg = config(tmp_path / "ds", variant="plan", genres=["Jazz"])
    result = batch.estimate(Generator(cfg, LLMClient()), tokens_from=tmp_path)  # an empty folder: nothing measured
    assert result.requests == {"plan": 1, "compose": 1} and result.cost is None and result.hours is None
    from llmmusic.generation.variants import PLAN_MAX_TOKENS

    assert result.completion_tokens == PLAN_MAX_TOKENS + cfg.max_tokens  # the reply budgets: an upper bound
    assert "characters" in result.tokens_source and "upper bound" in result.tokens_source


# ---------------------------------------------------------------- real embedded server

@pytest.mark.server
def test_batch_route_on_the_embedded_server_matches_the_live_path(tmp_path, monkeypatch):
    """One song: export -> ``run_batch`` against the embedded llama-server (one request) -> import -> a
    normal run makes zero calls. The live path then runs the same song against an endpoint that answers
    only the exported body, with the server's reply to it: its files are identical. (A second request to
    a server busy with other slots need not return the same tokens, so the live run reuses the reply.)"""
    cfg = dict(genres=["Jazz"], styles=["Swing"], variant="paper", max_attempts=1)  # never a second request
    out = tmp_path / "batch"
    generator = Generator(config(out, **cfg), LLMClient(cache=out / "cache.sqlite"))
    assert batch.export_batch(generator, tmp_path / "batch.jsonl").requests == 1
    ran = batch.run_batch(tmp_path / "batch.jsonl", tmp_path / "results.jsonl", timeout=1800)
    assert ran.ok == 1, (tmp_path / "results.jsonl").read_text()[:2000]
    assert batch.import_batch(generator, tmp_path / "results.jsonl").cached == 1
    client = LLMClient(cache=out / "cache.sqlite")
    summary = Generator(config(out, **cfg), client).run(concurrency=1, progress=False)
    assert client.stats.calls == 0 and client.stats.cache_hits == 1 and summary.songs_valid == 1
    assert client.server_info is None  # no server was even looked up

    exported = json.loads((tmp_path / "batch.jsonl").read_text())
    result = json.loads((tmp_path / "results.jsonl").read_text())

    def replay(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body != exported["body"]:
            return 400, {"error": {"message": "not the exported request"}}
        return 200, result["response"]["body"]

    stub = StubLLM(answer=replay).start()
    url, bodies = stub.base_url, stub.bodies
    try:
        embedded_at(url, tmp_path / "home", monkeypatch)
        live_out = tmp_path / "live"
        live_client = LLMClient(cache=live_out / "cache.sqlite", max_retries=0)
        Generator(config(live_out, **cfg), live_client).run(concurrency=1, progress=False)
    finally:
        stub.stop()
    assert bodies == [exported["body"]] and live_client.stats.calls == 1
    assert rows_without_volatile(out) == rows_without_volatile(live_out)
    assert files(out) == files(live_out) and len(files(out)) == 1
