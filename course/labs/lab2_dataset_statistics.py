# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: llmmusic,mystnb,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   llmmusic:
#     tiny:
#       n_pieces: 8
#       n_human: 5
#   mystnb:
#     execution_mode: cache
#     execution_timeout: 600
# ---

# %% [markdown]
# # Lab 2: What is in the pieces?
#
# Before asking whether a model "knows" a genre, look at what it wrote. In this lab you count notes per
# track, compare one objective music metric across genres (and with music written by people), look at
# the pitch classes each genre uses, and write a metric of your own. It builds on the chapter
# {doc}`/book/executed/02_dataset_statistics` and calls the same functions of `llmmusic.analysis.stats`.
#
# **Run it**: `llmmusic lab 2` (your copy: `my-labs/lab2_dataset_statistics.ipynb`; change a parameter with
# `-p NAME VALUE`); grade your answers with `llmmusic check lab2`.
# **Download**: {download}`notebook <lab2_dataset_statistics.ipynb>` ·
# {download}`Jupytext source <lab2_dataset_statistics.py>`.

# %% tags=["parameters"]
dataset = None                  # generated dataset folder; None: llmmusic.data.dataset.DEFAULT_DATASET
n_pieces = 20                   # LLM pieces analysed
metric = "pitch_class_entropy"  # metric compared in part 2: a name in llmmusic.analysis.stats.METRICS
group_by = "genre"              # group pieces by "genre" or "style"
n_human = 10                    # human MIDI files read for comparison (0: none; skipped without ../shared/data)
seed = 0                        # sampling seed of the human files

# %%
# On Colab or Binder without the package: fetch the repository (it holds the dataset) and install it.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("llmmusic") is None:
    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/OWNER/llm-midi-book", "llm-midi-book"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "llm-midi-book"], check=True)
    sys.path.insert(0, os.path.abspath("llm-midi-book"))

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmmusic.data.dataset import pick_dataset
from llmmusic.book import plots
from llmmusic.analysis import stats
from llmmusic.data.corpora import shared_data_dir
from llmmusic.course import sample_pieces
from llmmusic.data.piece import Note, Piece
from llmmusic.generation.variants import dataset_variant

if metric not in stats.METRICS:
    raise ValueError(f"metric={metric!r}: choose one of {stats.METRICS}")
dataset_dir = pick_dataset(dataset)
pieces = sample_pieces(dataset_dir, n_pieces, by="genre")  # spread over the genres, via llmmusic.data.dataset.load_pieces
human = []
if n_human and shared_data_dir() is not None:
    human, unreadable = stats.human_sample(n_human, seed=seed)
print(f"{len(pieces)} LLM pieces from {dataset_dir.name}; {len(human)} human pieces"
      + ("" if shared_data_dir() else " (no ../shared/data here: the human comparison is skipped)"))

# %% [markdown]
# ## Part 1: notes per track
#
# Red: what the dataset's prompt asks for (a line for an exact count, a band for a range), printed first.

# %%
ask = dataset_variant(dataset_dir).ask()  # the variant recorded in the dataset's dataset.json
print("asked for:", ask.describe())
tracks = stats.track_summary(pieces)
fig, ax = plots.notes_per_track(tracks, targets=ask.targets())
plt.show()

# %% [markdown]
# ## Part 2: one metric across groups
#
# `llmmusic.analysis.stats.metrics_table` computes objective metrics of every piece over its melody, chords and
# bass. Here is the parameter `metric` per `group_by` group, with the human pieces as one more group:

# %%
table = stats.metrics_table(pieces)
groups = {str(g): part[metric].dropna() for g, part in table.groupby(group_by)}
if human:
    groups["human MIDI"] = stats.metrics_table(human, source="human")[metric].dropna()
fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(groups)), 3.4))
ax.boxplot(list(groups.values()), tick_labels=list(groups))
ax.tick_params(axis="x", rotation=45)
ax.set_ylabel(metric)
ax.set_title(f"{metric} per {group_by} ({len(pieces)} LLM pieces)", fontsize=10)
plt.show()
pd.DataFrame({g: {"pieces": len(v), "mean": v.mean(), "std": v.std(ddof=0)} for g, v in groups.items()}).T.round(3)

# %% [markdown]
# ```{exercise} lab2.1 · How low can scale consistency go?
# :label: lab2-ex1
#
# `scale_consistency` is the largest share of a piece's notes whose pitch classes lie in one major scale
# (over the 12 major scales). What is the *smallest* value it can take, for any piece? Set
# `min_scale_consistency` to that number. Then say in two sentences why a high average scale
# consistency of the LLM pieces is, on its own, weak evidence that the model "knows" tonality.
# ```

# %% tags=["answer"]
min_scale_consistency = None  # your answer: the smallest possible scale consistency (a number between 0 and 1)

# %% [markdown]
# ````{solution-start} lab2-ex1
# :class: dropdown
# ````
#
# Each pitch class belongs to exactly 7 of the 12 major scales, so the 12 scales' shares average to
# 7/12 whatever the notes are, and the largest of them is at least that average: the minimum is
# **7/12 ≈ 0.583**, reached by a piece that uses all 12 pitch classes equally often, such as a chromatic
# scale:

# %% tags=["solution", "reference"]
min_scale_consistency = 7 / 12
chromatic = [Note(60 + k, 240, 90, 240 * k) for k in range(12)]
print(f"7/12 = {min_scale_consistency:.4f}; chromatic scale: {stats.scale_consistency(chromatic):.4f}")

# %% [markdown]
# The floor is high, and short pieces lift it further: a melody of 16 notes with pitches drawn uniformly
# at random already scores, on average,

# %% tags=["solution"]
rng = np.random.default_rng(seed)
random_melodies = [[Note(int(p), 240, 90, 240 * k) for k, p in enumerate(rng.integers(48, 84, size=16))]
                   for _ in range(500)]
random_sc = np.mean([stats.scale_consistency(m) for m in random_melodies])
llm_sc = stats.metrics_table(pieces, tracks=("melody",))["scale_consistency"].mean()
print(f"random 16-note melodies: {random_sc:.3f}; melodies of the {len(pieces)} LLM pieces: {llm_sc:.3f}")

# %% [markdown]
# So compare with such a baseline (random or shuffled pitches of the same length) and with human music
# before reading a high value as knowledge of tonality.
#
# ````{solution-end}
# ````

# %% [markdown]
# ```{exercise} lab2.2 · Change the metric
# :label: lab2-ex2
#
# Rerun the lab with `llmmusic lab 2 -p metric scale_consistency`, then with
# `-p metric note_density -p n_pieces 60`. For each figure: which group is highest, and is the difference
# between groups larger than the spread inside a group? How many pieces does each group hold, and how
# far would you trust the ranking? Hand in the figures and a short paragraph.
# ```

# %% [markdown]
# ````{solution-start} lab2-ex2
# :class: dropdown
# ````
#
# A reading aid for any metric: the group means with a 95 % bootstrap interval and the group sizes
# (here for the metric of this run, `metric`).

# %% tags=["solution"]
from llmmusic.analysis.metrics import bootstrap_ci

rows = {}
for name, values in groups.items():
    low, high = bootstrap_ci(values.to_numpy(), values.to_numpy(), lambda t, p: float(np.mean(p)), n=300, seed=seed)
    rows[name] = {"pieces": len(values), "mean": values.mean(), "ci_low": low, "ci_high": high}
summary = pd.DataFrame(rows).T.sort_values("mean")
print(summary.round(3).to_string())

# %% [markdown]
# Read the intervals rather than the boxes. With `n_pieces` pieces spread over up to 13 genres, a group
# holds about `n_pieces / 13` pieces (1-2 at 20, about 5 at 60), so its interval is wide, and a ranking of
# genres is only as good as the intervals that do not overlap. A metric that barely moves between genres
# but separates the LLM pieces from the human ones says more about the prompt's fixed format than about
# genre: `scale_consistency` has a high floor (exercise lab2.1), and `note_density` is pinned by the
# event counts the prompt asks for.
#
# ````{solution-end}
# ````

# %% [markdown]
# ## Part 3: pitch classes per group
#
# Does the model change its pitch material with the genre? The share of each pitch class over the
# melody, chords and bass of each group:

# %%
profiles = stats.pitch_class_histogram(pieces, by=group_by)
fig, ax = plots.heatmap(profiles, fmt="{:.2f}", cmap="magma", title=f"share of notes per pitch class, per {group_by}")
plt.show()

# %% [markdown]
# ```{exercise} lab2.3 · A new metric: melodic interval size
# :label: lab2-ex3
#
# Write `melodic_interval_mean(piece)`: the mean absolute interval, in semitones, between consecutive
# notes of the **melody** track, taken in order of start time (notes with the same start: lowest pitch
# first). It returns a `float`, and `float("nan")` when the melody has fewer than two notes. Other tracks
# do not count. Example: a melody C4-E4-G4 (pitches 60, 64, 67) gives (4 + 3) / 2 = 3.5.
#
# Stepwise melodies (small intervals) are typical of singable tunes; the autograder checks your function
# on hand-made melodies and on pieces of the dataset.
# ```

# %% tags=["answer"]
import math

from llmmusic.data.piece import Piece


def melodic_interval_mean(piece: Piece) -> float:
    """Mean absolute interval (semitones) between consecutive melody notes, in start order; NaN below 2 notes."""
    raise NotImplementedError("lab2.3: write melodic_interval_mean(piece)")


# %% [markdown]
# ````{solution-start} lab2-ex3
# :class: dropdown
# ````

# %% tags=["solution", "reference"]
import math

import numpy as np

from llmmusic.data.piece import Piece


def melodic_interval_mean(piece: Piece) -> float:
    """Mean absolute interval (semitones) between consecutive melody notes, in start order; NaN below 2 notes."""
    pitches = [n.pitch for n in sorted(piece.melody, key=lambda n: (n.start, n.pitch))]
    if len(pitches) < 2:
        return math.nan
    return float(np.mean(np.abs(np.diff(pitches))))


# %% [markdown]
# The new metric per group, next to the human melodies:

# %% tags=["solution"]
intervals = {str(g): [melodic_interval_mean(p) for p in pieces if str(p.meta.get(group_by)) == str(g)]
             for g in sorted({p.meta.get(group_by) for p in pieces})}
if human:
    intervals["human MIDI"] = [melodic_interval_mean(p) for p in human]
means = pd.Series({g: np.nanmean(v) for g, v in intervals.items() if np.isfinite(v).any()})
fig, ax = plots.bar_chart(means, title="mean melodic interval", ylabel="semitones")
plt.show()
print(means.round(2).to_string())

# %% [markdown]
# ````{solution-end}
# ````
#
# ## Check your answers
#
# The autograder runs on the answers in this notebook (the same as `llmmusic check lab2`):

# %% tags=["check"]
from llmmusic.course import check

check("lab2", globals());
