"""The next-phrase ranking protocol (PiRhDy / MusicBERT): queries, candidates, scores and ranks.

For a context phrase, the true next phrase is ranked among ``n_candidates`` (50) candidates; the
49 others are random next-phrases of *other* songs of the same split, never identical to the true
one (as in PiRhDy's dataset code). A model ranks candidates by its log-likelihood of the candidate
given the context.

Used in: :mod:`llmmusic.experiments.melody.experiment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from llmmusic.experiments.melody.corpus import Song
from llmmusic.experiments.melody.tokenizer import MelodyTokenizer

#: The candidates per query in the PiRhDy / MusicBERT protocol (1 true + 49 others).
N_CANDIDATES = 50


@dataclass
class Query:
    """One next-phrase ranking query.

    Attributes:
        song: the query's song.
        index: phrase index of the true next phrase in that song.
        context: token ids of the context phrase(s) (no BOS).
        candidates: token ids of the candidates; ``candidates[true_index]`` is the true next phrase.
        true_index: position of the true phrase among the candidates (random, seeded).
        candidate_songs: song of each candidate (the others are never ``song``).
        pool: where the other candidates came from: ``split`` or ``corpus`` (too few phrases in the split).
    """

    song: str
    index: int
    context: list[int]
    candidates: list[list[int]]
    true_index: int
    candidate_songs: list[str]
    pool: str = "split"


def _pairs(songs: Sequence[Song], context_phrases: int) -> list[tuple[Song, int]]:
    """(song, k) for every non-empty phrase k >= 1 whose previous phrase is non-empty."""
    out = []
    for s in songs:
        for k in range(max(1, context_phrases), len(s.phrases)):
            if not s.phrases[k].is_empty and not s.phrases[k - 1].is_empty:
                out.append((s, k))
    return out


def make_queries(songs: Sequence[Song], tokenizer: MelodyTokenizer, n_candidates: int = N_CANDIDATES,
                 context_phrases: int = 1, max_queries: int | None = None, seed: int = 0,
                 fallback: Sequence[Song] | None = None) -> list[Query]:
    """Next-phrase ranking queries over the songs of one split.

    For each (context, true next phrase) pair, ``n_candidates - 1`` other candidates are drawn
    without replacement from the next-phrases of the *other* songs of the split, skipping any
    whose tokens equal the true phrase's (PiRhDy's rule). If the split holds too few distinct
    phrases from other songs, candidates come from ``fallback`` (e.g. the whole corpus) and the
    query's ``pool`` says so.

    Args:
        songs: the evaluation split.
        tokenizer: tokens of the phrases.
        n_candidates: candidates per query (true one included).
        context_phrases: phrases of context before the true next phrase.
        max_queries: keep this many queries (a seeded random subset); ``None`` = all.
        seed: random seed (subset, candidates, position of the true phrase).
        fallback: songs to draw candidates from when the split is too small.
    Returns:
        Queries; empty if the songs hold no consecutive non-empty phrase pair.
    Raises:
        ValueError: not enough distinct phrases from other songs even in ``fallback``.
    """
    rng = np.random.default_rng(seed)
    pairs = _pairs(songs, context_phrases)
    if max_queries is not None and len(pairs) > max_queries:
        pick = np.sort(rng.choice(len(pairs), size=max_queries, replace=False))
        pairs = [pairs[i] for i in pick]
    cache: dict[tuple[str, int], list[int]] = {}

    def toks(s: Song, k: int) -> list[int]:
        key = (s.song, k)
        if key not in cache:
            cache[key] = tokenizer.encode_phrase(s.phrases[k])
        return cache[key]

    def pool_of(group: Sequence[Song]) -> list[tuple[str, tuple[int, ...]]]:
        return [(s.song, tuple(toks(s, k))) for s, k in _pairs(group, 1)]

    split_pool = pool_of(songs)
    corpus_pool: list[tuple[str, tuple[int, ...]]] | None = None
    queries = []
    for s, k in pairs:
        truth = toks(s, k)
        context = [t for j in range(k - context_phrases, k) for t in toks(s, j)]
        pool_name, pool = "split", split_pool
        usable = [i for i, (sid, t) in enumerate(pool) if sid != s.song and list(t) != truth]
        if len(usable) < n_candidates - 1 and fallback is not None:
            if corpus_pool is None:
                corpus_pool = pool_of(fallback)
            pool_name, pool = "corpus", corpus_pool
            usable = [i for i, (sid, t) in enumerate(pool) if sid != s.song and list(t) != truth]
        if len(usable) < n_candidates - 1:
            raise ValueError(f"song {s.song}: only {len(usable)} candidate phrases from other songs, "
                             f"need {n_candidates - 1} (use more songs or a larger test split)")
        others = [pool[i] for i in rng.choice(usable, size=n_candidates - 1, replace=False)]
        true_index = int(rng.integers(n_candidates))
        cands = [list(t) for _, t in others]
        songs_of = [sid for sid, _ in others]
        cands.insert(true_index, truth)
        songs_of.insert(true_index, s.song)
        queries.append(Query(s.song, k, context, cands, true_index, songs_of, pool_name))
    return queries


class ContinuationScorer(Protocol):
    """A model that scores candidate continuations of a prefix."""

    def continuation_log_probs(self, prefix: Sequence[int],
                               candidates: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(summed log-probability of each candidate's tokens given ``prefix``, number of tokens of each)."""
        ...


def query_scores(scorer: ContinuationScorer, queries: Sequence[Query], bos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood of every candidate given ``BOS + context``.

    Returns:
        ``(sum_logp, n_tokens)``, each of shape (n_queries, n_candidates).
    """
    sums, lens = [], []
    for q in queries:
        s, n = scorer.continuation_log_probs([bos_id] + q.context, q.candidates)
        sums.append(s)
        lens.append(n)
    return np.asarray(sums), np.asarray(lens)


def query_ranks(queries: Sequence[Query], sum_logp: np.ndarray, n_tokens: np.ndarray,
                normalise: bool = False) -> np.ndarray:
    """1-based rank of the true next phrase in each query.

    Args:
        queries: the queries.
        sum_logp, n_tokens: from :func:`query_scores`.
        normalise: rank by mean log-probability per token instead of the sum.
    Returns:
        int array (n_queries,). Ties go to the candidate listed first (the true phrase's position
        is random, so ties favour no one on average).
    """
    from llmmusic.analysis.metrics import ranks_from_scores

    if not len(queries):
        return np.zeros(0, dtype=int)
    scores = sum_logp / n_tokens if normalise else sum_logp
    n_c = scores.shape[1]
    return ranks_from_scores([q.true_index for q in queries], scores, list(range(n_c)))
