"""The melody-completion experiment end to end: corpora and splits, training, baselines, evaluation.

Glue between :mod:`llmmusic.experiments.melody` (phrases, tokens, n-grams, ranking protocol) and
:mod:`llmmusic.experiments.melody.model` (the transformer), shared by the chapter and ``llmmusic melody``.

Used in: notebooks/05_melody_completion.py (and ``llmmusic melody train|eval``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.experiments.melody import (CORPORA, N_CANDIDATES, MelodyTokenizer, NGramModel, Query, Song, chance_next_token,
                     evaluation_sequences, fit_ngram, load_corpus, make_queries, next_token_metrics, query_ranks,
                     query_scores, ranking_table, split_songs, training_windows)

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Which melodies, how they are cut and split.

    Attributes:
        dataset: LLM-MIDI dataset folder (``None``: :func:`llmmusic.data.dataset.pick_dataset`).
        phrase_bars: bars per phrase (1 or 2 for the paper-setting LLM-MIDI, which spans 4 bars).
        llm_limit: at most this many LLM-MIDI pieces (``None``: all).
        human_limit: at most this many pieces of each human corpus.
        human_max_bars: keep the first bars of each human song (they run to 100+ bars).
        fractions: train / validation / test fractions of the songs.
        split_seed: seed of the song-level split.
        max_len: longest token sequence (windows, model positions).
        window_phrases: most phrases per training / evaluation window.
        window_stride: phrases between training-window starts (1 = a window at every phrase);
            ``None``: 1 for LLM-MIDI (short songs) and ``window_phrases`` (non-overlapping windows) for the
            long human songs, which keeps an epoch on a human corpus to minutes on a CPU.
    """

    dataset: str | None = None
    phrase_bars: int = 1
    llm_limit: int | None = None
    human_limit: int | None = 200
    human_max_bars: int | None = 32
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    max_len: int = 256
    window_phrases: int = 4
    window_stride: int | None = None

    def stride_for(self, corpus: str) -> int:
        """The training-window stride used for ``corpus``."""
        if self.window_stride is not None:
            return self.window_stride
        return 1 if corpus == "llm-midi" else self.window_phrases


@dataclass
class CorpusData:
    """One corpus's songs and their split, or why it is missing.

    Attributes:
        name: corpus name.
        songs: every song.
        splits: ``train`` / ``validation`` / ``test`` songs.
        missing: reason the corpus could not be loaded (``None`` when loaded).
    """

    name: str
    songs: list[Song] = field(default_factory=list)
    splits: dict[str, list[Song]] = field(default_factory=dict)
    missing: str | None = None

    def summary(self) -> dict[str, Any]:
        """Counts of songs, non-empty phrases and notes per split."""
        if self.missing:
            return {"corpus": self.name, "missing": self.missing}
        row: dict[str, Any] = {"corpus": self.name, "songs": len(self.songs)}
        for split, songs in self.splits.items():
            row[f"{split}_songs"] = len(songs)
            row[f"{split}_phrases"] = sum(s.n_nonempty for s in songs)
        row["notes"] = sum(len(p.notes) for s in self.songs for p in s.phrases)
        return row


def prepare(config: DataConfig, corpora: Sequence[str] = CORPORA) -> dict[str, CorpusData]:
    """Load and split each corpus; a corpus that is unavailable here is recorded as missing.

    Args:
        config: data settings.
        corpora: names among :data:`llmmusic.experiments.melody.CORPORA`.
    Returns:
        name -> :class:`CorpusData`.
    """
    out: dict[str, CorpusData] = {}
    for name in corpora:
        human = name != "llm-midi"
        try:
            songs = load_corpus(name, dataset=config.dataset, phrase_bars=config.phrase_bars,
                                limit=config.human_limit if human else config.llm_limit,
                                max_bars=config.human_max_bars if human else None)
        except (FileNotFoundError, ImportError) as exc:
            log.warning("corpus %s unavailable: %s", name, exc)
            out[name] = CorpusData(name, missing=str(exc))
            continue
        if not songs:
            out[name] = CorpusData(name, missing="no song with a non-empty phrase")
            continue
        out[name] = CorpusData(name, songs, split_songs(songs, tuple(config.fractions), config.split_seed))
    return out


def corpus_table(data: Mapping[str, CorpusData]) -> pd.DataFrame:
    """One row per corpus: songs and non-empty phrases per split (or why it is missing)."""
    return pd.DataFrame([d.summary() for d in data.values()]).set_index("corpus")


def sequences(corpus: CorpusData, tokenizer: MelodyTokenizer, config: DataConfig) -> dict[str, list[list[int]]]:
    """Training windows of the train split, evaluation windows of the validation and test splits."""
    return {"train": training_windows(corpus.splits["train"], tokenizer, config.max_len, config.window_phrases,
                                      config.stride_for(corpus.name)),
            "validation": evaluation_sequences(corpus.splits["validation"], tokenizer, config.max_len,
                                               config.window_phrases),
            "test": evaluation_sequences(corpus.splits["test"], tokenizer, config.max_len, config.window_phrases)}


def ngram_baselines(tokenizer: MelodyTokenizer, train: Sequence[Sequence[int]],
                    validation: Sequence[Sequence[int]], orders: Sequence[int] = (1, 2, 3)) -> dict[str, NGramModel]:
    """Unigram / bigram / trigram models fitted on ``train`` with k chosen on ``validation``."""
    models = {}
    for order in orders:
        m = fit_ngram(order, tokenizer, train, validation)
        models[m.name] = m
    return models


def next_token_table(scorers: Mapping[str, Any], data: Mapping[str, CorpusData], tokenizer: MelodyTokenizer,
                     config: DataConfig) -> pd.DataFrame:
    """Next-token accuracy and perplexity of every scorer on every corpus's test split, with chance.

    Returns:
        DataFrame indexed by (corpus, model) with n_tokens, accuracy, perplexity, nll and
        per-type accuracies.
    """
    rows = []
    for name, corpus in data.items():
        if corpus.missing:
            continue
        seqs = evaluation_sequences(corpus.splits["test"], tokenizer, config.max_len, config.window_phrases)
        for model_name, scorer in scorers.items():
            rows.append({"corpus": name, "model": model_name, **next_token_metrics(scorer, seqs, tokenizer)})
        rows.append({"corpus": name, "model": "chance", **chance_next_token(tokenizer)})
    return pd.DataFrame(rows).set_index(["corpus", "model"])


@dataclass
class RankingResult:
    """Next-phrase ranking of every scorer on every corpus.

    Attributes:
        table: (corpus, model, scoring) -> n_queries, MAP (+ 95 % interval), HITS@k; chance rows.
        ranks: (corpus, model, scoring) -> the true phrase's rank per query.
        queries: corpus -> the queries (the same for every model).
    """

    table: pd.DataFrame
    ranks: dict[tuple[str, str, str], np.ndarray]
    queries: dict[str, list[Query]]


def ranking_results(scorers: Mapping[str, Any], data: Mapping[str, CorpusData], tokenizer: MelodyTokenizer,
                    n_queries: int | None = 300, n_candidates: int = N_CANDIDATES, context_phrases: int = 1,
                    seed: int = 0, n_boot: int = 1000) -> RankingResult:
    """The next-phrase protocol on each corpus's test split, scored by sum and by mean log-probability.

    Args:
        scorers: model name -> object with ``continuation_log_probs``.
        data: corpora.
        tokenizer: phrase tokens.
        n_queries: queries per corpus (a seeded subset; ``None`` = all).
        n_candidates: candidates per query.
        context_phrases: context phrases before the true next phrase.
        seed: query and candidate sampling seed.
        n_boot: bootstrap resamples of the MAP interval.
    """
    frames, ranks, queries = [], {}, {}
    for name, corpus in data.items():
        if corpus.missing:
            continue
        qs = make_queries(corpus.splits["test"], tokenizer, n_candidates, context_phrases, n_queries, seed,
                          fallback=corpus.songs)
        queries[name] = qs
        if not qs:
            continue
        per = {}
        for model_name, scorer in scorers.items():
            s, n = query_scores(scorer, qs, tokenizer.bos_id)
            for scoring, normalise in (("sum", False), ("mean", True)):
                r = query_ranks(qs, s, n, normalise)
                ranks[(name, model_name, scoring)] = r
                per[f"{model_name}|{scoring}"] = r
        table = ranking_table(per, n_candidates, n_boot, seed)
        table["pool"] = ", ".join(sorted({q.pool for q in qs}))
        index = [tuple(i.split("|")) if "|" in i else (i, "-") for i in table.index]
        table.index = pd.MultiIndex.from_tuples([(name, *i) for i in index], names=["corpus", "model", "scoring"])
        frames.append(table)
    table = pd.concat(frames) if frames else pd.DataFrame()
    return RankingResult(table, ranks, queries)


def checkpoint_info(data_config: DataConfig, train_corpus: str, tokenizer: MelodyTokenizer,
                    train_summary: Mapping[str, Any], train_config: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint records so that ``llmmusic melody eval`` rebuilds the same splits."""
    return {"data": asdict(data_config), "train_corpus": train_corpus, "tokenizer": tokenizer.describe(),
            "train": dict(train_config), "result": dict(train_summary)}


def default_checkpoint(train_corpus: str) -> Path:
    """Where ``llmmusic melody train`` writes by default: ``<llmmusic home>/models/melody-<corpus>.pt``."""
    from llmmusic.paths import home

    return home() / "models" / f"melody-{train_corpus}.pt"
