"""The experiment's results tables, built from reports: one row per model, and the chance rows built once.

* :func:`chance_rows`: uniform guessing and the constant majority answer (of the training split when given).
* :func:`fit_baselines` / :func:`heldout_table`: CNN, feature baselines and chance on the LLM-MIDI test split.
* :func:`mode_choice`, :func:`folder_table`, :func:`lakh_table`, :func:`transfer_table`, :func:`fold_times`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.analysis import baselines, metrics
from llmmusic.experiments.cnn.data import RollSet
from llmmusic.experiments.cnn.evaluate import argmax_labels, by_file, map_scores, report, summary_row
from llmmusic.experiments.cnn.model import n_parameters
from llmmusic.experiments.cnn.train import TrainResult


def chance_rows(truth: Sequence[Any], classes: Sequence[str], train_truth: Sequence[str] | None = None,
                top3: bool = True, **extra: Any) -> list[dict[str, Any]]:
    """The two label-blind rows of a results table (``baselines.chance_scores``).

    Args:
        truth: the tested items' labels (or sets of acceptable labels).
        classes: the candidate labels.
        train_truth: training labels: the majority row answers their most frequent label; ``None``:
            the tested items' most frequent label.
        top3: give the uniform row its top-3 accuracy (3 / classes; off for label sets).
        extra: further columns of both rows (e.g. ``task``, ``labels``).
    Returns:
        ``[uniform row, majority row]`` with model, n, accuracy, macro_f1, micro_f1 (and top3).
    """
    ch = baselines.chance_scores(truth, classes, train_truth)
    uniform = {"model": "chance: uniform", **extra, "n": len(truth), "accuracy": ch["uniform"], "macro_f1": np.nan,
               "micro_f1": ch["uniform"], **({"top3": 3 / len(classes)} if top3 else {})}
    majority = {"model": f"chance: majority ({ch['majority_label']})", **extra, "n": len(truth),
                "accuracy": ch["majority"], "macro_f1": ch["majority_macro_f1"], "micro_f1": ch["majority"]}
    return [uniform, majority]


def mode_choice(runs: Mapping[str, TrainResult]) -> pd.DataFrame:
    """One row per roll input: best epoch, epochs run, validation loss and accuracies there, speed, size."""
    def row(r: TrainResult) -> dict[str, Any]:
        best = r.history.loc[r.best_epoch - 1]
        return {"best epoch": r.best_epoch, "epochs run": len(r.history), "val loss": best["val_loss"],
                **{f"val acc {t}": best[f"val_acc_{t}"] for t in r.heads},
                "s / epoch": r.epoch_seconds, "pieces / s": r.samples_per_s, "parameters": n_parameters(r.model),
                "device": r.device}

    return pd.DataFrame([{"mode": mode, **row(r)} for mode, r in runs.items()]).set_index("mode")


def fit_baselines(rs: RollSet, train: np.ndarray, heads: Mapping[str, Sequence[str]],
                  kinds: Sequence[str] = baselines.KINDS, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Feature classifiers ``{kind: {task: fitted}}`` on the ``train`` rows of ``rs``."""
    return {kind: {t: baselines.fit_classifier(rs.features[train], rs.table.loc[train, t], kind, seed) for t in heads}
            for kind in kinds}


def heldout_table(rs: RollSet, split: Sequence[str], heads: Mapping[str, Sequence[str]],
                  reports: Mapping[str, Mapping[str, Any]], fitted: Mapping[str, Mapping[str, Any]], mode: str,
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The test split per task: the CNN (``reports``), each feature baseline and the chance rows (index task, model)."""
    split = np.asarray(split)
    train, test = split == "train", split == "test"
    rows = []
    for task, labels in heads.items():
        truth = rs.table.loc[test, task].tolist()
        rows.append(summary_row(f"CNN ({mode} roll)", reports[task], task=task))
        rows += [summary_row(f"features + {kind}", report(truth, baselines.predict_scores(models[task], rs.features[test],
                                                                                           labels), labels,
                                                           n_boot=n_boot, seed=seed), task=task)
                 for kind, models in fitted.items()]
        rows += chance_rows(truth, labels, rs.table.loc[train, task].tolist(), task=task)
    return pd.DataFrame(rows).set_index(["task", "model"])


def folder_table(scores: np.ndarray, genres: Sequence[str], truth: Sequence[str], folder_map: Mapping[str, Any] | None,
                 cnn_report: Mapping[str, Any], human: RollSet, fitted: Mapping[str, Mapping[str, Any]], mode: str,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Human files, 5 folder genres: the CNN (restricted and free argmax), feature baselines, chance (index model)."""
    from llmmusic.data.taxonomy import FOLDER_GENRES

    name = f"CNN trained on LLM-MIDI ({mode})"
    free = [(lab if folder_map is None else folder_map.get(lab)) or "(no folder genre)"
            for lab in argmax_labels(scores, genres)]
    rows = [summary_row(name, cnn_report, argmax="restricted"),
            {"model": name, "argmax": "all 13 genres", "n": len(free), "accuracy": metrics.accuracy(truth, free),
             "macro_f1": metrics.f1(truth, free, "macro", FOLDER_GENRES),
             "micro_f1": metrics.f1(truth, free, "micro", FOLDER_GENRES)}]
    _, features = by_file(human.features, human.table["file"])
    for kind, models in fitted.items():
        mapped = map_scores(baselines.predict_scores(models["genre"], features, genres), genres, folder_map, FOLDER_GENRES)
        rows.append(summary_row(f"features + {kind}, trained on LLM-MIDI",
                                report(truth, mapped, FOLDER_GENRES, n_boot=n_boot, seed=seed), argmax="restricted"))
    rows += chance_rows(truth, FOLDER_GENRES)
    return pd.DataFrame(rows).set_index("model")


def lakh_table(reports: Mapping[str, Mapping[str, Any]], truth: Sequence[Sequence[str]], mode: str) -> pd.DataFrame:
    """Lakh files: the CNN on TOP-MAGD genres, the chance rows over label sets, and MASD styles when scored."""
    from llmmusic.data.taxonomy import TOPMAGD_GENRES

    name = f"CNN trained on LLM-MIDI ({mode})"
    rows = [summary_row(name, reports["topmagd"], labels="TOP-MAGD genre"),
            *chance_rows(truth, TOPMAGD_GENRES, top3=False, labels="TOP-MAGD genre")]
    if "masd" in reports:
        rows.append(summary_row(name, reports["masd"], labels="MASD style"))
    return pd.DataFrame(rows).set_index("model")


def transfer_table(cells: Sequence[tuple[str, str, Mapping[str, Any], str]]) -> pd.DataFrame:
    """One row per ``(trained on, tested on, report, items)`` (index model, tested on)."""
    rows = [summary_row(f"CNN trained on {trained}", rep, **{"tested on": tested, "items": items})
            for trained, tested, rep, items in cells]
    return pd.DataFrame(rows).set_index(["model", "tested on"])


def fold_times(results: Sequence[TrainResult]) -> pd.DataFrame:
    """Training time of each cross-validation fold (index fold)."""
    return pd.DataFrame([{"fold": f, "best epoch": r.best_epoch, "epochs run": len(r.history),
                          "s / epoch": r.epoch_seconds, "windows / s": r.samples_per_s}
                         for f, r in enumerate(results)]).set_index("fold")
