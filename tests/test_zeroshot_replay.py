"""The committed zero-shot run (data/zeroshot) replays through the driver with zero LLM calls and gives back
its committed results, row for row; the command does the same and writes the same file."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from llmmusic.experiments import zeroshot as Z
from llmmusic.generation.llm import LLMClient

COMMITTED = Z.DEFAULT_DIR


@pytest.fixture
def replay(zeroshot_copy):
    """The scratch copy of the committed run (see conftest's ``zeroshot_copy``)."""
    return zeroshot_copy


def _key(row: dict) -> tuple:
    return row["source"], row["task"], row["mode"], row["id"]


def _present(row: dict) -> dict:
    """A result row without the fields a data frame fills in with NaN for modes that lack them."""
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def test_run_sets_replays_the_committed_cache_to_the_committed_results(replay):
    committed = Z.read_result_rows(COMMITTED / "results.jsonl")
    sets = Z.build_sets(["llm-midi", "human-folder", "human-topmagd"], dataset_dir=replay.dataset, pin=replay.pin)
    ran = {es.name for es in sets if es.items}
    assert "llm-midi" in ran, [es.note for es in sets]
    client = LLMClient(cache=replay.folder / "cache.sqlite", cache_only=True)
    tokens = Z.LabelTokens(client, replay.folder / "cache.tokens.json")
    results = Z.run_sets(client, sets, ["free", "score"], tokens=tokens)
    assert client.stats.calls == 0 and int(results["fresh_calls"].sum()) == 0
    ours = {_key(r): _present(r) for r in results.to_dict(orient="records")}
    theirs = {_key(r): r for r in committed if r["source"] in ran and r["mode"] in ("free", "score")}
    assert len(ours) == len(results) and set(ours) == set(theirs)
    for key, row in theirs.items():
        assert ours[key] == row, key
    # the chapter's table: the same accuracy, F1 and chance levels
    tasks = list(Z.standard_tasks().values())
    ours_summary = Z.summarize(results, tasks, n_boot=200)
    theirs_summary = Z.summarize(Z.read_results(COMMITTED / "results.jsonl")
                                 .query("source in @ran and mode in ['free', 'score']"), tasks, n_boot=200)
    pd.testing.assert_frame_equal(ours_summary, theirs_summary)
    assert replay.pin.read_bytes() == Z.sample_pin(replay.dataset).read_bytes()


def test_the_driver_writes_the_results_file_the_command_writes(replay):
    """run_experiment (chapter 3's call) writes what ``llmmusic zeroshot run`` writes: the committed rows of the
    sets and modes it asked, in the same format; the rows of a set that did not run are kept."""
    committed = [r for r in Z.read_result_rows(COMMITTED / "results.jsonl") if r["mode"] in ("free", "score")]
    out = replay.folder / "results.jsonl"
    other = {"source": "user", "task": "user", "mode": "free", "id": "mine.mid", "truth": "Rock", "raw": "Rock",
             "pred": "Rock", "correct": True, "calls": 1, "fresh_calls": 0}
    Z.write_results([other], out)
    sets = Z.build_sets(["llm-midi"], dataset_dir=replay.dataset, pin=replay.pin)
    client = LLMClient(cache=replay.folder / "cache.sqlite", cache_only=True)
    tokens = Z.LabelTokens(client, replay.folder / "cache.tokens.json")
    seen: list[str] = []
    run = Z.run_experiment(client, sets, ["free", "score", "guess"], tokens=tokens, out=out, n_boot=50,
                           on_set=lambda es: seen.append(es.name))
    assert seen == ["llm-midi"] and run.modes == ["free", "score"] and run.ran == ["llm-midi"] and run.kept == 1
    written = Z.read_result_rows(out)
    assert written[0] == other and written[1:] == [r for r in committed if r["source"] == "llm-midi"]
    assert written[1:] == run.rows and len(run.results) == len(run.rows)
    assert list(run.summary["task"].unique()) == ["llm-genre", "llm-style"]
    assert run.censored[1] == sum(len(r["scores"]) for r in run.rows if r["mode"] == "score")
    assert [c.name for c in run.clips()] in ([], ["correct_example", "wrong_example"])
    assert len(run.summary_lines()) == 3 and "results: " in run.usage(client)


def test_run_items_honours_mode_limits_and_reports_each_row(replay):
    sets = Z.build_sets(["llm-midi"], dataset_dir=replay.dataset, pin=replay.pin, n_llm_midi=3)
    client = LLMClient(cache=replay.folder / "cache.sqlite", cache_only=True)
    seen: list[dict] = []
    tokens = Z.LabelTokens(client, replay.folder / "cache.tokens.json")
    results = Z.run_items(client, sets[0].items, sets[0].tasks, ["free", "score"], max_events=32, tokens=tokens,
                          mode_limits={"score": 1}, on_row=seen.append)
    assert [(r["task"], r["mode"]) for r in seen] == [("llm-genre", "free"), ("llm-genre", "score"),
                                                      ("llm-style", "free"), ("llm-style", "score")] + \
        [("llm-genre", "free"), ("llm-style", "free")] * 2
    assert len(results) == len(seen) == 8 and client.stats.calls == 0
    with pytest.raises(ValueError, match="mode 'guess'"):
        Z.run_items(client, sets[0].items, sets[0].tasks, ["guess"])


def test_answers_are_mapped_and_scored_through_a_local_endpoint(tmp_path):
    """The human-folder question through the driver: ``Metal`` counts as Rock, ``Folk`` as no folder genre."""
    from llmmusic.data.piece import Note, Piece
    from llm_stub import StubLLM

    items = [Z.Item(id=f"f{k}", piece=Piece(melody=[Note(60 + k, 480, 90, 480 * j) for j in range(8)]), truth=truth,
                    source="human-folder") for k, truth in enumerate(["Rock", "Jazz"])]  # other notes: two requests
    task = Z.standard_tasks()["human-folder"]
    with StubLLM(script=["Metal", "Folk"]) as ep:
        client = LLMClient(base_url=ep.base_url, model="stub", cache=tmp_path / "c.sqlite", max_retries=0)
        rows = Z.run_items(client, items, [task], ["free"]).to_dict(orient="records")
    assert [(r["raw"], r["pred"], r["correct"]) for r in rows] == [("Metal", "Rock", True), ("Folk", "other", False)]
    assert [r["fresh_calls"] for r in rows] == [1, 1] and len(ep.requests) == 2
    asked = ep.requests[0]["body"]["messages"][-1]["content"]
    assert all(genre in asked for genre in task.labels) and len(task.labels) == 13  # the paper's genres asked
