"""Autograder checks of lab 2 (dataset statistics): ``llmmusic check lab2``.

Used in: course/labs/lab2_dataset_statistics.py, ``llmmusic check``, tests/test_course.py.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from llmmusic.course import Part, expect, expect_callable, expect_close
from llmmusic.data.piece import Note, Piece


def min_scale_consistency(ns: Mapping[str, Any]) -> None:
    expect_close(ns["min_scale_consistency"], 7 / 12,
                 "min_scale_consistency (each pitch class lies in 7 of the 12 major scales)", tol=1e-3)


def _melody(*pitches_starts: tuple[int, int], bass: tuple[int, ...] = ()) -> Piece:
    melody = [Note(p, 240, 90, s) for p, s in pitches_starts]
    return Piece(melody=melody, bass=[Note(p, 480, 90, 480 * i) for i, p in enumerate(bass)])


def _expected(piece: Piece) -> float:
    pitches = [n.pitch for n in sorted(piece.melody, key=lambda n: (n.start, n.pitch))]
    if len(pitches) < 2:
        return math.nan
    return sum(abs(b - a) for a, b in zip(pitches, pitches[1:])) / (len(pitches) - 1)


CASES: list[tuple[str, Piece]] = [
    ("melody C4-E4-G4 (60, 64, 67)", _melody((60, 0), (64, 240), (67, 480))),
    ("melody G4-E4-C4 (descending: intervals count as absolute values)", _melody((67, 0), (64, 240), (60, 480))),
    ("melody C4-E4-G4 stored out of order in the list (sort by start time)",
     _melody((67, 480), (60, 0), (64, 240))),
    ("two melody notes at the same start (64 and 60 at tick 0, then 62; lowest pitch first)",
     _melody((64, 0), (60, 0), (62, 480))),
    ("melody C4-C5 with a bass line (only the melody counts)", _melody((60, 0), (72, 480), bass=(36, 55, 31))),
    ("a melody of one note", _melody((60, 0))),
    ("an empty melody", _melody()),
]


def melodic_interval_mean(ns: Mapping[str, Any]) -> None:
    fn = expect_callable(ns, "melodic_interval_mean")
    for what, piece in CASES:
        value = fn(piece)
        expect(isinstance(value, (float, int)) and not isinstance(value, bool),
               f"{what}: return a float, got {type(value).__name__}")
        expect_close(value, _expected(piece), what)
    from llmmusic.data.dataset import load_pieces
    from llmmusic.data.dataset import pick_dataset

    dataset = pick_dataset()
    if dataset is not None:
        for piece in load_pieces(dataset, limit=5):
            expect_close(fn(piece), _expected(piece), f"dataset piece {piece.meta.get('path', '')}")


PARTS = [
    Part("lab2.1", "how low can scale consistency go?", ("min_scale_consistency",), min_scale_consistency),
    Part("lab2.3", "a new metric: melodic interval size", ("melodic_interval_mean",), melodic_interval_mean),
]
