"""The committed LLM-MIDI datasets: every manifest row resolves, hashes match, the grid is covered evenly."""

import hashlib
import json

import pytest

from llmmusic.card import dataset_summary
from llmmusic.dataset import DEFAULT_DATASET, FREE_DATASET, load_manifest, load_pieces, valid_rows
from llmmusic.midi import midi_to_piece
from llmmusic.taxonomy import get_taxonomy

DATASETS = [d for d in (DEFAULT_DATASET, FREE_DATASET) if (d / "manifest.jsonl").exists()]


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


def test_grid_is_filled_evenly_in_index_order(dataset):
    params = json.loads((dataset / "dataset.json").read_text())
    tax = get_taxonomy(params["taxonomy"])
    manifest = load_manifest(dataset)
    songs = manifest.drop_duplicates(["genre", "style", "index"])
    assert set(zip(songs["genre"], songs["style"])) <= set(tax.combinations())
    per_index = songs.groupby("index").size()
    # index-major order: every song index below the highest one started was attempted on the whole slice
    for index in per_index.index[:-1]:
        assert per_index[index] == songs[songs["index"] == index][["genre", "style"]].drop_duplicates().shape[0]


def test_summary_and_loader_agree(dataset):
    summary = dataset_summary(dataset)
    assert summary["valid_pieces"] == len(valid_rows(load_manifest(dataset)))
    pieces = load_pieces(dataset, limit=5)
    assert len(pieces) == min(5, summary["valid_pieces"])
    assert all({"genre", "style", "mood", "index", "temperature", "path"} <= set(p.meta) for p in pieces)


def test_card_notes_median_throughput_and_runs_logged_without_a_call_count():
    from llmmusic.card import _runs_notes

    def run(level, per_hour, calls, tok_s):
        return {"concurrency": level, "pieces_per_hour": per_hour, "llm_calls": calls, "tokens_per_second": tok_s}

    notes = _runs_notes([run(4, 100.0, 12, 27.0), run(4, 110.0, 12, 29.0), run(4, 50.0, 6, 14.0),
                         run(1, 80.0, 0, 20.0)])
    assert "concurrency 4: 100.0 over 3 runs" in notes
    assert "concurrency 1: 80.0 over 1 run " in notes
    assert notes.count("0 LLM calls") == 1 and "1 run shows" in notes
    assert _runs_notes([]) == ""
