"""Repeats over seeds: the summary's arithmetic on rows made by hand, resuming, the command line's errors, and a
small real run of both experiments."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from llmmusic.analysis.metrics import bootstrap_ci
from llmmusic.cli import main
from llmmusic.errors import DataError, UserError
from llmmusic.experiments import repeats
from llmmusic.paths import ROOT

DATASET = ROOT / "data" / "llm-midi" / "embedded-v1"


def _acc(correct: int, n: int, chance: float = 0.2) -> dict:
    return {"measure": "accuracy", "value": correct / n, "n": n, "low": None, "high": None, "chance": chance,
            "correct": correct}


def _map(ranks: list[int]) -> dict:
    return {"measure": "MAP", "value": float(np.mean(1 / np.asarray(ranks, float))), "n": len(ranks), "low": None,
            "high": None, "chance": 0.09, "ranks": ranks}


def _row(seed: int, metrics: dict, params: dict | None = None, kind: str = "cnn") -> dict:
    return {"kind": kind, "seed": seed, "params": params or {"dataset": "d", "epochs": 20}, "metrics": metrics,
            "seconds": 10.0 + seed}


# ------------------------------------------------------------------------------------------- summary
def test_mean_sd_range_and_pooled_value_by_hand():
    rows = [_row(0, {"acc": _acc(3, 10), "map": _map([1, 2])}), _row(1, {"acc": _acc(5, 10), "map": _map([4])})]
    s = repeats.summarize(rows, n_boot=200)
    acc, mp = s.loc["acc"], s.loc["map"]
    assert acc["seeds"] == 2 and acc["items"] == 20
    assert acc["mean"] == pytest.approx(0.4) and acc["sd"] == pytest.approx(math.sqrt(0.02))  # (0.1² + 0.1²) / 1
    assert (acc["min"], acc["max"]) == pytest.approx((0.3, 0.5)) and acc["pooled"] == pytest.approx(8 / 20)
    # MAP: seed means 0.75 and 0.25; pooled over the three queries (1 + 1/2 + 1/4) / 3
    assert mp["mean"] == pytest.approx(0.5) and mp["sd"] == pytest.approx(math.sqrt(0.125))
    assert mp["pooled"] == pytest.approx(1.75 / 3) and mp["items"] == 3
    assert mp["pooled_low"] <= mp["pooled"] <= mp["pooled_high"]


def test_the_pooled_interval_is_the_bootstrap_of_every_seeds_items():
    rows = [_row(0, {"acc": _acc(3, 10)}), _row(1, {"acc": _acc(5, 10)})]
    s = repeats.summarize(rows, n_boot=300, seed=4).loc["acc"]
    items = np.array([1.0] * 8 + [0.0] * 12)
    expected = bootstrap_ci(items, items, lambda v, _: float(np.mean(v)), n=300, seed=4)
    assert (s["pooled_low"], s["pooled_high"]) == pytest.approx(expected)
    assert 0.1 < s["pooled_low"] < 0.4 < s["pooled_high"] < 0.7  # about 0.4 ± 1.96 sqrt(0.24 / 20) = ± 0.21


def test_pooling_many_seeds_narrows_the_interval_and_certainty_gives_a_point():
    rows = [_row(s, {"half": _acc(50, 100), "all": _acc(40, 40)}) for s in range(5)]
    summary = repeats.summarize(rows)
    one = repeats.mean_interval(repeats.item_values(_acc(50, 100)))
    pooled = summary.loc["half"]
    assert pooled["sd"] == 0 and pooled["items"] == 500
    assert pooled["pooled_high"] - pooled["pooled_low"] < 0.6 * (one[1] - one[0])  # about 1 / sqrt(5)
    assert (summary.loc["all", "pooled_low"], summary.loc["all", "pooled_high"]) == (1.0, 1.0)


def test_a_metric_of_one_seed_has_no_sd_and_a_metric_without_items_is_refused():
    s = repeats.summarize([_row(0, {"a": _acc(1, 2), "b": _acc(1, 4)}), _row(1, {"a": _acc(2, 2)})])
    assert s.loc["b", "seeds"] == 1 and math.isnan(s.loc["b", "sd"]) and s.loc["a", "seeds"] == 2
    with pytest.raises(DataError, match="neither ranks nor correct"):
        repeats.item_values({"measure": "accuracy", "value": 0.5, "n": 2})


def test_rows_are_grouped_by_parameters_and_the_chapters_parameters_are_preferred():
    other = {"dataset": "d", "epochs": 1}
    rows = [_row(0, {"a": _acc(1, 2)}), _row(0, {"a": _acc(2, 2)}, other), _row(1, {"a": _acc(0, 2)}, other),
            _row(1, {"a": _acc(1, 2)})]
    assert [len(g) for g in repeats.groups(rows)] == [2, 2]
    assert repeats.select(rows, other)[0]["params"] == other
    assert repeats.select(rows)[0]["params"] == other  # a tie: the later parameters
    assert repeats.select(rows + [_row(2, {"a": _acc(1, 2)})])[0]["params"]["epochs"] == 20
    table = repeats.spread_table(repeats.select(rows, other), n_boot=50)
    assert list(table.columns[:2]) == ["seed 0", "seed 1"] and table.loc["a", "mean"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------- resuming
@pytest.fixture
def fake_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-ds"
    folder.mkdir()
    (folder / "manifest.jsonl").write_text('{"piece": 1}\n')
    return folder


@pytest.fixture
def counted(monkeypatch) -> list[tuple[int, dict]]:
    calls: list[tuple[int, dict]] = []

    def fake(dataset_dir: Path, params: dict, seed: int) -> dict:
        calls.append((seed, dict(params)))
        return {"metrics": {"cnn:llm-genre": _acc(seed + 1, 10, 1 / 13)}}

    monkeypatch.setitem(repeats.RUNNERS, "cnn", fake)
    return calls


def test_a_seed_already_in_the_file_is_not_run_again(fake_dataset, counted, tmp_path):
    out = tmp_path / "r" / "cnn.jsonl"
    repeats.run("cnn", fake_dataset, [0, 1], out)
    assert [s for s, _ in counted] == [0, 1]
    _, rows = repeats.run("cnn", fake_dataset, [0, 1, 2], out)
    assert [s for s, _ in counted] == [0, 1, 2] and [r["seed"] for r in rows] == [0, 1, 2]
    before = out.read_bytes()
    repeats.run("cnn", fake_dataset, [2, 0, 1], out)  # all done: no work, the file unchanged
    assert len(counted) == 3 and out.read_bytes() == before
    rows = repeats.load_rows(out)
    assert len(rows) == 3 and all(r["seconds"] >= 0 and r["params"]["dataset"] == "tiny-ds" for r in rows)
    assert rows[0]["params"]["epochs"] == 20 and rows[0]["params"]["manifest_sha256"]


def test_other_parameters_or_another_dataset_state_run_again(fake_dataset, counted, tmp_path):
    out = tmp_path / "cnn.jsonl"
    repeats.run("cnn", fake_dataset, [0], out)
    repeats.run("cnn", fake_dataset, [0], out, {"epochs": 3})
    assert [p["epochs"] for _, p in counted] == [20, 3]
    (fake_dataset / "manifest.jsonl").write_text('{"piece": 1}\n{"piece": 2}\n')  # the dataset grew
    repeats.run("cnn", fake_dataset, [0], out)
    assert len(counted) == 3 and len(repeats.groups(repeats.load_rows(out))) == 3


def test_a_torn_last_line_is_skipped_and_the_next_row_starts_on_its_own_line(fake_dataset, counted, tmp_path):
    out = tmp_path / "cnn.jsonl"
    repeats.run("cnn", fake_dataset, [0], out)
    with open(out, "a") as handle:
        handle.write('{"kind": "cnn", "se')  # a crash in the middle of a write
    _, rows = repeats.run("cnn", fake_dataset, [0, 1], out)
    assert [s for s, _ in counted] == [0, 1] and [r["seed"] for r in rows] == [0, 1]
    assert len(repeats.load_rows(out)) == 2 and out.read_text().splitlines()[1].endswith('"se')


def test_default_file_and_the_note_that_names_the_command():
    assert repeats.results_path(DATASET, "melody") == ROOT / "data" / "repeats" / "embedded-v1" / "melody.jsonl"
    note = repeats.missing_note(Path("/x/some-ds"), "cnn")
    assert "llmmusic repeat cnn --dataset /x/some-ds --seeds 0,1,2,3,4" in note
    with pytest.raises(UserError, match="kind 'rnn': expected one of cnn, melody"):
        repeats.results_path(DATASET, "rnn")


def test_parameters_are_typed_from_the_settings():
    assert repeats.parse_params("cnn", [("epochs", "3"), ("limit", "none"), ("modes", "binary"), ("lr", "0.01")]) == {
        "epochs": 3, "limit": None, "modes": ["binary"], "lr": 0.01}
    assert repeats.parse_params("melody", [("n_queries", "40"), ("dropout", "0")]) == {"n_queries": 40, "dropout": 0.0}
    with pytest.raises(UserError, match="--param bars: expected an integer >= 0, got '-2'"):
        repeats.parse_params("cnn", [("bars", "-2")])


# ------------------------------------------------------------------------------------------- command line
def _cli(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(["repeat", *argv])
    except SystemExit as exc:  # argparse refuses
        code = int(exc.code)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, code, phrase", [
    (["rnn"], 2, "argument kind: invalid choice: 'rnn'"),
    (["cnn", "--dataset", "DS", "--seeds", "a,b"], 2, "argument --seeds: expected distinct comma-separated integers"),
    (["cnn", "--dataset", "DS", "--seeds", "1,1"], 2, "got '1,1'"),
    (["cnn", "--dataset", "DS", "--seeds", "-1"], 2, "argument --seeds"),
    (["cnn"], 1, "--dataset: required; expected an LLM-MIDI dataset folder"),
    (["melody", "--dataset", "NOWHERE"], 1, "no such folder"),
    (["cnn", "--dataset", "EMPTY"], 1, "no manifest.jsonl"),
    (["cnn", "--dataset", "DS", "--param", "nope", "1"], 1, "--param nope: not a parameter of a cnn repeat"),
    (["cnn", "--dataset", "DS", "--param", "seed", "1"], 1, "--param seed: not a parameter"),
    (["melody", "--dataset", "DS", "--param", "epochs", "many"], 1, "--param epochs: expected an integer >= 0, got 'many'"),
    (["cnn", "FILE", "--dataset", "DS"], 1, "unexpected FILE"),
    (["cnn", "--dataset", "DS", "FILE"], 2, "unrecognized arguments"),
    (["summary"], 1, "give the results FILE"),
    (["summary", "NOWHERE"], 2, "no such file"),
    (["summary", "BAD"], 1, "expected a repeats row"),
])
def test_bad_input_is_refused_in_one_line(capsys, tmp_path, fake_dataset, argv, code, phrase):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"seed": 0}\n')
    names = {"DS": str(fake_dataset), "EMPTY": str(tmp_path / "empty"), "NOWHERE": str(tmp_path / "nowhere"),
             "FILE": str(tmp_path / "file.jsonl"), "BAD": str(tmp_path / "bad.jsonl")}
    got, err = _cli(capsys, *[names.get(a, a) for a in argv])
    assert got == code and phrase in err and "Traceback" not in err
    assert not repeats.results_path(fake_dataset, "cnn").parent.exists()  # nothing was written


# ------------------------------------------------------------------------------------------- a real run
def test_a_small_real_run_of_both_kinds_resumes_and_summarises(capsys, tmp_path, monkeypatch):
    """Both experiments for real (no mock) on 60 committed pieces, 1 epoch, 2 seeds; no shared human data,
    so the CNN skips the human sets and the melody model ranks LLM-MIDI and folk tunes."""
    monkeypatch.setenv("LLMMUSIC_SHARED_DATA", str(tmp_path / "no-shared-data"))
    small = {"cnn": ["limit", "60", "epochs", "1", "modes", "binary", "n_boot", "50"],
             "melody": ["llm_limit", "60", "epochs", "1", "human_limit", "8", "n_queries", "20", "n_boot", "50",
                        "d_model", "32", "n_layers", "1"]}
    for kind, params in small.items():
        out = tmp_path / f"{kind}.jsonl"
        argv = [kind, "--dataset", str(DATASET), "--seeds", "0,1", "--out", str(out)]
        argv += [x for k, v in zip(params[::2], params[1::2]) for x in ("--param", k, v)]
        code, err = _cli(capsys, *argv)
        assert code == 0, err
        rows = repeats.load_rows(out)
        assert [r["seed"] for r in rows] == [0, 1] and all(r["seconds"] > 0 for r in rows)
        for row in rows:
            for name, m in row["metrics"].items():
                values = repeats.item_values(m)
                assert len(values) == m["n"] and m["value"] == pytest.approx(values.mean()), name
                assert m["low"] - 1e-9 <= m["value"] <= m["high"] + 1e-9, name
        before, start = out.read_bytes(), time.perf_counter()
        code, err = _cli(capsys, *argv)  # rerun: zero work
        assert code == 0 and out.read_bytes() == before and err.count("skipped") == 2
        assert time.perf_counter() - start < 10
        code = main(["repeat", "summary", str(out)])
        printed = capsys.readouterr().out
        assert code == 0 and "pooled_low" in printed and "seed 1" in printed
    cnn_rows, melody_rows = repeats.load_rows(tmp_path / "cnn.jsonl"), repeats.load_rows(tmp_path / "melody.jsonl")
    assert set(cnn_rows[0]["metrics"]) == {"cnn:llm-genre", "cnn:llm-style"}  # no human data here
    assert cnn_rows[0]["params"]["limit"] == 60 and cnn_rows[0]["pieces"] == 60
    assert {"melody:map-llm-midi", "melody:hits@10-llm-midi", "melody:map-folk"} <= set(melody_rows[0]["metrics"])
    assert "pop909" in melody_rows[0]["missing"]
    first, second = (r["metrics"]["melody:map-llm-midi"]["ranks"] for r in melody_rows)
    assert first != second  # another split, initialisation and query sample
    hits = melody_rows[0]["metrics"]["melody:hits@10-llm-midi"]
    assert hits["correct"] == sum(r <= 10 for r in first)
    summary = repeats.summarize(melody_rows, n_boot=50)
    assert summary.loc["melody:map-llm-midi", "items"] == len(first) + len(second)
    assert json.loads(json.dumps(repeats.pooled_figures(tmp_path / "cnn.jsonl", n_boot=50)))["cnn:llm-genre"]["seeds"] == 2


def test_the_chapter_cell_records_table_and_figure_or_shows_the_command(tmp_path, capsys):
    from llmmusic.book.provenance import Provenance

    prov = Provenance("05_melody_completion", params={}, out_dir=tmp_path, show=False)
    found = repeats.show(prov, ROOT / "data" / "llm-midi" / "embedded-v1", "melody")
    # the committed repeats: five seeds, one table and one figure recorded with provenance
    assert found is not None and sorted(r["seed"] for r in found.rows) == [0, 1, 2, 3, 4]
    assert [(r.kind, r.name) for r in prov.records] == [("table", "repeats"), ("figure", "repeats_strip")]
    assert all((tmp_path / f).is_file() for r in prov.records for f in r.files)
    empty = tmp_path / "no-repeats"
    empty.mkdir()
    assert repeats.show(prov, empty, "cnn") is None
    assert len(prov.records) == 2  # nothing recorded for a dataset without repeats
    assert "llmmusic repeat cnn" in repeats.missing_note(empty, "cnn")


def test_datasets_side_by_side_pool_each_file_and_name_the_missing_one(tmp_path, monkeypatch):
    from llmmusic.book.provenance import Provenance

    monkeypatch.setattr(repeats, "REPEATS_DIR", tmp_path / "repeats")
    for name, hits in (("paper", (1, 2)), ("best", (6, 8))):
        path = repeats.results_path(name, "cnn")
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps(_row(s, {"cnn:llm-genre": _acc(c, 10, chance=1 / 13)})) + "\n"
                                for s, c in enumerate(hits)))
    table = repeats.datasets_table("cnn", ["data/llm-midi/paper", "best", "absent"], n_boot=100)
    assert list(table.index) == [("cnn:llm-genre", "paper"), ("cnn:llm-genre", "best")]
    assert table.loc[("cnn:llm-genre", "paper"), "pooled"] == pytest.approx(3 / 20)
    assert table.loc[("cnn:llm-genre", "best"), "pooled"] == pytest.approx(14 / 20)
    assert table.loc[("cnn:llm-genre", "best"), "seeds"] == 2 and table.loc[("cnn:llm-genre", "best"), "items"] == 20
    assert table.loc[("cnn:llm-genre", "paper"), "pooled_high"] < table.loc[("cnn:llm-genre", "best"), "pooled_low"]
    prov = Provenance("04_cnn_classification", params={}, out_dir=tmp_path / "out", show=False)
    notes: list[str] = []
    monkeypatch.setattr("llmmusic.book.provenance.notice", notes.append)
    repeats.show_datasets(prov, "cnn", ["paper", "best", "absent"])
    assert [(r.kind, r.name) for r in prov.records] == [("table", "repeats_datasets")]
    assert len(notes) == 1 and "`llmmusic repeat cnn --dataset absent" in notes[0]  # the note for "absent" only
    assert repeats.datasets_table("cnn", ["absent"]).empty
    from llmmusic.data.dataset import DEFAULT_DATASET, PAPER_DATASET

    assert repeats.compared() == [PAPER_DATASET, DEFAULT_DATASET] and PAPER_DATASET.name == "embedded-v1"
    assert repeats.compared("data/llm-midi/embedded-v1") == [PAPER_DATASET, DEFAULT_DATASET]
    assert repeats.compared("/elsewhere/mine") == [PAPER_DATASET, DEFAULT_DATASET, Path("/elsewhere/mine")]
    # a note for a compared dataset without repeats names its folder, so the command runs as printed
    assert "--dataset data/llm-midi/embedded-v1 " in repeats.missing_note(repeats.compared()[0], "cnn")


@pytest.mark.parametrize("kind, notebook", [("cnn", "04_cnn_classification.py"), ("melody", "05_melody_completion.py")])
def test_the_repeats_defaults_are_the_chapters_parameters(kind, notebook):
    # the settings restate the chapter's parameters cell; a default changed in one place only fails here
    import ast
    from dataclasses import MISSING, fields

    from llmmusic.book.notebook import declared_parameters

    declared = declared_parameters(ROOT / "notebooks" / notebook)
    settings = repeats.settings_class(kind)
    shared = [f for f in fields(settings) if f.name in declared]
    assert len(shared) >= 10
    for f in shared:
        default = f.default_factory() if f.default is MISSING else f.default
        assert default == ast.literal_eval(declared[f.name]), f.name
