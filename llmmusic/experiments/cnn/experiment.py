"""The CNN experiment end to end, the one driver of chapter 4, lab 4 and ``llmmusic cnn train|eval``.

:class:`Experiment` runs the chapter's steps on its :class:`Settings` (the chapter's parameters) and
returns each table the chapter shows: the split, the roll occupancy, the choice between roll inputs,
the held-out LLM-MIDI results with feature baselines and chance, human MIDI (5 folder genres), Lakh
(TOP-MAGD), the reverse direction (a CNN trained on human MIDI), the published baselines, the test
pieces it got wrong and the summary lines. Each step runs once, when first asked for.
:func:`train_checkpoint` and :func:`evaluate_checkpoint` are the command line's ``train`` and ``eval``.

Used in: notebooks/04_cnn_classification.py, course/labs/lab4_cnn_classification.py, ``llmmusic cnn``,
:mod:`llmmusic.experiments.repeats` (``llmmusic repeat cnn``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data import pianoroll
from llmmusic.data.corpora import human_midi
from llmmusic.data.sampling import balanced_sample
from llmmusic.experiments.cnn.checkpoint import load_model, save_model
from llmmusic.experiments.cnn.crossval import CVResult, cross_validate
from llmmusic.experiments.cnn.data import RollSet, human_rollset, llm_rollset
from llmmusic.experiments.cnn.evaluate import (file_scores, folder_genre_report, heldout_reports, lakh_reports,
                                               map_scores, mapping_to, report, report_summary)
from llmmusic.experiments.cnn.model import n_parameters, predict
from llmmusic.experiments.cnn.plots import plot_roll
from llmmusic.experiments.cnn.published import published_table, zeroshot_summary
from llmmusic.experiments.cnn.settings import Settings, Sources
from llmmusic.data.splits import SPLITS, split_by_combination
from llmmusic.experiments.cnn.tables import (fit_baselines, fold_times, folder_table, heldout_table, lakh_table,
                                             mode_choice, transfer_table)
from llmmusic.experiments.cnn.train import TrainResult, train_on_split
from llmmusic.paths import ROOT

OnEpoch = Callable[[dict[str, Any]], None]


@dataclass
class Training:
    """The models of each roll input, their comparison and the one kept (lower validation loss)."""

    runs: dict[str, TrainResult]
    choice: pd.DataFrame
    best_mode: str

    @property
    def model(self) -> Any:
        return self.runs[self.best_mode].model

    def histories(self) -> dict[str, pd.DataFrame]:
        """The training history of each roll input (for :func:`~llmmusic.experiments.cnn.plots.plot_histories`)."""
        return {mode: r.history for mode, r in self.runs.items()}

    def val_losses(self) -> dict[str, float]:
        """Validation loss at the best epoch, per roll input."""
        return {m: float(v) for m, v in self.choice["val loss"].items()}


@dataclass
class HumanEval:
    """The LLM-trained CNN on human files: truth and scores per file, its report, the folder-genre table."""

    truth: list[str]
    scores: np.ndarray
    report: dict[str, Any]
    table: pd.DataFrame


@dataclass
class LakhEval:
    """The LLM-trained CNN on Lakh files with TOP-MAGD labels."""

    table: pd.DataFrame
    reports: dict[str, dict[str, Any]]
    truth: list[tuple[str, ...]]
    unreadable: int
    where: str

    def label_note(self) -> str:
        """A sentence on the files' label distribution."""
        counts = pd.Series([lab for t in self.truth for lab in t]).value_counts()
        return ("Label distribution of these files: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                + ". The majority label sets a high bar for a single constant answer.")


@dataclass
class Transfer:
    """Both training sources tested on both: the table, the human-trained folds and their confusions."""

    table: pd.DataFrame
    cv: CVResult
    reports: dict[str, dict[str, Any]]
    fold_times: pd.DataFrame


@dataclass
class Mistake:
    """A test piece the CNN named the wrong genre, to listen to."""

    path: Path
    name: str
    caption: str


def with_split(rs: RollSet, seed: int = 0) -> RollSet:
    """``rs`` with a ``split`` column in its table: :func:`split_by_combination` of its genres and styles."""
    rs.table["split"] = split_by_combination(rs.table["genre"].tolist(), rs.table["style"].tolist(), seed=seed)
    return rs


def lakh_files(folder: str | Path, labels_path: str | Path | None = None) -> pd.DataFrame:
    """The MIDI files under ``folder`` that carry Lakh labels (joined by md5; default labels: the shared copy)."""
    from llmmusic.data.corpora import label_folder_by_md5, lakh_labels

    return label_folder_by_md5(folder, lakh_labels(labels_path) if labels_path else lakh_labels())


def folder_evaluation(model: Any, mode: str, genres: Sequence[str], human: RollSet, files: pd.DataFrame,
                      n_boot: int = 1000, seed: int = 0) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    """Folder genre per file, the model's genre scores per file and their 5-folder-genre report (None: no mapping)."""
    ids, scores = file_scores(model, human, mode, "genre")
    truth = files["folder_genre"].iloc[ids].tolist()
    return truth, scores, folder_genre_report(scores, genres, truth, n_boot=n_boot, seed=seed)


class Experiment:
    """Chapter 4's experiment on one set of :class:`Settings`; each property is one step, computed once.

    Args:
        settings: the parameters.
        dataset_dir: the LLM-MIDI dataset as given (default: ``pick_dataset(settings.dataset)``).
        rollset: the LLM pieces to use instead of the dataset's (e.g. a lab's sample, :func:`pieces_rollset`).
        heads: task -> labels to learn (default: genre and style of the dataset's taxonomy).
    """

    def __init__(self, settings: Settings, dataset_dir: str | Path | None = None, rollset: RollSet | None = None,
                 heads: Mapping[str, Sequence[str]] | None = None) -> None:
        from llmmusic.data.dataset import taxonomy_of

        self.settings = settings
        self.sources = Sources.find(settings, dataset_dir)
        self.taxonomy = taxonomy_of(self.sources.dataset_dir)
        self.heads = {k: list(v) for k, v in heads.items()} if heads else {
            "genre": list(self.taxonomy.genres), "style": list(self.taxonomy.styles)}
        self._training: Training | None = None
        if rollset is not None:
            self.__dict__["llm"] = with_split(rollset, settings.seed)

    def describe(self) -> str:
        """One line: the dataset, its taxonomy, torch, the device and the CPU threads."""
        import torch

        from llmmusic.experiments.torch_setup import resolve_device

        return (f"dataset {self.sources.dataset_dir.name} ({self.taxonomy.name} taxonomy); torch {torch.__version__} "
                f"on {resolve_device(self.settings.device)}, {self.settings.threads or torch.get_num_threads()} "
                "CPU thread(s)")

    # ------------------------------------------------------------------------------------------ data
    @cached_property
    def llm(self) -> RollSet:
        """The LLM pieces' rolls; the table's ``split`` column is :func:`split_by_combination` (seeded)."""
        s = self.settings
        return with_split(llm_rollset(self.sources.dataset_dir, bars=s.bars, limit=s.limit), s.seed)

    @property
    def split(self) -> np.ndarray:
        return self.llm.table["split"].to_numpy()

    @property
    def test(self) -> np.ndarray:
        return self.split == "test"

    def split_counts(self) -> pd.DataFrame:
        """LLM pieces per genre and split, with an ``all`` row."""
        table = self.llm.table
        counts = pd.crosstab(table["genre"], table["split"]).reindex(columns=list(SPLITS), fill_value=0)
        counts.loc["all"] = counts.sum()
        return counts

    @property
    def n_combinations(self) -> int:
        return self.llm.table.groupby(["genre", "style"]).ngroups

    @cached_property
    def human_files(self) -> pd.DataFrame | None:
        """The human files the LLM-trained models are tested on (None: no shared collection)."""
        s = self.settings
        if self.sources.human_dir is None:
            return None
        return balanced_sample(human_midi(self.sources.human_dir), "folder_genre", s.n_human, s.seed)

    @cached_property
    def human(self) -> RollSet | None:
        """Rolls of ``human_windows`` windows of each human file."""
        files = self.human_files
        return human_rollset(files, bars=self.settings.bars, n_windows=self.settings.human_windows) \
            if files is not None else None

    def occupancy(self) -> pd.DataFrame:
        """Share of a roll's active cells in each half, and active cells per roll, for each source."""
        bars, sets = self.settings.bars, {"LLM-MIDI": self.llm, "human MIDI (windows)": self.human}
        sets = {name: rs for name, rs in sets.items() if rs is not None}
        table = pd.DataFrame({name: pianoroll.occupancy(rs.rolls, bars_per_part=bars // 2).mean(axis=0)
                              for name, rs in sets.items()}, index=[f"bars 1-{bars // 2}", f"bars {bars // 2 + 1}-{bars}"]).T
        table["notes per roll"] = [float((rs.rolls > 0).sum(axis=(1, 2, 3)).mean()) for rs in sets.values()]
        return table

    def example_roll(self) -> tuple[Any, Any]:
        """The first test piece as the network sees it (a figure)."""
        example = int(np.flatnonzero(self.test)[0]) if np.any(self.test) else 0
        row = self.llm.table.iloc[example]
        return plot_roll(self.llm.rolls[example], title=f"{row['genre']} / {row['style']} ({row['mood']}): "
                                                        "the network's input")

    # ------------------------------------------------------------------------------------------ training
    def train(self, on_epoch: OnEpoch | None = None) -> Training:
        """Train one model per roll input of ``settings.modes``; ``on_epoch`` gets each history row plus ``mode``."""
        runs = {mode: train_on_split(self.llm, self.heads, self.split, self.settings.train_config(mode),
                                     on_epoch=(lambda row, m=mode: on_epoch({"mode": m, **row})) if on_epoch else None)
                for mode in self.settings.modes}
        choice = mode_choice(runs)
        self._training = Training(runs, choice, str(choice["val loss"].idxmin()))
        return self._training

    @property
    def training(self) -> Training:
        return self._training or self.train()

    @property
    def mode(self) -> str:
        return self.training.best_mode

    @property
    def model(self) -> Any:
        return self.training.model

    # ------------------------------------------------------------------------------------------ LLM-MIDI
    @cached_property
    def reports(self) -> dict[str, dict[str, Any]]:
        """The kept model's report per task on the test split."""
        s = self.settings
        return heldout_reports(self.model, self.mode, self.llm, self.heads, self.split, n_boot=s.n_boot, seed=s.seed)

    @cached_property
    def baselines(self) -> dict[str, dict[str, Any]]:
        """Feature classifiers ``{kind: {task: fitted}}`` on the training split."""
        return fit_baselines(self.llm, self.split == "train", self.heads, self.settings.feature_models,
                             seed=self.settings.seed)

    def llm_results(self) -> pd.DataFrame:
        """The test split: CNN, feature baselines and chance per task."""
        s = self.settings
        return heldout_table(self.llm, self.split, self.heads, self.reports, self.baselines, self.mode,
                             n_boot=s.n_boot, seed=s.seed)

    def zeroshot(self) -> pd.DataFrame | None:
        """Chapter 3's zero-shot results (``<zeroshot_dir>/results.jsonl``) summarised, if present."""
        return zeroshot_summary(self.settings.zeroshot_dir, n_boot=self.settings.n_boot, seed=self.settings.seed)

    def mistakes(self) -> list[Mistake]:
        """Every test piece whose genre the CNN got wrong, most confident first."""
        test_index = np.flatnonzero(self.test)
        scores = predict(self.model, self.llm.rolls[self.test], self.mode)["genre"]
        pred, table = self.reports["genre"]["pred"], self.llm.table
        wrong = sorted(((float(scores[k].max()), k) for k, i in enumerate(test_index) if pred[k] != table["genre"].iloc[i]),
                       reverse=True)
        out = []
        for confidence, k in wrong:
            row = table.iloc[test_index[k]]
            out.append(Mistake(ROOT / row["path"], f"mistake_{row['genre']}_{row['style']}_{int(row['index'])}"
                               .replace(" ", "-"), f"Asked for {row['genre']} / {row['style']} ({row['mood']}); the CNN "
                                                   f"says {pred[k]} (p = {confidence:.2f})."))
        return out

    # ------------------------------------------------------------------------------------------ human MIDI
    @property
    def folder_map(self) -> Mapping[str, str | None] | None:
        from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_TO_FOLDER

        return mapping_to(self.heads["genre"], FOLDER_GENRES, PAPER_TO_FOLDER)

    @property
    def folder_ok(self) -> bool:
        """Whether a genre of the model maps to a folder genre."""
        from llmmusic.data.taxonomy import FOLDER_GENRES

        return any((lab if self.folder_map is None else self.folder_map.get(lab)) in FOLDER_GENRES
                   for lab in self.heads["genre"])

    @cached_property
    def human_eval(self) -> HumanEval | None:
        """The CNN and the feature baselines on the human files' folder genres (None: no collection or mapping)."""
        if self.human is None or not self.folder_ok:
            return None
        s = self.settings
        truth, scores, rep = folder_evaluation(self.model, self.mode, self.heads["genre"], self.human,
                                               self.human_files, s.n_boot, s.seed)
        table = folder_table(scores, self.heads["genre"], truth, self.folder_map, rep, self.human, self.baselines,
                             self.mode, n_boot=s.n_boot, seed=s.seed)
        return HumanEval(truth, scores, rep, table)

    @cached_property
    def lakh(self) -> LakhEval | None:
        """The CNN on the Lakh files with TOP-MAGD labels (None: no Lakh folder or no labels)."""
        src, s = self.sources, self.settings
        if src.lakh_source is None or src.labels_path is None or not src.labels_path.is_file():
            return None
        files = lakh_files(src.lakh_source, src.labels_path)
        files = files[files["topmagd"].map(len) > 0].reset_index(drop=True)
        rs = human_rollset(files, bars=s.bars, n_windows=s.human_windows)
        reports = lakh_reports(self.model, self.mode, self.heads, rs, files, n_boot=s.n_boot, seed=s.seed)
        truth = [tuple(t) for t in files["topmagd"].iloc[sorted(set(rs.table["file"]))]]
        where = "the user's Lakh folder" if s.lakh_dir else "the shared human files that are Lakh files"
        return LakhEval(lakh_table(reports, truth, self.mode), reports, truth, len(rs.failures), where)

    @cached_property
    def transfer(self) -> Transfer | None:
        """A human-trained CNN (cross-validated) beside the LLM-trained one, each tested on both sources."""
        from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_TO_FOLDER

        human = self.human_eval
        if human is None:
            return None
        s, llm, genres = self.settings, self.llm, self.llm.table["genre"]
        cv_files = balanced_sample(self.human_files, "folder_genre", s.n_human_cv, s.seed + 1)
        cv_set = self.human.subset(np.flatnonzero(self.human.table["md5"].isin(set(cv_files["md5"])).to_numpy()))
        cv = cross_validate(cv_set, "folder_genre", FOLDER_GENRES, k=s.cv_folds,
                            config=s.train_config(self.mode, epochs=s.human_epochs))
        mapped = np.array([PAPER_TO_FOLDER.get(g) is not None for g in genres])
        test_mapped = self.test & mapped

        def folder_report(truth: Sequence[str], scores: np.ndarray) -> dict[str, Any]:
            return report(truth, scores, FOLDER_GENRES, n_boot=s.n_boot, seed=s.seed)

        l2l = map_scores(predict(self.model, llm.rolls[test_mapped], self.mode)["genre"], self.heads["genre"],
                         self.folder_map, FOLDER_GENRES)
        reports = {"llm->llm": folder_report([PAPER_TO_FOLDER[g] for g in genres[test_mapped]], l2l),
                   "human->human": folder_report(cv.truth, cv.scores),
                   "human->llm": folder_report([PAPER_TO_FOLDER[g] for g in genres[mapped]], cv.predict(llm.rolls[mapped]))}
        table = transfer_table([
            ("LLM-MIDI", "LLM-MIDI", reports["llm->llm"], "test split, mapped genres"),
            ("LLM-MIDI", "human MIDI", human.report, f"{len(human.truth)} files"),
            ("human MIDI", "human MIDI", reports["human->human"], f"{s.cv_folds}-fold CV, {len(cv.truth)} files"),
            ("human MIDI", "LLM-MIDI", reports["human->llm"], "every piece of a mapped genre")])
        return Transfer(table, cv, reports, fold_times(cv.results))

    def published(self) -> pd.DataFrame:
        """Published human-MIDI models beside our F1-micro measurements."""
        return published_table(self.reports, self.heads, self.mode, self.lakh.reports["topmagd"] if self.lakh else None)

    def summary(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The chapter's findings: Markdown lines and the book's headline rows."""
        from llmmusic.experiments.cnn.findings import findings

        return findings(self)


# ---------------------------------------------------------------------------------------------- command line
def train_checkpoint(settings: Settings, dataset_dir: str | Path, path: str | Path,
                     on_epoch: OnEpoch | None = None) -> dict[str, Any]:
    """``llmmusic cnn train``: train every roll input, keep the lower validation loss, test it, save it.

    Returns:
        what the command prints: checkpoint, mode, validation losses, speed, split sizes, config, test summaries.
    """
    from llmmusic.book.provenance import sha256_file

    exp = Experiment(settings, dataset_dir)
    training = exp.train(on_epoch)
    result, dataset_dir = training.runs[training.best_mode], exp.sources.dataset_dir
    test = {t: report_summary(r) for t, r in exp.reports.items()}
    extra = {"dataset": str(dataset_dir), "manifest_sha256": sha256_file(dataset_dir / "manifest.jsonl"),
             "bars": settings.bars, "limit": settings.limit, "split_seed": settings.seed,
             "val_loss": training.val_losses(), "test": test}
    save_model(result, path, extra)
    return {"checkpoint": str(path), "mode": training.best_mode, "val_loss": extra["val_loss"],
            "best_epoch": result.best_epoch, "seconds_per_epoch": result.epoch_seconds,
            "pieces_per_second": result.samples_per_s, "device": result.device,
            "parameters": n_parameters(result.model), "pieces": {s: int((exp.split == s).sum()) for s in SPLITS},
            "config": asdict(result.config), "test": test}


def evaluate_checkpoint(path: str | Path, dataset: str | Path | None = None, human: bool = False,
                        n_human: int | None = None, lakh_dir: str | Path | None = None,
                        lakh_labels: str | Path | None = None, windows: int = 2, n_boot: int = 1000) -> dict[str, Any]:
    """``llmmusic cnn eval``: a saved model on its dataset's test split, human folder genres and a Lakh folder.

    Returns:
        what the command prints (report summaries as JSON values).
    """
    from llmmusic.book.provenance import sha256_file

    model, info = load_model(path)
    extra, heads, mode = info["extra"], info["heads"], info["config"]["mode"]
    bars = int(extra.get("bars", 8))
    out: dict[str, Any] = {"checkpoint": str(path), "mode": mode}
    dataset_dir = Path(dataset or extra["dataset"])
    if (dataset_dir / "manifest.jsonl").is_file():
        rs = with_split(llm_rollset(dataset_dir, bars=bars, limit=extra.get("limit")), int(extra.get("split_seed", 0)))
        split = rs.table["split"].to_numpy()
        out["llm_test"] = {t: report_summary(r) for t, r in heldout_reports(model, mode, rs, heads, split,
                                                                            n_boot=n_boot).items()}
        out["llm_test_note"] = ("same split as training" if sha256_file(dataset_dir / "manifest.jsonl")
                                == extra.get("manifest_sha256") else
                                "the dataset changed since training: its test split may hold training pieces")
    if human:
        files = balanced_sample(human_midi(), "folder_genre", n_human)
        rolls = human_rollset(files, bars=bars, n_windows=windows)
        rep = folder_evaluation(model, mode, heads["genre"], rolls, files, n_boot)[2]
        out["human_folder_genres"] = report_summary(rep) if rep else "no genre of this model maps to a folder genre"
        out["human_unreadable"] = len(rolls.failures)
    if lakh_dir is not None:
        files = lakh_files(lakh_dir, lakh_labels)
        out["lakh_labelled_files"] = len(files)
        if len(files):
            lakh = human_rollset(files, bars=bars, n_windows=windows)
            out["lakh_unreadable"] = len(lakh.failures)
            for name, rep in lakh_reports(model, mode, heads, lakh, files, n_boot=n_boot).items():
                out[f"lakh_{name}"] = report_summary(rep)
    return out
