"""Figures of the CNN experiment: a roll as the network sees it, training curves, confusion matrices side by side."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data import pianoroll


def plot_roll(roll: np.ndarray, axes: Sequence[Any] | None = None, title: str = "",
              pitch_margin: int = 3) -> tuple[Any, Any]:
    """The four channels of one roll as images (pitch up, 16th-note steps across, bar lines).

    Args:
        roll: ``(4, 128, steps)`` roll (uint8 velocities or binary).
        axes: four matplotlib axes; ``None`` makes a new figure.
        title: figure title.
        pitch_margin: semitones shown around the used pitch range of each channel.
    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    from llmmusic.data.piece import TRACKS

    if axes is None:
        fig, axes = plt.subplots(4, 1, figsize=(9, 6.4), sharex=True)
    else:
        fig = axes[0].figure
    steps = roll.shape[-1]
    for c, ax in enumerate(axes):
        rows = np.flatnonzero(roll[c].any(axis=1))
        lo, hi = (rows.min(), rows.max()) if len(rows) else (60, 72)
        lo, hi = max(0, lo - pitch_margin), min(roll.shape[1] - 1, hi + pitch_margin)
        ax.imshow(roll[c, lo:hi + 1], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(-0.5, steps - 0.5, lo - 0.5, hi + 0.5), vmin=0, vmax=max(1, int(roll.max())))
        for bar in range(0, steps + 1, pianoroll.STEPS_PER_BAR):
            ax.axvline(bar - 0.5, color="#1f77b4", linewidth=0.6, alpha=0.6)
        ax.set_ylabel(f"{TRACKS[c]}\npitch", fontsize=8)
    axes[-1].set_xlabel("16th-note step (bar lines in blue)")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_history(history: pd.DataFrame, axes: Sequence[Any] | None = None, label: str = "") -> tuple[Any, Any]:
    """Training curves: losses (train solid, validation dashed) and validation accuracies per epoch.

    Args:
        history: :attr:`TrainResult.history`.
        axes: two matplotlib axes; ``None`` makes a new figure.
        label: prefix of the legend entries (e.g. the roll mode).
    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = axes[0].figure
    prefix = f"{label} " if label else ""
    line = axes[0].plot(history["epoch"], history["train_loss"], label=f"{prefix}train")[0]
    axes[0].plot(history["epoch"], history["val_loss"], linestyle="--", color=line.get_color(),
                 label=f"{prefix}validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy (sum over heads)")
    for column in [c for c in history.columns if c.startswith("val_acc_")]:
        axes[1].plot(history["epoch"], history[column], marker="o", markersize=3,
                     label=f"{prefix}{column.removeprefix('val_acc_')}")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation accuracy")
    for ax in axes:
        ax.legend(fontsize=7)
    return fig, axes


def plot_histories(histories: Mapping[str, pd.DataFrame], figsize: tuple[float, float] = (11, 3.6)) -> tuple[Any, Any]:
    """:func:`plot_history` of several runs on one pair of axes (legend labels: the keys, e.g. roll modes)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=figsize)
    for label, history in histories.items():
        plot_history(history, axes=axes, label=label)
    fig.tight_layout()
    return fig, axes


def plot_confusions(confusions: Mapping[str, pd.DataFrame], figsize: tuple[float, float] = (10, 4)) -> tuple[Any, Any]:
    """Confusion matrices side by side (``metrics.plot_confusion``), titled by their keys."""
    import matplotlib.pyplot as plt

    from llmmusic.analysis import metrics

    fig, axes = plt.subplots(1, len(confusions), figsize=figsize)
    for ax, (title, confusion) in zip(np.atleast_1d(axes), confusions.items()):
        metrics.plot_confusion(confusion, ax=ax, title=title)
    fig.tight_layout()
    return fig, axes
