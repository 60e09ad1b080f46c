"""Figures of the melody experiment: piano rolls of melodies, ranking bars and histograms, loss curves.

Every helper takes ``ax=None`` (or draws a figure of its own) and returns ``(fig, ax)`` or the figure.

Used in: notebooks/05_melody_completion.py, course/labs/lab5_melody_completion.py.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.piece import TICKS_PER_BAR, Note


def _figure(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """``(ax.figure, ax)``, or a new figure of ``figsize`` with one axes when ``ax`` is ``None``."""
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize) if ax is None else (ax.figure, ax)


def melody_roll(parts: Sequence[tuple[str, Sequence[Note]]], ax: Any = None, title: str = "",
                bars: int | None = None, colours: Sequence[str] = ("#4c72b0", "#55a868", "#c44e52", "#8172b2")
                ) -> tuple[Any, Any]:
    """A piano roll of one or more melody parts on one time axis in bars (e.g. context + continuation).

    Args:
        parts: (label, notes) pairs drawn in order, each in its own colour.
        ax: axes to draw into (``None``: a new figure).
        title: axes title.
        bars: width in bars (default: up to the last note end).
        colours: one per part, cycled.
    Returns:
        ``(fig, ax)``.
    """
    from matplotlib.patches import Patch, Rectangle

    fig, ax = _figure(ax, (9, 2.6))
    all_notes = [n for _, ns in parts for n in ns]
    end = bars or max(1, int(np.ceil(max((n.end for n in all_notes), default=TICKS_PER_BAR) / TICKS_PER_BAR)))
    handles = []
    for (label, notes), colour in zip(parts, list(colours) * (len(parts) // len(colours) + 1)):
        for n in notes:
            ax.add_patch(Rectangle((n.start / TICKS_PER_BAR, n.pitch - 0.4), n.duration / TICKS_PER_BAR, 0.8,
                                   facecolor=colour, edgecolor="black", linewidth=0.4))
        handles.append(Patch(facecolor=colour, edgecolor="black", label=f"{label} ({len(notes)})"))
    lo = min((n.pitch for n in all_notes), default=60)
    hi = max((n.pitch for n in all_notes), default=72)
    ax.set_ylim(lo - 2, hi + 2)
    ax.set_xlim(0, end)
    for q in range(end * 4 + 1):
        ax.axvline(q / 4, color="black", linewidth=0.8 if q % 4 == 0 else 0.2, alpha=0.6 if q % 4 == 0 else 0.3)
    ax.set_xlabel("bar")
    ax.set_ylabel("pitch (MIDI)")
    ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def plot_ranking(table: pd.DataFrame, metric: str = "MAP", scoring: str = "mean", ax: Any = None,
                 title: str = "") -> tuple[Any, Any]:
    """Grouped bars of a ranking metric per corpus (groups) and model (bars), chance as a dashed line.

    Args:
        table: :attr:`llmmusic.experiments.melody.experiment.RankingResult.table` (index corpus, model, scoring).
        metric: column to draw (``MAP``, ``HITS@1``, ...).
        scoring: ``sum`` or ``mean`` (log-probability per candidate or per token).
        ax: axes (``None``: a new figure).
        title: axes title.
    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, (7.5, 3.4))
    t = table.reset_index()
    models = [m for m in dict.fromkeys(t["model"]) if m != "chance"]
    corpora = list(dict.fromkeys(t["corpus"]))
    width = 0.8 / max(1, len(models))

    def column(model: str, name: str) -> np.ndarray:
        rows = t[(t.model == model) & (t.scoring == scoring)].set_index("corpus")
        return np.array([float(rows[name].get(c, np.nan)) if name in rows else np.nan for c in corpora])

    for j, model in enumerate(models):
        vals = column(model, metric)
        x = np.arange(len(corpora)) + (j - (len(models) - 1) / 2) * width
        ax.bar(x, vals, width, label=model)
        if metric == "MAP" and "MAP_low" in t:
            ax.errorbar(x, vals, yerr=[vals - column(model, "MAP_low"), column(model, "MAP_high") - vals], fmt="none",
                        ecolor="black", elinewidth=0.8, capsize=2)
    chance = t[t.model == "chance"][metric]
    if len(chance):
        ax.axhline(float(chance.iloc[0]), color="black", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(corpora)), corpora)
    ax.set_ylabel(f"{metric} ({scoring} log-prob.)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def plot_history(history: pd.DataFrame, ax: Any = None, title: str = "") -> tuple[Any, Any]:
    """Training and validation loss (nats per token) per epoch.

    Args:
        history: :attr:`llmmusic.experiments.melody.train.TrainResult.history`.
        ax: axes (``None``: a new figure).
        title: axes title.
    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, (5.5, 3.2))
    ax.plot(history["epoch"], history["train_loss"], marker="o", label="training")
    ax.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def ranking_panels(table: pd.DataFrame, metric: str = "MAP", figsize: tuple[float, float] = (12, 3.6)) -> Any:
    """:func:`plot_ranking` side by side for the summed and the mean log-probability; the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=figsize, sharey=True, constrained_layout=True)
    for ax, scoring in zip(axes, ("sum", "mean")):
        plot_ranking(table, metric, scoring, ax=ax, title=f"{scoring} log-probability")
    return fig


def rank_histograms(ranks: dict[tuple[str, str, str], np.ndarray], corpora: Sequence[str],
                    model: str = "transformer", n_candidates: int = 50) -> Any:
    """Per corpus, the distribution of the true phrase's rank by ``model`` (sum and mean scoring); the figure.

    Args:
        ranks: :attr:`llmmusic.experiments.melody.experiment.RankingResult.ranks`.
        corpora: one panel each, in order.
        model: whose ranks.
        n_candidates: candidates per query (the uniform line is 1 / n_candidates).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(corpora), figsize=(4 * len(corpora), 3), sharey=True, squeeze=False,
                             constrained_layout=True)
    for ax, name in zip(axes[0], corpora):
        for scoring in ("sum", "mean"):
            r = ranks.get((name, model, scoring))
            if r is not None and len(r):
                ax.hist(r, bins=np.arange(0.5, n_candidates + 1.5, 2), histtype="step", linewidth=1.5, label=scoring,
                        density=True)
        ax.axhline(1 / n_candidates, color="black", linestyle="--", linewidth=1, label="uniform")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("rank of the true next phrase")
    axes[0][0].set_ylabel("fraction of queries per rank")
    axes[0][0].legend(fontsize=7, frameon=False)
    return fig


def continuation_rolls(song: str, context: Sequence[Note], truth: Sequence[Note], sampled: Sequence[Note],
                       bars: int) -> Any:
    """Two piano rolls on one time axis: context + true continuation above, context + sampled below; the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, constrained_layout=True)
    melody_roll([("context", context), ("true continuation", truth)], ax=axes[0], bars=bars,
                title=f"{song}: context + truth")
    melody_roll([("context", context), ("sampled continuation", sampled)], ax=axes[1], bars=bars,
                colours=("#4c72b0", "#c44e52"), title="context + model continuation")
    return fig
