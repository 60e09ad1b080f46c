"""A scale fixture: a dataset of the paper's size made from a committed dataset's pieces.

The paper's grid is 13 genres x 25 styles x 50 songs = 16,250 pieces; no committed dataset comes near
it, so nobody would know whether a chapter fits in memory or finishes at that size.
:func:`make_scale_fixture` writes a dataset folder of that shape, deterministically: song ``i`` of a
(genre, style) is a committed piece of that combination (of that genre when the combination has none),
transposed by -5..+6 semitones (pitched tracks only, folded back by octaves into 0-127) and rotated in
time by 0-15 sixteenths within its own length, the transposition and rotation drawn from a seed of the
song. Its ``dataset.json`` says ``"fixture": true`` and its card says what it is: it measures the chapters'
time and memory, never a result (the claims page refuses it).

Used in: ``llmmusic dataset fixture``, benchmarks/bench_scale.py.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from llmmusic import atomic
from llmmusic.data.dataset import (MANIFEST, PARAMS, ManifestRow, load_manifest, load_params, midi_relpath, taxonomy_of,
                                   valid_rows)
from llmmusic.data.midi import midi_bytes, midi_to_piece
from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from llmmusic.errors import DataError

STEP = TICKS_PER_BAR // 16  # a sixteenth note
CARD = "DATASET.md"


def transposed(pitch: int, shift: int) -> int:
    """``pitch + shift``, folded back by octaves into 0-127."""
    p = pitch + shift
    while p > 127:
        p -= 12
    while p < 0:
        p += 12
    return p


def variant(piece: Piece, shift: int, rotate_steps: int) -> Piece:
    """``piece`` transposed by ``shift`` (drums kept) and rotated by ``rotate_steps`` sixteenths within its length."""
    span = max(TICKS_PER_BAR, -(-piece.end_tick // TICKS_PER_BAR) * TICKS_PER_BAR)
    offset = (rotate_steps * STEP) % span
    tracks = {}
    for name, notes in piece.tracks().items():
        move = (lambda p: p) if name == "rhythm" else (lambda p: transposed(p, shift))
        tracks[name] = sorted((Note(move(n.pitch), n.duration, n.velocity, (n.start + offset) % span) for n in notes),
                              key=lambda n: (n.start, n.pitch))
    return Piece(**tracks, meta=dict(piece.meta))


def _draw(seed: int, genre: str, style: str, index: int) -> tuple[int, int]:
    digest = hashlib.sha256(f"fixture|{seed}|{genre}|{style}|{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return rng.randint(-5, 6), rng.randrange(16)


def make_scale_fixture(source: str | Path, out: str | Path, per_combination: int = 50, seed: int = 0,
                       genres: list[str] | None = None) -> dict[str, Any]:
    """Write the fixture dataset ``out`` from the valid pieces of ``source``.

    Args:
        source: a generated dataset folder (its taxonomy gives the grid).
        out: the fixture's folder (a complete one is left as it is).
        per_combination: songs per (genre, style) (the paper: 50, 16,250 pieces in all).
        seed: seed of the transpositions and rotations.
        genres: only these genres (for tests).
    Returns:
        ``{"pieces", "out", "skipped"}`` (``skipped``: the fixture was already complete).
    """
    source, out = Path(source), Path(out)
    rows = valid_rows(load_manifest(source))
    if rows.empty:
        raise DataError(f"{source}: no valid pieces to build a fixture from")
    tax = taxonomy_of(source)
    grid = [(g, s) for g in tax.genres if genres is None or g in genres for s in tax.styles]
    wanted = {"fixture": True, "source": source.name, "taxonomy": tax.name, "per_combination": per_combination,
              "seed": seed, "genres": genres}
    if (out / PARAMS).is_file() and load_params(out) == wanted and (out / MANIFEST).is_file() and \
            len(load_manifest(out)) == len(grid) * per_combination:
        return {"pieces": len(grid) * per_combination, "out": str(out), "skipped": True}
    pieces = {}
    for row in rows.itertuples(index=False):
        pieces.setdefault((row.genre, row.style), []).append(row)
    lines, read = [], {}  # each source piece is read once, however many songs copy it
    for genre, style in grid:
        pool = pieces.get((genre, style)) or [r for (g, _), rs in sorted(pieces.items()) if g == genre for r in rs] \
            or [r for rs in pieces.values() for r in rs]
        for index in range(per_combination):
            base = pool[index % len(pool)]
            shift, rotate = _draw(seed, genre, style, index)
            if base.path not in read:
                read[base.path] = midi_to_piece(source / base.path)
            piece = variant(read[base.path], shift, rotate)
            rel = midi_relpath(genre, style, index)
            data = midi_bytes(piece)
            atomic.write_bytes(out / rel, data)
            lines.append(ManifestRow(genre=genre, style=style, index=index, attempt=0, mood=base.mood,
                                     temperature=float(base.temperature), seed=int(base.seed), status="valid",
                                     n_notes={t: len(n) for t, n in piece.tracks().items()}, path=rel,
                                     midi_sha256=hashlib.sha256(data).hexdigest(), model=f"fixture of {source.name}",
                                     endpoint="fixture", decoding="fixture", prompt_version="fixture").to_json())
    atomic.write_text(out / MANIFEST, "".join(line + "\n" for line in lines))
    atomic.write_text(out / PARAMS, json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    atomic.write_text(out / CARD, card(wanted, len(lines)))
    return {"pieces": len(lines), "out": str(out), "skipped": False}


def card(params: dict[str, Any], n: int) -> str:
    """The fixture's ``DATASET.md``: what it is, and that it is no result."""
    return (f"# Scale fixture ({n} pieces) -- not a results dataset\n\n"
            f"Made by `llmmusic dataset fixture` from the committed dataset `{params['source']}`: each song is one of "
            f"its pieces, transposed by -5..+6 semitones and rotated by 0-15 sixteenths (seed {params['seed']}), "
            f"{params['per_combination']} songs per {params['taxonomy']} genre x style. It exists to measure the chapters' "
            "time and memory at the paper's size; its labels carry no information the source does not, so no figure "
            "made from it is evidence of anything. `dataset.json` says `\"fixture\": true`; the claims page refuses it.\n")
