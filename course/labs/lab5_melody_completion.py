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
#       llm_limit: 40
#       human_limit: 20
#       d_model: 32
#       n_layers: 1
#       epochs: 1
#       n_queries: 20
#       n_boot: 50
#   mystnb:
#     execution_mode: cache
#     execution_timeout: 900
# ---

# %% [markdown]
# # Lab 5: Does a melody model learn anything from LLM melodies?
#
# The paper's third experiment trains a sequence model only on the melodies an LLM wrote and asks
# whether it has learned something about melody. In this lab you train a small transformer on your CPU,
# test it with the *melody completion* protocol (rank the true next phrase among 50 candidates), check it
# against chance and n-gram models, and add a baseline of your own. It builds on the chapter
# {doc}`/book/executed/05_melody_completion` and calls the same driver (`llmmusic.experiments.melody.experiment`)
# and helpers (`llmmusic.experiments.melody`).
#
# **Run it**: `llmmusic lab 5` (your copy: `my-labs/lab5_melody_completion.ipynb`; a minute or two on a
# laptop CPU); grade your answers with `llmmusic check lab5`.
# **Download**: {download}`notebook <lab5_melody_completion.ipynb>` ·
# {download}`Jupytext source <lab5_melody_completion.py>`.

# %% tags=["parameters"]
dataset = None             # generated dataset folder; None: llmmusic.data.dataset.DEFAULT_DATASET
train_corpus = "llm-midi"  # what the models learn from: "llm-midi", "pop909" (needs ../shared/data) or "folk"
llm_limit = 300            # LLM pieces read (grid order)
human_limit = 60           # songs read from each human corpus
phrase_bars = 1            # bars per phrase
d_model = 64               # transformer width (the chapter uses 128)
n_layers = 2               # transformer blocks
n_heads = 4                # attention heads
epochs = 3                 # training epochs (the best validation epoch is kept)
batch_size = 16            # sequences per step
n_queries = 100            # ranking queries per corpus
n_boot = 200               # bootstrap resamples of the MAP intervals
seed = 0                   # seed of the split, the weights and the queries
torch_threads = 1          # CPU threads for torch (1 is fastest on a small shared CPU)

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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmmusic.experiments import melody as M
from llmmusic.experiments.melody import experiment as X
from llmmusic.experiments.melody import plots as P
from llmmusic.experiments.melody.train import TrainConfig
from llmmusic.data.dataset import pick_dataset

dataset_dir = pick_dataset(dataset)
config = X.DataConfig(dataset=str(dataset_dir), phrase_bars=phrase_bars, llm_limit=llm_limit,
                      human_limit=human_limit, split_seed=seed)
data = X.prepare(config)
if data[train_corpus].missing:
    raise FileNotFoundError(f"train_corpus={train_corpus!r} is not available here: {data[train_corpus].missing}")
tokenizer = M.MelodyTokenizer()
X.corpus_table(data)

# %% [markdown]
# ## Part 1: melodies and phrases
#
# Each song's melody is cut into phrases of `phrase_bars` bars. A query gives a model one phrase of a
# held-out song and 50 candidates for the next one: the true next phrase and 49 next-phrases of other
# songs. Here is one training song of `train_corpus`, phrase by phrase:

# %%
song = max(data[train_corpus].splits["train"][:20], key=lambda s: s.n_nonempty)
fig, ax = M.melody_roll([(f"phrase {p.index}", [type(n)(n.pitch, n.duration, n.velocity,
                                                          n.start + p.index * p.bars * 1920) for n in p.notes])
                         for p in song.phrases[:4]], title=f"{train_corpus}: {song.song}")
plt.show()

# %% [markdown]
# ## Part 2: training
#
# A small decoder-only transformer learns to predict the next REMI token (bar, position, pitch,
# duration) of the training songs; n-gram models (unigram, bigram, trigram) learn from the same windows.

# %%
trained = X.train(data[train_corpus], tokenizer, config,
                  TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, device="cpu", threads=torch_threads),
                  d_model=d_model, n_layers=n_layers, n_heads=n_heads, seed=seed)
scorers = X.all_scorers(trained.model, tokenizer, trained.sequences)
result = trained.result
fig, ax = P.plot_history(result.history, title=f"trained on {train_corpus}: {result.n_sequences} windows, "
                                                f"{result.n_parameters:,} parameters")
plt.show()
print(f"best epoch {result.best_epoch}; {result.seconds_per_epoch:.1f} s per epoch on this CPU")

# %% [markdown]
# ## Part 3: next-phrase ranking
#
# Every model ranks the 50 candidates of each query by the log-probability of the candidate's tokens
# after the context, summed or averaged per token; MAP is the mean of 1/rank of the true phrase.

# %%
ranking = X.evaluate(scorers, data, tokenizer, config, n_queries=n_queries, seed=seed, n_boot=n_boot,
                     next_token=False, threads=torch_threads).ranking
P.ranking_panels(ranking.table, figsize=(12, 3.4))
plt.show()
ranking.table[["n_queries", "MAP", "MAP_low", "MAP_high", "HITS@1", "HITS@10"]].round(3)

# %% [markdown]
# ```{exercise} lab5.1 · What does chance score?
# :label: lab5-ex1
#
# A model that ranks the 50 candidates at random puts the true phrase at each rank 1..50 with the same
# probability. What is its expected MAP (the mean of 1/rank)? Set `chance_map` to the number (three
# decimals are enough). Then explain why ranking by the **summed** log-probability favours candidates
# with few tokens, and what the per-token mean does about it.
# ```

# %% tags=["answer"]
chance_map = None  # your answer: expected MAP of a random ranking of 50 candidates

# %% [markdown]
# ````{solution-start} lab5-ex1
# :class: dropdown
# ````
#
# E[1/r] for r uniform on 1..50 is (1 + 1/2 + ... + 1/50) / 50 = H₅₀ / 50 ≈ 0.090; a simulation agrees:

# %% tags=["solution", "reference"]
chance_map = sum(1 / r for r in range(1, 51)) / 50
simulated = np.mean(1 / np.random.default_rng(seed).integers(1, 51, size=200_000))
print(f"H_50 / 50 = {chance_map:.4f}; simulated random ranks: {simulated:.4f}; "
      f"llmmusic.experiments.melody.chance_ranking(): {M.chance_ranking()['MAP']:.4f}")

# %% [markdown]
# Every token adds a log-probability below 0, so a candidate with fewer tokens (fewer notes) loses less
# in total: the sum ranks short phrases high whatever their music. Dividing by the number of tokens
# compares the average surprise per token instead, which removes that length advantage (and can favour
# long, predictable phrases instead). The chapter reports both.
#
# ````{solution-end}
# ````

# %% [markdown]
# ```{exercise} lab5.2 · Train on human melodies
# :label: lab5-ex2
#
# Rerun with `llmmusic lab 5 -p train_corpus folk` (or `pop909` where `../shared/data` exists). On which
# corpus does each model now rank best, and how does the transformer trained on folk tunes do on the
# LLM melodies, compared with the default run trained on them? Are the MAP intervals narrow enough to
# tell? Hand in both ranking figures and a paragraph.
# ```

# %% [markdown]
# ````{solution-start} lab5-ex2
# :class: dropdown
# ````
#
# The transformer's MAP per test corpus against chance, read off this run (mean per-token scoring):

# %% tags=["solution"]
t = ranking.table.reset_index()
mine = t[(t.model == "transformer") & (t.scoring == "mean")].set_index("corpus")
summary = pd.DataFrame({"MAP": mine["MAP"], "MAP_low": mine["MAP_low"], "MAP_high": mine["MAP_high"],
                        "x chance": mine["MAP"] / M.chance_ranking()["MAP"],
                        "above chance": mine["MAP_low"] > M.chance_ranking()["MAP"], "queries": mine["n_queries"]})
print(f"trained on {train_corpus}\n{summary.round(3).to_string()}")

# %% [markdown]
# Read the "above chance" column: a corpus counts only when the lower end of its interval clears 0.090.
# A model transfers when it stays above chance on corpora it never saw; with a few dozen queries per
# corpus and a model trained for a few epochs, intervals are wide, so differences between corpora
# smaller than the intervals say nothing. The chapter's full run (more songs, more epochs, 300 queries)
# gives the numbers to compare.
#
# ````{solution-end}
# ````

# %% [markdown]
# ```{exercise} lab5.3 · A new baseline: the context cache
# :label: lab5-ex3
#
# Melodies repeat themselves. Write `context_unigram_log_probs(prefix, candidates, vocab_size, alpha=1.0)`,
# a model that learns nothing in advance and predicts each token of a candidate from the token counts of
# the prefix alone: `p(t) = (count of t in prefix + alpha) / (len(prefix) + alpha * vocab_size)` (every
# prefix token counts, the begin token too; the counts do not change while reading the candidate). Return
# a pair of numpy arrays, one entry per candidate: the **sum** of `log p(t)` over the candidate's tokens
# (natural log), and the candidate's number of tokens.
#
# That is the `continuation_log_probs` interface every scorer offers, so the lab can rank with it.
# ```

# %% tags=["answer"]
import numpy as np


def context_unigram_log_probs(prefix: list[int], candidates: list[list[int]], vocab_size: int,
                              alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(summed log-probability, number of tokens) of each candidate under the prefix's smoothed token counts."""
    raise NotImplementedError("lab5.3: write context_unigram_log_probs(...)")


# %% [markdown]
# ````{solution-start} lab5-ex3
# :class: dropdown
# ````

# %% tags=["solution", "reference"]
from collections import Counter

import numpy as np


def context_unigram_log_probs(prefix: list[int], candidates: list[list[int]], vocab_size: int,
                              alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(summed log-probability, number of tokens) of each candidate under the prefix's smoothed token counts."""
    counts = Counter(int(t) for t in prefix)
    total = len(prefix) + alpha * vocab_size
    sums = np.array([sum(np.log((counts[int(t)] + alpha) / total) for t in c) for c in candidates], dtype=float)
    return sums, np.array([len(c) for c in candidates], dtype=int)


# %% [markdown]
# Wrapped as a scorer, it joins the ranking beside the trained models:

# %% tags=["solution"]
class ContextCache:
    """The context-unigram model as a ranking scorer."""

    def continuation_log_probs(self, prefix, candidates):
        return context_unigram_log_probs(prefix, candidates, tokenizer.vocab_size)


with_cache = X.evaluate({**scorers, "context cache": ContextCache()}, data, tokenizer, config, n_queries=n_queries,
                        seed=seed, n_boot=n_boot, next_token=False, threads=torch_threads).ranking
t = with_cache.table.reset_index()
print(t[t.scoring == "mean"].pivot(index="model", columns="corpus", values="MAP").round(3).to_string())

# %% [markdown]
# Compare its row with the transformer's. Consecutive phrases of one song share pitches, durations and
# positions, while the 49 distractors come from other songs, so a model that only re-uses the context's
# tokens is a strong baseline for this protocol. A trained model should beat it before we say it has
# learned something about melody rather than about repetition.
#
# ````{solution-end}
# ````
#
# ## Check your answers
#
# The autograder runs on the answers in this notebook (the same as `llmmusic check lab5`):

# %% tags=["check"]
from llmmusic.course import check

check("lab5", globals());
