"""What one attempt writes (llmmusic.generation.generate): its manifest row field by field, its files, the
run parameters, and the errors a damaged or mismatched dataset gets, through a local recording endpoint."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from llm_stub import BARS, PIECE, PLAN, StubLLM, completion

from llmmusic.data.dataset import read_manifest_rows
from llmmusic.data.midi import midi_bytes
from llmmusic.errors import UserError
from llmmusic.generation.generate import Generator
from llmmusic.generation.llm import LLMClient
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.variants import get_variant


def _run(endpoint, out, **config):
    client = LLMClient(base_url=endpoint.base_url, model="stub", cache=out / "cache.sqlite", max_retries=0)
    generator = Generator(GenerateConfig(out=out, **{"genres": ["Jazz"], "styles": ["Swing"], **config}), client)
    return generator.run(concurrency=1, progress=False), generator


def test_a_valid_row_records_the_reply_and_its_midi_is_the_writers(tmp_path):
    out = tmp_path / "ds"
    with StubLLM() as ep:
        _, gen = _run(ep, out, writer="official")
    row = read_manifest_rows(out / "manifest.jsonl")[0]
    assert row["status"] == "valid" and row["failure"] is None and row["finish_reason"] == "stop"
    assert row["n_notes"] == {t: len(PIECE[t]) for t in ("melody", "chords", "bass", "rhythm")}
    assert row["usage"] == {"prompt_tokens": 10, "completion_tokens": 20}  # the stub's usage (total not kept)
    assert row["cached"] is False and isinstance(row["repairs"], list) and len(row["cache_key"]) == 64
    assert row["latency_s"] == round(row["latency_s"], 3) and row["latency_s"] >= 0
    piece = get_variant("paper").parse(json.dumps(PIECE)).piece
    assert (out / row["path"]).read_bytes() == midi_bytes(piece, writer="official") != midi_bytes(piece)
    # the same request answered from a copied cache is marked cached
    shutil.copy(out / "cache.sqlite", tmp_path / "cache.sqlite")
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(tmp_path / "cache.sqlite", again / "cache.sqlite")
    with StubLLM() as ep:
        _run(ep, again, writer="official")
        assert ep.requests == []
    assert read_manifest_rows(again / "manifest.jsonl")[0]["cached"] is True


def test_a_truncated_reply_that_still_parses_is_recorded_as_truncated(tmp_path):
    """Cut inside the last track: the parser repairs it into a piece, but a reply cut by the token budget is no
    valid piece (finish_reason length); cut before a track, the missing track is the reason."""
    cut = {900: "truncated", 300: "missing_track:chords"}
    for at, reason in cut.items():
        out = tmp_path / f"cut{at}"
        with StubLLM(answer=lambda body, at=at: (200, completion(json.dumps(PIECE)[:at], finish_reason="length"))) as ep:
            _run(ep, out, max_attempts=1)
        row = read_manifest_rows(out / "manifest.jsonl")[0]
        assert (row["status"], row["failure"], row["finish_reason"]) == ("invalid", reason, "length")
        assert row["repairs"] == ["truncated"] and row["n_notes"] == {}


def test_a_failed_call_is_logged_with_the_song_and_keeps_its_plan(tmp_path, caplog):
    out = tmp_path / "ds"
    with caplog.at_level(logging.WARNING, logger="llmmusic"), StubLLM(script=[json.dumps(PLAN), "400"]) as ep:
        _run(ep, out, variant="plan", max_attempts=1)
    row = read_manifest_rows(out / "manifest.jsonl")[0]
    assert row["status"] == "error" and row["failure"] == "call_error:BadRequestError"
    assert row["plan_cache_key"] and len(ep.requests) == 2
    message = next(r.getMessage() for r in caplog.records if "attempt 0" in r.getMessage())
    assert message.startswith("Jazz/Swing #0 attempt 0: ") and len(message) > len("Jazz/Swing #0 attempt 0: ")


def test_the_plan_is_stored_beside_the_midi_as_sorted_indented_json(tmp_path):
    out = tmp_path / "ds"
    with StubLLM(script=[json.dumps(PLAN), json.dumps(BARS)]) as ep:
        _run(ep, out, variant="plan", max_attempts=1)
    row = read_manifest_rows(out / "manifest.jsonl")[0]
    assert row["status"] == "valid" and row["plan_path"] == row["path"].removesuffix(".mid") + ".plan.json"
    assert (out / row["plan_path"]).read_text() == json.dumps(PLAN, indent=2, sort_keys=True) + "\n"


def test_the_run_parameters_are_written_once_and_a_mismatch_is_refused_by_field(tmp_path):
    out = tmp_path / "ds"
    with StubLLM() as ep:
        _, gen = _run(ep, out)
        text = (out / "dataset.json").read_text()
        params = json.loads(text)
        assert text == json.dumps(params, indent=2, sort_keys=True) + "\n"
        assert params["model"] == "stub" and params["endpoint"] == gen.client.endpoint_kind
        assert params["prompt_version"] == get_variant("paper").version
        with pytest.raises(UserError, match=r"\{'seed': \(0, 3\)\}; use another --out"):
            _run(ep, out, seed=3)


def test_a_manifest_row_without_its_song_is_named_by_its_line(tmp_path):
    out = tmp_path / "ds"
    with StubLLM() as ep:
        _run(ep, out, styles=["Swing", "Waltz"])
        lines = (out / "manifest.jsonl").read_text().splitlines()
        (out / "manifest.jsonl").write_text(lines[0] + "\n" + json.dumps({"genre": "Jazz"}) + "\n")
        with pytest.raises(UserError, match=r"manifest.jsonl: row 2 lacks genre, style, index or status$"):
            _run(ep, out, styles=["Swing", "Waltz"])
