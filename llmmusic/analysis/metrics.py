"""Classification and ranking metrics shared by the chapters, with bootstrap intervals.

Labels are plain strings. A true label may also be a *set* of acceptable labels (a Lakh file
carries several TOP-MAGD genres): a prediction is then right if it is in the set. Predictions
outside the label list (e.g. ``"unparsed"``) are always wrong and count as a miss of the true
class, never as a class of their own in macro averages.

Used in: notebooks/03_zero_shot.py, notebooks/04_cnn_classification.py,
notebooks/05_melody_completion.py.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

Truth = Any  # a label (str) or a collection of acceptable labels


def _is_set(t: Truth) -> bool:
    return isinstance(t, (set, frozenset, list, tuple))


def _as_set(t: Truth) -> frozenset[str]:
    return frozenset(t) if _is_set(t) else frozenset([t])


def resolve_truth(y_true: Sequence[Truth], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> list[str]:
    """One true label per item: the prediction if it is acceptable, else the first acceptable label.

    For single-label data this returns ``y_true`` unchanged. "First" follows the order of
    ``labels`` when given, otherwise sorted order.

    Args:
        y_true: labels or sets of acceptable labels.
        y_pred: predicted labels.
        labels: label order used to pick a representative of a set.
    Returns:
        A list of single true labels, same length as ``y_true``.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    order = {lab: i for i, lab in enumerate(labels or [])}
    out: list[str] = []
    for t, p in zip(y_true, y_pred):
        if not _is_set(t):
            out.append(t)
            continue
        s = _as_set(t)
        if not s:
            raise ValueError("y_true holds an empty label set")
        out.append(p if p in s else min(s, key=lambda lab: (order.get(lab, len(order)), str(lab))))
    return out


def accuracy(y_true: Sequence[Truth], y_pred: Sequence[str]) -> float:
    """Fraction of items whose prediction is (one of) the true label(s).

    Returns:
        accuracy in [0, 1]; ``nan`` for no items.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean([p in _as_set(t) for t, p in zip(y_true, y_pred)]))


def _default_labels(y_true: Sequence[str], y_pred: Sequence[str]) -> list[str]:
    return sorted(set(y_true) | set(y_pred))


def per_class(y_true: Sequence[Truth], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support of each label (zero when undefined, as sklearn's ``zero_division=0``).

    Args:
        y_true: labels or sets of acceptable labels.
        y_pred: predicted labels.
        labels: the classes to report (default: every label seen in truth or prediction).
    Returns:
        DataFrame indexed by label with columns precision, recall, f1, support, tp, fp, fn.
    """
    truth = resolve_truth(y_true, y_pred, labels)
    labels = list(labels) if labels is not None else _default_labels(truth, y_pred)
    t = np.asarray(truth, dtype=object)
    p = np.asarray(y_pred, dtype=object)
    rows = []
    for lab in labels:
        tp = int(np.sum((t == lab) & (p == lab)))
        fp = int(np.sum((t != lab) & (p == lab)))
        fn = int(np.sum((t == lab) & (p != lab)))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows.append(dict(label=lab, precision=prec, recall=rec, f1=f, support=tp + fn, tp=tp, fp=fp, fn=fn))
    return pd.DataFrame(rows).set_index("label") if rows else pd.DataFrame(
        columns=["precision", "recall", "f1", "support", "tp", "fp", "fn"])


def f1(y_true: Sequence[Truth], y_pred: Sequence[str], average: str = "macro",
       labels: Sequence[str] | None = None) -> float:
    """F1 score, macro (unweighted mean over ``labels``) or micro (pooled counts over ``labels``).

    Matches ``sklearn.metrics.f1_score(..., labels=labels, zero_division=0)`` for single-label data.

    Args:
        y_true: labels or sets of acceptable labels.
        y_pred: predicted labels; values outside ``labels`` are misses of the true class.
        average: ``macro`` or ``micro``.
        labels: the classes averaged over (default: every label seen in truth or prediction).
    Returns:
        F1 in [0, 1]; ``nan`` for no items.
    """
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    if len(y_true) == 0:
        return float("nan")
    pc = per_class(y_true, y_pred, labels)
    if average == "macro":
        return float(pc["f1"].mean())
    tp, fp, fn = pc["tp"].sum(), pc["fp"].sum(), pc["fn"].sum()
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


def ranks_from_scores(y_true: Sequence[Truth], scores: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """1-based rank of the best-ranked acceptable label of each item under ``scores`` (higher = better).

    Ties are broken by label order (earlier label ranks higher), so a rank is deterministic.
    An item whose true label is not in ``labels`` gets rank ``len(labels) + 1``.

    Args:
        y_true: labels or sets of acceptable labels.
        scores: array (n_items, n_labels), e.g. log-probabilities.
        labels: the column labels of ``scores``.
    Returns:
        int array of ranks, shape (n_items,).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape != (len(y_true), len(labels)):
        raise ValueError(f"scores must have shape ({len(y_true)}, {len(labels)}), got {scores.shape}")
    ranks = np.empty(len(y_true), dtype=int)
    for i, t in enumerate(y_true):
        order = np.lexsort((np.arange(len(labels)), -scores[i]))  # best first, ties by label index
        pos = {labels[j]: r + 1 for r, j in enumerate(order)}
        ranks[i] = min((pos[lab] for lab in _as_set(t) if lab in pos), default=len(labels) + 1)
    return ranks


def top_k_accuracy(y_true: Sequence[Truth], scores: np.ndarray, labels: Sequence[str], k: int) -> float:
    """Fraction of items with an acceptable label among the ``k`` best-scored labels.

    Args:
        y_true: labels or sets of acceptable labels.
        scores: array (n_items, n_labels), higher = better.
        labels: the column labels of ``scores``.
        k: how many top labels count (beyond ``len(labels)``: all of them).
    Returns:
        top-k accuracy in [0, 1]; an item whose true label is not in ``labels`` is never a hit.
    """
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean(ranks_from_scores(y_true, scores, labels) <= min(k, len(labels))))


def confusion(y_true: Sequence[Truth], y_pred: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Confusion counts: rows = true label, columns = predicted label.

    Predicted values outside ``labels`` (e.g. ``unparsed``) get extra columns after the labels,
    and true values outside ``labels`` extra rows, so no item is dropped.

    Returns:
        DataFrame of int counts; index name ``true``, columns name ``predicted``.
    """
    truth = resolve_truth(y_true, y_pred, labels)
    labels = list(labels)
    rows = labels + sorted(set(truth) - set(labels))
    cols = labels + sorted(set(y_pred) - set(labels))
    cm = pd.DataFrame(0, index=pd.Index(rows, name="true"), columns=pd.Index(cols, name="predicted"))
    for t, p in zip(truth, y_pred):
        cm.loc[t, p] += 1
    return cm


def chance_levels(y_true: Sequence[Truth], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy of two label-blind baselines.

    ``uniform``: expected accuracy of guessing uniformly among ``labels`` (for sets: the mean
    fraction of labels acceptable). ``majority``: accuracy of always answering the most frequent
    acceptable label (``majority_label``); ``majority_macro_f1``: that baseline's macro-F1.

    Returns:
        dict with uniform, majority, majority_label, majority_macro_f1.
    """
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty")
    if len(y_true) == 0:
        return dict(uniform=float("nan"), majority=float("nan"), majority_label=None, majority_macro_f1=float("nan"))
    sets = [_as_set(t) for t in y_true]
    uniform = float(np.mean([len(s & set(labels)) / len(labels) for s in sets]))
    counts = {lab: sum(lab in s for s in sets) for lab in labels}
    best = max(labels, key=lambda lab: counts[lab])  # first label on ties
    const = [best] * len(y_true)
    return dict(uniform=uniform, majority=counts[best] / len(sets), majority_label=best,
                majority_macro_f1=f1(y_true, const, "macro", labels))


def bootstrap_ci(y_true: Sequence[Any], y_pred: Sequence[Any], metric: Callable[[Any, Any], float] | str,
                 n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over items resampled with replacement.

    Args:
        y_true: per-item truth.
        y_pred: per-item prediction (anything indexable per item, e.g. rows of a score matrix).
        metric: ``f(y_true, y_pred) -> float``, or ``"accuracy"`` / ``"macro_f1"`` / ``"micro_f1"``.
        n: bootstrap resamples.
        seed: random seed.
        alpha: 1 - coverage (0.05 = 95 % interval).
    Returns:
        ``(low, high)``; ``(nan, nan)`` for no items.
    """
    if isinstance(metric, str):
        metric = {"accuracy": accuracy, "macro_f1": lambda t, p: f1(t, p, "macro"),
                  "micro_f1": lambda t, p: f1(t, p, "micro")}[metric]
    m = len(y_true)
    if m != len(y_pred):
        raise ValueError(f"y_true has {m} items but y_pred has {len(y_pred)}")
    if m == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    t_arr, p_arr = _indexable(y_true), _indexable(y_pred)
    vals = np.empty(n)
    for b in range(n):
        idx = rng.integers(0, m, size=m)
        vals[b] = metric(_take(t_arr, idx), _take(p_arr, idx))
    lo, hi = np.nanquantile(vals, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _indexable(x: Sequence[Any]) -> Any:
    if isinstance(x, np.ndarray):
        return x
    return list(x)


def _take(x: Any, idx: np.ndarray) -> Any:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[i] for i in idx]


def ranking_metrics(ranks: Iterable[int]) -> dict[str, float]:
    """MAP and HITS@k for queries with one relevant item (AP = 1 / rank).

    Args:
        ranks: 1-based rank of the true item per query.
    Returns:
        dict with MAP, HITS@1, HITS@5, HITS@10, HITS@25.
    """
    r = np.asarray(list(ranks), dtype=float)
    if r.size == 0:
        return {k: float("nan") for k in ("MAP", "HITS@1", "HITS@5", "HITS@10", "HITS@25")}
    if np.any(r < 1):
        raise ValueError("ranks are 1-based; got a value below 1")
    out = {"MAP": float(np.mean(1.0 / r))}
    for k in (1, 5, 10, 25):
        out[f"HITS@{k}"] = float(np.mean(r <= k))
    return out


def present_labels(y_true: Sequence[Truth], y_pred: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The labels (in ``labels`` order) that occur as a (resolved) true label or as a prediction:
    the classes a macro average over a small sample should run over (sklearn's default set)."""
    seen = set(resolve_truth(y_true, y_pred, labels)) | set(y_pred)
    return [lab for lab in labels if lab in seen]


def classification_report(y_true: Sequence[Truth], y_pred: Sequence[str], labels: Sequence[str],
                          scores: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
                          unparsed: str = "unparsed", f1_labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything a results table needs for one evaluation.

    Args:
        y_true: labels or sets of acceptable labels.
        y_pred: predicted labels (``unparsed`` or any non-label counts wrong).
        labels: the candidate classes.
        scores: optional (n_items, n_labels) scores for top-k accuracy and mean rank.
        n_boot: bootstrap resamples for the 95 % intervals (0 = none).
        seed: bootstrap seed.
        unparsed: the marker of an unparseable answer.
        f1_labels: the classes macro-/micro-F1 average over (default ``labels``; see
            :func:`present_labels` for the classes seen in the sample).
    Returns:
        dict: n, accuracy (+ _ci), macro_f1 (+ _ci), micro_f1, chance_uniform, chance_majority,
        majority_label, unparsed (count), per_class (dict of dicts); with scores also top1, top3
        (+ _ci) and mean_rank.
    """
    labels = list(labels)
    fl = list(f1_labels) if f1_labels is not None else labels
    rep: dict[str, Any] = {"n": len(y_true)}
    rep["accuracy"] = accuracy(y_true, y_pred)
    rep["macro_f1"] = f1(y_true, y_pred, "macro", fl)
    rep["micro_f1"] = f1(y_true, y_pred, "micro", fl)
    if n_boot:
        rep["accuracy_ci"] = bootstrap_ci(y_true, y_pred, accuracy, n=n_boot, seed=seed)
        rep["macro_f1_ci"] = bootstrap_ci(y_true, y_pred, lambda t, p: f1(t, p, "macro", fl), n=n_boot, seed=seed)
    ch = chance_levels(y_true, labels) if len(y_true) else {}
    rep["chance_uniform"] = ch.get("uniform", float("nan"))
    rep["chance_majority"] = ch.get("majority", float("nan"))
    rep["majority_label"] = ch.get("majority_label")
    rep["unparsed"] = int(sum(p == unparsed for p in y_pred))
    rep["per_class"] = per_class(y_true, y_pred, labels).to_dict(orient="index")
    if scores is not None and len(y_true):
        ranks = ranks_from_scores(y_true, scores, labels)
        k1, k3 = min(1, len(labels)), min(3, len(labels))  # rank len(labels) + 1 (label absent) is no hit
        rep["top1"] = float(np.mean(ranks <= k1))
        rep["top3"] = float(np.mean(ranks <= k3))
        rep["mean_rank"] = float(np.mean(ranks))
        if n_boot:
            rep["top3_ci"] = bootstrap_ci(list(ranks), list(ranks), lambda r, _: float(np.mean(np.asarray(r) <= k3)),
                                          n=n_boot, seed=seed)
    return rep


def plot_confusion(cm_df: pd.DataFrame, ax: Any = None, title: str = "", normalize: bool = True,
                   annotate: bool | None = None, cmap: str = "Blues") -> tuple[Any, Any]:
    """Heatmap of a confusion table (rows true, columns predicted).

    Args:
        cm_df: output of :func:`confusion`.
        ax: axes to draw into (``None``: a new figure sized to the table).
        title: axes title.
        normalize: colour by row fraction (recall per true class); cell text shows counts.
        annotate: write counts in cells (default: when the table has at most 16 columns).
        cmap: matplotlib colour map.
    Returns:
        ``(fig, ax)``.
    """
    import matplotlib.pyplot as plt

    counts = cm_df.to_numpy(dtype=float)
    if ax is None:
        w = max(4.0, 0.42 * counts.shape[1] + 2.2)
        h = max(3.2, 0.36 * counts.shape[0] + 1.8)
        fig, ax = plt.subplots(figsize=(w, h))
    else:
        fig = ax.figure
    shown = counts
    if normalize:
        tot = counts.sum(axis=1, keepdims=True)
        shown = np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0)
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1 if normalize else max(1.0, counts.max()), aspect="auto")
    ax.set_xticks(range(counts.shape[1]), [str(c) for c in cm_df.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(counts.shape[0]), [str(r) for r in cm_df.index], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if annotate is None:
        annotate = counts.shape[1] <= 16
    if annotate:
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                if counts[i, j]:
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if shown[i, j] > 0.5 * (1 if normalize else counts.max()) else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row fraction" if normalize else "count")
    if title:
        ax.set_title(title)
    return fig, ax
