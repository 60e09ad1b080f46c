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
#       n_boot: 50
#   mystnb:
#     execution_mode: cache
#     execution_timeout: 600
# ---

# %% [markdown]
# # Lab 3: Can the model name the genre?
#
# The paper's first experiment turns generation around: show the model a piece in the same JSON form it
# writes, and ask for the genre or the style. In this lab you follow one question from the prompt to the
# model's cached answer, read the chapter's answers against chance, look at which labels the model
# prefers, and find out how much the way replies are *read* changes the accuracy. It builds on the
# chapter {doc}`/book/executed/03_zero_shot` and calls the same functions (`llmmusic.experiments.zeroshot`,
# `llmmusic.analysis.metrics`).
#
# Asking a local model takes minutes per question on a laptop CPU, so the lab asks nothing new: it
# reads the chapter's answers (`data/zeroshot/results.jsonl`) and its call cache
# (`data/zeroshot/cache.sqlite`), both committed.
#
# **Run it**: `llmmusic lab 3` (your copy: `my-labs/lab3_zero_shot.ipynb`); grade your answers with
# `llmmusic check lab3`.
# **Download**: {download}`notebook <lab3_zero_shot.ipynb>` · {download}`Jupytext source <lab3_zero_shot.py>`.

# %% tags=["parameters"]
results_file = None     # the chapter's answers (JSON lines); None: this build's chapter 3 run, else data/zeroshot/results.jsonl
dataset = None          # generated dataset folder; None: llmmusic.data.dataset.DEFAULT_DATASET
task = "llm-genre"      # question analysed in part 3: llm-genre, llm-style, human-folder or human-topmagd
mode = "free"           # way of asking analysed in part 3: free, score, json or explain
max_events = 32         # events per track shown to the model (must match the chapter's run for cache hits)
n_boot = 200            # bootstrap resamples of the 95 % intervals
seed = 0                # bootstrap seed

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
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmmusic.analysis import metrics
from llmmusic.experiments import zeroshot as Z
from llmmusic.generation.llm import CacheMiss, LLMClient
from llmmusic.data.dataset import load_pieces
from llmmusic.data.midi import midi_to_piece
from llmmusic.data.dataset import pick_dataset
from llmmusic.paths import ROOT
from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_GENRES, PAPER_TO_FOLDER

results_path = Path(results_file) if results_file else Z.current_results()
if not results_path.is_file():
    raise FileNotFoundError(f"{results_path}: no zero-shot results; the chapter writes them (llmmusic book --chapter 03)")
results = Z.read_results(results_path)
tasks = Z.standard_tasks()
dataset_dir = pick_dataset(dataset)
print(f"{len(results)} answers in {results_path.name}:")
results.groupby(["task", "mode"]).size().unstack(fill_value=0)

# %% [markdown]
# ## Part 1: one question, answered from the cache
#
# `llmmusic.experiments.zeroshot.build_messages` shows the piece as JSON (at most `max_events` events per track) and
# lists the candidates; `classify` sends it through an `LLMClient` with `cache_only=True`, so the answer
# comes from the committed cache and a request that is not there raises `CacheMiss` instead of starting
# the model.

# %%
client = LLMClient(cache=Z.DEFAULT_CACHE, cache_only=True)
asked = results[(results["source"] == "llm-midi") & (results["mode"] == "free")]
row = asked.iloc[0] if len(asked) and dataset_dir is not None else None
if row is not None:
    made_on = ROOT / row["dataset"] if isinstance(row.get("dataset"), str) else dataset_dir  # the run's dataset
    piece, question = midi_to_piece(made_on / row["id"]), tasks[row["task"]]
else:
    piece, question = load_pieces(dataset_dir, limit=1)[0], tasks["llm-genre"]
messages = Z.build_messages(piece, question.labels, question.word, "free", max_events)
print(messages[1]["content"][:300], "...", messages[1]["content"][-250:], sep="\n")
if row is None:
    print("\nThe results file holds no LLM-MIDI answer yet: this question has no stored answer to look up.")
else:
    item = Z.Item(id=row["id"], piece=piece, truth=row["truth"], source="llm-midi")
    try:
        again = Z.classify(client, item, question, "free", max_events)
        print(f"\nreply (from the cache: {again['fresh_calls'] == 0}): {again['reply']!r} -> read as {again['raw']!r}; "
              f"true {again['truth']!r}; the stored result says {row['raw']!r}")
    except CacheMiss:
        print(f"\nnot in the cache (the chapter asked with other settings); the stored reply: {row['reply']!r}")
print(f"LLM calls made by this lab: {client.stats.calls}; answered from the cache: {client.stats.cache_hits}")

# %% [markdown]
# ## Part 2: accuracy against chance
#
# `llmmusic.experiments.zeroshot.summarize` computes accuracy and macro-F1 with bootstrap intervals for every
# question and way of asking, next to two label-blind baselines: a uniform guess, and always giving the
# most frequent true label.

# %%
asked_tasks = [tasks[t] for t in results["task"].unique() if t in tasks]
summary = Z.summarize(results, asked_tasks, n_boot=n_boot, seed=seed)
fig, ax = Z.plot_accuracy(summary, title="zero-shot accuracy (bars: 95 % intervals)")
plt.show()
summary[["task", "mode", "n", "accuracy", "acc_low", "acc_high", "chance_uniform", "chance_majority", "unparsed"]].round(3)

# %% [markdown]
# ## Part 3: which answers does the model give?
#
# The confusion table of the question `task` asked in the way `mode`: rows are true labels, columns the
# model's answers.

# %%
chosen = results[(results["task"] == task) & (results["mode"] == mode)]
if chosen.empty:
    available = sorted(set(zip(results["task"], results["mode"])))
    print(f"no answers for task={task!r}, mode={mode!r}; available: {available}; showing the first")
    task, mode = available[0]
    chosen = results[(results["task"] == task) & (results["mode"] == mode)]
labels = tasks[task].eval_labels or tasks[task].labels
truth = [tuple(v) if isinstance(v, list) else v for v in chosen["truth"]]
confusion = metrics.confusion(truth, list(chosen["pred"]), labels)
confusion = confusion.loc[confusion.sum(axis=1) > 0]
fig, ax = metrics.plot_confusion(confusion, title=f"{task}, {mode} (n={len(chosen)})")
plt.show()
print("answers given:", chosen["raw"].value_counts().to_dict())

# %% [markdown]
# ```{exercise} lab3.1 · Chance after a mapping
# :label: lab3-ex1
#
# Human files are asked with the paper's 13 genres and scored against their *folder* genre through
# `llmmusic.data.taxonomy.PAPER_TO_FOLDER` (Metal and Punk count as Rock, Blues as Jazz; five genres map to no
# folder and are always wrong). A model that guesses uniformly among the 13 genres: how often is it right
# on a **Rock** file? Set `chance_rock`. Is a uniform guess equally likely to be right for every folder
# genre? What does that mean for reading the accuracy of the `human-folder` question?
# ```

# %% tags=["answer"]
chance_rock = None  # your answer: probability that a uniform guess among the 13 genres counts as Rock

# %% [markdown]
# ````{solution-start} lab3-ex1
# :class: dropdown
# ````
#
# Three of the 13 genres (Rock, Metal, Punk) map to Rock, so a uniform guess is right on a Rock file
# with probability 3/13 ≈ 0.23. Per folder genre:

# %% tags=["solution", "reference"]
chance_rock = sum(PAPER_TO_FOLDER.get(g) == "Rock" for g in PAPER_GENRES) / len(PAPER_GENRES)
per_folder = pd.Series({f: sum(PAPER_TO_FOLDER.get(g) == f for g in PAPER_GENRES) / len(PAPER_GENRES)
                        for f in FOLDER_GENRES}, name="chance of a uniform guess")
print(per_folder.round(3).to_string())
asked_files = results[results["task"] == "human-folder"].drop_duplicates("id")
if len(asked_files):
    print(f"mean chance over the {len(asked_files)} files of the human-folder sample: "
          f"{per_folder.reindex(asked_files['truth']).mean():.3f} (part 2's chance_uniform uses 1/5 = 0.2)")

# %% [markdown]
# The chance level depends on the true genre: a constant answer "Rock" would be right on every Rock
# file, and a sample with many Rock files lifts the chance level of the whole question. So compare the
# model's accuracy with the chance level of the *same sample*, the per-file chance averaged over the
# files asked (printed above; the chapter's table uses it), never with 1/13 or with the 1/5 that part 2's
# `chance_uniform` shows for this question.
#
# ````{solution-end}
# ````

# %% [markdown]
# ```{exercise} lab3.2 · Another question, another way of asking
# :label: lab3-ex2
#
# Rerun with `llmmusic lab 3 -p task human-folder -p mode score` and then `-p mode json`. Does the model
# discriminate between the genres, or give one or two answers to everything? Compare with the default
# (`llm-genre`, `free`). How many answers are the confusion tables made of, and what would you need
# before calling a difference between the modes real? Hand in the figures and a paragraph.
# ```

# %% [markdown]
# ````{solution-start} lab3-ex2
# :class: dropdown
# ````
#
# Two numbers summarise a confusion table: how concentrated the answers are, and how far the accuracy is
# from the majority baseline. For every question and way of asking in the results:

# %% tags=["solution"]
rows = []
for (t, m), part in results.groupby(["task", "mode"]):
    share = part["raw"].value_counts(normalize=True)
    rows.append({"task": t, "mode": m, "answers": len(part), "distinct answers": int(share.size),
                 "most frequent answer": share.index[0], "its share": share.iloc[0],
                 "accuracy": part["correct"].mean()})
print(pd.DataFrame(rows).round(2).to_string(index=False))

# %% [markdown]
# When one answer takes most of the column and the accuracy sits near the majority-class baseline, the
# model reads little from the notes: it answers its prior. With a dozen answers per question the
# bootstrap intervals of part 2 span tens of percentage points, so two modes differ only if their
# intervals barely overlap; the chapter's discussion makes the same point.
#
# ````{solution-end}
# ````

# %% [markdown]
# ```{exercise} lab3.3 · A stricter answer reader
# :label: lab3-ex3
#
# The chapter reads free-text replies leniently (`llmmusic.experiments.zeroshot.parse_answer`: exact, then ignoring
# case, then the first candidate mentioned anywhere). Write `strict_answer(reply, labels)`: it returns
# the candidate the reply *is*, and `"unparsed"` otherwise. A reply is a candidate when, after removing
# surrounding white space and the characters `` .,;:!?"'`*`` from both ends, it equals the candidate
# ignoring case; return the candidate as spelled in `labels`. "Jazz." and "**jazz**" are Jazz; "I think
# Jazz" and "Jazz or Blues" are unparsed.
#
# The lab then re-reads every stored free-text reply with your function and compares the accuracy and the
# share of unparsed answers with the lenient reader's.
# ```

# %% tags=["answer"]
def strict_answer(reply: str, labels: list[str]) -> str:
    """The candidate the whole reply names (ignoring case and surrounding punctuation), else "unparsed"."""
    raise NotImplementedError("lab3.3: write strict_answer(reply, labels)")


# %% [markdown]
# ````{solution-start} lab3-ex3
# :class: dropdown
# ````

# %% tags=["solution", "reference"]
def strict_answer(reply: str, labels: list[str]) -> str:
    """The candidate the whole reply names (ignoring case and surrounding punctuation), else "unparsed"."""
    core = (reply or "").strip().strip(" \t\r\n.,;:!?\"'`*").casefold()
    for label in labels:
        if core == label.casefold():
            return label
    return "unparsed"


# %% [markdown]
# Every stored free-text and explain reply, read both ways:

# %% tags=["solution"]
compare = []
for (t, m), part in results[results["mode"].isin(["free", "explain"])].groupby(["task", "mode"]):
    question = tasks[t]
    strict = [question.evaluated(strict_answer(r, question.labels)) for r in part["reply"]]
    right = [p in (set(v) if isinstance(v, list) else {v}) for p, v in zip(strict, part["truth"])]
    compare.append({"task": t, "mode": m, "answers": len(part), "lenient accuracy": part["correct"].mean(),
                    "strict accuracy": float(np.mean(right)), "lenient unparsed": (part["raw"] == Z.UNPARSED).mean(),
                    "strict unparsed": float(np.mean([s == "unparsed" for s in strict]))})
print(pd.DataFrame(compare).round(3).to_string(index=False))

# %% [markdown]
# The small model mostly answers with a bare label, so the two readers agree on short free-text replies;
# explain-mode replies are paragraphs, which the strict reader never accepts. A paper that reports
# accuracy on free text should say how replies were read: the reader is part of the measurement.
#
# ````{solution-end}
# ````
#
# ## Check your answers
#
# The autograder runs on the answers in this notebook (the same as `llmmusic check lab3`):

# %% tags=["check"]
from llmmusic.course import check

check("lab3", globals());
