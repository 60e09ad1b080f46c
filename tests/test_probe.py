"""The musicality and legibility probe on hand-made pieces with known answers, and on committed data."""

from __future__ import annotations

import math
import random

import pytest

from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from llmmusic.analysis import probe
from llmmusic.analysis.probe import best_variant, legibility, mean_ci, piece_probe, probe_dataset, repetition

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def _piece(melody, chords=(), bass=(), rhythm=()):
    return Piece(melody=list(melody), chords=list(chords), bass=list(bass), rhythm=list(rhythm))


def test_all_notes_at_tick_zero():
    p = _piece([Note(60 + i, 480, 90, 0) for i in range(4)], rhythm=[Note(36, 120, 90, 0), Note(42, 120, 90, 0)])
    m = piece_probe(p)
    assert m["tick0_share"] == 1.0
    assert m["onsets_per_note"] == pytest.approx(1 / 6)
    assert m["bars_used"] == 1 and m["drum_keys"] == 2
    assert m["drums_in_unison"] == 1.0  # kick and hi-hat on the same step
    groove = _piece([], rhythm=[Note(36, 120, 90, 0), Note(38, 120, 90, 480), Note(36, 120, 90, 960)])
    assert piece_probe(groove)["drums_in_unison"] == 0.0
    assert piece_probe(_piece([], rhythm=[Note(36, 120, 90, 0)]))["drums_in_unison"] == 0.0  # one key: no unison


def test_c_major_scale_is_in_key_with_maximal_entropy_for_seven_classes():
    p = _piece([Note(pitch, 480, 90, i * 480) for i, pitch in enumerate(C_MAJOR)])
    m = piece_probe(p)
    assert m["in_key_share"] == 1.0
    assert m["pc_entropy"] == pytest.approx(-(6 / 8 * math.log2(1 / 8) + 2 / 8 * math.log2(2 / 8)))
    assert m["tick0_share"] == pytest.approx(1 / 8) and m["bars_used"] == 2
    chromatic = _piece([Note(60 + i, 480, 90, i * 480) for i in range(12)])
    assert piece_probe(chromatic)["in_key_share"] == pytest.approx(7 / 12)


def test_one_bar_loop_repeated_is_all_repetition_but_its_first_bar():
    bar = [Note(pitch, 480, 90, i * 480) for i, pitch in enumerate((60, 64, 67, 64))]
    loop = [Note(n.pitch, n.duration, n.velocity, n.start + b * TICKS_PER_BAR) for b in range(8) for n in bar]
    assert repetition(_piece(loop)) == pytest.approx(7 / 8)
    varied = [Note(n.pitch + b, n.duration, n.velocity, n.start + b * TICKS_PER_BAR) for b in range(8) for n in bar]
    assert repetition(_piece(varied)) == 0.0
    assert math.isnan(repetition(_piece([])))


def test_mean_ci_covers_the_mean_and_skips_nan():
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0, float("nan")])
    assert mean == 2.0 and lo < 2.0 < hi
    assert all(math.isnan(v) for v in mean_ci([]))


def _labelled(separable: bool, per_class: int = 12):
    rng = random.Random(0)
    pieces, labels = [], []
    for k, label in enumerate("ABC"):
        for _ in range(per_class):
            pitch = 48 + 12 * k if separable else 48 + 12 * rng.randrange(3)
            pieces.append(_piece([Note(pitch + rng.randrange(3), 480, 90, 480 * j) for j in range(8)]))
            labels.append(label)
    return pieces, labels


def test_legibility_tells_separable_genres_apart_and_not_random_ones():
    leg = legibility(*_labelled(True))
    assert leg["accuracy"] > 0.75 and leg["low"] > leg["uniform"] == pytest.approx(1 / 3)
    noise = legibility(*_labelled(False))
    assert noise["low"] < 1 / 3 + 0.05 and noise["accuracy"] < 0.6
    with pytest.raises(ValueError, match="at least 2 items"):
        legibility([_piece([Note(60, 480, 90, 0)])] * 3, ["A", "A", "B"])


def _result(name, acc, low, tick0, tokens):
    return {"dataset": name, "tick0_share": (tick0, tick0, tick0), "tokens_per_piece": tokens,
            "legibility": {"accuracy": acc, "low": low, "high": acc + 0.1, "uniform": 1 / 13}}


def test_best_variant_rule():
    results = [_result("paper", 0.30, 0.20, 0.18, 970), _result("a", 0.20, 0.12, 0.05, 500),
               _result("b", 0.28, 0.15, 0.04, 600), _result("c", 0.28, 0.15, 0.02, 400)]
    choice = best_variant(results)
    assert choice["dataset"] == "c"  # paper has the best bound but too much at tick 0; c ties b on fewer tokens
    assert choice["meets_target"]
    assert not best_variant([_result("x", 0.24, 0.1, 0.0, 100)])["meets_target"]


def test_probe_of_the_committed_paper_dataset_pilot():
    from llmmusic.data.dataset import DEFAULT_DATASET

    r = probe_dataset(DEFAULT_DATASET.parent / "embedded-v1", pilot=6)
    assert r["pieces"] == 78 and r["legibility"]["n"] == 78 and r["legibility"]["classes"] == 13
    assert 0 < r["tokens_per_piece"] < 2000 and r["valid_rate"] == 1.0
    assert 0 <= r["tick0_share"][1] <= r["tick0_share"][0] <= r["tick0_share"][2] <= 1


def test_a_pilot_too_small_to_cross_validate_is_reported_not_raised(tmp_path):
    import shutil

    from llmmusic.data.dataset import PAPER_DATASET

    src = PAPER_DATASET
    rows = [line for line in (src / "manifest.jsonl").read_text().splitlines() if '"valid"' in line][:3]
    (tmp_path / "midi").mkdir()
    for name in ("dataset.json",):
        shutil.copy(src / name, tmp_path / name)
    import json

    for line in rows:
        rel = json.loads(line)["path"]
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, tmp_path / rel)
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    r = probe_dataset(tmp_path)
    assert r["pieces"] == 3 and math.isnan(r["legibility"]["accuracy"]) and "at least 2" in r["legibility"]["note"]
    with pytest.raises(ValueError, match="no dataset has a measured legibility"):
        best_variant([r])


def test_pilot_folders_from_the_comma_separated_names(tmp_path):
    from llmmusic.analysis.probe import pilot_folders
    from llmmusic.paths import ROOT

    assert pilot_folders(" events, grid,,") == {"events": ROOT / "data" / "llm-midi" / "pilot-events",
                                                 "grid": ROOT / "data" / "llm-midi" / "pilot-grid"}
    assert pilot_folders("bars", root=tmp_path) == {"bars": tmp_path / "pilot-bars"}


def test_pilot_style_is_the_first_pilot_song_of_the_genre():
    from llmmusic.analysis.probe import pilot_keys, pilot_style
    from llmmusic.data.dataset import PAPER_DATASET

    style = pilot_style(PAPER_DATASET, "Metal", 6)
    assert ("Metal", style, 0) in pilot_keys(PAPER_DATASET, 6)
    assert pilot_style(PAPER_DATASET, "No such genre", 6) is None


def test_reply_text_and_choice_lines():
    from llmmusic.analysis.probe import choice_lines, reply_text

    shown = {"text": "x" * 601, "plan": None, "tokens": 12.4}
    assert reply_text("bars", shown) == f"--- bars: reply (12 tokens) ---\n{'x' * 600} ...\n"
    planned = {"text": "{}", "plan": "{\"tempo\": 90}", "tokens": 3}
    assert reply_text("plan", planned) == "--- plan: plan ---\n{\"tempo\": 90}\n--- plan: reply (3 tokens) ---\n{}\n"
    choice = {"dataset": "bars", "reason": "because", "meets_target": False}
    assert choice_lines(choice).splitlines() == [
        "choice: bars — because", "target not met: no variant makes the genres legible at 0.25 with this model; "
        "the numbers above are the finding"]
    assert choice_lines({**choice, "meets_target": True}).endswith("\ntarget met")


def test_study_examples_of_the_committed_pilots(tmp_path):
    from llmmusic.analysis.probe import pilot_folders, pilot_style, reply_of, study_examples
    from llmmusic.data.dataset import PAPER_DATASET

    folders = {**pilot_folders("bars"), "absent": tmp_path / "pilot-absent"}
    style, examples = study_examples(PAPER_DATASET, folders, "Metal", per_genre=6)
    assert style == pilot_style(PAPER_DATASET, "Metal", 6)
    assert list(examples)[0] == "paper" and "absent" not in examples  # folders that do not exist are left out
    paper = examples["paper"]
    assert paper["text"] == reply_of(PAPER_DATASET, "Metal", style, 0)["text"]
    assert paper["shown"].startswith(f"--- paper: reply ({paper['tokens']:.0f} tokens) ---\n")
    assert paper["piece"].meta["genre"] == "Metal"


def test_summary_lines_and_headline_rows_quote_the_measured_numbers():
    from llmmusic.analysis.probe import headline_rows, summary_lines

    def result(name, tick0, acc, low, high, tokens):
        return {"dataset": name, "pieces": 78, "tick0_share": (tick0, 0, 0), "tokens_per_piece": tokens,
                "legibility": {"accuracy": acc, "low": low, "high": high, "uniform": 1 / 13}}

    results = [result("paper", 0.19, 0.128, 0.064, 0.205, 973), result("plan", 0.03, 0.154, 0.077, 0.244, 658),
               result("bars", 0.03, 0.077, 0.026, 0.141, 547)]
    choice = {"dataset": "plan", "meets_target": False, "reason": ""}
    lines = summary_lines(results, choice)
    assert "19.0% of note events at tick 0" in lines[0] and "0.128" in lines[0] and "973" in lines[0]
    assert "**plan**" in lines[1] and "0.154 (95 % CI 0.077-0.244" in lines[1] and "not met" in lines[2]
    rows = headline_rows(results, choice)
    assert [r["value"] for r in rows] == [0.128, 0.154] and rows[1]["low"] == 0.077 and rows[0]["n"] == 78
    assert "met." in summary_lines(results, {**choice, "meets_target": True})[2]


def _probed(name: str, accuracy: float, low: float, high: float, tick0: float, tokens: float) -> dict:
    return {"dataset": name, "pieces": 650, "tokens_per_piece": tokens, "tick0_share": (tick0, tick0, tick0),
            "bars_used": (8.0, 8.0, 8.0), "repetition": (0.5, 0.5, 0.5),
            "legibility": {"accuracy": accuracy, "low": low, "high": high, "uniform": 1 / 13, "majority": 1 / 13}}


def test_study_lines_compare_with_the_first_and_say_whether_chance_is_beaten():
    base = _probed("paper", 0.080, 0.060, 0.102, 0.18, 1000)
    clear, unclear = _probed("clear", 0.300, 0.250, 0.350, 0.03, 500), _probed("unclear", 0.091, 0.069, 0.115, 0.03, 650)
    lines = probe.study_lines([base, clear, unclear])
    assert len(lines) == 2 and lines[0].startswith("clear (650 pieces): genre legibility 0.300 [0.250, 0.350] vs 0.080")
    assert "(above uniform chance 0.077)" in lines[0] and "(not clearly above uniform chance 0.077)" in lines[1]
    assert "events at tick 0 3.0% vs 18.0%" in lines[0] and "0.50x the tokens per piece" in lines[0]
