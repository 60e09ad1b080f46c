"""The human reference model: k-fold cross-validation of a one-head CNN over human MIDI files.

All windows of a file stay in one fold; each file is scored by the fold model that did not see it,
and the fold models together (:meth:`CVResult.predict`) classify new rolls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from llmmusic import progress
from llmmusic.experiments.cnn.data import RollSet
from llmmusic.experiments.cnn.evaluate import by_file
from llmmusic.experiments.cnn.model import predict
from llmmusic.data.splits import file_folds
from llmmusic.experiments.cnn.train import TrainConfig, TrainResult, encode, train_model


@dataclass
class CVResult:
    """Cross-validated reference model on human MIDI.

    Attributes:
        files: file ids (RollSet ``table.file``), one per row of ``scores``.
        truth: true label per file.
        scores: out-of-fold probabilities per file ``(n_files, k)`` (mean over its windows).
        folds: fold of each file.
        results: the trained model of each fold.
        labels: the classes.
    """

    files: np.ndarray
    truth: list[str]
    scores: np.ndarray
    folds: np.ndarray
    results: list[TrainResult]
    labels: list[str]

    def predict(self, rolls: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Mean probabilities of the fold models (an ensemble) on new rolls: ``(n, k)``."""
        task = next(iter(self.results[0].heads))
        return np.mean([predict(r.model, rolls, r.config.mode, batch_size, threads=r.config.threads)[task]
                        for r in self.results], axis=0)


def cross_validate(rs: RollSet, label_column: str, labels: Sequence[str], k: int = 5,
                   config: TrainConfig = TrainConfig(), val_fraction: float = 0.15,
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> CVResult:
    """k-fold cross-validation of a one-head :class:`RollCNN` over the files of ``rs``.

    Folds are stratified over files (all windows of a file stay together). In each fold a
    stratified ``val_fraction`` of the training files is held out for early stopping; the test
    fold's windows are scored and averaged per file.

    Args:
        rs: a :func:`human_rollset` (table with ``file`` and ``label_column``).
        label_column: the label of each file (e.g. ``folder_genre``).
        labels: the classes.
        k: folds.
        config: training settings (``seed`` also seeds the folds).
        val_fraction: share of training files used for early stopping.
        on_epoch: progress callback (gets the history row plus ``fold``).
    Returns:
        CVResult.
    """
    from sklearn.model_selection import train_test_split

    table = rs.table
    file_table = table.drop_duplicates("file").set_index("file")
    files = file_table.index.to_numpy()
    truth = file_table[label_column].tolist()
    folds = file_folds(truth, k, config.seed)
    fold_of = dict(zip(files, folds))
    window_fold = table["file"].map(fold_of).to_numpy()
    y_all = encode(table[label_column].tolist(), labels)
    scores = np.zeros((len(files), len(labels)))
    results = []
    for f in range(k):
        train_files = files[folds != f]
        train_truth = [t for t, fo in zip(truth, folds) if fo != f]
        fit_files, val_files = train_test_split(train_files, test_size=val_fraction, stratify=train_truth,
                                                random_state=config.seed + f)
        fit = table["file"].isin(fit_files).to_numpy()
        val = table["file"].isin(val_files).to_numpy()
        test = window_fold == f
        callback = (lambda row, f=f: on_epoch({**row, "fold": f})) if on_epoch else None
        progress.report(f"fold {f + 1}/{k}: training on {int(fit.sum())} windows")
        res = train_model(rs.rolls[fit], {"folder": y_all[fit]}, rs.rolls[val], {"folder": y_all[val]},
                          {"folder": list(labels)}, config, callback)
        results.append(res)
        ids, s = by_file(predict(res.model, rs.rolls[test], config.mode, threads=config.threads)["folder"],
                         table["file"][test].to_numpy())
        pos = {fid: i for i, fid in enumerate(files)}
        scores[[pos[i] for i in ids]] = s
    return CVResult(files, truth, scores, folds, results, list(labels))
