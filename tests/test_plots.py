"""The chapters' figure helpers of llmmusic.book.plots draw headless on hand-made data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from llmmusic.analysis.stats import metrics_table, note_table, track_summary, writer_effect  # noqa: E402
from llmmusic.book import plots  # noqa: E402
from llmmusic.data.piece import Note, Piece  # noqa: E402


def _pieces() -> list[Piece]:
    return [Piece(melody=[Note(60 + i, 480, 90, 480 * i) for i in range(8)],
                  chords=[Note(48, 960, 70, 0), Note(52, 960, 70, 0)], bass=[Note(36, 480, 80, 7680)],
                  rhythm=[Note(36, 120, 100, 0), Note(42, 120, 60, 240)], meta={"genre": "Jazz", "style": "Swing"}),
            Piece(melody=[Note(72, 240, 100, 0)], meta={"genre": "Pop", "style": "Waltz"})]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_grouped_barh_one_bar_per_cell() -> None:
    table = pd.DataFrame({"schema": [0, 2], "free": [3, 1]}, index=["json_error", "missing_track"])
    fig, ax = plots.grouped_barh(table, xlabel="attempts")
    assert len(ax.patches) == 4 and ax.get_xlabel() == "attempts"
    assert ax.yaxis_inverted() and tuple(fig.get_size_inches()) == (7, 3.5)


def test_start_tick_histogram_shades_the_bars_past_the_allowed_start() -> None:
    fig, ax = plots.start_tick_histogram(note_table(_pieces())["start"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bars 5-8: outside 0-7680"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(b) for b in range(9)]
    assert sum(p.get_height() for p in ax.patches[:-1]) == 14  # every note counted once; the last patch is the span


def test_writer_rolls_share_one_time_axis() -> None:
    piece = _pieces()[0]
    figs = plots.writer_rolls(writer_effect(piece), "Jazz / Swing")
    assert list(figs) == ["exact", "official"]
    titles = [fig.axes[0].get_title() for fig in figs.values()]
    assert titles == ["Jazz / Swing: writer=exact", "Jazz / Swing: writer=official"]
    assert figs["exact"].axes[0].get_xlim() == figs["official"].axes[0].get_xlim()


def test_notes_per_track_and_note_histograms() -> None:
    fig, ax = plots.notes_per_track(track_summary(_pieces()), targets=(16, 8, 8, 16))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["melody", "chords", "bass", "rhythm"]
    assert [line.get_ydata()[0] for line in ax.lines[-4:]] == [16, 8, 8, 16]
    fig, ax = plots.notes_per_track(track_summary(_pieces()), targets=[(8, 24), (24, 32), (8, 8), None])
    assert [line.get_ydata()[0] for line in ax.lines[-1:]] == [8]  # an equal pair is a line, None nothing
    (band_a,), (band_b,) = [c.get_paths() for c in ax.collections]
    assert (band_a.vertices[:, 1].min(), band_a.vertices[:, 1].max()) == (8, 24)
    assert (band_b.vertices[:, 1].min(), band_b.vertices[:, 1].max()) == (24, 32)
    fig, axes = plots.note_histograms(note_table(_pieces()))
    assert len(axes) == 3 and [a.get_xlabel() for a in axes] == ["pitch (MIDI)", "duration (quarter notes)", "velocity"]
    assert len(axes[0].patches) == 3 and len(axes[2].patches) == 4  # no pitch histogram of the drums


def test_metric_distributions_overlay_every_source() -> None:
    tables = {"a": metrics_table(_pieces(), source="a"), "b": metrics_table(_pieces()[:1], source="b")}
    shown = ["pitch_class_entropy", "scale_consistency", "polyphony", "note_density", "empty_beat_rate", "pitch_range"]
    fig, axes = plots.metric_distributions(tables, shown)
    assert axes.shape == (2, 3) and [a.get_xlabel() for a in axes.flat] == shown
    assert all(len(a.patches) == 2 for a in axes.flat) and np.isfinite(fig.get_size_inches()).all()
