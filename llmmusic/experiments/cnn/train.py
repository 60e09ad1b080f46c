"""Training: :class:`TrainConfig`, :func:`train_model` (Adam, summed cross-entropy over the heads, early
stopping on the validation loss, best weights kept, deterministic given the seed) and :func:`train_on_split`.

Device and CPU threads come from :mod:`llmmusic.experiments.torch_setup`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from llmmusic import progress
from llmmusic.experiments.cnn.data import RollSet
from llmmusic.experiments.cnn.model import _batch_tensor, _predict, build_model
from llmmusic.experiments.torch_setup import resolve_device, torch_threads


@dataclass
class TrainConfig:
    """Training settings (every one is a chapter parameter).

    Attributes:
        epochs: most epochs.
        batch_size: pieces per step.
        lr: Adam learning rate.
        weight_decay: Adam L2 weight decay.
        channels: width of the first conv block.
        dropout: dropout before the heads.
        patience: stop after this many epochs without a lower validation loss.
        seed: seeds weights, batch order and augmentation.
        mode: roll input, ``velocity`` or ``binary``.
        transpose: random transposition of the pitched tracks by up to this many semitones
            during training (0 = off).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch CPU threads while training and predicting (``None``: torch's default). One
            thread is the default because on a shared 2-core machine it measured about 3x faster
            than two (``benchmarks/bench_cnn.py``).
    """

    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    channels: int = 16
    dropout: float = 0.3
    patience: int = 4
    seed: int = 0
    mode: str = "velocity"
    transpose: int = 0
    device: str = "auto"
    threads: int | None = 1


@dataclass
class TrainResult:
    """A trained model and how it got there.

    Attributes:
        model: the network with the weights of its best validation epoch (in eval mode, on CPU).
        heads: task name -> class labels (column order of its scores).
        config: the settings.
        history: one row per epoch: epoch, train_loss, val_loss, val_acc_<task>, seconds,
            samples_per_s.
        best_epoch: the epoch whose weights were kept (1-based).
        seconds: total training time.
        device: where it trained.
    """

    model: Any
    heads: dict[str, list[str]]
    config: TrainConfig
    history: pd.DataFrame
    best_epoch: int
    seconds: float
    device: str

    @property
    def epoch_seconds(self) -> float:
        """Median seconds per training epoch (training pass only, without validation)."""
        return float(self.history["train_seconds"].median()) if len(self.history) else float("nan")

    @property
    def samples_per_s(self) -> float:
        """Median training throughput in pieces per second."""
        return float(self.history["samples_per_s"].median()) if len(self.history) else float("nan")


def _loss(outputs: Mapping[str, Any], targets: Mapping[str, Any]) -> Any:
    return sum(torch.nn.functional.cross_entropy(outputs[name], targets[name]) for name in targets)


def train_model(train_rolls: np.ndarray, train_targets: Mapping[str, np.ndarray], val_rolls: np.ndarray,
                val_targets: Mapping[str, np.ndarray], heads: Mapping[str, Sequence[str]],
                config: TrainConfig = TrainConfig(), on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a :class:`RollCNN` with early stopping on the validation loss.

    Deterministic given ``config.seed`` on one machine and thread count (``torch.manual_seed``,
    deterministic algorithms, seeded batch order and augmentation). On a GPU, operations without a
    deterministic kernel warn instead of failing.

    Args:
        train_rolls, val_rolls: ``uint8`` rolls ``(n, 4, 128, steps)``.
        train_targets, val_targets: task name -> int class index per roll.
        heads: task name -> class labels (defines the heads and their sizes).
        config: settings.
        on_epoch: called with each history row (e.g. to print progress).
    Returns:
        TrainResult (model with the best validation weights).
    """
    if len(train_rolls) == 0 or len(val_rolls) == 0:
        raise ValueError(f"need training and validation pieces, got {len(train_rolls)} and {len(val_rolls)}")
    with torch_threads(config.threads):
        return _train_model(train_rolls, train_targets, val_rolls, val_targets, heads, config, on_epoch)


def _train_model(train_rolls: np.ndarray, train_targets: Mapping[str, np.ndarray], val_rolls: np.ndarray,
                 val_targets: Mapping[str, np.ndarray], heads: Mapping[str, Sequence[str]], config: TrainConfig,
                 on_epoch: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    device = str(resolve_device(config.device))
    previous = torch.are_deterministic_algorithms_enabled()
    if device.startswith("cuda"):  # cuBLAS needs this for deterministic matmuls; kernels without a
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic version only warn
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=device.startswith("cuda"))
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        model = build_model({k: len(v) for k, v in heads.items()}, config.channels, config.dropout,
                            in_channels=train_rolls.shape[1], pitches=train_rolls.shape[2]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        y_train = {k: torch.as_tensor(np.asarray(v), dtype=torch.long) for k, v in train_targets.items()}
        y_val = {k: np.asarray(v) for k, v in val_targets.items()}
        best_loss, best_state, best_epoch, stale = math.inf, None, 0, 0
        rows: list[dict[str, Any]] = []
        start_all = time.perf_counter()
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = rng.permutation(len(train_rolls))
            total, seen = 0.0, 0
            t0 = time.perf_counter()
            for b in range(0, len(order), config.batch_size):
                idx = np.sort(order[b:b + config.batch_size])
                if len(idx) < 2 and len(order) > 1:  # batch norm needs two items
                    continue
                shifts = rng.integers(-config.transpose, config.transpose + 1, size=len(idx)) if config.transpose else None
                x = _batch_tensor(train_rolls[idx], config.mode, device, shifts)
                targets = {k: v[idx].to(device) for k, v in y_train.items()}
                optimizer.zero_grad(set_to_none=True)
                loss = _loss(model(x), targets)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_seconds = time.perf_counter() - t0
            val_scores, val_loss = _evaluate(model, val_rolls, y_val, config.mode, device, config.batch_size * 4)
            row = {"epoch": epoch, "train_loss": total / max(1, seen), "val_loss": val_loss,
                   **{f"val_acc_{k}": float(np.mean(val_scores[k].argmax(1) == y_val[k])) for k in heads},
                   "train_seconds": train_seconds, "samples_per_s": seen / train_seconds if train_seconds else float("nan")}
            rows.append(row)
            progress.report(f"epoch {epoch}/{config.epochs}: val loss {val_loss:.3f} ({train_seconds:.1f} s)")
            if on_epoch:
                on_epoch(row)
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= config.patience:
                    break
        seconds = time.perf_counter() - start_all
    finally:
        torch.use_deterministic_algorithms(previous)
    model = model.cpu()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, {k: list(v) for k, v in heads.items()}, config, pd.DataFrame(rows),
                       best_epoch, seconds, device)


def train_on_split(rs: RollSet, heads: Mapping[str, Sequence[str]], split: Sequence[str],
                   config: TrainConfig = TrainConfig(),
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """:func:`train_model` on the ``train`` rows of ``rs`` with early stopping on its ``val`` rows.

    Args:
        rs: a RollSet whose table has a column per task in ``heads`` (e.g. genre, style).
        heads: task -> class labels.
        split: ``train`` / ``val`` / ``test`` per row (:func:`split_by_combination`).
        config: settings.
        on_epoch: progress callback.
    """
    split = np.asarray(split)
    y = {task: encode(rs.table[task].tolist(), labels) for task, labels in heads.items()}
    tr, va = split == "train", split == "val"
    return train_model(rs.rolls[tr], {t: v[tr] for t, v in y.items()}, rs.rolls[va], {t: v[va] for t, v in y.items()},
                       heads, config, on_epoch)


def _evaluate(model: Any, rolls: np.ndarray, targets: Mapping[str, np.ndarray], mode: str, device: str,
              batch_size: int) -> tuple[dict[str, np.ndarray], float]:
    """Softmax scores per task and the mean summed cross-entropy on ``rolls``."""
    scores = _predict(model, rolls, mode, batch_size, device)  # inside the caller's thread setting
    loss = 0.0
    for name, y in targets.items():
        p = np.clip(scores[name][np.arange(len(y)), y], 1e-12, 1.0)
        loss += float(-np.log(p).mean())
    return scores, loss


def encode(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Class index of each label in ``classes``; raises on a label outside it."""
    lookup = {c: i for i, c in enumerate(classes)}
    missing = sorted({lab for lab in labels if lab not in lookup})
    if missing:
        raise ValueError(f"labels {missing} are not among the classes {list(classes)}")
    return np.array([lookup[lab] for lab in labels], dtype=int)
