"""Metrics of the two evaluations: next-token accuracy / perplexity, and MAP / HITS@k of the ranking.

Each comes with its chance level (uniform guessing over the predictable tokens; a random ranking).

Used in: :mod:`llmmusic.experiments.melody.experiment`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd

from llmmusic.experiments.melody.completion import N_CANDIDATES
from llmmusic.experiments.melody.tokenizer import MelodyTokenizer

#: The HITS@k cut-offs reported by PiRhDy and MusicBERT.
HITS_AT: tuple[int, ...] = (1, 5, 10, 25)


class SequenceScorer(Protocol):
    """What a model offers to the evaluation: per-token log-probabilities and arg-max predictions."""

    def token_scores(self, sequences: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each sequence: (log p(token_i | tokens_<i), arg-max prediction) for i = 1 .. len-1."""
        ...


def next_token_metrics(scorer: SequenceScorer, sequences: Sequence[Sequence[int]],
                       tokenizer: MelodyTokenizer) -> dict[str, float]:
    """Next-token accuracy and perplexity of ``scorer`` on ``sequences`` (every token after BOS).

    Returns:
        dict with n_tokens, accuracy, perplexity, nll (nats per token) and accuracy per token
        type (``accuracy_Pitch``, ``accuracy_Duration``, ``accuracy_Position``, ``accuracy_Bar``).
    """
    logps, hits, types = [], [], []
    for seq, (lp, pred) in zip(sequences, scorer.token_scores(sequences)):
        target = np.asarray(seq[1:])
        logps.append(lp)
        hits.append(pred == target)
        types += [tokenizer.token_type(int(t)) for t in target]
    lp_all = np.concatenate(logps) if logps else np.zeros(0)
    hit_all = np.concatenate(hits) if hits else np.zeros(0, bool)
    out = {"n_tokens": int(lp_all.size), "accuracy": float(hit_all.mean()) if lp_all.size else float("nan"),
           "nll": float(-lp_all.mean()) if lp_all.size else float("nan")}
    out["perplexity"] = float(math.exp(out["nll"])) if lp_all.size else float("nan")
    types_arr = np.asarray(types)
    for kind in ("Pitch", "Duration", "Position", "Bar"):
        mask = types_arr == kind
        out[f"accuracy_{kind}"] = float(hit_all[mask].mean()) if mask.any() else float("nan")
    return out


def chance_next_token(tokenizer: MelodyTokenizer) -> dict[str, float]:
    """Uniform guessing over the predictable tokens: accuracy 1/V', perplexity V'."""
    v = tokenizer.n_targets
    return {"accuracy": 1.0 / v, "perplexity": float(v), "nll": math.log(v)}


def chance_ranking(n_candidates: int = N_CANDIDATES) -> dict[str, float]:
    """Expected MAP and HITS@k of a random ranking of ``n_candidates`` (one relevant item).

    MAP = mean of 1/r over r = 1..n = H_n / n; HITS@k = k / n.
    """
    r = np.arange(1, n_candidates + 1)
    out = {"MAP": float(np.mean(1.0 / r))}
    for k in HITS_AT:
        out[f"HITS@{k}"] = min(k, n_candidates) / n_candidates
    return out


def ranking_table(results: dict[str, np.ndarray], n_candidates: int = N_CANDIDATES, n_boot: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """MAP (with a 95 % bootstrap interval over queries) and HITS@k per model, plus the chance row.

    Args:
        results: model name -> ranks of its queries.
        n_candidates: candidates per query (for the chance row).
        n_boot: bootstrap resamples (0 = no interval).
        seed: bootstrap seed.
    Returns:
        DataFrame indexed by model with columns n_queries, MAP, MAP_low, MAP_high, HITS@1, ...
    """
    from llmmusic.analysis.metrics import bootstrap_ci, ranking_metrics

    rows = {}
    for name, ranks in results.items():
        row: dict[str, Any] = {"n_queries": int(len(ranks))}
        row.update(ranking_metrics(ranks))
        if n_boot and len(ranks):
            lo, hi = bootstrap_ci(list(ranks), list(ranks), lambda r, _: float(np.mean(1.0 / np.asarray(r))),
                                  n=n_boot, seed=seed)
            row["MAP_low"], row["MAP_high"] = lo, hi
        rows[name] = row
    rows["chance"] = {"n_queries": np.nan, **chance_ranking(n_candidates)}
    cols = ["n_queries", "MAP", "MAP_low", "MAP_high"] + [f"HITS@{k}" for k in HITS_AT]
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=cols)
