"""Train / validation / test splits of LLM pieces (stratified by genre x style) and folds of human files.

* :func:`split_by_combination`: a seeded deal per genre x style combination that never leaves a
  split empty (a dataset too small for every split is a :class:`~llmmusic.errors.UserError`).
* :func:`file_folds`: stratified k folds of files, for the human reference model.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from llmmusic.errors import UserError

SPLITS = ("train", "val", "test")


def split_by_combination(genres: Sequence[str], styles: Sequence[str],
                         fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> np.ndarray:
    """Assign each piece to train / val / test, stratified by its genre x style combination.

    Within each combination the pieces are shuffled (seeded) and dealt in turn into a cycle of 20
    slots holding the three splits in proportion to ``fractions`` (70/15/15: 14 train, 3 val,
    3 test), starting at a random slot per combination. A combination of 20 pieces is therefore
    split exactly, larger ones nearly so, and small ones (early in a growing dataset) still put
    pieces into every split overall: when the deal leaves a split empty (a dataset of a few pieces),
    one piece moves to it from the largest split (:func:`_fill_empty_splits`).

    Args:
        genres, styles: labels per piece.
        fractions: train, val, test shares (sum 1; multiples of 0.05).
        seed: random seed.
    Returns:
        array of ``"train"`` / ``"val"`` / ``"test"`` per piece; every split with a non-zero fraction
        holds a piece.
    Raises:
        UserError: fewer pieces than splits with a non-zero fraction.
    """
    if len(genres) != len(styles):
        raise ValueError(f"genres has {len(genres)} items but styles has {len(styles)}")
    if not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    counts = [int(round(f * 20)) for f in fractions]
    if sum(counts) != 20:
        raise ValueError(f"fractions must be multiples of 0.05, got {fractions}")
    cycle = np.repeat(np.array(SPLITS), counts)
    rng = np.random.default_rng(seed)
    out = np.empty(len(genres), dtype=object)
    combos: dict[tuple[str, str], list[int]] = {}
    for i, combo in enumerate(zip(genres, styles)):
        combos.setdefault(combo, []).append(i)
    wanted = [s for s, c in zip(SPLITS, counts) if c]
    if len(genres) < len(wanted):
        raise UserError(f"{len(genres)} pieces are too few to split into {', '.join(wanted)}: each split needs "
                        f"one piece at least (give a larger dataset or --limit)")
    for combo in sorted(combos):
        members = np.array(combos[combo])
        rng.shuffle(members)
        offset = int(rng.integers(0, 20))
        for j, i in enumerate(members):
            out[i] = cycle[(offset + j) % 20]
    _fill_empty_splits(out, wanted, combos, rng)
    return out.astype(str)


def _fill_empty_splits(out: np.ndarray, wanted: Sequence[str], combos: Mapping[tuple[str, str], list[int]],
                       rng: np.random.Generator) -> None:
    """Give every split in ``wanted`` a piece (a small dataset's deal can leave one empty), in place.

    Each empty split takes a random piece from the largest split, chosen among the combinations with
    the most pieces in that split, so stratification suffers least. A deal with no empty split is
    left exactly as it was.
    """
    for split in wanted:
        if (out == split).any():
            continue
        donor = max(wanted, key=lambda s: int((out == s).sum()))
        per_combo = {c: [i for i in members if out[i] == donor] for c, members in sorted(combos.items())}
        most = max(len(v) for v in per_combo.values())
        pool = sorted(i for v in per_combo.values() if len(v) == most for i in v)
        out[pool[int(rng.integers(0, len(pool)))]] = split


def file_folds(labels: Sequence[str], k: int = 5, seed: int = 0) -> np.ndarray:
    """Stratified fold number (0..k-1) of each file (``sklearn`` StratifiedKFold, shuffled, seeded)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    folds = np.full(len(labels), -1, dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[test] = f
    return folds
