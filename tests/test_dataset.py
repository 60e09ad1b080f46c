"""The committed LLM-MIDI datasets: every manifest row resolves, hashes match, the grid is covered evenly."""

import hashlib
import json
from collections import Counter

import pytest

from llmmusic.generation.cache import CallCache
from llmmusic.generation.card import dataset_summary
from llmmusic.data.dataset import (CACHE, DEFAULT_DATASET, FREE_DATASET, PAPER_DATASET, load_manifest, load_pieces,
                                   valid_rows)
from llmmusic.data.midi import midi_to_piece
from llmmusic.data.taxonomy import get_taxonomy

DATASETS = [d for d in dict.fromkeys((DEFAULT_DATASET, PAPER_DATASET, FREE_DATASET)) if (d / "manifest.jsonl").exists()]


@pytest.fixture(params=DATASETS or [None], ids=[d.name for d in DATASETS] or ["none"])
def dataset(request):
    if request.param is None:
        pytest.skip("no committed dataset")
    return request.param


def test_every_row_resolves_to_a_file_or_a_recorded_failure(dataset):
    manifest = load_manifest(dataset)
    assert set(manifest["status"]) <= {"valid", "invalid", "error"}
    for row in manifest.itertuples():
        if row.status == "valid":
            data = (dataset / row.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row.midi_sha256, row.path
        else:
            assert isinstance(row.failure, str) and row.failure, row
            assert row.path is None or row.path != row.path  # None or NaN


def test_no_orphan_midi_files(dataset):
    listed = set(valid_rows(load_manifest(dataset))["path"])
    on_disk = {p.relative_to(dataset).as_posix() for p in (dataset / "midi").rglob("*.mid")}
    assert on_disk == listed


def test_pieces_match_their_manifest_counts(dataset):
    rows = valid_rows(load_manifest(dataset)).head(20)
    for row in rows.itertuples():
        piece = midi_to_piece(dataset / row.path)
        assert {t: len(n) for t, n in piece.tracks().items()} == row.n_notes


def index_order_gaps(manifest) -> list[str]:
    """What breaks index-major filling: a song index skipped, or a combination attempted at some index but
    missing at a lower one (every index below the highest one started covers the dataset's whole slice)."""
    songs = manifest.drop_duplicates(["genre", "style", "index"])
    combos = {int(i): set(zip(g["genre"], g["style"])) for i, g in songs.groupby("index")}
    whole = set().union(*combos.values()) if combos else set()
    problems = [f"song index {i} never started" for i in range(max(combos, default=-1)) if i not in combos]
    for i in sorted(combos)[:-1]:
        problems += [f"{g}/{s} has no song {i} but a later one" for g, s in sorted(whole - combos[i])]
    return problems


def test_grid_is_filled_evenly_in_index_order(dataset):
    params = json.loads((dataset / "dataset.json").read_text())
    tax = get_taxonomy(params["taxonomy"])
    manifest = load_manifest(dataset)
    assert set(zip(manifest["genre"], manifest["style"])) <= set(tax.combinations())
    assert index_order_gaps(manifest) == []


def test_index_order_check_finds_a_gap():
    """The check above fails on a manifest where one combination skipped song 0 or an index was skipped."""
    import pandas as pd

    def rows(*songs):
        return pd.DataFrame([{"genre": g, "style": s, "index": i} for g, s, i in songs])

    full = [("Jazz", "Swing", 0), ("Rock", "Swing", 0), ("Jazz", "Swing", 1)]
    assert index_order_gaps(rows(*full)) == []
    assert index_order_gaps(rows(*full, ("Rock", "Swing", 1), ("Jazz", "Swing", 2))) == []
    assert index_order_gaps(rows(("Jazz", "Swing", 0), ("Rock", "Swing", 1))) == ["Rock/Swing has no song 0 but a later one"]
    assert index_order_gaps(rows(("Jazz", "Swing", 0), ("Jazz", "Swing", 2))) == ["song index 1 never started"]


def test_every_reply_is_in_the_committed_cache(dataset):
    """Each attempt that got a reply names a call stored in the committed cache: a rerun replays it, no call."""
    cache = CallCache(dataset / CACHE)
    manifest = load_manifest(dataset)
    replied = manifest.query("status != 'error'")
    # a plan-then-compose attempt whose plan failed made no compose call: its reply is the plan call's
    plan_failed = replied["cache_key"].isna()
    if plan_failed.any():
        assert "plan_cache_key" in replied and replied.loc[plan_failed, "failure"].str.startswith("plan_").all()
        assert all(cache.get(k) is not None for k in replied.loc[plan_failed, "plan_cache_key"])
    composed = replied[~plan_failed]
    stored = {r.cache_key: cache.get(r.cache_key) for r in composed.itertuples()}
    missing = [f"{r.genre}/{r.style}/{r.index}" for r in composed.itertuples() if stored[r.cache_key] is None]
    assert not missing, f"{len(missing)} manifest rows have no cached reply, e.g. {missing[:3]}"
    assert all(stored[r.cache_key].finish_reason == r.finish_reason for r in composed.itertuples())
    if "plan_cache_key" in manifest:  # every plan a composed piece was conditioned on is cached too
        plans = composed["plan_cache_key"].dropna()
        assert all(cache.get(k) is not None for k in plans), "a plan call is missing from the cache"


def test_counts_per_combination_agree_across_manifest_files_and_card(dataset):
    summary = dataset_summary(dataset)
    tax = get_taxonomy(summary["params"]["taxonomy"])
    valid = valid_rows(load_manifest(dataset))
    per_combo = Counter(zip(valid["genre"], valid["style"]))
    on_disk = Counter(p.parent.relative_to(dataset / "midi").as_posix() for p in (dataset / "midi").rglob("*.mid"))
    assert sorted(on_disk.values()) == sorted(per_combo.values())
    counts = [per_combo.get(c, 0) for c in tax.combinations()]
    assert (summary["min_per_combination"], summary["max_per_combination"]) == (min(counts), max(counts))
    assert summary["combinations_covered"] == sum(c > 0 for c in counts)
    card = (dataset / "DATASET.md").read_text()
    assert (f"| combinations covered | {summary['combinations_covered']} of {len(counts)} "
            f"(min {min(counts)}, max {max(counts)} pieces each) |") in card


def test_default_dataset_covers_the_whole_grid_evenly():
    if not (DEFAULT_DATASET / "manifest.jsonl").exists():
        pytest.skip("no committed dataset")
    summary = dataset_summary(DEFAULT_DATASET)
    assert summary["combinations_covered"] == summary["combinations"] == 325
    assert summary["max_per_combination"] - summary["min_per_combination"] <= 1


def test_summary_and_loader_agree(dataset):
    summary = dataset_summary(dataset)
    assert summary["valid_pieces"] == len(valid_rows(load_manifest(dataset)))
    pieces = load_pieces(dataset, limit=5)
    assert len(pieces) == min(5, summary["valid_pieces"])
    assert all({"genre", "style", "mood", "index", "temperature", "path"} <= set(p.meta) for p in pieces)


def test_card_notes_median_throughput_and_runs_logged_without_a_call_count():
    from llmmusic.generation.card import _runs_notes

    def run(level, per_hour, calls, tok_s):
        return {"concurrency": level, "pieces_per_hour": per_hour, "llm_calls": calls, "tokens_per_second": tok_s}

    notes = _runs_notes([run(4, 100.0, 12, 27.0), run(4, 110.0, 12, 29.0), run(4, 50.0, 6, 14.0),
                         run(1, 80.0, 0, 20.0)])
    assert "concurrency 4: 100.0 over 3 runs" in notes
    assert "concurrency 1: 80.0 over 1 run " in notes
    assert notes.count("0 LLM calls") == 1 and "1 run shows" in notes
    assert _runs_notes([]) == ""


def test_card_medians_are_kept_apart_per_machine():
    from llmmusic.generation.card import _runs_notes, machine_label

    amd = machine_label({"cpu": "AMD EPYC", "cores": 2, "simd": "AVX2"})
    assert amd == "AMD EPYC, 2 cores, AVX2" and machine_label(None) == "not logged"
    runs = [{"concurrency": 4, "pieces_per_hour": v, "llm_calls": 4, "tokens_per_second": 20.0, "machine": m}
            for v, m in ((100.0, "not logged"), (104.0, "not logged"), (58.0, amd), (60.0, amd), (62.0, amd))]
    notes = _runs_notes(runs).splitlines()
    assert notes == [
        "- Median pieces/hour at concurrency 4: 102.0 over 2 runs (machine not logged; every run counted, "
        "busy or quiet machine).",
        "- Median pieces/hour at concurrency 4: 60.0 over 3 runs (AMD EPYC, 2 cores, AVX2; every run counted, "
        "busy or quiet machine)."]
