"""The CNN experiment's driver and tables: settings, chance rows, the results tables, the steps end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmmusic.analysis import baselines
from llmmusic.data.dataset import pick_dataset
from llmmusic.experiments import cnn
from llmmusic.experiments.cnn.tables import lakh_table, mode_choice


def test_settings_take_the_chapter_parameters_and_make_train_configs():
    namespace = {"epochs": 2, "channels": 4, "modes": ["binary"], "threads": None, "unrelated": 1}
    settings = cnn.Settings.from_namespace(namespace)
    assert settings.epochs == 2 and settings.channels == 4 and settings.modes == ["binary"] and settings.bars == 8
    config = settings.train_config("binary")
    assert config == cnn.TrainConfig(epochs=2, channels=4, mode="binary", threads=None, patience=4)
    assert settings.train_config("velocity", epochs=7).epochs == 7
    assert cnn.Settings().train_config("velocity") == cnn.TrainConfig(epochs=20)


def test_chance_rows_follow_the_chance_scores():
    truth, labels = ["a", "b", "b", "c"], ["a", "b", "c", "d"]
    uniform, majority = cnn.chance_rows(truth, labels, task="genre")
    assert uniform == {"model": "chance: uniform", "task": "genre", "n": 4, "accuracy": 0.25, "macro_f1": pytest.approx(np.nan,
                       nan_ok=True), "micro_f1": 0.25, "top3": 0.75}
    assert majority["model"] == "chance: majority (b)" and majority["accuracy"] == 0.5 and majority["micro_f1"] == 0.5
    trained = cnn.chance_rows(truth, labels, train_truth=["c", "c", "a"])[1]
    expected = baselines.chance_scores(truth, labels, ["c", "c", "a"])
    assert trained["model"] == "chance: majority (c)" and trained["accuracy"] == expected["majority"] == 0.25
    assert trained["macro_f1"] == pytest.approx(expected["majority_macro_f1"])
    sets = cnn.chance_rows([("a", "b"), ("b",)], labels, top3=False)
    assert "top3" not in sets[0] and sets[0]["accuracy"] == pytest.approx((2 / 4 + 1 / 4) / 2) and sets[1]["accuracy"] == 1


def _synthetic(n_per_genre: int = 12, seed: int = 0) -> cnn.RollSet:
    rng = np.random.default_rng(seed)
    rows, rolls = [], []
    for genre, pitch in (("Pop", 40), ("Rock", 90)):
        for i in range(n_per_genre):
            roll = np.zeros((4, 128, 32), dtype=np.uint8)
            roll[0, pitch + rng.integers(0, 5), rng.integers(0, 32, 6)] = 100
            rolls.append(roll)
            rows.append({"genre": genre, "style": ["Dark", "Waltz"][i % 2], "mood": "calm", "index": i,
                         "path": f"midi/{genre}/{i}.mid"})
    features = rng.random((len(rows), 5)).astype(np.float32)
    return cnn.RollSet(np.stack(rolls), features, pd.DataFrame(rows))


@pytest.fixture(scope="module")
def experiment() -> cnn.Experiment:
    dataset = pick_dataset()
    if dataset is None:
        pytest.skip("no generated dataset under data/llm-midi")
    settings = cnn.Settings(bars=2, epochs=2, batch_size=8, channels=4, lr=3e-3, n_boot=10, modes=["velocity", "binary"])
    exp = cnn.Experiment(settings, dataset, rollset=_synthetic(), heads={"genre": ["Pop", "Rock"],
                                                                        "style": ["Dark", "Waltz"]})
    exp.sources = cnn.Sources(exp.sources.dataset_dir)   # no human collection, no Lakh: those steps say so
    return exp


def test_the_driver_trains_both_inputs_and_keeps_the_lower_validation_loss(experiment):
    training = experiment.train()
    assert list(training.runs) == ["velocity", "binary"] and experiment.training is training
    assert training.best_mode == min(training.val_losses(), key=training.val_losses().get)
    assert list(training.choice.index) == ["velocity", "binary"]
    assert training.choice.loc[training.best_mode, "val loss"] == training.choice["val loss"].min()
    assert list(mode_choice(training.runs).columns) == ["best epoch", "epochs run", "val loss", "val acc genre",
                                                        "val acc style", "s / epoch", "pieces / s", "parameters", "device"]
    assert set(training.histories()) == {"velocity", "binary"}


def test_the_driver_makes_the_chapters_tables(experiment):
    counts = experiment.split_counts()
    assert list(counts.columns) == list(cnn.SPLITS) and counts.loc["all"].sum() == len(experiment.llm) == 24
    assert experiment.n_combinations == 4
    assert list(experiment.occupancy().index) == ["LLM-MIDI"]
    results = experiment.llm_results()
    mode = experiment.mode
    assert [m for t, m in results.index if t == "genre"] == [f"CNN ({mode} roll)", "features + logreg", "features + forest",
                                                            "chance: uniform", f"chance: majority ({results.index[4][1][18:-1]})"]
    n_test = int(experiment.test.sum())
    assert (results["n"] == n_test).all()
    assert results.loc[("genre", f"CNN ({mode} roll)"), "accuracy"] == experiment.reports["genre"]["accuracy"]
    assert results.loc[("style", "chance: uniform"), "top3"] == pytest.approx(1.5)   # 3 of 2 labels, as computed
    assert experiment.human_eval is None and experiment.lakh is None and experiment.transfer is None
    published = experiment.published()
    assert len(published) == len(cnn.PUBLISHED) + 2 and published["status"].iloc[-1] == "measured here"
    wrong = experiment.mistakes()
    pred = experiment.reports["genre"]["pred"]
    assert len(wrong) == sum(p != t for p, t in zip(pred, experiment.llm.table.loc[experiment.test, "genre"]))
    assert all(m.name.startswith("mistake_") and "the CNN says" in m.caption for m in wrong)
    lines, headline = experiment.summary()
    assert lines[0].startswith("* Data: 24 LLM pieces") and len(lines) == 3 and len(headline) == 2


def test_lakh_table_has_no_top3_for_label_sets():
    rep = cnn.report([("Pop_Rock", "Jazz"), ("Jazz",)], np.array([[0.9, 0.1], [0.2, 0.8]]), ["Pop_Rock", "Jazz"], n_boot=0)
    table = lakh_table({"topmagd": rep}, [("Pop_Rock", "Jazz"), ("Jazz",)], "binary")
    assert list(table.index) == ["CNN trained on LLM-MIDI (binary)", "chance: uniform", "chance: majority (Jazz)"]
    assert np.isnan(table.loc["chance: uniform", "top3"]) and (table["labels"] == "TOP-MAGD genre").all()
