"""Figures of the zero-shot chapter: accuracy against chance, confusion tables, the answer prior."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from llmmusic.experiments.zeroshot.items import Task


def plot_accuracy(summary: pd.DataFrame, ax: Any = None, title: str = "") -> tuple[Any, Any]:
    """Accuracy with 95 % intervals per (task, mode), against the uniform and majority chance levels.

    Args:
        summary: output of :func:`summarize`.
        ax: matplotlib axes (``None``: a new figure).
        title: axes title.
    Returns:
        ``(fig, ax)``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(summary) + 2), 3.8))
    else:
        fig = ax.figure
    x = np.arange(len(summary))
    acc = summary["accuracy"].to_numpy(dtype=float)
    low = np.nan_to_num(acc - summary["acc_low"].to_numpy(dtype=float))
    high = np.nan_to_num(summary["acc_high"].to_numpy(dtype=float) - acc)
    colours = {"free": "#1f77b4", "score": "#d62728", "json": "#2ca02c", "explain": "#9467bd"}
    ax.bar(x, acc, color=[colours.get(m, "#7f7f7f") for m in summary["mode"]], alpha=0.85)
    ax.errorbar(x, acc, yerr=[low, high], fmt="none", ecolor="black", capsize=3, lw=1)
    for i, row in enumerate(summary.itertuples(index=False)):
        ax.hlines(row.chance_uniform, i - 0.4, i + 0.4, colors="black", linestyles="dotted", lw=1.2)
        ax.hlines(row.chance_majority, i - 0.4, i + 0.4, colors="grey", linestyles="dashed", lw=1.2)
    ax.set_xticks(x, [f"{t}\n{m} (n={n})" for t, m, n in zip(summary["task"], summary["mode"], summary["n"])],
                  rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="black", ls="dotted", label="uniform chance"),
                       Line2D([], [], color="grey", ls="dashed", label="majority class")], fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    return fig, ax


def confusion_figures(results: pd.DataFrame, tasks: Sequence[Task],
                      modes: Sequence[str] = ("free", "score")) -> Iterator[tuple[str, str, int, Any]]:
    """A confusion figure per task and mode that has answers (rows: true labels present in the sample,
    columns: the evaluated answers; colour: row share).

    Yields:
        ``(task_name, mode, n, fig)``; each figure is closed when the next is asked for.
    """
    import matplotlib.pyplot as plt

    from llmmusic.analysis import metrics

    for t in tasks:
        for mode in modes:
            part = results[(results["task"] == t.name) & (results["mode"] == mode)]
            if part.empty:
                continue
            labels = t.eval_labels or t.labels
            truth = [tuple(v) if isinstance(v, list) else v for v in part["truth"]]
            cm = metrics.confusion(truth, list(part["pred"]), labels)
            cm = cm.loc[cm.sum(axis=1) > 0]  # true labels absent from the sample are not drawn
            fig, ax = metrics.plot_confusion(cm, title=f"{t.name}, {mode} (n={len(part)})")
            fig.tight_layout()
            yield t.name, mode, len(part), fig
            plt.close(fig)


def plot_answer_prior(prior: Sequence[pd.Series]) -> Any:
    """Bars of each task's mean candidate probability (:func:`~llmmusic.experiments.zeroshot.results.answer_prior`),
    one panel per task; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(prior), figsize=(4.2 * len(prior), 3.6), squeeze=False)
    for ax, ser in zip(axes[0], prior):
        ser.sort_values().plot.barh(ax=ax, color="#d62728")
        ax.set_title(ser.name, fontsize=9)
        ax.set_xlabel("mean probability")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
