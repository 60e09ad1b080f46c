"""Tests of llmmusic.generation.replay: printing messages, and one manifest row's request sent again on a copy
of the committed paper-prompt dataset (no model call)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmmusic.data.dataset import CACHE, MANIFEST, PARAMS, PAPER_DATASET, load_manifest, load_params
from llmmusic.generation import replay
from llmmusic.generation.llm import LLMClient
from llmmusic.generation.prompts import build_generation_messages
from llmmusic.generation.variants import get_variant


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed dataset's manifest, parameters and call cache, copied."""
    folder = tmp_path_factory.mktemp("paper")
    for name in (MANIFEST, PARAMS, CACHE):
        shutil.copy(PAPER_DATASET / name, folder / name)
    return folder


def test_format_messages_prints_each_role_then_its_content() -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a song"}]
    assert replay.format_messages(messages) == "--- system ---\nbe brief\n\n--- user ---\na song\n"
    assert replay.format_messages(messages[1:], "bars") == "--- bars: user ---\na song\n"


def test_first_messages_is_the_plan_request_of_a_planning_variant() -> None:
    plan = get_variant("plan")
    assert replay.first_messages(plan, "Metal", "Punk", "energetic") == plan.plan_messages("Metal", "Punk", "energetic")
    bars = get_variant("bars")
    assert replay.first_messages(bars, "Metal", "Punk", "energetic") == bars.messages("Metal", "Punk", "energetic")


def test_user_message_diff_shows_only_changed_lines() -> None:
    diff = replay.user_message_diff("Jazz", "Bossa Nova", "calm")
    lines = diff.splitlines()
    assert lines[:2] == ["--- paper", "+++ corrected"]
    paper = build_generation_messages("Jazz", "Bossa Nova", "calm", "paper")[1]["content"].splitlines()
    removed = [line[1:] for line in lines[2:] if line.startswith("-")]
    assert removed and all(line in paper for line in removed)
    assert replay.user_message_diff("Jazz", "Bossa Nova", "calm", "paper", "paper") == ""


def test_example_row_first_valid_or_the_named_song(dataset: Path) -> None:
    manifest = load_manifest(dataset)
    first = replay.example_row(manifest)
    assert first["status"] == "valid"
    named = replay.example_row(manifest, first["genre"], first["style"], int(first["index"]))
    assert named["cache_key"] == first["cache_key"]
    with pytest.raises(ValueError, match="no valid piece for genre='Nope'"):
        replay.example_row(manifest, "Nope", "Swing", 0, dataset)


def test_replay_of_a_row_is_answered_from_the_cache_with_the_rows_key(dataset: Path) -> None:
    client = replay.dataset_client(dataset)
    assert client.model_id == load_params(dataset)["model"] and client.cache_only
    row = replay.example_row(load_manifest(dataset))
    got = replay.replay_row(dataset, client, row)
    assert got.source == "cache" and got.matches_manifest and got.cache_key == row["cache_key"]
    assert got.text.lstrip().startswith("{")
    assert got.describe().startswith(f"request {row['cache_key'][:16]} answered from the cache; matches the "
                                     "manifest row: True; usage {")
    assert replay.row_line(row).startswith(f"{row['genre']} / {row['style']} / {row['mood']}, temperature ")


def test_a_request_not_in_the_cache_falls_back_to_the_rows_reply(dataset: Path) -> None:
    other = LLMClient(base_url="http://127.0.0.1:9/v1", model="another", cache=dataset / CACHE, cache_only=True)
    row = replay.example_row(load_manifest(dataset))
    got = replay.replay_row(dataset, other, row)
    assert got.source == "manifest" and got.cache_key is None and not got.matches_manifest
    assert got.text == replay.replay_row(dataset, replay.dataset_client(dataset), row).text
    assert "not in the call cache" in got.describe()

