"""The scale fixture: deterministic, shaped like the grid, transposed copies of real pieces, refused as results."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from llmmusic.book.claims import refuse_fixture
from llmmusic.cli import main
from llmmusic.data.dataset import load_manifest, load_pieces, pick_dataset, valid_rows
from llmmusic.data.fixture import make_scale_fixture, transposed, variant
from llmmusic.data.midi import midi_to_piece
from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece


def test_transposition_folds_into_the_midi_range_and_drums_stay():
    assert transposed(60, 6) == 66 and transposed(125, 6) == 119 and transposed(2, -5) == 9
    piece = Piece(melody=[Note(60, 480, 90, 0), Note(64, 480, 90, 1200)], rhythm=[Note(36, 120, 90, 0)])
    moved = variant(piece, 3, 2)
    assert sorted(n.pitch for n in moved.melody) == [63, 67]
    assert [n.pitch for n in moved.rhythm] == [36]
    starts = sorted(n.start for n in moved.melody)  # rotated by 240 ticks within the piece's one bar
    assert starts == [240, 1440]
    late = variant(Piece(melody=[Note(60, 120, 90, 1800)]), 0, 2)  # wraps round to the bar's start
    assert [n.start for n in late.melody] == [(1800 + 240) % TICKS_PER_BAR]


@pytest.fixture(scope="module")
def source():
    folder = pick_dataset()
    if folder is None:
        pytest.skip("no committed dataset")
    return folder


def test_fixture_has_the_grid_shape_and_is_deterministic(source, tmp_path):
    a = make_scale_fixture(source, tmp_path / "a", per_combination=2, genres=["Jazz"])
    b = make_scale_fixture(source, tmp_path / "b", per_combination=2, genres=["Jazz"])
    rows = load_manifest(tmp_path / "a")
    assert a["pieces"] == len(rows) == 25 * 2 and set(rows["genre"]) == {"Jazz"}
    assert Counter(zip(rows["style"])) == Counter({(s,): 2 for s in set(rows["style"])}) and rows["style"].nunique() == 25
    assert list(rows["midi_sha256"]) == list(load_manifest(tmp_path / "b")["midi_sha256"])
    params = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert params["fixture"] is True and "not a results dataset" in (tmp_path / "a" / "DATASET.md").read_text()
    assert len(load_pieces(tmp_path / "a")) == 50
    again = make_scale_fixture(source, tmp_path / "a", per_combination=2, genres=["Jazz"])
    assert again["skipped"] and not a["skipped"] and not b["skipped"]


def test_each_song_is_a_transposed_copy_of_a_source_piece(source, tmp_path):
    make_scale_fixture(source, tmp_path / "f", per_combination=1, genres=["Jazz"])
    src = valid_rows(load_manifest(source))
    for row in load_manifest(tmp_path / "f").head(5).itertuples(index=False):
        piece = midi_to_piece(tmp_path / "f" / row.path)
        pool = src[(src["genre"] == "Jazz") & (src["style"] == row.style)]
        pool = pool if len(pool) else src[src["genre"] == "Jazz"]
        base = midi_to_piece(source / pool.iloc[0]["path"])
        assert sorted(n.pitch for n in piece.rhythm) == sorted(n.pitch for n in base.rhythm)
        shifts = [s for s in range(-5, 7) if sorted(transposed(n.pitch, s) for n in base.melody + base.bass)
                  == sorted(n.pitch for n in piece.melody + piece.bass)]
        assert len(shifts) >= 1 and piece.n_notes == base.n_notes


def test_the_claims_page_refuses_a_fixture_and_the_cli_builds_one(source, tmp_path, capsys):
    assert main(["dataset", "fixture", str(source), "--out", str(tmp_path / "fx"), "--per-combination", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pieces"] == 13 * 25
    with pytest.raises(ValueError, match="scale fixture"):
        refuse_fixture(tmp_path / "fx")
    assert main(["dataset", "fixture", str(source)]) == 1  # --out missing: a one-line error
    assert "--out" in capsys.readouterr().err
