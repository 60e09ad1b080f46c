"""The melody-completion experiment end to end: corpora and splits, training, baselines, evaluation, a demo.

The one driver of the experiment, in the order a run takes:

1. :func:`prepare` loads and splits the corpora (:class:`DataConfig`); :func:`corpus_table` counts them.
2. :func:`train` fits the transformer on one corpus's training windows (:class:`Trained`);
   :func:`all_scorers` puts the n-gram baselines beside it.
3. :func:`evaluate` gives the next-token table and the next-phrase ranking (:class:`Evaluation`).
4. :func:`continue_melody` samples the continuation of a held-out melody (:class:`Continuation`).

:func:`checkpoint_info` and :func:`default_checkpoint` let ``llmmusic melody eval`` rebuild a trained
run's splits.

Used in: notebooks/05_melody_completion.py, course/labs/lab5_melody_completion.py,
``llmmusic melody train|eval``, benchmarks/bench_melody.py, :mod:`llmmusic.experiments.repeats`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from llmmusic.experiments.melody.completion import N_CANDIDATES, Query, make_queries, query_ranks, query_scores
from llmmusic.experiments.melody.corpus import CORPORA, Song, load_corpus, split_songs
from llmmusic.experiments.melody.evaluate import chance_next_token, next_token_metrics, ranking_table
from llmmusic.experiments.melody.model import MelodyTransformer, TransformerScorer, build_model, sample_continuation
from llmmusic.experiments.melody.ngram import NGramModel, fit_ngram
from llmmusic.experiments.melody.tokenizer import MelodyTokenizer
from llmmusic.experiments.melody.train import TrainConfig, TrainResult, train_model
from llmmusic.experiments.melody.windows import evaluation_sequences, training_windows
from llmmusic.experiments.torch_setup import torch_threads

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Which melodies, how they are cut and split.

    Attributes:
        dataset: LLM-MIDI dataset folder (``None``: :func:`llmmusic.data.dataset.pick_dataset`).
        phrase_bars: bars per phrase (paper-prompt LLM-MIDI spans 4 bars, the new variants' 8).
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


def missing_corpora(data: Mapping[str, CorpusData]) -> dict[str, str]:
    """Name -> why it could not be loaded, for each corpus that is missing."""
    return {name: corpus.missing for name, corpus in data.items() if corpus.missing}


def training_corpus(data: Mapping[str, CorpusData], name: str) -> CorpusData:
    """The corpus to train on.

    Raises:
        FileNotFoundError: it is missing here.
    """
    if data[name].missing:
        raise FileNotFoundError(f"the training corpus {name} is unavailable: {data[name].missing}")
    return data[name]


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


@dataclass
class Trained:
    """A trained transformer and how it was trained.

    Attributes:
        model: the transformer (best validation epoch's weights).
        result: history, timings, sizes.
        sequences: ``train`` / ``validation`` / ``test`` token sequences of the training corpus.
        config: the optimisation settings used.
    """

    model: MelodyTransformer
    result: TrainResult
    sequences: dict[str, list[list[int]]]
    config: TrainConfig


def train(corpus: CorpusData, tokenizer: MelodyTokenizer, config: DataConfig, train_config: TrainConfig, *,
          d_model: int = 128, n_layers: int = 2, n_heads: int = 4, dropout: float = 0.1, seed: int = 0,
          progress: Callable[[dict[str, Any]], None] | None = None) -> Trained:
    """Build a transformer (weights seeded by ``seed``, ``config.max_len`` positions) and train it on ``corpus``.

    Args:
        corpus: the training corpus (its train and validation splits are used).
        tokenizer: phrase tokens.
        config: data settings (windows, ``max_len``).
        train_config: optimisation settings (device, torch threads during training).
        d_model, n_layers, n_heads, dropout: model size.
        seed: seed of the initial weights.
        progress: called with each epoch's history row.
    """
    seqs = sequences(corpus, tokenizer, config)
    model = build_model(tokenizer, d_model, n_layers, n_heads, dropout, config.max_len, seed)
    result = train_model(model, seqs["train"], seqs["validation"], train_config, progress=progress)
    return Trained(model, result, seqs, train_config)


def all_scorers(model: MelodyTransformer, tokenizer: MelodyTokenizer,
                seqs: Mapping[str, Sequence[Sequence[int]]]) -> dict[str, Any]:
    """``transformer`` and the n-gram baselines fitted on the same training windows (k chosen on validation)."""
    return {"transformer": TransformerScorer(model), **ngram_baselines(tokenizer, seqs["train"], seqs["validation"])}


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


@dataclass
class Evaluation:
    """Both evaluations of a set of scorers.

    Attributes:
        next_token: see :func:`next_token_table` (``None`` when not asked for).
        ranking: see :func:`ranking_results`.
    """

    next_token: pd.DataFrame | None
    ranking: RankingResult


def evaluate(scorers: Mapping[str, Any], data: Mapping[str, CorpusData], tokenizer: MelodyTokenizer,
             config: DataConfig, *, n_queries: int | None = 300, n_candidates: int = N_CANDIDATES,
             context_phrases: int = 1, seed: int = 0, n_boot: int = 1000, next_token: bool = True,
             threads: int | None = None) -> Evaluation:
    """Next-token metrics and the next-phrase ranking of every scorer on every corpus's test split.

    Args:
        scorers: model name -> scorer (e.g. :func:`all_scorers`).
        data: the corpora to evaluate on (missing ones are skipped).
        tokenizer: phrase tokens.
        config: data settings (evaluation windows).
        n_queries, n_candidates, context_phrases, seed, n_boot: see :func:`ranking_results`.
        next_token: also compute :func:`next_token_table`.
        threads: torch CPU threads while scoring (restored after; ``None``: unchanged).
    """
    with torch_threads(threads):
        table = next_token_table(scorers, data, tokenizer, config) if next_token else None
        ranking = ranking_results(scorers, data, tokenizer, n_queries, n_candidates, context_phrases, seed, n_boot)
    return Evaluation(table, ranking)


@dataclass
class Continuation:
    """A held-out melody's first bars, its true continuation and the model's.

    Attributes:
        song: the song.
        context, truth, sampled: notes on the song's time line (ticks from its start).
        context_bars: bars of context.
        bars: bars continued.
    """

    song: Song
    context: list[Note]
    truth: list[Note]
    sampled: list[Note]
    context_bars: int
    bars: int

    @property
    def total_bars(self) -> int:
        """Context and continuation, in bars."""
        return self.context_bars + self.bars

    def truth_piece(self) -> Piece:
        """Context + true continuation as a melody-only piece."""
        return Piece(melody=self.context + self.truth, meta={"source": self.song.song})

    def sampled_piece(self) -> Piece:
        """Context + sampled continuation as a melody-only piece."""
        return Piece(melody=self.context + self.sampled, meta={"source": self.song.song})


def continue_melody(model: MelodyTransformer, tokenizer: MelodyTokenizer, songs: Sequence[Song], phrase_bars: int,
                    context_bars: int = 2, bars: int = 2, temperature: float = 1.0, top_k: int = 0, seed: int = 0,
                    threads: int | None = None) -> Continuation:
    """Sample the continuation of the first song of ``songs`` long enough for ``context_bars + bars`` bars.

    The song's context phrases must hold notes; without such a song, the first one is used and the
    continuation is shortened to the bars it has (at least one).

    Args:
        model, tokenizer: the trained model and its tokens.
        songs: candidates, e.g. the training corpus's test songs.
        phrase_bars: bars per phrase of the songs.
        context_bars: bars given to the model.
        bars: bars it continues by.
        temperature, top_k, seed: see :func:`llmmusic.experiments.melody.model.sample_continuation`.
        threads: torch CPU threads while sampling (restored after; ``None``: unchanged).
    """
    song = next((s for s in songs if len(s.phrases) * phrase_bars >= context_bars + bars
                 and all(not p.is_empty for p in s.phrases[:max(1, context_bars // phrase_bars)])), songs[0])
    notes = song.notes()
    cut = context_bars * TICKS_PER_BAR
    after = max(1, min(bars, len(song.phrases) * phrase_bars - context_bars))
    context = [n for n in notes if n.start < cut]
    truth = [n for n in notes if cut <= n.start < cut + after * TICKS_PER_BAR]
    prefix = [tokenizer.bos_id] + tokenizer.encode_notes(context, context_bars)
    with torch_threads(threads):
        generated = sample_continuation(model, tokenizer, prefix, bars=after, temperature=temperature, top_k=top_k,
                                        seed=seed)
    sampled = [Note(n.pitch, n.duration, n.velocity, n.start + cut) for n in tokenizer.decode(generated)]
    return Continuation(song, context, truth, sampled, context_bars, after)


def checkpoint_info(data_config: DataConfig, train_corpus: str, tokenizer: MelodyTokenizer,
                    train_summary: Mapping[str, Any], train_config: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint records so that ``llmmusic melody eval`` rebuilds the same splits."""
    return {"data": asdict(data_config), "train_corpus": train_corpus, "tokenizer": tokenizer.describe(),
            "train": dict(train_config), "result": dict(train_summary)}


def default_checkpoint(train_corpus: str) -> Path:
    """Where ``llmmusic melody train`` writes by default: ``<llmmusic home>/models/melody-<corpus>.pt``."""
    from llmmusic.paths import home

    return home() / "models" / f"melody-{train_corpus}.pt"
