# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: llmmusic,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   llmmusic:
#     small:
#       n_human: 10
#       n_pieces: 40
#       n_pop909: 10
# ---

# %% [markdown]
# # Dataset statistics
#
# Before asking what a model "perceives" in these pieces, we look at what they contain. This chapter
# counts the generated dataset (which genre x style cells are filled, why attempts failed), describes
# its notes (how many per track, which pitches, durations, velocities, drum patterns), and compares
# objective music metrics {cite}`dong2020muspy` of the LLM-made pieces with MIDI written by people:
# a collection of human arrangements in five genres and the POP909 melodies {cite}`wang2020pop909`.

# %% tags=["parameters"]
dataset = None          # generated dataset folder; None: llmmusic.data.dataset.DEFAULT_DATASET (else the largest in data/llm-midi)
n_pieces = None         # LLM pieces analysed; None: every valid piece
n_human = 100           # human MIDI files sampled from shared/data/human-midi (spread over its 5 folder genres)
n_pop909 = 100          # POP909 melodies (shared/data/pop909)
human_bars = 8          # length of the window read from each human file, in bars
audio_per_genre = 1     # audio examples per genre
compare_dataset = None  # the dataset shown side by side with `dataset`; None: the paper-prompt dataset embedded-v1
seed = 0                # sampling seed (human files, audio examples)

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from llmmusic.analysis import probe, stats
from llmmusic.book import plots
from llmmusic.book.provenance import Provenance, notice, relative_to_root
from llmmusic.data.corpora import shared_data_dir
from llmmusic.data.dataset import PAPER_DATASET, load_manifest, load_pieces, pick_dataset
from llmmusic.data.piece import TRACKS
from llmmusic.data.sampling import sample_per_group
from llmmusic.generation.variants import dataset_variant

# %%
dataset_dir = pick_dataset(dataset)
if dataset_dir is None:
    raise FileNotFoundError("no generated dataset under data/llm-midi; make one with `llmmusic generate`")
shared = shared_data_dir()
manifest = load_manifest(dataset_dir)
pieces = load_pieces(dataset_dir, limit=n_pieces)

# %%
prov = Provenance(
    "02_dataset_statistics",
    inputs={"dataset": dataset_dir, "compare_dataset": compare_dataset or PAPER_DATASET,
            "human_midi": shared / "human-midi" if shared else None,
            "pop909": shared / "pop909" if shared else None},
)
print(f"dataset: {relative_to_root(dataset_dir)}: {len(manifest)} attempts, {len(pieces)} pieces analysed")

# %% [markdown]
# ## The generation run
#
# One row per song of the grid that was asked for; "valid" means the reply parsed into four tracks
# within the allowed ranges (after the paper's clamping).

# %%
summary = pd.Series(stats.generation_summary(manifest), name=dataset_dir.name).map(
    lambda v: round(v, 3) if isinstance(v, float) else v).to_frame()
prov.table(summary, "generation_summary", caption="Headline numbers of the generation run.")

# %%
grid = stats.dataset_grid(dataset_dir, manifest)
fig, ax = plots.heatmap(grid, title=f"valid pieces per genre x style ({int(grid.values.sum())} in all)",
                        cbar_label="pieces")
prov.figure(fig, "counts_heatmap", caption="Valid pieces in each genre (rows) x style (columns) cell.")

# %%
failures = stats.failure_counts(manifest)
if failures.empty:
    notice("No attempt of this run failed.")
else:
    fig, ax = plots.bar_chart(failures, horizontal=True, ylabel="attempts",
                              title=f"{int(failures.sum())} failed attempts by reason")
    prov.figure(fig, "failures", caption="Attempts that produced no valid piece, by reason.")

# %% [markdown]
# ## Notes per track
#
# How many notes each track holds, against what the dataset's prompt asked for (its variant, recorded in
# `dataset.json`; `llmmusic.generation.variants.Variant.ask`):

# %%
variant = dataset_variant(dataset_dir)
ask = variant.ask()
display(Markdown(f"The `{variant.name}` prompt of this dataset asks for "
                 f"{ask.describe()}."))
tracks = stats.track_summary(pieces)
fig, ax = plots.notes_per_track(tracks, targets=ask.targets())
prov.figure(fig, "notes_per_track", caption="Notes per track and piece; red: the number (line) or range (band) the "
                                            "prompt asks for.")

# %%
ranges = tracks.groupby("track")[["n_notes", "pitch_min", "pitch_max", "pitch_range"]].mean().reindex(TRACKS).round(1)
prov.table(ranges, "pitch_ranges", caption="Mean notes, lowest and highest pitch, and pitch range (semitones) per track.")

# %%
fig, axes = plots.note_histograms(stats.note_table(pieces))
prov.figure(fig, "note_histograms", caption="Pitches (pitched tracks), durations and velocities of every note, per track.")

# %% [markdown]
# ## Pitch classes per genre
#
# Does the model change key material with the genre? The share of each pitch class over the melody,
# chords and bass of each genre's pieces:

# %%
profiles = stats.pitch_class_histogram(pieces, by="genre")
fig, ax = plots.heatmap(profiles, fmt="{:.2f}", cmap="magma", title="share of notes per pitch class",
                        cbar_label="share")
prov.figure(fig, "pitch_classes", caption="Pitch-class distribution of each genre's pitched notes (rows sum to 1).")

# %% [markdown]
# ## Drums
#
# Which General MIDI drum keys the rhythm tracks use, and their most frequent one-bar patterns.

# %%
display(Markdown(f"Asked for: {ask.drums}."))
keys = stats.drum_key_counts(pieces)
if keys.empty:
    notice("No rhythm-track notes in these pieces.")
else:
    keys.index = [plots.DRUM_NAMES.get(int(k), str(k)) for k in keys.index]
    fig, ax = plots.bar_chart(keys, title="drum keys used", ylabel="notes")
    prov.figure(fig, "drum_keys", caption="Rhythm-track notes per General MIDI drum key.")
    prov.table(stats.drum_patterns(pieces, top=10), "drum_patterns",
               caption="The ten most frequent first-bar drum patterns (K kick, S snare, H hi-hat; eighth-note steps).")

# %% [markdown]
# ## Objective metrics, next to human music
#
# Per-piece metrics (definitions in `llmmusic.analysis.stats`): pitch-class entropy, scale consistency,
# polyphony, note density, empty-beat rate, pitch range and mean duration, over the melody, chords
# and bass. The human pieces are windows of `human_bars` bars read with `llmmusic.data.roles.read_midi`,
# which assigns the same four roles to the parts of any MIDI file. POP909 has melodies only, so the
# second table compares melodies (POP909 songs cut to windows of `human_bars` bars too). Counts are
# per bar, because the sources span different lengths (the paper's prompt leaves only 4 bars of start
# times, chapter 1; the new variants ask for 8).

# %%
human = pop909 = None
if shared is None or not (shared / "human-midi").is_dir():
    notice("The human MIDI collection (`../shared/data/human-midi`) is not here: the human column is missing. "
           "Set `LLMMUSIC_SHARED_DATA` to a folder holding it.", kind="warning")
else:
    human, unreadable = stats.human_sample(n_human, seed=seed, bars=human_bars)
    if unreadable:
        print(f"{len(unreadable)} human files could not be read:", *(f"{f['path']}: {f['reason']}" for f in unreadable[:5]), sep="\n  ")
if shared is None or not (shared / "pop909").is_dir():
    notice("POP909 (`../shared/data/pop909`) is not here: its column is missing.", kind="warning")
else:
    pop909 = stats.pop909_windows(n_pop909, human_bars)

# %%
tables, melody_tables = stats.source_metric_tables({"LLM-MIDI": pieces, "human MIDI": human}, {"POP909": pop909})
prov.table(stats.summarise_metrics(tables), "metrics_all_tracks",
           caption="Mean ± standard deviation per piece over melody, chords and bass.")
prov.table(stats.summarise_metrics(melody_tables), "metrics_melody",
           caption="Mean ± standard deviation per piece, melody track only.")

# %%
shown = ["pitch_class_entropy", "scale_consistency", "polyphony", "note_density", "empty_beat_rate", "pitch_range"]
fig, axes = plots.metric_distributions(tables, shown)
prov.figure(fig, "metric_distributions", caption="Distributions of the metrics (melody, chords and bass) per source.")
prov.summary(stats.summary_lines(dataset_dir.name, stats.generation_summary(manifest), tables))

# %% [markdown]
# ## Two ways of asking, side by side
#
# Chapter 1's prompt-design study chose how the default dataset is asked for. Here the same probe
# (`llmmusic probe`) runs over every valid piece of this dataset and of the paper-prompt dataset,
# with genre legibility cross-validated over the whole of each.

# %%
compare_dir = Path(compare_dataset) if compare_dataset else PAPER_DATASET
if compare_dir.resolve() == dataset_dir.resolve():
    notice(f"`dataset` is the comparison dataset itself ({relative_to_root(compare_dir)}): nothing to set side by side.")
else:
    both = [probe.probe_dataset(compare_dir, seed=seed), probe.probe_dataset(dataset_dir, seed=seed)]
    prov.table(probe.probe_table(both).T, "datasets_side_by_side",
               caption=f"The probe of {compare_dir.name} (paper prompt) and {dataset_dir.name}: means with 95 % "
                       "intervals; genre legibility with its bootstrap interval.")
    print(*probe.study_lines(both), sep="\n")

# %% [markdown]
# ## Listening
#
# A few pieces per genre, rendered to audio (the stamp says which synthesizer made each clip).

# %%
for i, example in enumerate(sample_per_group(pieces, per_group=audio_per_genre, by="genre", seed=seed)):
    label = f"{example.meta.get('genre')} / {example.meta.get('style')} ({example.meta.get('mood')})"
    prov.audio(example, f"example_{i:02d}", caption=label)
