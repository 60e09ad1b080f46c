"""Balanced sampling (llmmusic.data.sampling): prefix-stable orders over groups."""

from __future__ import annotations

from llmmusic.data.sampling import balanced_order


def test_balanced_order_is_prefix_stable_and_balanced():
    keys = [(g, s) for g in "abc" for s in "xyzw" for _ in range(3)]
    order = balanced_order(keys, seed=1)
    assert sorted(order) == list(range(len(keys)))
    first = [keys[i] for i in order[:12]]
    assert {g for g, _ in first} == set("abc") and all(sum(g == x for g, _ in first) == 4 for x in "abc")
    assert {s for _, s in first} == set("xyzw")
    assert balanced_order(keys, seed=1) == order
