"""The study's chosen variant against the real embedded llama-server: two pieces, end to end."""

from __future__ import annotations

import json
import sqlite3

import pytest

from llmmusic.data.dataset import load_manifest
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.llm import LLMClient
from llmmusic.data.midi import midi_to_piece
from llmmusic.generation.json_schema import conforms
from llmmusic.generation.variants import CHOSEN_VARIANT, get_variant


@pytest.fixture(scope="module")
def server():
    from llmmusic.generation.server import EmbeddedServer

    srv = EmbeddedServer(parallel=4)
    yield srv.start(timeout=900)
    srv.stop()


@pytest.mark.server
def test_chosen_variant_makes_two_valid_pieces_on_one_line_replies(server, tmp_path):
    out = tmp_path / "ds"
    variant = get_variant(CHOSEN_VARIANT)
    cfg = GenerateConfig(out=out, variant=CHOSEN_VARIANT, genres=["Metal", "Jazz"], styles=["Swing"], max_attempts=2)
    client = LLMClient(cache=out / "cache.sqlite")
    summary = Generator(cfg, client).run(concurrency=2, progress=False)
    manifest = load_manifest(out)
    assert summary.songs_valid == 2, manifest[["status", "failure"]]
    # llama-server says how much of each prompt it took from a slot's cache; every row records it, and the
    # same composition asked again (another seed, so not from our cache) reuses most of its prompt
    assert all("cached_prompt_tokens" in row.usage for row in manifest.itertuples())
    assert 0 <= summary.cached_prompt_tokens < summary.prompt_tokens
    key = manifest[manifest.status == "valid"].iloc[0].cache_key
    with sqlite3.connect(out / "cache.sqlite") as db:
        messages = json.loads(db.execute("select request from calls where key = ?", (key,)).fetchone()[0])["messages"]
    again = client.chat(messages, max_tokens=1, seed=12345)
    assert not again.cached and again.usage["cached_prompt_tokens"] > again.usage["prompt_tokens"] // 2, again.usage
    for row in manifest[manifest.status == "valid"].itertuples():
        text = client.cache.get(row.cache_key).text
        assert "\n" not in text and conforms(json.loads(text), variant.schema())  # the grammar held
        piece = midi_to_piece(out / row.path)
        assert all(piece.track(t) for t in ("melody", "chords", "bass", "rhythm"))
        if "tempo_bpm" in piece.meta or variant.name in ("symbolic", "bars", "plan"):
            assert 50 <= piece.meta.get("tempo_bpm", 120) <= 200
        if variant.needs_plan:
            assert isinstance(row.plan_cache_key, str) and (out / row.plan_path).exists()
    # a rerun asks nothing
    again = Generator(GenerateConfig.from_dataset(out, genres=["Metal", "Jazz"], styles=["Swing"]),
                      LLMClient(cache=out / "cache.sqlite"))
    assert again.run(concurrency=2, progress=False).songs_planned == 0
