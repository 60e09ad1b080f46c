"""Seeded, class-balanced samples: one place for every way the book draws a subset.

* :func:`balanced_order` -- an order of items whose every prefix spreads the labels evenly;
* :func:`balanced_prefix` -- the first ``n`` rows of a table in that order (a small sample is the
  start of a larger one);
* :func:`balanced_sample` -- ``n // k`` rows drawn from each of the ``k`` values of a column;
* :func:`sample_per_group` -- up to ``k`` pieces for each value of a metadata field.
"""

from __future__ import annotations

import random
from typing import Sequence

import pandas as pd

from llmmusic.data.piece import Piece


def balanced_order(keys: Sequence[tuple[str, ...]], seed: int = 0) -> list[int]:
    """An order of items that spreads every key column evenly (for prefix-stable stratified samples).

    Items are shuffled with ``seed`` and queued by key; then, one at a time, the next item of the key
    whose values are least used so far (sum, then max of the counts over key columns; first key in
    shuffled order on ties) is taken. Any prefix of the order is as balanced as this greedy rule
    makes it, so a small sample is the start of a larger one.

    Args:
        keys: per item a tuple of labels, e.g. ``(genre, style)``.
        seed: shuffle seed.
    Returns:
        indices into ``keys``.
    """
    idx = list(range(len(keys)))
    random.Random(seed).shuffle(idx)
    queues: dict[tuple[str, ...], list[int]] = {}
    for i in idx:
        queues.setdefault(tuple(keys[i]), []).append(i)
    width = len(keys[0]) if keys else 0
    counts: list[dict[str, int]] = [dict() for _ in range(width)]
    heads = {k: 0 for k in queues}
    order: list[int] = []
    while len(order) < len(idx):
        def load(k: tuple[str, ...]) -> tuple[int, int]:
            used = [counts[c].get(k[c], 0) for c in range(width)]
            return sum(used), max(used)
        key = min((k for k in queues if heads[k] < len(queues[k])), key=load)
        order.append(queues[key][heads[key]])
        heads[key] += 1
        for c, v in enumerate(key):
            counts[c][v] = counts[c].get(v, 0) + 1
    return order


def balanced_prefix(df: pd.DataFrame, column: str, n: int | None, seed: int = 0) -> pd.DataFrame:
    """The first ``n`` rows of ``df`` in the :func:`balanced_order` of ``column`` (all rows when ``n`` is None)."""
    if len(df) == 0:
        return df
    order = balanced_order([(str(v),) for v in df[column]], seed)
    return df.iloc[order[: n if n is not None else len(order)]]


def balanced_sample(df: pd.DataFrame, column: str, n: int | None, seed: int = 0) -> pd.DataFrame:
    """About ``n`` rows spread evenly over the values of ``column`` (all rows when ``n`` is None).

    Each value gets ``n // k`` rows (all it has if fewer, at least one), drawn with ``seed``; the
    order of ``df`` is kept.
    """
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    groups = df.groupby(column, sort=True)
    per = max(1, n // groups.ngroups)
    picked = [g.sample(min(per, len(g)), random_state=seed) for _, g in groups]
    return df.loc[sorted(pd.concat(picked).index)].reset_index(drop=True)


def sample_per_group(pieces: Sequence[Piece], per_group: int = 1, by: str = "genre", seed: int = 0) -> list[Piece]:
    """Up to ``per_group`` pieces for each value of ``piece.meta[by]`` (random, seeded), in group order."""
    rng = random.Random(seed)
    groups: dict[str, list[Piece]] = {}
    for piece in pieces:
        groups.setdefault(str(piece.meta.get(by)), []).append(piece)
    chosen: list[Piece] = []
    for key in sorted(groups):
        members = groups[key]
        chosen += rng.sample(members, min(per_group, len(members)))
    return chosen
