"""The network: :class:`RollCNN` over 4-track piano rolls, its input tensors and its predictions.

* :func:`build_model` / :class:`RollCNN`: a strided 3x3 conv stem, three conv blocks (3x3 conv, batch
  norm, ReLU, 2x2 max pool), max over time, one linear head per task.
* :func:`_batch_tensor`: ``uint8`` rolls as a float batch (``velocity`` or ``binary``), optionally transposed.
* :func:`predict`: softmax probabilities of every head.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from llmmusic.data import pianoroll
from llmmusic.experiments.torch_setup import resolve_device, torch_threads


def build_model(heads: Mapping[str, int], channels: int = 16, dropout: float = 0.3,
                in_channels: int = 4, pitches: int = pianoroll.N_PITCHES) -> Any:
    """A :class:`RollCNN` (see there); ``heads`` maps a task name to its number of classes."""
    return RollCNN(heads, channels=channels, dropout=dropout, in_channels=in_channels, pitches=pitches)


class RollCNN(nn.Module):
    """A simple 2-D CNN over (pitch x time) with one channel per track.

    A stem of 3x3 convolution with stride 2 (no bias), batch norm and ReLU (width ``channels``),
    then three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (widths
    ``channels x (2, 4, 4)``): a 128 x 128 roll becomes 8 x 8. Then the maximum over time (so empty
    stretches, such as the second half of a 4-bar LLM piece in an 8-bar roll, do not dilute the
    features), the pitch axis kept (8 register bands of 16 semitones), dropout, and one linear head
    per task. The strided stem halves the cost of the first layer on a sparse input (measured in
    ``benchmarks/bench_cnn.py``).

    Args:
        heads: task name -> number of classes, e.g. ``{"genre": 13, "style": 25}``.
        channels: width of the first block.
        dropout: dropout before the heads.
        in_channels: input channels (4 tracks).
        pitches: pitch rows of the input (divisible by 16).
    """

    def __init__(self, heads: Mapping[str, int], channels: int = 16, dropout: float = 0.3,
                 in_channels: int = 4, pitches: int = pianoroll.N_PITCHES) -> None:
        super().__init__()
        if pitches % 16:
            raise ValueError(f"pitches must be divisible by 16 (a stride-2 stem and three 2x2 poolings), got {pitches}")
        layers: list[Any] = [nn.Conv2d(in_channels, channels, 3, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        prev = channels
        for width in (2 * channels, 4 * channels, 4 * channels):
            layers += [nn.Conv2d(prev, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.n_features = prev * (pitches // 16)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(self.n_features, int(k)) for name, k in heads.items()})

    def embed(self, x: Any) -> Any:
        """Features before the heads: ``(batch, n_features)``."""
        h = self.features(x)  # (batch, C, pitch bands, time)
        return h.amax(dim=3).flatten(1)

    def forward(self, x: Any) -> dict[str, Any]:
        h = self.dropout(self.embed(x))
        return {name: head(h) for name, head in self.heads.items()}


def n_parameters(model: Any) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _batch_tensor(rolls: np.ndarray, mode: str, device: str, shifts: np.ndarray | None = None) -> Any:
    """uint8 rolls -> float tensor on ``device``, optionally transposing pitched channels per piece."""
    x = torch.from_numpy(pianoroll.as_input(rolls, mode))
    if shifts is not None and np.any(shifts):
        pitched = [c for c in range(x.shape[1]) if c != pianoroll.DRUM_CHANNEL]
        for s in np.unique(shifts):
            if s == 0:
                continue
            rows = torch.from_numpy(np.flatnonzero(shifts == s))
            part = x[rows][:, pitched]
            moved = torch.roll(part, shifts=int(s), dims=2)
            if s > 0:
                moved[:, :, :s] = 0
            else:
                moved[:, :, s:] = 0
            block = x[rows]
            block[:, pitched] = moved
            x[rows] = block
    return x.to(device)


def predict(model: Any, rolls: np.ndarray, mode: str = "velocity", batch_size: int = 128,
            device: str = "auto", threads: int | None = 1) -> dict[str, np.ndarray]:
    """Class probabilities of every head for ``rolls``.

    Args:
        model: a :class:`RollCNN`.
        rolls: ``uint8`` rolls.
        mode: roll input (must match training).
        batch_size: pieces per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch CPU threads (see :class:`TrainConfig`).
    Returns:
        task name -> ``float`` array ``(n, n_classes)`` (softmax).
    """
    with torch_threads(threads):
        return _predict(model, rolls, mode, batch_size, resolve_device(device))


def _predict(model: Any, rolls: np.ndarray, mode: str, batch_size: int, device: str) -> dict[str, np.ndarray]:
    was_training = model.training
    model.eval()
    model.to(device)
    out: dict[str, list[np.ndarray]] = {name: [] for name in model.heads}
    with torch.no_grad():
        for b in range(0, len(rolls), batch_size):
            logits = model(_batch_tensor(rolls[b:b + batch_size], mode, device))
            for name, value in logits.items():
                out[name].append(torch.softmax(value, dim=1).cpu().numpy())
    if was_training:
        model.train()
    n_classes = {name: head.out_features for name, head in model.heads.items()}
    return {name: np.concatenate(v) if v else np.zeros((0, n_classes[name])) for name, v in out.items()}
