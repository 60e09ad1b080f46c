"""Tests of llmmusic.analysis.stats on hand-made pieces and manifests, against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmmusic.data.dataset import pick_dataset
from llmmusic.data.piece import Note, Piece
from llmmusic.analysis.stats import (
    counts_grid,
    drum_key_counts,
    drum_pattern,
    drum_patterns,
    empty_beat_rate,
    failure_counts,
    generation_summary,
    metrics_table,
    piece_metrics,
    pitch_class_entropy,
    pitch_class_histogram,
    polyphony,
    repair_counts,
    scale_consistency,
    summarise_metrics,
    track_summary,
)


def scale_piece() -> Piece:
    """C major scale C4..C5, quarter notes, melody only: 8 notes over 2 bars."""
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    return Piece(melody=[Note(p, 480, 100, 480 * i) for i, p in enumerate(pitches)], meta={"genre": "Pop"})


def chord_piece() -> Piece:
    """A C major triad (half note) under a whole-note melody, then a lone bass note in bar 3."""
    return Piece(melody=[Note(72, 1920, 90, 0)],
                 chords=[Note(48, 960, 70, 0), Note(52, 960, 70, 0), Note(55, 960, 70, 0)],
                 bass=[Note(36, 480, 80, 3840)], meta={"genre": "Jazz"})


def test_scale_piece_metrics() -> None:
    m = piece_metrics(scale_piece())
    # pitch-class counts: C twice, six others once -> H = 2/8*2 + 6*(1/8*3) = 2.75 bits
    assert m["pitch_class_entropy"] == pytest.approx(2.75)
    assert m["scale_consistency"] == 1.0
    assert m["polyphony"] == 1.0 and m["polyphony_rate"] == 0.0
    assert m["span_bars"] == 2 and m["note_density"] == 4.0
    assert m["empty_beat_rate"] == 0.0
    assert m["pitch_range"] == 12 and m["mean_duration_beats"] == 1.0
    assert m["n_notes"] == 8


def test_chord_piece_metrics() -> None:
    m = piece_metrics(chord_piece())
    # sounding grid points (sixteenths): 8 with 4 pitches, 8 with 1, 4 with the bass alone
    assert m["polyphony"] == pytest.approx((8 * 4 + 8 * 1 + 4 * 1) / 20)
    assert m["polyphony_rate"] == pytest.approx(8 / 20)
    # span: last offset 4320 -> 3 bars, 12 beats; busy beats 0-3 and 8 -> 7 empty
    assert m["span_bars"] == 3
    assert m["empty_beat_rate"] == pytest.approx(7 / 12)
    assert m["note_density"] == pytest.approx(5 / 3)
    melody_only = piece_metrics(chord_piece(), tracks=("melody",))
    assert melody_only["n_notes"] == 1 and melody_only["pitch_class_entropy"] == 0.0
    assert melody_only["polyphony"] == 1.0


def test_single_metric_functions() -> None:
    chromatic = [Note(60, 480, 100, 0), Note(61, 480, 100, 480), Note(62, 480, 100, 960), Note(64, 480, 100, 1440)]
    assert scale_consistency(chromatic) == 0.75  # no major scale holds both C and C# and D
    assert pitch_class_entropy(chromatic) == pytest.approx(2.0)
    assert pitch_class_entropy([Note(60, 480, 1, 0), Note(72, 480, 1, 0)]) == 0.0
    all_twelve = [Note(60 + k, 240, 90, 240 * k) for k in range(12)]
    assert pitch_class_entropy(all_twelve) == pytest.approx(math.log2(12))
    assert math.isnan(pitch_class_entropy([])) and math.isnan(scale_consistency([]))
    assert all(math.isnan(x) for x in polyphony([]))
    # one note from beat 1 to the middle of beat 2 in a 1-bar span: beats 1 and 2 busy, 0 and 3 empty
    assert empty_beat_rate([Note(60, 720, 90, 480)], bars=1) == 0.5


def test_drum_pattern_and_counts() -> None:
    rhythm = ([Note(35, 240, 100, 0), Note(35, 240, 100, 960), Note(38, 240, 100, 480), Note(38, 240, 100, 1440)]
              + [Note(42, 120, 60, 240 * i) for i in range(8)])
    piece = Piece(rhythm=rhythm)
    assert drum_pattern(piece) == "K x...x... | S ..x...x. | H xxxxxxxx"
    assert drum_pattern(piece, bar=1) == "K ........ | S ........ | H ........"
    counts = drum_key_counts([piece, piece])
    assert counts.to_dict() == {42: 16, 35: 4, 38: 4}
    table = drum_patterns([piece, piece, Piece(rhythm=[Note(36, 240, 90, 0)]), Piece()])
    assert table["pieces"].tolist() == [2, 1]
    assert table["share"].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_tables_from_pieces() -> None:
    pieces = [scale_piece(), chord_piece()]
    hist = pitch_class_histogram(pieces, by="genre")
    assert list(hist.index) == ["Jazz", "Pop"]
    assert hist.loc["Pop", "C"] == pytest.approx(2 / 8)
    assert hist.loc["Jazz", "C"] == pytest.approx(3 / 5)  # 72, 48, 36 of five notes
    assert np.allclose(hist.sum(axis=1), 1.0)
    summary = track_summary(pieces)
    row = summary[(summary.piece == 1) & (summary.track == "chords")].iloc[0]
    assert (row.n_notes, row.pitch_min, row.pitch_max, row.pitch_range) == (3, 48, 55, 7)
    assert summary[(summary.piece == 0) & (summary.track == "bass")].pitch_range.isna().all()
    table = metrics_table(pieces, source="hand")
    assert table["source"].tolist() == ["hand", "hand"] and table["genre"].tolist() == ["Pop", "Jazz"]
    out = summarise_metrics({"hand": table}, metrics=("n_notes", "note_density"))
    assert out.loc["pieces", "hand"] == "2"
    assert out.loc["n_notes", "hand"] == "6.50 ± 1.50"


def manifest() -> pd.DataFrame:
    rows = [
        # song A: invalid, then valid on attempt 1
        dict(genre="Jazz", style="Swing", index=0, attempt=0, status="invalid", failure="json_error: bad",
             repairs=["code_fence"], usage={"completion_tokens": 100}, latency_s=1.0, decoding="free", model="m"),
        dict(genre="Jazz", style="Swing", index=0, attempt=1, status="valid", failure=None,
             repairs=["code_fence", "tuples: 3"], usage={"completion_tokens": 300}, latency_s=3.0, decoding="free",
             model="m"),
        # song B: valid at once
        dict(genre="Pop", style="Waltz", index=0, attempt=0, status="valid", failure=None, repairs=[],
             usage={"completion_tokens": 200}, latency_s=2.0, decoding="free", model="m"),
        # song C: one invalid reply, then a call error (no reply)
        dict(genre="Pop", style="Swing", index=0, attempt=0, status="invalid", failure="missing_track: bass",
             repairs=[], usage={"completion_tokens": 400}, latency_s=4.0, decoding="free", model="m"),
        dict(genre="Pop", style="Swing", index=0, attempt=1, status="error", failure="call_error:APITimeoutError",
             repairs=[], usage={}, latency_s=0.0, decoding="free", model="m"),
    ]
    return pd.DataFrame(rows)


def test_generation_summary_and_counts() -> None:
    m = manifest()
    s = generation_summary(m)
    assert (s["songs"], s["valid_songs"], s["attempts"], s["given_up"]) == (3, 2, 5, 1)
    assert s["valid_attempt_rate"] == pytest.approx(2 / 4)  # the error row is not a reply
    assert s["first_attempt_valid_rate"] == pytest.approx(1 / 3)
    assert s["mean_attempts_per_valid_song"] == pytest.approx((2 + 1) / 2)
    assert s["mean_completion_tokens"] == pytest.approx(250.0)
    assert s["mean_latency_s"] == pytest.approx(2.5)
    assert s["decoding"] == "free"
    assert failure_counts(m).to_dict() == {"json_error": 1, "missing_track": 1, "call_error": 1}
    assert repair_counts(m).to_dict() == {"code_fence": 2, "tuples": 1}
    grid = counts_grid(m, ["Pop", "Jazz", "Rock"], ["Swing", "Waltz"])
    assert grid.to_dict() == {"Swing": {"Pop": 0, "Jazz": 1, "Rock": 0}, "Waltz": {"Pop": 1, "Jazz": 0, "Rock": 0}}


def test_pick_dataset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest.jsonl"):
        pick_dataset(tmp_path / "none")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.jsonl").write_text("{}\n")
    assert pick_dataset(tmp_path / "a") == (tmp_path / "a").resolve()


def test_window() -> None:
    from llmmusic.analysis.stats import window

    song = Piece(melody=[Note(60, 480, 90, 3840 + 480 * i) for i in range(12)], meta={"song": "001"})
    part = window(song, bars=1)  # first note in bar 2 -> bar 2 only, shifted to 0
    assert [n.start for n in part.melody] == [0, 480, 960, 1440]
    assert part.meta == {"song": "001", "window": [2, 1]}
    assert [n.start for n in window(song, bars=1, start_bar=3).melody] == [0, 480, 960, 1440]
    assert window(song, bars=1, start_bar=9).melody == []


def _dataset(folder: Path, rows: pd.DataFrame) -> Path:
    folder.mkdir()
    (folder / "manifest.jsonl").write_text(rows.to_json(orient="records", lines=True))
    return folder


def test_failure_and_repair_tables_over_several_datasets(tmp_path: Path) -> None:
    from llmmusic.analysis.stats import decoding_comparison, failure_table, repair_table

    m = manifest()
    datasets = {"free": _dataset(tmp_path / "free", m), "schema": _dataset(tmp_path / "schema", m.iloc[2:3]),
                "none": tmp_path / "absent", "unset": None}
    failures = failure_table(datasets)
    assert list(failures.columns) == ["free", "schema"]  # folders without a manifest are left out
    assert failures["free"].to_dict() == {"json_error": 1, "missing_track": 1, "call_error": 1}
    assert failures["schema"].sum() == 0 and failures.dtypes.eq(int).all()
    repairs = repair_table(datasets)
    assert repairs.to_dict() == {"free": {"code_fence": 2, "tuples": 1}, "schema": {"code_fence": 0, "tuples": 0}}
    table, missing = decoding_comparison(datasets)
    assert list(table.index) == ["free", "schema"] and missing == ["none", "unset"]
    assert failure_table({"schema": datasets["schema"]}).empty


def test_dataset_grid_uses_the_datasets_taxonomy(tmp_path: Path) -> None:
    from llmmusic.analysis.stats import dataset_grid
    from llmmusic.data.taxonomy import get_taxonomy

    folder = _dataset(tmp_path / "d", manifest())
    grid = dataset_grid(folder)
    paper = get_taxonomy("paper")
    assert list(grid.index) == list(paper.genres) and list(grid.columns) == list(paper.styles)
    assert grid.loc["Jazz", "Swing"] == 1 and int(grid.values.sum()) == 2
    assert dataset_grid(folder, manifest().iloc[2:3]).values.sum() == 1  # a manifest given is used as is


def test_most_moved_piece_and_the_writer_line() -> None:
    from llmmusic.analysis.stats import most_moved, writer_effects, writer_effects_line

    overlapping = Piece(chords=[Note(48, 960, 70, 0), Note(52, 960, 70, 0), Note(55, 960, 70, 0)],
                        meta={"genre": "Jazz", "style": "Swing"})
    pieces = [scale_piece(), overlapping, chord_piece()]
    effects = writer_effects(pieces)
    assert effects["moved"].tolist()[:2] == [0, 2]  # two of the three chord notes are pushed later
    assert most_moved(pieces, effects) is overlapping
    line = writer_effects_line(effects)
    assert line.startswith(f"{(effects['moved'] > 0).mean():.0%} of 3 pieces change under the official writer; ")
    assert f"{effects['moved'].sum()} of {effects['notes'].sum()} notes move" in line


def test_source_metric_tables_leave_out_absent_sources() -> None:
    from llmmusic.analysis.stats import source_metric_tables

    pieces = [scale_piece(), chord_piece()]
    tables, melody = source_metric_tables({"LLM-MIDI": pieces, "human MIDI": None}, {"POP909": [scale_piece()]})
    assert list(tables) == ["LLM-MIDI"] and list(melody) == ["LLM-MIDI", "POP909"]
    assert tables["LLM-MIDI"]["n_notes"].tolist() == [8, 5] and melody["LLM-MIDI"]["n_notes"].tolist() == [8, 1]
    assert melody["POP909"]["source"].tolist() == ["POP909"]
    alone, alone_melody = source_metric_tables({"a": pieces})
    pd.testing.assert_frame_equal(alone["a"], metrics_table(pieces, source="a"))
    pd.testing.assert_frame_equal(alone_melody["a"], metrics_table(pieces, tracks=("melody",), source="a"))


def test_pop909_windows(shared_data: Path) -> None:
    from conftest import require_shared

    from llmmusic.analysis.stats import pop909_windows, window
    from llmmusic.data.corpora import pop909_melodies

    require_shared(shared_data, "pop909")
    got = pop909_windows(2, bars=4)
    assert len(got) == 2 and [p.melody for p in got] == [window(s, 4).melody for s in pop909_melodies(limit=2)]
    assert all(n.start < 4 * 1920 for p in got for n in p.melody)


def test_summary_lines_set_the_llm_pieces_beside_human_ones():
    import pandas as pd

    from llmmusic.analysis.stats import summary_lines

    generation = {"songs": 650, "valid_songs": 640, "valid_attempt_rate": 0.9, "mean_completion_tokens": 973.2}
    tables = {"LLM-MIDI": pd.DataFrame({"pitch_class_entropy": [2.0, 3.0], "scale_consistency": [1.0, 0.8]}),
              "human MIDI": pd.DataFrame({"pitch_class_entropy": [3.0, 3.0, 3.0], "scale_consistency": [0.9] * 3})}
    lines = summary_lines("embedded-v1", generation, tables)
    assert lines[0].startswith("`embedded-v1`: 640 valid pieces of 650 songs") and "90.0%" in lines[0] and "973" in lines[0]
    assert "LLM-MIDI 2.50 ± 0.71 (2 pieces); human MIDI 3.00 ± 0.00 (3 pieces)" in lines[1]
    assert "scale consistency" in lines[2] and "0.90" in lines[2]
