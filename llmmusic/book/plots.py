"""Figures shared by the chapters: piano rolls of the four tracks, histograms, heatmaps.

Every helper takes ``ax=None`` (or ``axes=None``) and returns ``(fig, ax)``, so a chapter can
compose panels and tests can draw headless.

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from llmmusic.data.piece import TICKS_PER_BAR, TRACKS, Piece

TRACK_COLOURS: dict[str, str] = {"melody": "#d62728", "chords": "#1f77b4", "bass": "#2ca02c", "rhythm": "#7f7f7f"}
#: General MIDI drum keys the paper asks for, and a few neighbours, by name.
DRUM_NAMES: dict[int, str] = {35: "kick 35", 36: "kick 36", 37: "side stick", 38: "snare 38", 39: "clap",
                              40: "snare 40", 41: "low tom", 42: "closed hat", 43: "tom", 44: "pedal hat",
                              45: "tom", 46: "open hat", 47: "tom", 48: "tom", 49: "crash", 50: "tom"}
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _figure(ax: Any = None, figsize: tuple[float, float] = (6, 4)) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def note_name(pitch: int) -> str:
    """``60`` -> ``C4`` (MIDI convention, middle C = C4)."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll(piece: Piece, axes: Sequence[Any] | None = None, title: str = "",
               bars: int | None = None, quarter_grid: bool = True) -> tuple[Any, Any]:
    """A piano roll of the four tracks, one panel per track, on a shared time axis in bars.

    Args:
        piece: the piece to draw.
        axes: four matplotlib axes (melody, chords, bass, rhythm); ``None`` makes a new figure.
        title: figure title (default: genre / style / mood from ``piece.meta``).
        bars: width of the time axis in bars (default: enough for the last note, at least 4).
        quarter_grid: draw faint lines at every quarter note, and solid ones at bar lines.
    Returns:
        ``(fig, axes)`` with ``axes`` the four panels.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if axes is None:
        fig, axes = plt.subplots(4, 1, figsize=(9, 6.4), sharex=True,
                                 gridspec_kw={"height_ratios": [1.2, 1.2, 0.9, 0.9]})
    else:
        fig = axes[0].figure
    axes = list(axes)
    if len(axes) != len(TRACKS):
        raise ValueError(f"piano_roll needs {len(TRACKS)} axes (one per track), got {len(axes)}")
    end_bar = bars or max(4, int(np.ceil(piece.end_tick / TICKS_PER_BAR)))
    for ax, track in zip(axes, TRACKS):
        notes = piece.track(track)
        colour = TRACK_COLOURS[track]
        for n in notes:
            alpha = 0.35 + 0.65 * n.velocity / 127
            ax.add_patch(Rectangle((n.start / TICKS_PER_BAR, n.pitch - 0.4), n.duration / TICKS_PER_BAR, 0.8,
                                   facecolor=colour, edgecolor="black", linewidth=0.4, alpha=alpha))
        if notes:
            lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
        else:
            lo, hi = (36, 48) if track == "rhythm" else (60, 72)
        ax.set_ylim(lo - 1.5, hi + 1.5)
        if track == "rhythm":
            keys = sorted({n.pitch for n in notes})
            ax.set_yticks(keys, [DRUM_NAMES.get(k, str(k)) for k in keys], fontsize=7)
        else:
            ticks = [p for p in range(lo - 1, hi + 2) if p % 12 == 0] or [lo]
            ax.set_yticks(ticks, [note_name(p) for p in ticks], fontsize=7)
        ax.set_ylabel(f"{track}\n({len(notes)})", fontsize=8)
        if quarter_grid:
            for q in range(end_bar * 4 + 1):
                ax.axvline(q / 4, color="black", linewidth=0.8 if q % 4 == 0 else 0.2, alpha=0.6 if q % 4 == 0 else 0.3)
        ax.set_xlim(0, end_bar)
    axes[-1].set_xlabel("bars from the start")
    axes[-1].set_xticks(range(end_bar + 1))
    meta = piece.meta
    label = title or " · ".join(str(meta[k]) for k in ("genre", "style", "mood") if meta.get(k))
    if label:
        axes[0].set_title(label, fontsize=10)
    return fig, axes


def histogram(values: Sequence[float] | np.ndarray, ax: Any = None, bins: Any = 30, label: str | None = None,
              density: bool = False, xlabel: str = "", title: str = "", **kwargs: Any) -> tuple[Any, Any]:
    """A step histogram (several calls on one ``ax`` overlay cleanly).

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax)
    values = np.asarray(values, dtype=float)
    ax.hist(values, bins=bins, histtype="step", linewidth=1.4, label=label, density=density, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density" if density else "count")
    if title:
        ax.set_title(title, fontsize=10)
    if label:
        ax.legend(fontsize=8)
    return fig, ax


def heatmap(table: Any, ax: Any = None, title: str = "", cmap: str = "viridis", annotate: bool = True,
            fmt: str = "{:.0f}", cbar_label: str = "") -> tuple[Any, Any]:
    """A labelled heatmap of a DataFrame (rows x columns), with the values written in the cells.

    Returns:
        ``(fig, ax)``.
    """
    rows, cols = list(table.index), list(table.columns)
    fig, ax = _figure(ax, figsize=(max(5, 0.42 * len(cols) + 2), max(3, 0.36 * len(rows) + 1.5)))
    data = table.to_numpy(dtype=float)
    image = ax.imshow(data, aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=8)
    if annotate and data.size <= 600:
        finite = data[np.isfinite(data)]
        mid = (finite.max() + finite.min()) / 2 if finite.size else 0
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(data[i, j]):
                    ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center", fontsize=6.5,
                            color="white" if data[i, j] < mid else "black")
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    if cbar_label:
        bar.set_label(cbar_label)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def bar_chart(series: Any, ax: Any = None, title: str = "", xlabel: str = "", ylabel: str = "count",
              horizontal: bool = False, colour: str | None = None) -> tuple[Any, Any]:
    """A bar chart of a pandas Series (index = categories).

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax)
    labels = [str(i) for i in series.index]
    if horizontal:
        ax.barh(labels, series.to_numpy(), color=colour)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
    else:
        ax.bar(labels, series.to_numpy(), color=colour)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_ha("right")
    if xlabel:
        (ax.set_ylabel if horizontal else ax.set_xlabel)(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def pitch_class_profiles(table: Any, ax: Any = None, title: str = "") -> tuple[Any, Any]:
    """Pitch-class distributions (rows of ``table``: groups; 12 columns C..B) as lines.

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, figsize=(7, 4))
    for name, row in table.iterrows():
        ax.plot(range(12), row.to_numpy(dtype=float), marker="o", markersize=3, linewidth=1, label=str(name))
    ax.set_xticks(range(12), PITCH_CLASSES)
    ax.set_ylabel("share of notes")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def tick_axis_in_bars(ax: Any, ticks_max: int, axis: str = "x") -> None:
    """Label a tick-valued axis with bar numbers (one tick per bar up to ``ticks_max``)."""
    positions = np.arange(0, ticks_max + 1, TICKS_PER_BAR)
    labels = [f"{p // TICKS_PER_BAR}" for p in positions]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(positions, labels)



def legibility_vs_tokens(results: Sequence[Any], ax: Any = None) -> tuple[Any, Any]:
    """Genre legibility (with its 95 % interval) against completion tokens per piece, one point per
    probed dataset (:func:`llmmusic.analysis.probe.probe_dataset` results), uniform chance as a line."""
    fig, ax = _figure(ax, (6.5, 4))
    results = [r for r in results if r["legibility"]["accuracy"] == r["legibility"]["accuracy"]]  # measured only
    for r in results:
        leg = r["legibility"]
        ax.errorbar(r["tokens_per_piece"], leg["accuracy"], yerr=[[leg["accuracy"] - leg["low"]],
                    [leg["high"] - leg["accuracy"]]], fmt="o", capsize=3)
        ax.annotate(r["dataset"], (r["tokens_per_piece"], leg["accuracy"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    if results:
        ax.axhline(results[0]["legibility"]["uniform"], color="#888", ls="--", lw=1, label="uniform chance")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("completion tokens per piece")
    ax.set_ylabel("genre legibility (5-fold CV accuracy)")
    ax.set_ylim(bottom=0)
    return fig, ax


def grouped_barh(table: Any, ax: Any = None, xlabel: str = "", figsize: tuple[float, float] = (7, 3.5)
                 ) -> tuple[Any, Any]:
    """Horizontal bars of a DataFrame: one group per row (first row on top), one bar per column.

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, figsize)
    table.plot.barh(ax=ax)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    return fig, ax


def start_tick_histogram(starts: Sequence[int] | np.ndarray, ax: Any = None, allowed: int = 7680,
                         bars: int = 8) -> tuple[Any, Any]:
    """Note start times over ``bars`` bars in eighth-note bins, the range past the prompt's ``allowed``
    maximum start shaded, the axis labelled in bars.

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, (8, 3.2))
    ax.hist(starts, bins=np.arange(0, bars * TICKS_PER_BAR + 1, 120), color="#555")
    ax.axvspan(allowed, bars * TICKS_PER_BAR, color="#d62728", alpha=0.12,
               label=f"bars {allowed // TICKS_PER_BAR + 1}-{bars}: outside 0-{allowed}")
    tick_axis_in_bars(ax, bars * TICKS_PER_BAR)
    ax.set_xlabel("bar (start time)")
    ax.set_ylabel("notes")
    ax.legend(fontsize=8)
    return fig, ax


def writer_rolls(effect: dict[str, Any], label: str) -> dict[str, Any]:
    """Piano rolls of a piece as each MIDI writer wrote it (:func:`llmmusic.analysis.stats.writer_effect`),
    on one time axis wide enough for both; ``label`` starts each title.

    Returns:
        ``{"exact": fig, "official": fig}``.
    """
    bars = int(np.ceil(max(effect["end_exact"], effect["end_official"]) / TICKS_PER_BAR))
    return {writer: piano_roll(effect[writer], bars=bars, title=f"{label}: writer={writer}")[0]
            for writer in ("exact", "official")}


def notes_per_track(tracks: Any, targets: Sequence[float | tuple[float, float] | None], ax: Any = None) -> tuple[Any, Any]:
    """Box plots of notes per piece for each track (:func:`llmmusic.analysis.stats.track_summary`), with each
    track's target in red (``targets`` in :data:`TRACKS` order, e.g. :meth:`~llmmusic.generation.variants.Ask.targets`):
    a number or an equal pair is a line, a range ``(fewest, most)`` a shaded band, ``None`` nothing.

    Returns:
        ``(fig, ax)``.
    """
    fig, ax = _figure(ax, (7, 3.5))
    ax.boxplot([tracks.loc[tracks.track == t, "n_notes"] for t in TRACKS], tick_labels=list(TRACKS))
    for i, target in enumerate(targets, start=1):
        if target is None:
            continue
        lo, hi = target if isinstance(target, tuple) else (target, target)
        if lo == hi:
            ax.plot([i - 0.35, i + 0.35], [lo, lo], color="#d62728", linewidth=1)
        else:
            ax.fill_between([i - 0.35, i + 0.35], lo, hi, color="#d62728", alpha=0.15, linewidth=0)
    ax.set_ylabel("notes per piece")
    return fig, ax


def note_histograms(notes: Any) -> tuple[Any, Any]:
    """Three panels of per-track histograms over a note table (:func:`llmmusic.analysis.stats.note_table`):
    pitches of the pitched tracks, durations in quarter notes, velocities.

    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    from llmmusic.data.piece import TICKS_PER_QUARTER

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for track in TRACKS:
        part, colour = notes[notes.track == track], TRACK_COLOURS[track]
        if track != "rhythm":
            histogram(part["pitch"], ax=axes[0], bins=np.arange(19.5, 109, 2), label=track, color=colour,
                      xlabel="pitch (MIDI)")
        histogram(part["duration"] / TICKS_PER_QUARTER, ax=axes[1], bins=np.arange(-0.125, 4.2, 0.25), label=track,
                  color=colour, xlabel="duration (quarter notes)")
        histogram(part["velocity"], ax=axes[2], bins=np.arange(-2, 130, 4), label=track, color=colour,
                  xlabel="velocity")
    fig.tight_layout()
    return fig, axes


def metric_distributions(tables: Any, metrics: Sequence[str]) -> tuple[Any, Any]:
    """One panel per metric (2 x 3) overlaying its density per source: ``tables`` maps a source label to
    its :func:`llmmusic.analysis.stats.metrics_table`; the bins span every source's values.

    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, metric in zip(axes.flat, metrics):
        values = pd.concat([t[metric] for t in tables.values()]).dropna()
        bins = np.linspace(values.min(), values.max() + 1e-9, 21) if len(values) else 10
        for label, table in tables.items():
            histogram(table[metric].dropna(), ax=ax, bins=bins, density=True, label=label, xlabel=metric)
    fig.tight_layout()
    return fig, axes
