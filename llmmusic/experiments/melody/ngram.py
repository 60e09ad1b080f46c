"""Add-k smoothed n-gram baselines over melody tokens (unigram, bigram, trigram).

They offer both scoring interfaces: ``token_scores`` (next-token metrics,
:mod:`llmmusic.experiments.melody.evaluate`) and ``continuation_log_probs`` (next-phrase ranking,
:mod:`llmmusic.experiments.melody.completion`).

Used in: :mod:`llmmusic.experiments.melody.experiment`.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from llmmusic.experiments.melody.tokenizer import MelodyTokenizer


class NGramModel:
    """An add-k smoothed n-gram model over token ids (order 1 = unigram, 2 = bigram, 3 = trigram).

    ``p(w | h) = (count(h, w) + k) / (count(h) + k * V')`` over the V' predictable tokens (all
    but PAD and BOS); histories shorter than ``order - 1`` are left-padded with BOS.

    Args:
        order: n of the n-gram (1 .. 3; counts are a dense V^n table).
        tokenizer: gives the vocabulary.
        k: additive smoothing constant.
    """

    def __init__(self, order: int, tokenizer: MelodyTokenizer, k: float = 0.1) -> None:
        if not 1 <= order <= 3:
            raise ValueError(f"order must be 1..3, got {order}")
        self.order, self.k = order, float(k)
        self.V = tokenizer.vocab_size
        self.bos, self.pad = tokenizer.bos_id, tokenizer.pad_id
        self.counts = np.zeros((self.V,) * order, dtype=np.float64)
        self._logp: np.ndarray | None = None

    @property
    def name(self) -> str:
        return {1: "unigram", 2: "bigram", 3: "trigram"}[self.order]

    def _padded(self, seq: Sequence[int]) -> np.ndarray:
        return np.asarray([self.bos] * (self.order - 1) + list(seq), dtype=np.int64)

    def _ngrams(self, seq: Sequence[int]) -> np.ndarray:
        """(n_targets, order) index rows for targets seq[1:] (the first token, BOS, is given)."""
        p = self._padded(seq)
        n = len(seq) - 1
        if self.order == 1:
            return p[1:, None]
        columns = [p[j + 1: j + 1 + n] for j in range(self.order - 1)] + [p[self.order: self.order + n]]
        return np.stack(columns, axis=1)

    def fit(self, sequences: Iterable[Sequence[int]]) -> "NGramModel":
        """Count n-grams of the training sequences (each starting with BOS)."""
        self.counts[:] = 0
        for seq in sequences:
            if len(seq) < 2:
                continue
            np.add.at(self.counts, tuple(self._ngrams(seq).T), 1.0)
        allowed = np.ones(self.V, bool)
        allowed[[self.bos, self.pad]] = False
        smoothed = (self.counts + self.k) * allowed
        self._logp = np.log(smoothed / smoothed.sum(axis=-1, keepdims=True), where=smoothed > 0,
                            out=np.full_like(smoothed, -np.inf))
        return self

    def _table(self) -> np.ndarray:
        if self._logp is None:
            raise RuntimeError("NGramModel is not fitted; call fit() first")
        return self._logp

    def token_scores(self, sequences: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-token log-probabilities and arg-max predictions (see :class:`SequenceScorer`)."""
        table = self._table()
        out = []
        for seq in sequences:
            grams = self._ngrams(seq)
            hist = tuple(grams[:, :-1].T)
            lp = table[hist + (grams[:, -1],)]
            rows = table[hist] if self.order > 1 else np.broadcast_to(table, (len(grams), self.V))
            out.append((lp, rows.argmax(axis=-1)))
        return out

    def continuation_log_probs(self, prefix: Sequence[int],
                               candidates: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Summed log-probability of each candidate's tokens after ``prefix`` and each candidate's length."""
        sums = np.empty(len(candidates))
        for c, cand in enumerate(candidates):
            lp, _ = self.token_scores([list(prefix) + list(cand)])[0]
            sums[c] = lp[len(prefix) - 1:].sum()
        return sums, np.asarray([len(c) for c in candidates], dtype=float)


def fit_ngram(order: int, tokenizer: MelodyTokenizer, train: Sequence[Sequence[int]],
              validation: Sequence[Sequence[int]] | None = None,
              ks: Sequence[float] = (0.001, 0.01, 0.1, 1.0)) -> NGramModel:
    """An n-gram model whose k is the one of ``ks`` with the lowest validation perplexity.

    Args:
        order: n.
        tokenizer: vocabulary.
        train: training sequences.
        validation: held-out sequences to choose k on (``None``: the first k).
        ks: candidate smoothing constants.
    """
    best, best_nll = None, math.inf
    for k in (ks if validation else ks[:1]):
        model = NGramModel(order, tokenizer, k).fit(train)
        if not validation:
            return model
        nll = -np.concatenate([lp for lp, _ in model.token_scores(validation)]).mean()
        if nll < best_nll:
            best, best_nll = model, nll
    assert best is not None
    return best
