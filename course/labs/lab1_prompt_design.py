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
#       n_pieces: 6
#   mystnb:
#     execution_mode: cache
#     execution_timeout: 600
# ---

# %% [markdown]
# # Lab 1: Reading the prompt
#
# The paper never shows the model a note of music: it asks, in words, for an 8-bar piece of a genre and
# style, as JSON. In this lab you read that prompt, follow one reply from the call cache to a piano roll,
# and find out what two quirks of the paper's set-up do to the music. It builds on the chapter
# {doc}`/book/executed/01_prompt_design` and calls the same functions (`llmmusic.generation.prompts`,
# `llmmusic.generation.cache`, `llmmusic.generation.parse`, `llmmusic.analysis.stats`, `llmmusic.book.plots`).
#
# **Run it**: `llmmusic lab 1` writes your own executed copy to `my-labs/lab1_prompt_design.ipynb`
# (add `-p NAME VALUE` to change a parameter); `llmmusic check lab1` grades your answers.
# **Download**: {download}`notebook <lab1_prompt_design.ipynb>` ·
# {download}`Jupytext source <lab1_prompt_design.py>`. No GPU, no API key and no network: every model
# reply comes from the dataset's call cache.

# %% tags=["parameters"]
dataset = None          # generated dataset folder; None: the paper-prompt dataset (llmmusic.data.dataset.PAPER_DATASET)
genre = "Jazz"          # the request printed in part 1
style = "Bossa Nova"
mood = "calm"
variant = "paper"       # prompt variant printed in part 1 ("paper" or "corrected")
n_pieces = 20           # pieces read from the dataset (parts 2 and 3)
writer = "exact"        # MIDI writer of the piano roll in part 2: "exact" (ours) or "official" (the paper's script)

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
import difflib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from llmmusic.data.dataset import PAPER_DATASET, pick_dataset
from llmmusic.book import plots
from llmmusic.analysis import stats
from llmmusic.generation.cache import CallCache
from llmmusic.course import sample_pieces
from llmmusic.data.dataset import load_manifest, valid_rows
from llmmusic.generation.parse import parse_reply
from llmmusic.data.piece import PAPER_BOUNDS, TICKS_PER_BAR
from llmmusic.generation.prompts import PROMPT_VARIANTS, build_generation_messages, generation_schema

dataset_dir = pick_dataset(dataset or PAPER_DATASET)
pieces = sample_pieces(dataset_dir, n_pieces, by="genre")  # spread over the genres
manifest = load_manifest(dataset_dir)
print(f"dataset {dataset_dir.name}: {len(manifest)} attempts; {len(pieces)} pieces read")

# %% [markdown]
# ## Part 1: the prompt
#
# Every piece comes from one system message and one user message, built by
# `llmmusic.generation.prompts.build_generation_messages`:

# %%
messages = build_generation_messages(genre, style, mood, variant=variant)
for message in messages:
    print(f"--- {message['role']} ---\n{message['content']}\n")

# %% [markdown]
# The `corrected` variant makes the request consistent. What changes between the two user messages:

# %%
other = "corrected" if variant == "paper" else "paper"
print("\n".join(difflib.unified_diff(messages[1]["content"].splitlines(),
                                     build_generation_messages(genre, style, mood, other)[1]["content"].splitlines(),
                                     variant, other, lineterm="", n=0)))

# %% [markdown]
# ```{exercise} lab1.1 · Eight bars asked, how many allowed?
# :label: lab1-ex1
#
# The prompt asks for an 8-bar piece in 4/4 at 480 ticks per quarter note, and allows start times from 0
# to 7680 ticks. How many bars does that range span? Set `bars_allowed` in the next cell to your answer
# (a number). Then predict, in one or two sentences, what the histogram of note start times in part 3
# will look like, and why a model that obeys the prompt *cannot* fill eight bars.
# ```

# %% tags=["answer"]
bars_allowed = None  # your answer: how many 4/4 bars do start times 0-7680 span?

# %% [markdown]
# ````{solution-start} lab1-ex1
# :class: dropdown
# ````
#
# A 4/4 bar is 4 × 480 = 1920 ticks, so 7680 ticks are 7680 / 1920 = **4 bars**:

# %% tags=["solution", "reference"]
bars_allowed = PAPER_BOUNDS.start_max / TICKS_PER_BAR
print(f"{PAPER_BOUNDS.start_max} ticks / {TICKS_PER_BAR} ticks per bar = {bars_allowed:g} bars")

# %% [markdown]
# A model that keeps to the allowed range can start notes only in bars 1-4 (a note starting at 7680 may
# ring on into bar 5 for at most a half note). The histogram should be flat or front-loaded over bars 1-4
# and empty after tick 7680, unless the model ignores the range; with schema-constrained decoding it
# cannot. Everything downstream (audio, the CNN's piano rolls, melody phrases) sees 4-bar pieces, not 8.
#
# ````{solution-end}
# ````

# %% [markdown]
# ## Part 2: one reply, from the call cache to a piano roll
#
# Every request the generation run made is stored with its reply in the dataset's SQLite call cache,
# keyed by the request's content. We pick the piece (among the `n_pieces` read) that the paper's MIDI
# writer changes most, read its reply from the cache and parse it with `llmmusic.generation.parse.parse_reply`.

# %%
effects = stats.writer_effects(pieces)
chosen = int(effects.sort_values(["moved", "piece"], ascending=[False, True]).iloc[0]["piece"])
piece = pieces[chosen]
row = valid_rows(manifest).set_index("path").loc[Path(piece.meta["path"]).relative_to(dataset_dir).as_posix()]
reply = CallCache(dataset_dir / "cache.sqlite").get(row["cache_key"]).text
print(f"{row['genre']} / {row['style']} / {row['mood']}, temperature {row['temperature']}: "
      f"{len(reply)} characters of reply, starting\n{reply[:240]} ...")
parsed = parse_reply(reply, bounds=PAPER_BOUNDS)
print(f"\nparsed: failure={parsed.failure}, repairs={parsed.repairs or 'none'}, "
      f"{parsed.piece.n_notes if parsed.piece else 0} notes")

# %%
effect = stats.writer_effect(parsed.piece)
print(f"writer='{writer}': {effect['moved']} of {effect['notes']} notes move under the paper's writer; "
      f"last offset {effect['end_exact']} ticks (exact) vs {effect['end_official']} ticks (official)")
fig, axes = plots.piano_roll(effect[writer], bars=int(np.ceil(max(effect["end_exact"], effect["end_official"])
                                                              / TICKS_PER_BAR)),
                             title=f"{row['genre']} / {row['style']}, written with writer='{writer}'")
plt.show()

# %% [markdown]
# ```{exercise} lab1.2 · The paper's MIDI writer
# :label: lab1-ex2
#
# Run the lab again with the paper's writer, `llmmusic lab 1 -p writer official`, and compare its piano
# roll with the default one (`writer='exact'`). What happens to the chords track, and to notes that
# overlap in one track? Would a listener, or a classifier that reads MIDI files, notice? Hand in both
# figures and three sentences.
# ```

# %% [markdown]
# ````{solution-start} lab1-ex2
# :class: dropdown
# ````
#
# Both versions side by side (the same piece, read back from each writer's MIDI file):

# %% tags=["solution"]
fig, axes = plt.subplots(4, 2, figsize=(13, 6.4), sharex=True)
bars = int(np.ceil(max(effect["end_exact"], effect["end_official"]) / TICKS_PER_BAR))
for column, name in enumerate(("exact", "official")):
    plots.piano_roll(effect[name], axes=axes[:, column], bars=bars, title=f"writer='{name}'")
plt.show()
print(f"{effect['overlaps']} notes start while the previous note of their track still sounds; "
      f"{effect['moved']} notes move; the piece ends at tick {effect['end_official']} instead of {effect['end_exact']}")

# %% [markdown]
# The paper's script writes each track as one sequence of note-on/note-off pairs, with every onset
# measured from the previous note-off. Chords, which the prompt asks for as *single* pitches at the same
# start, become **arpeggios**: each chord tone waits for the previous one to end, and everything after
# it is pushed later, so the piece grows longer than its 4 allowed bars. No track can ever sound two
# notes at once. A listener hears broken chords and a drifting groove; a classifier reading the files
# sees monophonic tracks and longer pieces — properties of the writer, not of the model's idea of the
# genre.
#
# ````{solution-end}
# ````

# %% [markdown]
# ## Part 3: where the notes start
#
# The start times of every note of the `n_pieces` pieces, against the 8 bars the prompt asks for:

# %%
notes = stats.note_table(pieces)
fig, ax = plt.subplots(figsize=(8, 3))
ax.hist(notes["start"], bins=np.arange(0, 8 * TICKS_PER_BAR + 1, 120), color="#555")
ax.axvspan(PAPER_BOUNDS.start_max, 8 * TICKS_PER_BAR, color="#d62728", alpha=0.12, label="outside 0-7680")
plots.tick_axis_in_bars(ax, 8 * TICKS_PER_BAR)
ax.set_xlabel("bar (start time)")
ax.set_ylabel("notes")
ax.legend(fontsize=8)
plt.show()
print(f"{len(notes)} notes; {(notes['start'] > PAPER_BOUNDS.start_max).mean():.1%} start after tick 7680")

# %% [markdown]
# ```{exercise} lab1.3 · A new prompt variant
# :label: lab1-ex3
#
# Write `eight_bar_variant()`, returning a `llmmusic.generation.prompts.PromptVariant` that keeps *everything* of the
# paper's prompt (`PROMPT_VARIANTS["paper"]`: single-pitch chords, the tuple example, the event counts,
# the pitch, duration, velocity and drum ranges) except that start times cover the 8 requested bars: a
# note may start up to an eighth note (240 ticks) before the end of bar 8. Give it its own `name` and
# its own `version` (a changed template must never share a version id: cached replies and manifests are
# keyed by it). Hint: `dataclasses.replace`.
#
# The autograder builds the prompt and the JSON schema from your variant and checks that only the start
# range changed.
# ```

# %% tags=["answer"]
from dataclasses import replace

from llmmusic.data.piece import TICKS_PER_BAR
from llmmusic.generation.prompts import PROMPT_VARIANTS, PromptVariant


def eight_bar_variant() -> PromptVariant:
    """The paper's prompt, with start times that cover all 8 bars."""
    raise NotImplementedError("lab1.3: write eight_bar_variant()")


# %% [markdown]
# ````{solution-start} lab1-ex3
# :class: dropdown
# ````

# %% tags=["solution", "reference"]
from dataclasses import replace

from llmmusic.data.piece import TICKS_PER_BAR
from llmmusic.generation.prompts import PROMPT_VARIANTS, PromptVariant


def eight_bar_variant() -> PromptVariant:
    """The paper's prompt, with start times that cover all 8 bars."""
    paper = PROMPT_VARIANTS["paper"]
    return replace(paper, name="paper-8bars", version="gen-paper-8bars-v1",
                   bounds=replace(paper.bounds, start_max=8 * TICKS_PER_BAR - 240))


# %% [markdown]
# Registered under its name, the variant works everywhere a variant name does; the prompt changes in one
# line and the schema's start bound follows:

# %% tags=["solution"]
fixed = eight_bar_variant()
PROMPT_VARIANTS[fixed.name] = fixed
print("\n".join(difflib.unified_diff(build_generation_messages(genre, style, mood, "paper")[1]["content"].splitlines(),
                                     build_generation_messages(genre, style, mood, fixed.name)[1]["content"].splitlines(),
                                     "paper", fixed.name, lineterm="", n=0)))
start = generation_schema(fixed.name)["json_schema"]["schema"]["properties"]["melody"]["items"]["prefixItems"][3]
print(f"schema start bound: {start}")
del PROMPT_VARIANTS[fixed.name]

# %% [markdown]
# ````{solution-end}
# ````
#
# ## Check your answers
#
# The autograder runs on the answers in this notebook (the same as `llmmusic check lab1`):

# %% tags=["check"]
from llmmusic.course import check

check("lab1", globals());
