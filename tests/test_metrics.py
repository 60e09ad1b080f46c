"""Metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from llmmusic.analysis import metrics as M

# Hand example: 5 items, 3 classes.
#   a: tp=1 fp=1 fn=1 -> P=R=F=0.5 ; b: tp=2 fp=1 fn=0 -> F=0.8 ; c: tp=0 -> F=0
T = ["a", "a", "b", "b", "c"]
P = ["a", "b", "b", "b", "a"]


def test_accuracy_and_f1_hand_values():
    assert M.accuracy(T, P) == pytest.approx(0.6)
    assert M.f1(T, P, "macro") == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert M.f1(T, P, "micro") == pytest.approx(6 / 10)
    pc = M.per_class(T, P)
    assert pc.loc["b", "precision"] == pytest.approx(2 / 3)
    assert pc.loc["b", "recall"] == pytest.approx(1.0)
    assert pc.loc["c", "support"] == 1


def test_unparsed_is_a_miss_not_a_class():
    t, p = ["a", "b"], ["a", "unparsed"]
    assert M.accuracy(t, p) == 0.5
    # a: F=1, b: F=0 (missed); 'unparsed' is not averaged over
    assert M.f1(t, p, "macro", labels=["a", "b"]) == pytest.approx(0.5)
    assert M.f1(t, p, "macro", labels=["a", "b"]) == pytest.approx(
        skm.f1_score(t, p, average="macro", labels=["a", "b"], zero_division=0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_matches_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    labels = list("abcdefg")
    t = list(rng.choice(labels, 200))
    p = list(rng.choice(labels[:5] + ["unparsed"], 200))
    for avg in ("macro", "micro"):
        ours = M.f1(t, p, avg, labels=labels)
        ref = skm.f1_score(t, p, average=avg, labels=labels, zero_division=0)
        assert ours == pytest.approx(ref)
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    cm = M.confusion(t, p, labels)
    ref_cm = skm.confusion_matrix(t, p, labels=labels)
    assert np.array_equal(cm.loc[labels, labels].to_numpy(), ref_cm)
    assert cm["unparsed"].sum() == p.count("unparsed")
    assert cm.to_numpy().sum() == 200


def test_label_sets_count_any_member_as_right():
    t = [{"Pop_Rock", "Jazz"}, ["Country"], "Blues"]
    p = ["Jazz", "Pop_Rock", "Blues"]
    assert M.accuracy(t, p) == pytest.approx(2 / 3)
    labels = ["Pop_Rock", "Jazz", "Country", "Blues"]
    assert M.resolve_truth(t, p, labels) == ["Jazz", "Country", "Blues"]
    cm = M.confusion(t, p, labels)
    assert cm.loc["Jazz", "Jazz"] == 1 and cm.loc["Country", "Pop_Rock"] == 1


def test_top_k_accuracy_hand_and_sklearn():
    labels = ["a", "b", "c", "d"]
    scores = np.array([[0.1, 0.5, 0.3, 0.0],   # true a: rank 3
                       [0.9, 0.05, 0.03, 0.02],  # true a: rank 1
                       [0.2, 0.3, 0.4, 0.1]])  # true d: rank 4
    t = ["a", "a", "d"]
    assert list(M.ranks_from_scores(t, scores, labels)) == [3, 1, 4]
    assert M.top_k_accuracy(t, scores, labels, 1) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(t, scores, labels, 3) == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    s = rng.normal(size=(100, 4))
    tt = list(rng.choice(labels, 100))
    for k in (1, 2, 3):
        assert M.top_k_accuracy(tt, s, labels, k) == pytest.approx(
            skm.top_k_accuracy_score(tt, s, k=k, labels=labels))


def test_chance_levels():
    ch = M.chance_levels(["a", "a", "b", "c"], ["a", "b", "c", "d"])
    assert ch["uniform"] == 0.25 and ch["majority"] == 0.5 and ch["majority_label"] == "a"
    # majority baseline: a gets P=0.5 R=1 F=2/3; others 0 -> macro over 4 labels
    assert ch["majority_macro_f1"] == pytest.approx((2 / 3) / 4)
    ch = M.chance_levels([{"a", "b"}, {"c"}], ["a", "b", "c", "d"])
    assert ch["uniform"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert ch["majority"] == 0.5


def test_ranking_metrics_hand_values():
    r = M.ranking_metrics([1, 2, 10, 30])
    assert r["MAP"] == pytest.approx((1 + 0.5 + 0.1 + 1 / 30) / 4)
    assert (r["HITS@1"], r["HITS@5"], r["HITS@10"], r["HITS@25"]) == (0.25, 0.5, 0.75, 0.75)
    with pytest.raises(ValueError):
        M.ranking_metrics([0, 1])


def test_bootstrap_ci_width_matches_binomial_se():
    rng = np.random.default_rng(3)
    t = ["x"] * 400
    p = ["x" if u < 0.3 else "y" for u in rng.random(400)]
    acc = M.accuracy(t, p)
    lo, hi = M.bootstrap_ci(t, p, "accuracy", n=2000, seed=0)
    assert lo < acc < hi
    se = np.sqrt(acc * (1 - acc) / 400)
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, abs=0.01)
    assert M.bootstrap_ci(t, p, "accuracy", n=200, seed=5) == M.bootstrap_ci(t, p, "accuracy", n=200, seed=5)
    assert M.bootstrap_ci(["a"] * 10, ["a"] * 10, "accuracy", n=100) == (1.0, 1.0)


def test_classification_report_and_plot():
    labels = ["a", "b", "c"]
    scores = np.array([[3, 2, 1], [1, 3, 2], [1, 2, 3], [3, 2, 1], [2, 3, 1]], dtype=float)
    rep = M.classification_report(T, P, labels, scores=scores, n_boot=200)
    assert rep["n"] == 5 and rep["accuracy"] == pytest.approx(0.6)
    assert rep["accuracy_ci"][0] <= 0.6 <= rep["accuracy_ci"][1]
    assert rep["top1"] == pytest.approx(1 / 5)  # argmax a, b, c, a, b vs truth a, a, b, b, c
    assert rep["chance_majority"] == pytest.approx(0.4)
    assert rep["per_class"]["b"]["f1"] == pytest.approx(0.8)
    import matplotlib
    matplotlib.use("Agg")
    fig, ax = M.plot_confusion(M.confusion(T, P, labels), title="t")
    assert ax.get_title() == "t" and len(ax.texts) == 4  # four non-zero cells


def test_present_labels_and_f1_over_them():
    labels = ["a", "b", "c", "d"]
    t, p = ["a", "a", "b"], ["a", "b", "b"]
    assert M.present_labels(t, p, labels) == ["a", "b"]
    rep = M.classification_report(t, p, labels, n_boot=0, f1_labels=M.present_labels(t, p, labels))
    # a: P=1 R=.5 F=2/3 ; b: P=.5 R=1 F=2/3
    assert rep["macro_f1"] == pytest.approx(2 / 3)
    assert rep["macro_f1"] == pytest.approx(skm.f1_score(t, p, average="macro"))
