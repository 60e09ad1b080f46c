"""Songs and phrases: a corpus's melody tracks quantised, cut into phrases and split by song.

A song's melody track is quantised to a sixteenth-note grid and cut into phrases of ``phrase_bars``
bars on the beat grid (480 ticks per quarter, 1,920 per bar: every corpus is read as 4/4, as
:class:`~llmmusic.data.piece.Piece` is). Phrase onsets are relative to the phrase start, so a phrase
from bar 1 of one song and one from bar 9 of another are comparable. Splits are song-level
train / validation / test with a fixed seed.

Used in: :mod:`llmmusic.experiments.melody.experiment`, notebooks/05_melody_completion.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, Note, Piece

#: Quantisation grid of onsets and durations: a sixteenth note, in ticks.
GRID = TICKS_PER_QUARTER // 4
#: The corpora this experiment knows: the generated dataset and two human collections.
CORPORA: tuple[str, ...] = ("llm-midi", "pop909", "folk")


@dataclass(frozen=True)
class Phrase:
    """A window of ``bars`` bars of one song's melody.

    Attributes:
        song: id of the song it comes from.
        index: phrase number within the song (0 = the first ``bars`` bars).
        bars: length in bars.
        notes: notes with onsets relative to the phrase start (ticks, 480 per quarter).
    """

    song: str
    index: int
    bars: int
    notes: tuple[Note, ...]

    @property
    def is_empty(self) -> bool:
        """True when no note starts in the phrase."""
        return not self.notes


@dataclass
class Song:
    """One song's melody cut into consecutive phrases (empty ones included, so adjacency is kept).

    Attributes:
        song: unique id within its corpus (e.g. the MIDI path or POP909 number).
        corpus: ``llm-midi``, ``pop909`` or ``folk``.
        phrases: phrases 0, 1, 2, ... in order.
        meta: the source piece's metadata.
    """

    song: str
    corpus: str
    phrases: list[Phrase]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nonempty(self) -> int:
        """Phrases holding at least one note."""
        return sum(not p.is_empty for p in self.phrases)

    def notes(self) -> list[Note]:
        """All melody notes back on the song's own time line (ticks from the song start)."""
        return [Note(n.pitch, n.duration, n.velocity, n.start + p.index * p.bars * TICKS_PER_BAR)
                for p in self.phrases for n in p.notes]


def quantise(notes: Iterable[Note], grid: int = GRID) -> list[Note]:
    """Snap onsets to the nearest grid line and durations to a positive multiple of the grid.

    Args:
        notes: notes in ticks.
        grid: grid step in ticks (default a sixteenth note).
    Returns:
        Sorted notes (by start, pitch); exact duplicates (same start and pitch) kept once.
    """
    out: dict[tuple[int, int], Note] = {}
    for n in notes:
        start = int(round(n.start / grid)) * grid
        duration = max(grid, int(round(n.duration / grid)) * grid)
        out.setdefault((start, n.pitch), Note(n.pitch, duration, n.velocity, max(0, start)))
    return sorted(out.values(), key=lambda n: (n.start, n.pitch))


def split_phrases(notes: Sequence[Note], phrase_bars: int = 1, song: str = "",
                  n_phrases: int | None = None) -> list[Phrase]:
    """Cut a melody into consecutive phrases of ``phrase_bars`` bars on the bar grid.

    A note belongs to the phrase its onset falls in (it may sound on into the next one).

    Args:
        notes: notes in ticks from the song start (quantise first: an onset at tick 1,915
            would otherwise fall in bar 0).
        phrase_bars: bars per phrase.
        song: song id stored in each phrase.
        n_phrases: number of phrases (default: up to the phrase of the last onset).
    Returns:
        Phrases 0 .. n-1, empty ones included.
    """
    if phrase_bars < 1:
        raise ValueError(f"phrase_bars must be >= 1, got {phrase_bars}")
    span = phrase_bars * TICKS_PER_BAR
    if n_phrases is None:
        n_phrases = (max(n.start for n in notes) // span + 1) if notes else 0
    buckets: list[list[Note]] = [[] for _ in range(n_phrases)]
    for n in notes:
        k = n.start // span
        if 0 <= k < n_phrases:
            buckets[k].append(Note(n.pitch, n.duration, n.velocity, n.start - k * span))
    return [Phrase(song, i, phrase_bars, tuple(b)) for i, b in enumerate(buckets)]


def song_id(piece: Piece, corpus: str, position: int) -> str:
    """A piece's song id: ``corpus:`` + the first of meta ``song``, ``song_id``, ``id``, the file stem of
    ``path``, ``source``; else ``corpus:#position``."""
    for key in ("song", "song_id", "id", "path", "source"):
        value = piece.meta.get(key)
        if value not in (None, ""):
            return f"{corpus}:{Path(str(value)).stem if key == 'path' else value}"
    return f"{corpus}:#{position}"


def song_from_piece(piece: Piece, corpus: str, phrase_bars: int = 1, max_bars: int | None = None,
                    song: str | None = None) -> Song:
    """The melody track of ``piece`` as a :class:`Song` of phrases.

    Leading empty phrases (an intro before the melody enters) are dropped: the song starts at
    the first phrase holding a note, on the same bar grid.

    Args:
        piece: a piece (only its melody track is used).
        corpus: corpus name stored in the song.
        phrase_bars: bars per phrase.
        max_bars: keep only notes starting in the first ``max_bars`` bars (rounded down to whole
            phrases) counted from the first phrase with a note; ``None`` keeps all.
        song: song id (default :func:`song_id`).
    """
    notes = quantise(piece.melody)
    span = phrase_bars * TICKS_PER_BAR
    if notes:  # drop leading empty phrases (intros before the melody), keeping the bar grid
        shift = (notes[0].start // span) * span
        notes = [Note(n.pitch, n.duration, n.velocity, n.start - shift) for n in notes]
    n_phrases = None
    if max_bars is not None:
        n_phrases = max(0, max_bars // phrase_bars)
        notes = [n for n in notes if n.start < n_phrases * phrase_bars * TICKS_PER_BAR]
        if notes:
            n_phrases = min(n_phrases, max(n.start for n in notes) // span + 1)
        else:
            n_phrases = 0
    sid = song if song is not None else song_id(piece, corpus, 0)
    return Song(sid, corpus, split_phrases(notes, phrase_bars, sid, n_phrases), dict(piece.meta))


def songs_from_pieces(pieces: Sequence[Piece], corpus: str, phrase_bars: int = 1,
                      max_bars: int | None = None) -> list[Song]:
    """Every piece with at least one non-empty phrase as a :class:`Song` (ids made unique).

    Args:
        pieces: pieces of one corpus.
        corpus: its name.
        phrase_bars: bars per phrase.
        max_bars: see :func:`song_from_piece`.
    """
    songs, seen = [], set()
    for i, piece in enumerate(pieces):
        sid = song_id(piece, corpus, i)
        if sid in seen:
            sid = f"{sid}#{i}"
        seen.add(sid)
        s = song_from_piece(piece, corpus, phrase_bars, max_bars, song=sid)
        if s.n_nonempty:
            songs.append(s)
    return songs


def load_corpus(name: str, *, dataset: str | Path | None = None, limit: int | None = None,
                phrase_bars: int = 1, max_bars: int | None = None) -> list[Song]:
    """Load one corpus's melodies as songs.

    Args:
        name: ``llm-midi`` (the generated dataset's melody tracks), ``pop909`` (MELODY track of
            ``shared/data/pop909``) or ``folk`` (music21's bundled Essen / O'Neill melodies).
        dataset: the LLM-MIDI dataset folder (default: :func:`llmmusic.data.dataset.pick_dataset`).
        limit: at most this many pieces.
        phrase_bars: bars per phrase.
        max_bars: keep only the first ``max_bars`` bars of each song.
    Returns:
        Songs with at least one non-empty phrase.
    Raises:
        FileNotFoundError: the corpus is not available here (no dataset; no shared data).
    """
    if name == "llm-midi":
        from llmmusic.data.dataset import load_pieces
        from llmmusic.data.dataset import pick_dataset

        folder = pick_dataset(dataset)
        if folder is None:
            raise FileNotFoundError("no generated dataset under data/llm-midi (make one with `llmmusic generate`)")
        pieces = load_pieces(folder, limit=limit)
    elif name == "pop909":
        from llmmusic.data.corpora import pop909_melodies, shared_data_dir

        if shared_data_dir() is None:
            raise FileNotFoundError("POP909 needs the shared data folder (../shared/data or $LLMMUSIC_SHARED_DATA)")
        pieces = pop909_melodies(limit=limit)
    elif name == "folk":
        from llmmusic.data.corpora import music21_folk

        pieces = music21_folk(limit=limit)
    else:
        raise ValueError(f"unknown corpus {name!r}; expected one of {CORPORA}")
    return songs_from_pieces(pieces, name, phrase_bars, max_bars)


SPLITS: tuple[str, ...] = ("train", "validation", "test")


def split_songs(songs: Sequence[Song], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                seed: int = 0) -> dict[str, list[Song]]:
    """Song-level train / validation / test split (no song is in two splits).

    Songs are ordered by id, shuffled with ``seed`` and cut by ``fractions``; the same songs and
    seed always give the same split. Validation and test get at least one song each when there
    are three or more songs.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    ordered = sorted(songs, key=lambda s: s.song)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n = len(ordered)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:
        n_val, n_test = max(1, n_val), max(1, n_test)
    n_train = n - n_val - n_test
    shuffled = [ordered[i] for i in order]
    return {"train": shuffled[:n_train], "validation": shuffled[n_train:n_train + n_val],
            "test": shuffled[n_train + n_val:]}
