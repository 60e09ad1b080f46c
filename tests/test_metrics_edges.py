"""Metrics on edge cases (empty input, ties, label sets, labels absent, k beyond the labels), hand-computed."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from llmmusic.analysis import metrics as M

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PC_COLUMNS = ["precision", "recall", "f1", "support", "tp", "fp", "fn"]


def exact(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for exactly this message."""
    return f"^{re.escape(message)}$"


def counter():
    """A metric that ignores its input and returns 0, 1, 2, ... on successive calls."""
    calls = iter(range(10**9))
    return lambda t, p: float(next(calls))


# ---------------------------------------------------------------- resolve_truth


def test_resolve_truth_picks_first_acceptable_label_in_labels_order():
    # The prediction 'z' is not acceptable, so the representative is the first member in `labels` order
    # ('b' comes before 'a' there), not in alphabetical order; without labels, sorted order gives 'a'.
    assert M.resolve_truth([{"a", "b"}], ["z"], ["b", "a"]) == ["b"]
    assert M.resolve_truth([{"a", "b"}], ["z"]) == ["a"]
    assert M.resolve_truth([set("abcde")] * 2, ["z", "c"], list("edcba")) == ["e", "c"]
    # single labels pass through unchanged, whatever the prediction
    assert M.resolve_truth(["q", "r"], ["z", "r"], ["a"]) == ["q", "r"]


def test_resolve_truth_labels_outside_the_list_come_last_then_alphabetical():
    # 'c' is in labels, 'a' is not: 'c' wins although 'a' sorts first
    assert M.resolve_truth([{"a", "c"}], ["z"], ["c"]) == ["c"]
    assert M.resolve_truth([("a", "c")], ["z"], ["c"]) == ["c"]
    # none of the members is in labels: alphabetical among them
    sets = [{"q", "p", "r", "s", "t"}, {"w", "v", "u", "y", "x"}, {"k", "m", "l", "j", "n"}, {"f", "g", "h", "e", "i"}]
    assert M.resolve_truth(sets, ["z"] * 4, ["c"]) == ["p", "u", "j", "e"]


def test_resolve_truth_errors():
    with pytest.raises(ValueError, match=exact("y_true has 2 items but y_pred has 1")):
        M.resolve_truth(["a", "b"], ["a"])
    with pytest.raises(ValueError, match=exact("y_true holds an empty label set")):
        M.resolve_truth([set()], ["a"])


# ---------------------------------------------------------------- accuracy, f1, per_class


def test_accuracy_empty_single_and_length_mismatch():
    assert math.isnan(M.accuracy([], []))
    assert M.accuracy(["a"], ["a"]) == 1.0
    assert M.accuracy(["a"], ["b"]) == 0.0
    assert M.accuracy([frozenset({"a", "b"})], ["b"]) == 1.0
    with pytest.raises(ValueError, match=exact("y_true has 1 items but y_pred has 2")):
        M.accuracy(["a"], ["a", "b"])


def test_f1_default_is_macro_and_edge_values():
    t, p = ["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"]
    # a: F=0.5, b: F=0.8, c: F=0 -> macro 1.3/3 ; micro pools tp=3 fp=2 fn=2 -> 6/10
    assert M.f1(t, p) == pytest.approx(1.3 / 3)
    assert M.f1(t, p, "micro") == pytest.approx(0.6)
    assert math.isnan(M.f1([], []))
    assert math.isnan(M.f1([], [], "micro"))
    assert M.f1(["a"], ["a"]) == 1.0  # one item, right: P=R=1
    assert M.f1(["a"], ["a"], "micro") == 1.0
    with pytest.raises(ValueError, match=exact("average must be 'macro' or 'micro', got 'weighted'")):
        M.f1(["a"], ["a"], "weighted")


def test_micro_f1_pooled_counts_by_hand():
    # labels a, b: a tp=1; b (true, predicted 'c' outside the labels) fn=1; 'c' is not counted as fp
    # -> micro = 2*1 / (2*1 + 0 + 1) = 2/3
    assert M.f1(["a", "b"], ["a", "c"], "micro", labels=["a", "b"]) == pytest.approx(2 / 3)
    # labels a only: a tp=1 fp=1 (the 'b' item predicted 'a') fn=0 -> 2 / (2 + 1) = 2/3
    assert M.f1(["a", "b"], ["a", "a"], "micro", labels=["a"]) == pytest.approx(2 / 3)
    # no count at all over the labels (only 'b', never seen): 0, not nan, for both averages
    assert M.f1(["a"], ["a"], "micro", labels=["b"]) == 0.0
    assert M.f1(["a"], ["a"], "macro", labels=["b"]) == 0.0


def test_per_class_undefined_precision_and_recall_are_zero():
    # 'c' is true once but never predicted: precision undefined -> 0 ; 'd' is predicted once but never
    # true: recall undefined -> 0
    pc = M.per_class(["a", "c", "a"], ["a", "a", "d"], labels=["a", "c", "d"])
    assert list(pc.index) == ["a", "c", "d"] and list(pc.columns) == PC_COLUMNS
    assert (pc.loc["c", "precision"], pc.loc["c", "recall"], pc.loc["c", "support"]) == (0.0, 0.0, 1)
    assert (pc.loc["d", "precision"], pc.loc["d", "recall"], pc.loc["d", "support"]) == (0.0, 0.0, 0)
    # a: tp=1 fp=1 ('c' item) fn=1 ('d' answer) -> P = R = F = 1/2
    assert pc.loc["a", ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert pc.loc["a", "f1"] == pytest.approx(0.5)


def test_per_class_no_labels_gives_empty_table_with_the_columns():
    pc = M.per_class(["a"], ["a"], labels=[])
    assert len(pc) == 0 and list(pc.columns) == PC_COLUMNS


def test_per_class_resolves_label_sets_in_labels_order():
    # {'a','b'} answered 'z' counts as a miss of 'b' (first in labels), not of 'a'
    pc = M.per_class([{"a", "b"}], ["z"], labels=["b", "a"])
    assert pc.loc["b", "fn"] == 1 and pc.loc["a", "fn"] == 0
    assert pc.loc["b", "support"] == 1 and pc.loc["a", "support"] == 0


def test_per_class_integer_labels_with_string_markers():
    # class ids 0, 1; a truth 'other' outside the labels and an 'unparsed' answer: no conversion of the ids
    # to strings may happen. 0: item 0 right -> P=R=F=1 ; 1: item 1 missed (fn), item 2 wrongly answered 1
    # (fp) -> 0
    t, p = [0, 1, "other"], [0, "unparsed", 1]
    pc = M.per_class(t, p, labels=[0, 1])
    assert pc.loc[0, ["tp", "fp", "fn"]].tolist() == [1, 0, 0] and pc.loc[0, "f1"] == 1.0
    assert pc.loc[1, ["tp", "fp", "fn"]].tolist() == [0, 1, 1] and pc.loc[1, "f1"] == 0.0
    assert M.f1(t, p, "macro", labels=[0, 1]) == pytest.approx(0.5)
    assert M.accuracy(t, p) == pytest.approx(1 / 3)


# ---------------------------------------------------------------- ranks_from_scores, top_k_accuracy


def test_ranks_break_ties_by_label_order():
    labels = ["x", "y", "z"]
    scores = np.array([[0.0, 0.0, 0.0],   # all tied: x, y, z
                       [1.0, 2.0, 2.0],   # y and z tied on top: y, z, x
                       [1.0, 2.0, 2.0],
                       [1.0, 2.0, 2.0]])
    t = ["z", "z", "x", {"x", "z"}]   # ranks 3 ; 2 ; 3 ; best of (3, 2) = 2
    assert M.ranks_from_scores(t, scores, labels).tolist() == [3, 2, 3, 2]
    # the same scores under a non-alphabetical label order: ties follow that order
    assert M.ranks_from_scores(["x"], np.zeros((1, 3)), ["z", "y", "x"]).tolist() == [3]


def test_ranks_absent_truth_int_dtype_and_shape_errors():
    labels = ["a", "b", "c"]
    scores = np.array([[3.0, 2.0, 1.0]] * 3)
    # a label not in `labels` (alone, or every member of a set) ranks len(labels) + 1 = 4
    ranks = M.ranks_from_scores(["w", {"v", "w"}, {"w", "c"}], scores, labels)
    assert ranks.tolist() == [4, 4, 3]
    assert ranks.dtype.kind == "i"
    with pytest.raises(ValueError, match=exact("scores must have shape (2, 3), got (2, 2)")):
        M.ranks_from_scores(["a", "b"], np.zeros((2, 2)), labels)
    with pytest.raises(ValueError, match=exact("scores must have shape (1, 3), got (3,)")):
        M.ranks_from_scores(["a"], np.zeros(3), labels)


def test_ranks_from_unsigned_and_boolean_scores():
    labels = ["a", "b", "c"]
    # uint8 scores 0 < 3 < 5: order b, c, a -> 'a' ranks 3 (negating a uint8 0 would wrap and put it first)
    assert M.ranks_from_scores(["a", "b"], np.array([[0, 5, 3]] * 2, dtype=np.uint8), labels).tolist() == [3, 1]
    # boolean hit matrix: the True column first, ties (the two False) by label order
    hits = np.array([[False, True, False]])
    assert M.ranks_from_scores(["b"], hits, labels).tolist() == [1]
    assert M.ranks_from_scores(["c"], hits, labels).tolist() == [3]


def test_top_k_accuracy_edges():
    labels = ["a", "b", "c"]
    scores = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    assert math.isnan(M.top_k_accuracy([], np.zeros((0, 3)), labels, 1))
    assert M.top_k_accuracy(["a"], scores[:1], labels, 1) == 1.0
    assert M.top_k_accuracy(["c"], scores[:1], labels, 2) == 0.0  # 'c' ranks 3
    # 'c' ranks 3, 'zzz' is not a label: top-3 and any k beyond the 3 labels count 'c' only
    t = ["c", "zzz"]
    assert M.top_k_accuracy(t, scores, labels, 2) == 0.0
    assert M.top_k_accuracy(t, scores, labels, 3) == 0.5
    assert M.top_k_accuracy(t, scores, labels, 4) == 0.5
    assert M.top_k_accuracy(t, scores, labels, 100) == 0.5
    assert M.top_k_accuracy(t, scores, labels, 0) == 0.0


# ---------------------------------------------------------------- confusion, present_labels


def test_confusion_axis_names_and_label_set_resolution():
    cm = M.confusion([{"a", "b"}, "a"], ["z", "a"], labels=["b", "a"])
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    assert list(cm.index) == ["b", "a"] and list(cm.columns) == ["b", "a", "z"]
    # {'a','b'} answered 'z' is a 'b' row (first acceptable in labels order); 'a' answered 'a' the diagonal
    assert cm.to_numpy().tolist() == [[0, 0, 1], [0, 1, 0]]


def test_present_labels_follow_labels_order_and_resolved_sets():
    # {'a','b'} answered 'c' resolves to 'b' (labels order), so 'a' is not present
    assert M.present_labels([{"a", "b"}], ["c"], ["b", "a", "c"]) == ["b", "c"]
    assert M.present_labels(["a"], ["unparsed"], ["b", "a"]) == ["a"]
    assert M.present_labels([], [], ["a"]) == []


# ---------------------------------------------------------------- chance_levels


def test_chance_levels_empty_single_and_errors():
    ch = M.chance_levels([], ["a", "b"])
    assert set(ch) == {"uniform", "majority", "majority_label", "majority_macro_f1"}
    assert math.isnan(ch["uniform"]) and math.isnan(ch["majority"]) and math.isnan(ch["majority_macro_f1"])
    assert ch["majority_label"] is None
    # one item 'b' over labels a, b: uniform 1/2, majority 'b' always right; its macro-F1 is
    # (a: 0 + b: 1) / 2 = 0.5
    assert M.chance_levels(["b"], ["a", "b"]) == {"uniform": 0.5, "majority": 1.0, "majority_label": "b",
                                                  "majority_macro_f1": 0.5}
    with pytest.raises(ValueError, match=exact("labels is empty")):
        M.chance_levels(["a"], [])


def test_chance_levels_ties_go_to_the_first_label():
    assert M.chance_levels(["a", "b"], ["a", "b"])["majority_label"] == "a"
    assert M.chance_levels(["a", "b"], ["b", "a"])["majority_label"] == "b"
    # sets: 'x' outside the labels does not count for uniform; 'b' is acceptable twice -> majority 2/2
    ch = M.chance_levels([{"a", "b"}, {"b", "x"}], ["a", "b", "c", "d"])
    assert ch["uniform"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert ch["majority_label"] == "b" and ch["majority"] == 1.0


# ---------------------------------------------------------------- bootstrap_ci


def test_bootstrap_quantiles_of_the_resampled_values():
    x = list("abc")
    # the metric returns 0 .. n-1: the interval is the alpha/2 and 1 - alpha/2 quantiles of those values,
    # by linear interpolation: (n - 1) * q
    assert M.bootstrap_ci(x, x, counter(), n=101, alpha=0.1) == pytest.approx((5.0, 95.0))
    assert M.bootstrap_ci(x, x, counter(), n=101, alpha=0.5) == pytest.approx((25.0, 75.0))
    # defaults n=1000, alpha=0.05: 999 * 0.025 and 999 * 0.975
    assert M.bootstrap_ci(x, x, counter()) == pytest.approx((24.975, 974.025))


def test_bootstrap_resamples_with_replacement_over_every_item():
    items = [0, 1, 2]
    # each resample has m = 3 items
    assert M.bootstrap_ci(items, items, lambda t, p: float(len(t)), n=50) == (3.0, 3.0)
    # item 0 is drawn into 1 - (2/3)^3 = 70 % of the resamples, item 2 likewise: the lower end of min
    # and the upper end of max are the extreme items
    assert M.bootstrap_ci(items, items, lambda t, p: float(min(t)), n=1000)[0] == 0.0
    assert M.bootstrap_ci(items, items, lambda t, p: float(max(t)), n=1000)[1] == 2.0
    # truth and prediction are resampled with the same indices: the pairs stay aligned
    assert M.bootstrap_ci(items, items, lambda t, p: float(list(t) == list(p)), n=50) == (1.0, 1.0)


def test_bootstrap_two_items_one_right():
    # the mean of two resampled 0/1 items is 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4:
    # both tails exceed 2.5 %, so the 95 % interval is (0, 1)
    assert M.bootstrap_ci(["a", "a"], ["a", "b"], "accuracy", n=1000) == (0.0, 1.0)


def test_bootstrap_seed_defaults_and_reproducibility():
    rng = np.random.default_rng(11)
    x = list(rng.random(40))
    mean = lambda t, p: float(np.mean(t))
    ci = M.bootstrap_ci(x, x, mean)
    assert ci == M.bootstrap_ci(x, x, mean, n=1000, seed=0)
    assert ci != M.bootstrap_ci(x, x, mean, seed=1)
    assert M.bootstrap_ci(x, x, mean, n=300, seed=4) == M.bootstrap_ci(x, x, mean, n=300, seed=4)
    lo, hi = ci
    assert lo < np.mean(x) < hi


def test_bootstrap_named_metrics_and_arrays():
    rng = np.random.default_rng(2)
    t = list(rng.choice(list("abc"), 30))
    p = list(rng.choice(list("abcd"), 30))
    assert M.f1(t, p, "macro") != pytest.approx(M.f1(t, p, "micro"))
    for name, fn in (("accuracy", M.accuracy), ("macro_f1", lambda a, b: M.f1(a, b, "macro")),
                     ("micro_f1", lambda a, b: M.f1(a, b, "micro"))):
        assert M.bootstrap_ci(t, p, name, n=100, seed=3) == M.bootstrap_ci(t, p, fn, n=100, seed=3)
    assert M.bootstrap_ci(t, p, "macro_f1", n=100, seed=3) != M.bootstrap_ci(t, p, "micro_f1", n=100, seed=3)
    # predictions may be rows of a score matrix
    scores = rng.random((30, 3))
    rows = M.bootstrap_ci(t, scores, lambda a, s: float(np.mean(s[:, 0])), n=100, seed=3)
    assert 0 < rows[0] < np.mean(scores[:, 0]) < rows[1] < 1


def test_bootstrap_empty_single_and_mismatch():
    lo, hi = M.bootstrap_ci([], [], "accuracy")
    assert math.isnan(lo) and math.isnan(hi)
    assert M.bootstrap_ci(["a"], ["a"], "accuracy", n=20) == (1.0, 1.0)
    assert M.bootstrap_ci(["a"], ["b"], "accuracy", n=20) == (0.0, 0.0)
    with pytest.raises(ValueError, match=exact("y_true has 2 items but y_pred has 3")):
        M.bootstrap_ci(["a", "b"], ["a", "b", "c"], "accuracy")


# ---------------------------------------------------------------- ranking_metrics


def test_ranking_metrics_empty_single_and_boundaries():
    keys = ["MAP", "HITS@1", "HITS@5", "HITS@10", "HITS@25"]
    empty = M.ranking_metrics([])
    assert list(empty) == keys and all(math.isnan(v) for v in empty.values())
    assert M.ranking_metrics([3]) == {"MAP": pytest.approx(1 / 3), "HITS@1": 0.0, "HITS@5": 1.0, "HITS@10": 1.0,
                                      "HITS@25": 1.0}
    # each k counts ranks <= k: 5 is in HITS@5, 26 in none
    r = M.ranking_metrics(iter(np.array([5, 10, 25, 26])))
    assert (r["HITS@1"], r["HITS@5"], r["HITS@10"], r["HITS@25"]) == (0.0, 0.25, 0.5, 0.75)
    assert r["MAP"] == pytest.approx((1 / 5 + 1 / 10 + 1 / 25 + 1 / 26) / 4)
    with pytest.raises(ValueError, match=exact("ranks are 1-based; got a value below 1")):
        M.ranking_metrics([1, 0.5])


# ---------------------------------------------------------------- classification_report

# 4 items over labels a, b, c, d; one answer unparsed.
#   a: tp=1 fp=0 fn=1 -> P=1 R=1/2 F=2/3 ; b: tp=0 fp=1 fn=1 -> 0 ; c: tp=1 -> F=1 ; d: never seen -> 0
RT = ["a", "a", "b", "c"]
RP = ["a", "b", "unparsed", "c"]
RL = ["a", "b", "c", "d"]
# ranks of the truth under these scores: item 0: a first (1); item 1: b, c, d, a (4);
# item 2: a, c, b, d (3); item 3: b, c, d, a (2)
RS = np.array([[4, 3, 2, 1], [1, 4, 3, 2], [4, 2, 3, 1], [1, 4, 3, 2]], dtype=float)


def test_report_hand_values():
    rep = M.classification_report(RT, RP, RL, scores=RS, n_boot=0)
    assert rep["n"] == 4 and rep["accuracy"] == 0.5 and rep["unparsed"] == 1
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)
    # micro over the labels: tp=2 fp=1 fn=2 -> 4 / 7 ('unparsed' is no class: no fp for it)
    assert rep["micro_f1"] == pytest.approx(4 / 7)
    assert rep["chance_uniform"] == 0.25 and rep["chance_majority"] == 0.5 and rep["majority_label"] == "a"
    # per_class reports every label, 'd' included, and no 'unparsed' class
    assert list(rep["per_class"]) == RL
    assert rep["per_class"]["d"]["support"] == 0 and rep["per_class"]["a"]["recall"] == 0.5
    # ranks 1, 4, 3, 2
    assert rep["top1"] == 0.25 and rep["top3"] == 0.75 and rep["mean_rank"] == 2.5
    assert not any(k.endswith("_ci") for k in rep)


def test_report_f1_labels_restrict_both_averages():
    # over a and c only: macro (2/3 + 1) / 2 = 5/6 ; micro tp=2 fp=0 fn=1 -> 4/5
    rep = M.classification_report(RT, RP, RL, n_boot=0, f1_labels=["a", "c"])
    assert rep["macro_f1"] == pytest.approx(5 / 6)
    assert rep["micro_f1"] == pytest.approx(4 / 5)
    assert list(rep["per_class"]) == RL  # the per-class table still covers every label


def test_report_intervals_are_the_bootstrap_of_each_metric():
    fl = ["a", "c"]
    rep = M.classification_report(RT, RP, RL, scores=RS, n_boot=60, seed=7, f1_labels=fl)
    assert rep["accuracy_ci"] == M.bootstrap_ci(RT, RP, M.accuracy, n=60, seed=7)
    assert rep["macro_f1_ci"] == M.bootstrap_ci(RT, RP, lambda t, p: M.f1(t, p, "macro", fl), n=60, seed=7)
    top3 = lambda r, _: float(np.mean(np.asarray(r) <= 3))
    assert rep["top3_ci"] == M.bootstrap_ci([1, 4, 3, 2], [1, 4, 3, 2], top3, n=60, seed=7)
    for key, point in (("accuracy_ci", "accuracy"), ("macro_f1_ci", "macro_f1"), ("top3_ci", "top3")):
        assert rep[key][0] <= rep[point] <= rep[key][1]


def test_report_default_bootstrap_is_1000_resamples_seed_0():
    rng = np.random.default_rng(5)
    t = list(rng.choice(RL, 60))
    p = list(rng.choice(RL, 60))
    rep = M.classification_report(t, p, RL, scores=rng.random((60, 4)))
    assert rep["accuracy_ci"] == M.bootstrap_ci(t, p, M.accuracy, n=1000, seed=0)
    assert rep["macro_f1_ci"] == M.bootstrap_ci(t, p, lambda a, b: M.f1(a, b, "macro", RL), n=1000, seed=0)
    assert rep["macro_f1_ci"] != M.bootstrap_ci(t, p, lambda a, b: M.f1(a, b, "macro", RL), n=1000, seed=1)


def test_report_passes_n_boot_and_seed_to_every_interval(monkeypatch):
    calls = []
    real = M.bootstrap_ci

    def spy(*args, **kwargs):
        calls.append((kwargs["n"], kwargs["seed"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(M, "bootstrap_ci", spy)
    rep = M.classification_report(RT, RP, RL, scores=RS, n_boot=37, seed=5)
    # accuracy, macro-F1 and top-3 intervals, each with 37 resamples and seed 5
    assert calls == [(37, 5)] * 3
    assert {"accuracy_ci", "macro_f1_ci", "top3_ci"} <= set(rep)


def test_report_top3_interval_by_hand():
    # ranks 3, 3, 4, 4 (truth a, scored third or fourth): top-3 = 1/2; a resample of 4 is all rank 3
    # or all rank 4 with probability 1/16 each (> 2.5 %), so the 95 % interval is (0, 1)
    scores = np.array([[2, 4, 3, 1], [2, 4, 3, 1], [1, 4, 3, 2], [1, 4, 3, 2]], dtype=float)
    rep = M.classification_report(["a"] * 4, ["b"] * 4, RL, scores=scores, n_boot=1000)
    assert rep["top3"] == 0.5 and rep["top1"] == 0.0 and rep["mean_rank"] == 3.5
    assert rep["top3_ci"] == (0.0, 1.0)


def test_report_absent_truth_is_never_a_top_k_hit():
    # two labels: a truth outside them ranks 3, which is no top-3 hit; 'a' ranks 1
    rep = M.classification_report(["zzz", "a"], ["a", "a"], ["a", "b"], scores=np.array([[2.0, 1.0]] * 2),
                                  n_boot=20)
    assert rep["top1"] == 0.5 and rep["top3"] == 0.5 and rep["mean_rank"] == 2.0


def test_report_empty():
    rep = M.classification_report([], [], ["a", "b"], scores=np.zeros((0, 2)), n_boot=10)
    assert rep["n"] == 0 and rep["unparsed"] == 0 and rep["majority_label"] is None
    for key in ("accuracy", "macro_f1", "micro_f1", "chance_uniform", "chance_majority"):
        assert math.isnan(rep[key]), key
    assert all(math.isnan(v) for v in rep["accuracy_ci"])
    assert "top1" not in rep and "top3_ci" not in rep
    assert rep["per_class"] == {lab: dict.fromkeys(PC_COLUMNS, 0)
                                for lab in ("a", "b")}
    # no items and no labels: an empty report, not an error
    rep = M.classification_report([], [], [], n_boot=0)
    assert rep["n"] == 0 and rep["per_class"] == {} and math.isnan(rep["chance_uniform"])


# ---------------------------------------------------------------- plot_confusion

# rows: a (4 items), b (none), c (4 items), d (one item, unparsed)
CM = pd.DataFrame([[3, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 2, 0, 0], [0, 0, 0, 0, 1]],
                  index=pd.Index(["a", "b", "c", "d"], name="true"),
                  columns=pd.Index(["a", "b", "c", "d", "unparsed"], name="predicted"))
WHITE, BLACK = "#ffffff", "#000000"


def _cells(ax):
    return {(t.get_position(), t.get_text(), matplotlib.colors.to_hex(t.get_color())) for t in ax.texts}


def test_plot_confusion_normalized_by_row():
    fig, ax = M.plot_confusion(CM)
    try:
        im = ax.images[0]
        # rows divided by their totals 4, 0 (kept at 0), 4, 1
        expected = [[0.75, 0.25, 0, 0, 0], [0, 0, 0, 0, 0], [0.25, 0.25, 0.5, 0, 0], [0, 0, 0, 0, 1]]
        assert np.asarray(im.get_array()).tolist() == expected
        assert im.get_clim() == (0, 1) and im.get_cmap().name == "Blues"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d", "unparsed"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c", "d"]
        assert list(ax.get_xticks()) == [0, 1, 2, 3, 4] and list(ax.get_yticks()) == [0, 1, 2, 3]
        assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "")
        # counts in the non-zero cells at (column, row); white text where the fraction exceeds 1/2
        assert _cells(ax) == {((0, 0), "3", WHITE), ((1, 0), "1", BLACK), ((0, 2), "1", BLACK),
                              ((1, 2), "1", BLACK), ((2, 2), "2", BLACK), ((4, 3), "1", WHITE)}
        # the colour bar belongs to the image, labelled by what the colour means
        assert im.colorbar is not None and im.colorbar.ax is fig.axes[-1]
        assert fig.axes[-1].get_ylabel() == "row fraction"
        # 5 columns, 4 rows: max(4, 0.42 * 5 + 2.2) = 4.3 wide, max(3.2, 0.36 * 4 + 1.8) = 3.24 high
        assert tuple(fig.get_size_inches()) == pytest.approx((4.3, 3.24))
    finally:
        plt.close(fig)


def test_plot_confusion_rows_without_items_are_zero():
    # only row 0 has items; every other row has no total and must show 0 (not left-over memory), at several
    # sizes and right after freeing an array of the same shape full of other values
    for n in (3, 8, 20, 30, 40):
        for _ in range(3):
            cm = pd.DataFrame(np.zeros((n, n), dtype=int))
            cm.iloc[0, 0] = 2
            junk = np.full((n, n), 0.9)
            del junk
            fig, ax = M.plot_confusion(cm, annotate=False)
            try:
                shown = np.asarray(ax.images[0].get_array())
                assert shown[0, 0] == 1.0 and np.count_nonzero(shown) == 1
            finally:
                plt.close(fig)


def test_plot_confusion_colour_scale_starts_at_zero():
    # every cell non-zero (smallest fraction 1/4, smallest count 1): the scale still runs from 0
    cm = pd.DataFrame([[1, 1], [1, 3]], index=["a", "b"], columns=["a", "b"])
    for normalize, clim in ((True, (0, 1)), (False, (0, 3))):
        fig, ax = M.plot_confusion(cm, normalize=normalize)
        try:
            assert ax.images[0].get_clim() == clim
        finally:
            plt.close(fig)


def test_plot_confusion_counts():
    fig, ax = M.plot_confusion(CM, normalize=False, cmap="Reds", title="counts")
    try:
        im = ax.images[0]
        assert np.asarray(im.get_array()).tolist() == CM.to_numpy().tolist()
        assert im.get_clim() == (0, 3) and im.get_cmap().name == "Reds"
        # white text where the count exceeds half the largest (1.5): the 3 and the 2
        assert _cells(ax) == {((0, 0), "3", WHITE), ((1, 0), "1", BLACK), ((0, 2), "1", BLACK),
                              ((1, 2), "1", BLACK), ((2, 2), "2", WHITE), ((4, 3), "1", BLACK)}
        assert fig.axes[-1].get_ylabel() == "count" and ax.get_title() == "counts"
    finally:
        plt.close(fig)
    # counts all below 1: the colour scale still reaches 1
    fig, ax = M.plot_confusion(CM.clip(upper=0), normalize=False)
    try:
        assert ax.images[0].get_clim() == (0, 1) and not ax.texts
    finally:
        plt.close(fig)


def test_plot_confusion_size_and_annotation_default():
    def table(rows, cols):
        return pd.DataFrame(np.eye(rows, cols, dtype=int), index=[f"r{i}" for i in range(rows)],
                            columns=[f"c{j}" for j in range(cols)])

    # 16 columns are annotated by default (one text per non-zero cell), 17 are not
    for rows, cols, texts, size in ((5, 16, 5, (0.42 * 16 + 2.2, 0.36 * 5 + 1.8)),
                                    (20, 17, 0, (0.42 * 17 + 2.2, 0.36 * 20 + 1.8)),
                                    (3, 10, 3, (0.42 * 10 + 2.2, 3.2))):
        fig, ax = M.plot_confusion(table(rows, cols))
        try:
            assert len(ax.texts) == texts
            assert tuple(fig.get_size_inches()) == pytest.approx(size)
        finally:
            plt.close(fig)
    fig, ax = M.plot_confusion(table(20, 17), annotate=True)
    assert len(ax.texts) == 17
    plt.close(fig)
    fig, ax = M.plot_confusion(table(2, 2), annotate=False)
    assert not ax.texts
    assert tuple(fig.get_size_inches()) == pytest.approx((4.0, 3.2))  # small table: the minimum size
    plt.close(fig)


def test_plot_confusion_into_given_axes():
    fig0, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3))
    try:
        fig, ax = M.plot_confusion(CM, ax=ax1, title="right")
        assert fig is fig0 and ax is ax1 and ax1.get_title() == "right" and not ax0.images
        assert tuple(fig0.get_size_inches()) == (9, 3)
        assert fig0.axes[-1].get_ylabel() == "row fraction"
    finally:
        plt.close(fig0)
