"""Random 4/4 melodies as songs, for the melody tests."""

from __future__ import annotations

import numpy as np

from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from llmmusic.experiments import melody as M

Q = 480  # ticks per quarter


def random_songs(n_songs: int, n_bars: int, seed: int) -> list[M.Song]:
    """``n_songs`` songs of ``n_bars`` 1-bar phrases: quarter notes of random pitch, each sounding with p = 0.8."""
    rng = np.random.default_rng(seed)
    songs = []
    for i in range(n_songs):
        notes = [Note(int(rng.integers(55, 80)), Q, 100, b * TICKS_PER_BAR + q * Q)
                 for b in range(n_bars) for q in range(4) if rng.random() < 0.8]
        songs.append(M.song_from_piece(Piece(melody=notes), "rand", 1, song=f"rand:{i}"))
    return songs
