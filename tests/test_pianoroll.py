"""Piano rolls: shapes and cell content on hand-made pieces, human MIDI windows, the .npz cache."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from llmmusic.data import pianoroll
from llmmusic.data.midi import MidiReadError, piece_to_midi
from llmmusic.data.piece import Note, Piece
from conftest import require_shared


def _piece() -> Piece:
    return Piece(
        melody=[Note(72, 480, 100, 0), Note(74, 240, 90, 130), Note(76, 960, 80, 7680), Note(77, 480, 0, 15240)],
        chords=[Note(60, 960, 50, 0), Note(60, 480, 70, 480), Note(64, 960, 40, 0)],
        bass=[Note(36, 1920, 110, 1920), Note(40, 480, 60, 99999)],
        rhythm=[Note(36, 480, 120, 0), Note(42, 960, 70, 240)],
    )


def test_roll_shape_and_cells():
    roll = pianoroll.piece_to_roll(_piece())
    assert roll.shape == (4, 128, 128) and roll.dtype == np.uint8
    melody, chords, bass, drums = roll
    assert list(melody[72, :5]) == [100, 100, 100, 100, 0]          # quarter note = 4 sixteenths
    assert list(melody[74, :4]) == [0, 90, 90, 0]                   # tick 130 rounds to step 1, 2 steps long
    assert melody[76, 64:72].tolist() == [80] * 8                    # bar 5 (tick 7680 = step 64)
    assert melody[77, 127] == 1 and melody[77].sum() == 1            # velocity 0 kept visible, cut at the end
    assert chords[60, :8].tolist() == [50] * 4 + [70] * 4            # overlap keeps the louder note
    assert chords[64, :8].tolist() == [40] * 8
    assert bass[36, 16:32].tolist() == [110] * 16 and bass[36].sum() == 110 * 16
    assert bass[40].sum() == 0                                       # a note after the end is dropped
    assert drums[36].tolist().count(120) == 1 and drums[36, 0] == 120       # drum hits: onset only
    assert drums[42, 2] == 70 and drums[42].sum() == 70
    assert int((roll > 0).sum()) == 4 + 2 + 8 + 1 + 8 + 8 + 16 + 1 + 1


def test_roll_options_and_inputs():
    piece = _piece()
    four = pianoroll.piece_to_roll(piece, bars=4)
    assert four.shape == (4, 128, 64) and four[0, 76].sum() == 0      # the bar-5 note is outside 4 bars
    full = pianoroll.piece_to_roll(piece, drum_onsets=False)
    assert full[3, 42, 2:10].tolist() == [70] * 8
    x = pianoroll.as_input(pianoroll.pieces_to_rolls([piece, piece]), "velocity")
    assert x.shape == (2, 4, 128, 128) and x.dtype == np.float32 and x.max() == pytest.approx(120 / 127)
    b = pianoroll.as_input(pianoroll.pieces_to_rolls([piece]), "binary")
    assert set(np.unique(b)) == {0.0, 1.0} and b.sum() == (pianoroll.piece_to_roll(piece) > 0).sum()
    with pytest.raises(ValueError, match="roll mode"):
        pianoroll.as_input(four, "loud")
    with pytest.raises(ValueError, match="pitch 200"):
        pianoroll.piece_to_roll(Piece(melody=[Note(200, 480, 90, 0)]))


def test_occupancy_of_a_four_bar_piece():
    first_half = Piece(melody=[Note(60, 480, 90, t) for t in range(0, 7680, 480)])
    both = Piece(melody=[Note(60, 480, 90, t) for t in range(0, 15360, 480)])
    occ = pianoroll.occupancy(pianoroll.pieces_to_rolls([first_half, both]))
    assert occ.tolist() == [[1.0, 0.0], [0.5, 0.5]]


def test_windows_of_a_midi_file(tmp_path):
    piece = Piece(melody=[Note(60 + (t // 1920) % 12, 480, 90, t) for t in range(0, 24 * 1920, 960)],
                  bass=[Note(36, 1920, 90, t) for t in range(0, 24 * 1920, 1920)])
    path = tmp_path / "song.mid"
    piece_to_midi(piece, path)
    windows = pianoroll.human_windows(path, bars=8, n_windows=5)
    assert [w.meta["start_bar"] for w in windows] == [0, 8, 16]       # 24 bars: three back-to-back windows
    assert [w.meta["window"] for w in windows] == [0, 1, 2]
    assert windows[0].meta["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
    rolls = pianoroll.pieces_to_rolls(windows)
    assert rolls[1, 0, 68, 0] == 90 and rolls[2, 0, 64, 0] == 90     # bar k holds pitch 60 + k % 12
    hop = pianoroll.human_windows(path, bars=8, n_windows=3, hop_bars=4)
    assert [w.meta["start_bar"] for w in hop] == [0, 4, 8]
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(MidiReadError):
        pianoroll.human_windows(bad)


def test_human_windows_on_shared_files(shared_data):
    folder = require_shared(shared_data, "human-midi", "midi")
    for path in sorted(folder.glob("*.mid"))[:3]:
        windows = pianoroll.human_windows(path, bars=8, n_windows=2)
        assert 1 <= len(windows) <= 2
        rolls = pianoroll.pieces_to_rolls(windows)
        assert rolls.shape == (len(windows), 4, 128, 128) and (rolls > 0).any(axis=(1, 2, 3)).all()
        assert all(w.meta["md5"] == path.stem for w in windows)      # files are named by their md5


def test_cached_arrays_build_once(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(3), "names": np.array(["x", "y|z"])}

    name = pianoroll.cache_key("test", manifest="abc", bars=8)
    assert name != pianoroll.cache_key("test", manifest="abc", bars=4)
    first = pianoroll.cached_arrays(name, build, tmp_path)
    second = pianoroll.cached_arrays(name, build, tmp_path)
    assert len(calls) == 1 and second["a"].tolist() == [0, 1, 2] and second["names"].tolist() == ["x", "y|z"]
    pianoroll.cached_arrays(name, build, tmp_path, refresh=True)
    assert len(calls) == 2 and first["a"].tolist() == [0, 1, 2]
    assert pianoroll.split_labels(pianoroll.join_labels([["a", "b"], []])) == [["a", "b"], []]
