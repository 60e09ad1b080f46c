"""Genre / style classification with a small 2-D CNN on piano rolls (the paper's second experiment).

Modules, in the order the data flows:

* :mod:`~llmmusic.experiments.cnn.data`: :class:`RollSet`, :func:`llm_rollset` (a generated dataset),
  :func:`human_rollset` (any table of MIDI files), :func:`pieces_rollset`; rolls from
  ``llmmusic.data.pianoroll``, features from ``llmmusic.analysis.baselines``, cached as ``.npz``.
* :mod:`~llmmusic.data.splits`: :func:`split_by_combination` (train / val / test, stratified
  by genre x style, seeded, never an empty split), :func:`file_folds`.
* :mod:`~llmmusic.experiments.cnn.model`: :class:`RollCNN`, :func:`build_model`, :func:`predict`.
* :mod:`~llmmusic.experiments.cnn.train`: :class:`TrainConfig`, :func:`train_model`, :func:`train_on_split`.
* :mod:`~llmmusic.experiments.cnn.crossval`: :func:`cross_validate` (the human reference model).
* :mod:`~llmmusic.experiments.cnn.checkpoint`: :func:`save_model`, :func:`load_model`.
* :mod:`~llmmusic.experiments.cnn.evaluate`: :func:`report`, :func:`heldout_reports`, :func:`map_scores`,
  :func:`folder_genre_report`, :func:`lakh_reports`.
* :mod:`~llmmusic.experiments.cnn.tables`: the results tables, :func:`chance_rows` built once.
* :mod:`~llmmusic.experiments.cnn.published`: :data:`PUBLISHED`, :func:`zeroshot_summary` (chapter 3's file).
* :mod:`~llmmusic.experiments.cnn.plots`: :func:`plot_roll`, :func:`plot_history`, :func:`plot_histories`,
  :func:`plot_confusions`.
* :mod:`~llmmusic.experiments.cnn.settings`: :class:`Settings` (the chapter's parameters), :class:`Sources`.
* :mod:`~llmmusic.experiments.cnn.experiment`: the driver, :class:`Experiment` (chapter 4, lab 4),
  :func:`train_checkpoint` and :func:`evaluate_checkpoint` (``llmmusic cnn train|eval``);
  :mod:`~llmmusic.experiments.cnn.findings`: the chapter's summary lines.

Used in: notebooks/04_cnn_classification.py, course/labs/lab4_cnn_classification.py, ``llmmusic cnn``.
"""

from llmmusic.experiments.cnn.checkpoint import load_model, save_model
from llmmusic.experiments.cnn.crossval import CVResult, cross_validate
from llmmusic.experiments.cnn.data import RollSet, human_rollset, llm_rollset, pieces_rollset
from llmmusic.experiments.cnn.evaluate import (argmax_labels, by_file, file_scores, folder_genre_report,
                                               heldout_reports, jsonable_report, lakh_reports, map_scores, mapping_to,
                                               report, report_summary, summary_row)
from llmmusic.experiments.cnn.experiment import Experiment, evaluate_checkpoint, train_checkpoint
from llmmusic.experiments.cnn.model import RollCNN, build_model, n_parameters, predict
from llmmusic.experiments.cnn.plots import plot_confusions, plot_histories, plot_history, plot_roll
from llmmusic.experiments.cnn.published import PUBLISHED, published_table, zeroshot_summary
from llmmusic.experiments.cnn.settings import Settings, Sources
from llmmusic.data.splits import SPLITS, file_folds, split_by_combination
from llmmusic.experiments.cnn.tables import chance_rows, fit_baselines, heldout_table
from llmmusic.experiments.cnn.train import TrainConfig, TrainResult, encode, train_model, train_on_split
from llmmusic.paths import ROOT

__all__ = [
    "CVResult", "Experiment", "PUBLISHED", "ROOT", "RollCNN", "RollSet", "SPLITS", "Settings", "Sources",
    "TrainConfig", "TrainResult", "argmax_labels", "build_model", "by_file", "chance_rows", "cross_validate",
    "encode", "evaluate_checkpoint", "file_folds", "file_scores", "fit_baselines", "folder_genre_report",
    "heldout_reports", "heldout_table", "human_rollset", "jsonable_report", "lakh_reports", "llm_rollset",
    "load_model", "map_scores", "mapping_to", "n_parameters", "pieces_rollset", "plot_confusions", "plot_histories",
    "plot_history", "plot_roll", "predict", "published_table", "report", "report_summary", "save_model",
    "split_by_combination", "summary_row", "train_checkpoint", "train_model", "train_on_split", "zeroshot_summary",
]
