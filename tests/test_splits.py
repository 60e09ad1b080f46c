"""Splits of a generated dataset (llmmusic.data.splits): defaults, seeds, and how an empty split is filled."""

from __future__ import annotations

import numpy as np

from llmmusic.data.splits import file_folds, split_by_combination


def test_the_default_seed_is_zero_and_seeds_change_the_deal():
    genres, styles = ["a"] * 40 + ["b"] * 40, (["x"] * 20 + ["y"] * 20) * 2
    assert list(split_by_combination(genres, styles)) == list(split_by_combination(genres, styles, seed=0))
    assert list(split_by_combination(genres, styles, seed=1)) != list(split_by_combination(genres, styles, seed=0))


def test_an_empty_split_takes_any_piece_of_the_largest_split():
    """Three pieces of one combination: most deals put all three in train; then val and test each take a
    random one of them, so over seeds every piece is moved at least once (the pool's first one too)."""
    moved = set()
    for seed in range(60):
        out = split_by_combination(["a"] * 3, ["x"] * 3, seed=seed)
        assert sorted(out) == ["test", "train", "val"]
        moved |= {i for i, s in enumerate(out) if s != "train"}
    assert moved == {0, 1, 2}


def test_file_folds_default_to_five_seeded_stratified_folds():
    labels = ["r", "j", "c", "p", "e"] * 20
    folds = file_folds(labels)
    assert folds.dtype.kind == "i" and sorted(set(folds)) == [0, 1, 2, 3, 4]
    assert np.array_equal(folds, file_folds(labels, k=5, seed=0)) and np.array_equal(folds, file_folds(labels))
    assert not np.array_equal(file_folds(labels, seed=3), file_folds(labels, seed=4))
    for f in range(5):  # stratified: every fold holds 4 files of each label
        assert sorted(np.asarray(labels)[folds == f]) == sorted(["r", "j", "c", "p", "e"] * 4)
