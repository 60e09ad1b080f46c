"""Plan then compose through the real generator and client, against the recording local endpoint
(tests/llm_stub.py) on 127.0.0.1: the first plan call fails, then a plan and a composition come back."""

from __future__ import annotations

import json
import pytest
from llm_stub import BARS, PLAN, StubLLM

from llmmusic.data.dataset import read_manifest_rows
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.llm import LLMClient
from llmmusic.data.midi import midi_to_piece



@pytest.fixture
def endpoint():
    """The first plan call fails (HTTP 400); then a plan and a composition, in that order."""
    with StubLLM(["400", json.dumps(PLAN), json.dumps(BARS)]) as ep:
        yield ep.base_url, ep


def _kinds(ep) -> list[str]:
    return ["plan" if "Before writing" in r["body"]["messages"][0]["content"] else "compose" for r in ep.requests]


def _run(url, out):
    client = LLMClient(base_url=url, model="m", cache=out / "cache.sqlite", max_retries=0)
    config = GenerateConfig(out=out, variant="plan", genres=["Jazz"], styles=["Swing"])
    summary = Generator(config, client).run(concurrency=1, progress=False)
    return summary, client


def test_failed_plan_is_recorded_then_retried_and_both_calls_are_cached(endpoint, tmp_path):
    url, ep = endpoint
    out = tmp_path / "ds"
    summary, _ = _run(url, out)  # the plan call fails: recorded with its reason, no compose call
    rows = read_manifest_rows(out / "manifest.jsonl")
    assert [r["status"] for r in rows] == ["error"] and rows[0]["failure"] == "plan_call_error:BadRequestError"
    assert _kinds(ep) == ["plan"] and summary.songs_valid == 0

    summary, _ = _run(url, out)  # the next run retries the song: plan, then compose
    rows = read_manifest_rows(out / "manifest.jsonl")
    assert _kinds(ep) == ["plan", "plan", "compose"] and summary.songs_valid == 1
    valid = rows[-1]
    assert valid["status"] == "valid" and valid["plan_cache_key"] and valid["plan_cache_key"] != valid["cache_key"]
    assert json.loads((out / valid["plan_path"]).read_text()) == PLAN
    piece = midi_to_piece(out / valid["path"])
    assert piece.meta["tempo_bpm"] == 132 and piece.meta["key"] == "D major"  # from the plan

    # a fresh dataset from the same cache makes zero calls and identical files
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "cache.sqlite").write_bytes((out / "cache.sqlite").read_bytes())
    summary, client = _run(url, copy)
    assert _kinds(ep) == ["plan", "plan", "compose"] and client.stats.calls == 0 and client.stats.cache_hits == 2
    again = read_manifest_rows(copy / "manifest.jsonl")[-1]
    assert again["midi_sha256"] == valid["midi_sha256"]
    assert (copy / again["plan_path"]).read_bytes() == (out / valid["plan_path"]).read_bytes()


def test_a_plan_answered_from_the_cache_adds_no_tokens_to_the_run(tmp_path):
    """The composition fails once; the next run takes the plan from the cache and counts only the new call."""
    with StubLLM([json.dumps(PLAN), "400", json.dumps(BARS)]) as ep:
        out = tmp_path / "ds"
        first, _ = _run(ep.base_url, out)
        assert _kinds(ep) == ["plan", "compose"] and first.songs_valid == 0
        assert (first.completion_tokens, first.prompt_tokens) == (20, 10)  # the plan call (the stub's usage)
        second, client = _run(ep.base_url, out)
        assert _kinds(ep) == ["plan", "compose", "compose"] and second.songs_valid == 1
        assert client.stats.cache_hits == 1
        assert (second.completion_tokens, second.prompt_tokens) == (20, 10)  # the composition only
