"""Autograder checks of lab 3 (zero-shot classification): ``llmmusic check lab3``.

Used in: course/labs/lab3_zero_shot.py, ``llmmusic check``, tests/test_course.py.
"""

from __future__ import annotations

from typing import Any, Mapping

from llmmusic.course import Part, expect, expect_callable, expect_close
from llmmusic.data.taxonomy import PAPER_GENRES, PAPER_TO_FOLDER


def chance_rock(ns: Mapping[str, Any]) -> None:
    expected = sum(PAPER_TO_FOLDER.get(g) == "Rock" for g in PAPER_GENRES) / len(PAPER_GENRES)
    expect_close(ns["chance_rock"], expected,
                 "chance_rock (the share of the 13 genres that PAPER_TO_FOLDER maps to Rock)", tol=1e-3)


LABELS = ["Jazz", "Blues", "Hip-Hop", "Rock"]
CASES = [
    ("Jazz", "Jazz"),
    ("jazz", "Jazz"),
    ("  Jazz.\n", "Jazz"),
    ("**hip-hop**", "Hip-Hop"),
    ('"Rock"', "Rock"),
    ("`Blues`!", "Blues"),
    ("I think Jazz", "unparsed"),
    ("Jazz or Blues", "unparsed"),
    ("Jazzy", "unparsed"),
    ("Hip Hop", "unparsed"),
    ("", "unparsed"),
]


def strict_answer(ns: Mapping[str, Any]) -> None:
    fn = expect_callable(ns, "strict_answer")
    for reply, want in CASES:
        got = fn(reply, list(LABELS))
        expect(got == want, f"reply {reply!r} with candidates {LABELS}: expected {want!r}, got {got!r}")


PARTS = [
    Part("lab3.1", "chance after a mapping", ("chance_rock",), chance_rock),
    Part("lab3.3", "a stricter answer reader", ("strict_answer",), strict_answer),
]
