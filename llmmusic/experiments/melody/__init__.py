"""The melody-completion experiment (the paper's third): does a model learn melody from LLM melodies?

A small transformer learns next-token prediction on the melody tracks of one corpus and ranks the true
next phrase of held-out songs among 50 candidates (the PiRhDy / MusicBERT protocol), beside n-gram
baselines and chance, on the generated dataset and two human corpora.

Modules, in the order the data flows:

* :mod:`~llmmusic.experiments.melody.corpus`: songs and phrases (quantised melody tracks cut on the
  bar grid), loading a corpus, song-level splits.
* :mod:`~llmmusic.experiments.melody.tokenizer`: :class:`MelodyTokenizer`, miditok's REMI tokens of phrases.
* :mod:`~llmmusic.experiments.melody.windows`: BOS + consecutive phrases as model sequences.
* :mod:`~llmmusic.experiments.melody.ngram`: add-k smoothed n-gram baselines.
* :mod:`~llmmusic.experiments.melody.completion`: next-phrase queries, candidates, scores and ranks.
* :mod:`~llmmusic.experiments.melody.evaluate`: next-token metrics, MAP / HITS@k tables, chance levels.
* :mod:`~llmmusic.experiments.melody.model`: the transformer, its scorer, sampling, checkpoints (torch).
* :mod:`~llmmusic.experiments.melody.train`: its training loop (torch).
* :mod:`~llmmusic.experiments.melody.plots`: piano rolls, ranking bars and histograms, loss curves.
* :mod:`~llmmusic.experiments.melody.report`: the chapter's derived tables and sentences.
* :mod:`~llmmusic.experiments.melody.experiment`: the driver (corpora, training, evaluation, the
  continuation demo) that the chapter, lab 5 and ``llmmusic melody`` call.

This package re-exports the names of the torch-free modules, so ``from llmmusic.experiments import melody
as M; M.make_queries(...)`` works without importing torch.

Used in: notebooks/05_melody_completion.py, course/labs/lab5_melody_completion.py, ``llmmusic melody``.
"""

from __future__ import annotations

from llmmusic.experiments.melody.completion import (N_CANDIDATES, ContinuationScorer, Query, make_queries,
                                                    query_ranks, query_scores)
from llmmusic.experiments.melody.corpus import (CORPORA, GRID, SPLITS, Phrase, Song, load_corpus, quantise,
                                                song_from_piece, song_id, songs_from_pieces, split_phrases,
                                                split_songs)
from llmmusic.experiments.melody.evaluate import (HITS_AT, SequenceScorer, chance_next_token, chance_ranking,
                                                  next_token_metrics, ranking_table)
from llmmusic.experiments.melody.ngram import NGramModel, fit_ngram
from llmmusic.experiments.melody.plots import melody_roll, plot_history, plot_ranking
from llmmusic.experiments.melody.tokenizer import DECODED_VELOCITY, MelodyTokenizer
from llmmusic.experiments.melody.windows import evaluation_sequences, phrase_tokens, training_windows

__all__ = [
    "CORPORA", "DECODED_VELOCITY", "GRID", "HITS_AT", "N_CANDIDATES", "SPLITS",
    "ContinuationScorer", "MelodyTokenizer", "NGramModel", "Phrase", "Query", "SequenceScorer", "Song",
    "chance_next_token", "chance_ranking", "evaluation_sequences", "fit_ngram", "load_corpus", "make_queries",
    "melody_roll", "next_token_metrics", "phrase_tokens", "plot_history", "plot_ranking", "quantise",
    "query_ranks", "query_scores", "ranking_table", "song_from_piece", "song_id", "songs_from_pieces",
    "split_phrases", "split_songs", "training_windows",
]
