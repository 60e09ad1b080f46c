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
#       epochs: 2
#       human_limit: 30
#       llm_limit: 60
#       n_boot: 100
#       n_queries: 40
# ---

# %% [markdown]
# # Melody completion
#
# The paper's third experiment asks whether the melodies an LLM writes carry enough musical regularity
# for a sequence model to learn from: a transformer trained only on the melody tracks of LLM-MIDI
# predicts the next melodic phrase, and the paper reports it does so above chance
# {cite}`shin2025llmmidi`. We rebuild the experiment with the protocol the paper points to, the
# *melody completion* task of PiRhDy {cite}`liang2020pirhdy`, reused by MusicBERT {cite}`zeng2021musicbert`:
# for a context phrase, rank the true next phrase among 50 candidates (the true one and 49 next-phrases of
# *other* songs) and report MAP and HITS@k.
#
# Three questions: does the model trained on LLM melodies beat chance and simple n-gram models on held-out
# LLM melodies? How far does it fall when the melodies are human-made (POP909 {cite}`wang2020pop909`, folk
# tunes from music21's corpus {cite}`cuthbert2010music21`)? And what happens the other way round
# (parameter `train_corpus`)?

# %% tags=["parameters"]
dataset = None            # LLM-MIDI dataset folder; None: llmmusic.data.dataset.DEFAULT_DATASET (else the largest there)
train_corpus = "llm-midi" # corpus the transformer (and the n-grams) learn from: "llm-midi", "pop909" or "folk"
phrase_bars = 1           # bars per phrase (paper-prompt pieces span 4 bars, the new variants' 8)
llm_limit = None          # LLM-MIDI pieces used; None: all valid pieces
human_limit = 200         # pieces per human corpus (POP909, folk)
human_max_bars = 32       # bars kept from the start of each human melody
window_phrases = 4        # phrases per training window
window_stride = None      # training-window stride in phrases; None: 1 for llm-midi, window_phrases for human songs
split_seed = 0            # seed of the song-level train / validation / test split (80 / 10 / 10)
d_model = 128             # transformer width
n_layers = 2              # transformer blocks
n_heads = 4               # attention heads
dropout = 0.1             # dropout rate
max_len = 256             # longest token sequence
epochs = 15               # training epochs
batch_size = 16           # sequences per step
lr = 1e-3                 # peak learning rate (AdamW, warm-up + cosine)
seed = 0                  # seed of weights, batch order, queries and sampling
device = "auto"           # "auto" (GPU when present), "cpu" or "cuda"
torch_threads = 1         # torch CPU threads (1: no contention on a small shared CPU; None: torch's default)
n_queries = 300           # ranking queries per corpus (a seeded subset of the test split's phrase pairs)
context_phrases = 1       # phrases of context before the candidate (the protocol: 1)
n_boot = 1000             # bootstrap resamples for the MAP intervals
demo_context_bars = 2     # bars of a held-out melody given to the model in the generation demo
demo_bars = 2             # bars the model continues it by
demo_temperature = 1.0    # sampling temperature of the demo
demo_top_k = 0            # sample among the k most likely tokens (0: all)

# %%
from pathlib import Path

import music21
import pandas as pd
from IPython.display import Markdown, display

from llmmusic.book.provenance import Provenance, notice
from llmmusic.data.corpora import shared_data_dir
from llmmusic.data.dataset import pick_dataset
from llmmusic.experiments import repeats
from llmmusic.experiments.melody import MelodyTokenizer
from llmmusic.experiments.melody import experiment as X
from llmmusic.experiments.melody import plots as P
from llmmusic.experiments.melody import report as R
from llmmusic.experiments.melody.train import TrainConfig
from llmmusic.generation.variants import dataset_variant

# %%
dataset_dir = pick_dataset(dataset)
shared = shared_data_dir()
folk_dir = Path(music21.__file__).parent / "corpus"
prov = Provenance("05_melody_completion",
                  inputs={"dataset": dataset_dir, "pop909": shared / "pop909" if shared else None,
                          "folk_essen": folk_dir / "essenFolksong", "folk_oneills": folk_dir / "oneills1850",
                          "repeats": repeats.results_path(dataset_dir, "melody") if dataset_dir else None})

# %%
config = X.DataConfig(dataset=str(dataset_dir) if dataset_dir else None, phrase_bars=phrase_bars,
                      llm_limit=llm_limit, human_limit=human_limit, human_max_bars=human_max_bars,
                      split_seed=split_seed, max_len=max_len, window_phrases=window_phrases,
                      window_stride=window_stride)
data = X.prepare(config)
for name, why in X.missing_corpora(data).items():
    notice(f"Corpus **{name}** is not available here ({why}); its rows are missing below.", kind="warning")
corpus = X.training_corpus(data, train_corpus)
tokenizer = MelodyTokenizer()

# %% [markdown]
# ## Melodies, phrases and splits
#
# Each song's melody track is snapped to a sixteenth-note grid and cut into phrases of `phrase_bars`
# bars on the bar grid (1,920 ticks per 4/4 bar). PiRhDy uses 4-bar phrases of Lakh MIDI songs; that is
# impossible with the paper's prompt, which asks for start times 0-7,680 ticks, at 480 ticks per quarter
# **4 bars**, so a paper-prompt melody holds at most four 1-bar or two 2-bar phrases; the new variants'
# pieces span 8 bars (the sentence under this paragraph gives this dataset's span). We use 1-bar phrases
# by default (one context / next pair per bar boundary instead of one per song) and the same cut
# for the human melodies, whose first `human_max_bars` bars from the melody's entry are kept. Every corpus
# is read on a 4/4 grid: a folk tune in 3/4 or 6/8, or one with a pick-up, is cut into 4-beat windows
# that do not match its notated bars. Songs are split 80 / 10 / 10 into training, validation and test
# at the song level with a fixed seed; empty phrases never enter a query.

# %%
if dataset_dir is not None:
    span = dataset_variant(dataset_dir).ask().bars
    display(Markdown(f"This dataset's prompt lets notes start in **{span} bars**: at most {span // phrase_bars} "
                     f"phrases of {phrase_bars} bar(s) per LLM-MIDI melody."))
prov.table(X.corpus_table(data), "corpora",
           caption="Songs and non-empty phrases per split and corpus (notes: all melody notes kept).")

# %% [markdown]
# ## Tokens
#
# Phrases become REMI tokens {cite}`huang2020remi` from miditok's maintained implementation
# {cite}`fradet2021miditok`, which works offline on our notes: `Bar`, then per note `Position` (sixteenth of the bar), `Pitch`,
# `Duration`; no velocity, no time signature. The same vocabulary serves every corpus. A phrase always
# carries exactly `phrase_bars` `Bar` tokens, so phrases concatenate into songs; the round trip
# tokens → notes is exact for notes on the grid (tests: `tests/test_melody.py`).

# %%
example, tok_table, round_trip = R.token_example(corpus.splits["test"][0], tokenizer)
prov.table(tok_table, "example_tokens",
           caption=f"Tokens of phrase {example.index} of test song {example.song} "
                   f"(vocabulary {tokenizer.vocab_size} ids; decodes back exactly: {round_trip}).")

# %% [markdown]
# ## Training
#
# A small decoder-only transformer (learned positions, pre-norm blocks, tied output layer) learns
# next-token prediction on windows of up to `window_phrases` phrases of the training songs of
# `train_corpus`, each window starting with a begin token at a phrase boundary. On LLM-MIDI a window starts at
# every phrase, so that a context phrase from the middle of a song, given after a begin token as the ranking
# does, looks like what the model saw in training; the long human songs are cut into non-overlapping windows
# (`window_stride`), which keeps training on them to minutes. The weights of the epoch with
# the lowest validation loss are kept. The n-gram baselines (unigram, bigram, trigram with add-k smoothing,
# k chosen on the validation songs) are fitted on the same training windows.

# %%
train_config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                           threads=torch_threads)
trained = X.train(corpus, tokenizer, config, train_config, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                  dropout=dropout, seed=seed)
scorers = X.all_scorers(trained.model, tokenizer, trained.sequences)
result = trained.result
fig, ax = P.plot_history(result.history, title=f"trained on {train_corpus}: {result.n_sequences} windows, "
                                                f"{result.n_parameters:,} parameters")
prov.figure(fig, "training_loss", caption="Next-token cross-entropy per epoch on the training windows and the "
                                          "validation songs.")

# %%
prov.table(R.training_table(train_corpus, trained, scorers), "training",
           caption="The training run: size, device, time per epoch, n-gram smoothing.")

# %% [markdown]
# ## Next-token prediction
#
# On every corpus's test songs: accuracy of the most likely next token and perplexity, against uniform
# guessing over the predictable tokens (all but the padding and begin tokens) and the n-gram models. REMI
# sequences are partly predictable from their grammar alone (a `Duration` always follows a `Pitch`), which
# every model, n-grams included, exploits; the accuracy on `Pitch` tokens isolates the melodic part.

# %%
evaluation = X.evaluate(scorers, data, tokenizer, config, n_queries=n_queries, context_phrases=context_phrases,
                        seed=seed, n_boot=n_boot, threads=torch_threads)
shown = evaluation.next_token[["n_tokens", "accuracy", "accuracy_Pitch", "perplexity"]].round(4)
prov.table(shown, "next_token", caption=f"Next-token accuracy (all tokens and Pitch tokens) and perplexity on "
                                        f"each corpus's test songs; models trained on {train_corpus}.")

# %% [markdown]
# ## Next-phrase ranking (the PiRhDy / MusicBERT protocol)
#
# For each (context phrase, true next phrase) pair of a corpus's test songs, 49 other candidates are drawn
# from the next-phrases of the *other* test songs: never the query's own song, never a phrase identical to
# the true one, as in PiRhDy's dataset code (`mengshor/PiRhDy`, `6-3-context-dataset/functions.py`). If a
# test split has too few phrases the candidates come from the whole corpus (column `pool`), training songs
# included, whose phrases the model has learnt to like: a harder setting for it, not an easier one. Each
# model ranks the 50 candidates by its log-likelihood of the candidate's tokens given a begin token and the
# context: either the **sum** over the candidate's tokens (the probability of the phrase) or the **mean** per
# token (length-normalised). The sum favours short phrases (fewer tokens, fewer factors below 1), so we
# report both. Chance: HITS@k = k/50, MAP = mean of 1/r over a uniform rank r = 0.090. MAP carries a 95 % bootstrap
# interval over queries.

# %%
rk = evaluation.ranking
prov.table(rk.table.round(4), "ranking",
           caption=f"Next-phrase ranking among 50 candidates on each corpus's test songs (models trained on "
                   f"{train_corpus}); sum or mean log-probability of the candidate.")

# %%
prov.figure(P.ranking_panels(rk.table), "ranking_map",
            caption="MAP of the next-phrase ranking per test corpus and model (95 % bootstrap intervals); "
                    "dashed: chance (0.090).")

# %%
prov.figure(P.rank_histograms(rk.ranks, list(rk.queries)), "rank_histograms",
            caption="Where the transformer ranks the true next phrase (1 = first of 50).")

# %% [markdown]
# ### Against chance and across corpora
#
# The gap table puts each corpus's transformer MAP beside chance and beside the corpus the model was trained
# on: "× chance" is MAP over the chance MAP, "vs training corpus" the difference to the MAP on the held-out
# songs of the training corpus (negative: the model falls short there).

# %%
gaps = R.gap_tables(rk.table, train_corpus)
prov.table(pd.concat(gaps, names=["scoring"]), "gap",
           caption=f"Transformer trained on {train_corpus}: MAP against chance, the trigram and its own "
                   f"training corpus.")

# %%
display(Markdown(f"Measured in this run, with the model trained on **{train_corpus}** "
                 f"({len(corpus.splits['train'])} training songs) and ranking by the mean "
                 f"log-probability per token: {R.gap_sentence(gaps['mean'])}. "
                 f"By the summed log-probability: {R.gap_sentence(gaps['sum'])}."))

# %% [markdown]
# ### Across seeds
#
# The numbers above come from one split of the songs and one initialisation of the weights. The committed
# repeats (`llmmusic repeat melody`) train on LLM-MIDI again with other seeds, each a different split of
# every corpus, initialisation and query sample, with the chapter's default parameters; this cell only reads
# their results file, whatever this chapter's parameters. Per metric (the transformer, mean log-probability
# per token): each seed's value, the mean, standard deviation and range across seeds, and the value pooled over
# the queries of all seeds with its 95 % bootstrap interval. The claims page uses the pooled figures.

# %%
spread = repeats.show(prov, dataset_dir, "melody")

# %% [markdown]
# The same repeats on the paper-prompt dataset (`embedded-v1`) and on the default one that chapter 1's
# prompt study chose (`embedded-v2`), pooled per dataset: the comparison of the two prompts that the
# claims page judges.

# %%
by_dataset = repeats.show_datasets(prov, "melody", repeats.compared(dataset_dir))

# %%
prov.summary(R.summary_lines(gaps["mean"], train_corpus),
             headline=R.headline_rows(gaps["mean"], train_corpus, dataset_dir.name if dataset_dir else None))

# %% [markdown]
# ## Published numbers on human data (quoted)
#
# For scale, what models pre-trained on about a million human songs reach on the same protocol. These numbers
# are **quoted**, not reproduced: they are on PiRhDy's melody-completion set built from Lakh MIDI (4-bar
# phrases, test queries from one song in ten), not on our corpora, with models orders of magnitude larger. The
# two MAP values could not be re-checked against the papers' tables when this chapter was written, so they
# are marked as such, and the papers' HITS@k columns are left out rather than quoted from memory.

# %%
prov.table(R.published_table(), "published",
           caption="Published melody-completion MAP of human-data models on Lakh MIDI (quoted, not reproduced; "
                   "not on our corpora).")

# %% [markdown]
# ## Generation: continuing a held-out melody
#
# Given the first `demo_context_bars` bars of a test melody of the training corpus, the model samples the
# next `demo_bars` bars token by token (temperature `demo_temperature`). Below: the context with the true
# continuation, and the context with the sampled one, as piano rolls and audio.

# %%
demo = X.continue_melody(trained.model, tokenizer, corpus.splits["test"], phrase_bars, demo_context_bars, demo_bars,
                         demo_temperature, demo_top_k, seed, threads=torch_threads)
prov.figure(P.continuation_rolls(demo.song.song, demo.context, demo.truth, demo.sampled, demo.total_bars),
            "continuation_roll", caption=f"First {demo_context_bars} bars of held-out song {demo.song.song} "
                                         f"with its true and its sampled continuation.")

# %%
prov.audio(demo.truth_piece(), "truth", caption="Context + true continuation.")
if demo.sampled:
    prov.audio(demo.sampled_piece(), "continuation", caption="Context + sampled continuation.")
else:
    notice("The sampled continuation holds no note (the model closed the bars empty).")

# %% [markdown]
# ## What this shows
#
# The tables above carry the run's numbers; the measured sentence under the gap table states them.
# The protocol is the established one, but three differences from the published setting bound any
# comparison: phrases are `phrase_bars` bars (PiRhDy's are four), the candidate pool is a test split of at most a few
# hundred songs rather than Lakh's, and the model is tiny and trained on the LLM melodies of the dataset at
# hand (their number is in the corpus table; with few test songs the intervals are wide). Rerun with
# `train_corpus="pop909"` or `"folk"` to train on human melodies and evaluate on LLM-MIDI in the other
# direction.
