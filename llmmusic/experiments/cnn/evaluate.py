"""Evaluation of a trained CNN: held-out LLM pieces, human MIDI (5 folder genres) and Lakh (TOP-MAGD / MASD).

* :func:`report` (``llmmusic.analysis.metrics`` of argmax predictions) and :func:`heldout_reports`.
* :func:`map_scores` / :func:`mapping_to`: carry scores over the model's genres to another label set
  (13 paper genres -> 5 folder genres or TOP-MAGD), argmax restricted to the mapped labels.
* :func:`by_file` / :func:`file_scores`: window probabilities averaged per file.
* :func:`folder_genre_report`, :func:`lakh_reports`; :func:`report_summary` and :func:`jsonable_report` (JSON).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.experiments.cnn.data import RollSet
from llmmusic.experiments.cnn.model import predict


def heldout_reports(model: Any, mode: str, rs: RollSet, heads: Mapping[str, Sequence[str]], split: Sequence[str],
                    n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`report` of every head on the ``test`` rows of ``rs`` (keys: task names)."""
    test = np.asarray(split) == "test"
    scores = predict(model, rs.rolls[test], mode)
    return {task: report(rs.table.loc[test, task].tolist(), scores[task], labels, n_boot=n_boot, seed=seed)
            for task, labels in heads.items()}


def map_scores(scores: np.ndarray, labels: Sequence[str], mapping: Mapping[str, str | None] | None,
               targets: Sequence[str]) -> np.ndarray:
    """Carry scores over ``labels`` to ``targets``: each target gets the best score of the labels
    that map to it, ``-inf`` if none does.

    The argmax of the result is the argmax restricted to labels that map somewhere, mapped.
    ``mapping=None`` means identity (labels that are targets keep their score).

    Returns:
        ``float`` array ``(n, len(targets))``.
    """
    scores = np.asarray(scores, dtype=float)
    out = np.full((scores.shape[0], len(targets)), -np.inf)
    index = {t: k for k, t in enumerate(targets)}
    for j, lab in enumerate(labels):
        target = lab if mapping is None else mapping.get(lab)
        if target in index:
            k = index[target]
            out[:, k] = np.maximum(out[:, k], scores[:, j])
    return out


def mapping_to(labels: Sequence[str], targets: Sequence[str],
               default: Mapping[str, str | None]) -> Mapping[str, str | None] | None:
    """``None`` (identity) when the model's ``labels`` already include every target (a model trained
    on the ``lakh`` taxonomy), else ``default`` (e.g. ``taxonomy.PAPER_TO_TOPMAGD``)."""
    return None if set(targets) <= set(labels) else default


def argmax_labels(scores: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The best label per row (first on ties)."""
    return [labels[j] for j in np.asarray(scores).argmax(axis=1)] if len(scores) else []


def report(y_true: Sequence[Any], scores: np.ndarray, labels: Sequence[str], n_boot: int = 1000,
           seed: int = 0) -> dict[str, Any]:
    """``metrics.classification_report`` of argmax predictions plus ``confusion`` and ``pred``.

    Args:
        y_true: labels or sets of acceptable labels.
        scores: ``(n, len(labels))``.
        labels: the classes.
        n_boot: bootstrap resamples for the 95 % intervals.
        seed: bootstrap seed.
    Returns:
        the report dict, with ``pred`` (list) and ``confusion`` (DataFrame) added.
    """
    from llmmusic.analysis import metrics

    pred = argmax_labels(scores, labels)
    rep = metrics.classification_report(list(y_true), pred, labels, scores=scores, n_boot=n_boot, seed=seed)
    rep["pred"] = pred
    rep["confusion"] = metrics.confusion(list(y_true), pred, labels)
    return rep


def summary_row(name: str, rep: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """One table row of a :func:`report`: n, accuracy (95 % CI), macro-F1 (CI), micro-F1, top-3, chance."""
    acc_ci = rep.get("accuracy_ci", (np.nan, np.nan))
    f1_ci = rep.get("macro_f1_ci", (np.nan, np.nan))
    return {"model": name, **extra, "n": rep["n"], "accuracy": rep["accuracy"],
            "acc_ci": f"{acc_ci[0]:.3f}-{acc_ci[1]:.3f}", "macro_f1": rep["macro_f1"],
            "f1_ci": f"{f1_ci[0]:.3f}-{f1_ci[1]:.3f}", "micro_f1": rep["micro_f1"],
            "top3": rep.get("top3", np.nan), "chance_uniform": rep["chance_uniform"],
            "chance_majority": rep["chance_majority"]}


def by_file(scores: np.ndarray, files: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean scores over the windows of each file.

    Returns:
        ``(file ids in first-seen order, scores (n_files, k))``.
    """
    files = np.asarray(files)
    ids, first = np.unique(files, return_index=True)
    ids = ids[np.argsort(first)]
    return ids, np.stack([scores[files == f].mean(axis=0) for f in ids]) if len(ids) else scores[:0]


def file_scores(model: Any, rs: RollSet, mode: str, task: str = "genre") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of head ``task`` per file of a :func:`human_rollset` (mean over its windows).

    Returns:
        ``(file ids, scores (n_files, n_classes))``.
    """
    return by_file(predict(model, rs.rolls, mode)[task], rs.table["file"].to_numpy())


def folder_genre_report(scores: np.ndarray, labels: Sequence[str], truth: Sequence[str], n_boot: int = 1000,
                        seed: int = 0) -> dict[str, Any] | None:
    """Scores over the model's genres, evaluated on the 5 folder genres of the human collection.

    Scores are carried by ``taxonomy.PAPER_TO_FOLDER`` (identity for labels that are folder genres)
    and the prediction is the argmax restricted to genres that map to a folder genre.

    Returns:
        :func:`report` over ``FOLDER_GENRES``, or ``None`` when no model genre maps to one.
    """
    from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_TO_FOLDER

    mapped = map_scores(scores, labels, mapping_to(labels, FOLDER_GENRES, PAPER_TO_FOLDER), FOLDER_GENRES)
    if len(mapped) and not np.isfinite(mapped).any():
        return None
    return report(list(truth), mapped, FOLDER_GENRES, n_boot=n_boot, seed=seed)


def lakh_reports(model: Any, mode: str, heads: Mapping[str, Sequence[str]], rs: RollSet, files: pd.DataFrame,
                 n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Evaluate on Lakh files with their TOP-MAGD (genre) and, where possible, MASD (style) label sets.

    Genre scores are carried to TOP-MAGD by ``taxonomy.PAPER_TO_TOPMAGD`` (identity for a model
    trained on the ``lakh`` taxonomy); a prediction is right when it is among the file's labels,
    so F1-micro over the 13 genres equals accuracy over files. Styles are scored on MASD only when
    the model's style labels are the MASD styles (the prompt styles have no MASD mapping).

    Args:
        model: a :class:`RollCNN` with a ``genre`` head (and maybe ``style``).
        mode: roll input of the model.
        heads: task -> class labels of the model.
        rs: :func:`human_rollset` of ``files``.
        files: :func:`corpora.label_folder_by_md5` rows (``topmagd``, ``masd`` lists).
        n_boot, seed: bootstrap settings.
    Returns:
        ``{"topmagd": report}`` plus ``"masd"`` when scored; each report has ``n`` files.
    """
    from llmmusic.data.taxonomy import MASD_STYLES, PAPER_TO_TOPMAGD, TOPMAGD_GENRES

    out: dict[str, dict[str, Any]] = {}
    ids, scores = file_scores(model, rs, mode, "genre")
    keep = [k for k, f in enumerate(ids) if len(files["topmagd"].iloc[f])]
    if keep:
        truth = [tuple(files["topmagd"].iloc[ids[k]]) for k in keep]
        mapped = map_scores(scores[keep], heads["genre"], mapping_to(heads["genre"], TOPMAGD_GENRES, PAPER_TO_TOPMAGD),
                            TOPMAGD_GENRES)
        out["topmagd"] = report(truth, mapped, TOPMAGD_GENRES, n_boot=n_boot, seed=seed)
    if "style" in heads and set(MASD_STYLES) <= set(heads["style"]) and "masd" in files.columns:
        ids, scores = file_scores(model, rs, mode, "style")
        keep = [k for k, f in enumerate(ids) if len(files["masd"].iloc[f])]
        if keep:
            truth = [tuple(files["masd"].iloc[ids[k]]) for k in keep]
            out["masd"] = report(truth, map_scores(scores[keep], heads["style"], None, MASD_STYLES), MASD_STYLES,
                                 n_boot=n_boot, seed=seed)
    return out


def report_summary(rep: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a :func:`report` as JSON values (intervals as lists)."""
    keys = ("n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "micro_f1", "top3", "chance_uniform",
            "chance_majority", "majority_label")
    return {k: (list(rep[k]) if isinstance(rep.get(k), tuple) else rep.get(k)) for k in keys if k in rep}


def jsonable_report(rep: Mapping[str, Any]) -> dict[str, Any]:
    """A :func:`report` as plain JSON values (confusion as nested lists, no per-item predictions)."""
    out: dict[str, Any] = {}
    for k, v in rep.items():
        if k == "pred":
            continue
        if isinstance(v, pd.DataFrame):
            out[k] = {"labels": [str(c) for c in v.columns], "rows": [str(i) for i in v.index], "counts": v.to_numpy().tolist()}
        elif isinstance(v, (np.floating, np.integer)):
            out[k] = v.item()
        elif isinstance(v, tuple):
            out[k] = [float(x) for x in v]
        else:
            out[k] = v
    return out
