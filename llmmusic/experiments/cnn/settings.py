"""What the CNN experiment runs on: :class:`Settings` (chapter 4's parameters) and :class:`Sources` (its inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmmusic.analysis import baselines
from llmmusic.experiments.cnn.train import TrainConfig


@dataclass
class Settings:
    """The chapter's parameters (same names and defaults; see its ``parameters`` cell), and
    ``feature_models``: the feature baselines beside the CNN (``baselines.KINDS``)."""

    dataset: str | None = None
    limit: int | None = None
    bars: int = 8
    epochs: int = 20
    patience: int = 4
    batch_size: int = 32
    lr: float = 0.001
    weight_decay: float = 0.0001
    channels: int = 16
    dropout: float = 0.3
    transpose: int = 0
    modes: Sequence[str] = field(default_factory=lambda: ["velocity", "binary"])
    seed: int = 0
    n_human: int | None = None
    human_windows: int = 2
    n_human_cv: int | None = 300
    cv_folds: int = 5
    human_epochs: int = 12
    lakh_dir: str | None = None
    lakh_labels: str | None = None
    zeroshot_dir: str | None = None
    n_boot: int = 1000
    n_examples: int = 3
    device: str = "auto"
    threads: int | None = 1
    feature_models: Sequence[str] = baselines.KINDS

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> "Settings":
        """The settings named in ``namespace`` (a notebook's ``globals()``), defaults for the rest."""
        return cls(**{f.name: namespace[f.name] for f in fields(cls) if f.name in namespace})

    def train_config(self, mode: str, epochs: int | None = None) -> TrainConfig:
        """Training settings for roll input ``mode`` (``epochs``: another epoch limit)."""
        return TrainConfig(epochs=epochs or self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=self.weight_decay, channels=self.channels, dropout=self.dropout,
                           patience=self.patience, seed=self.seed, mode=mode, transpose=self.transpose,
                           device=self.device, threads=self.threads)


@dataclass
class Sources:
    """The input folders and files: the dataset, the shared human collection, the Lakh labels and files."""

    dataset_dir: Path
    human_dir: Path | None = None
    labels_path: Path | None = None
    lakh_source: Path | None = None

    @classmethod
    def find(cls, settings: Settings, dataset_dir: str | Path | None = None) -> "Sources":
        """``dataset_dir`` as given, else ``pick_dataset(settings.dataset)``; the rest from the shared data folder.

        Raises:
            FileNotFoundError: no dataset at all.
        """
        from llmmusic.data.corpora import shared_data_dir
        from llmmusic.data.dataset import pick_dataset

        found = Path(dataset_dir) if dataset_dir is not None else pick_dataset(settings.dataset)
        if found is None:
            raise FileNotFoundError("no generated dataset under data/llm-midi; make one with `llmmusic generate`")
        shared = shared_data_dir()
        human = shared / "human-midi" if shared and (shared / "human-midi").is_dir() else None
        labels = Path(settings.lakh_labels) if settings.lakh_labels else (
            shared / "lakh-genre-labels" / "midi_genre_map.json" if shared else None)
        lakh = Path(settings.lakh_dir) if settings.lakh_dir else (human / "midi" if human else None)
        return cls(found, human, labels, lakh)
