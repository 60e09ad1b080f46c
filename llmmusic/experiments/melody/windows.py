"""Model sequences: BOS + consecutive phrases of a song, for training and for next-token evaluation.

Used in: :mod:`llmmusic.experiments.melody.experiment`.
"""

from __future__ import annotations

from typing import Sequence

from llmmusic.experiments.melody.corpus import Song
from llmmusic.experiments.melody.tokenizer import MelodyTokenizer


def phrase_tokens(song: Song, tokenizer: MelodyTokenizer) -> list[list[int]]:
    """Token ids of each phrase of a song, in order (empty phrases are their Bar tokens)."""
    return [tokenizer.encode_phrase(p) for p in song.phrases]


def training_windows(songs: Sequence[Song], tokenizer: MelodyTokenizer, max_len: int = 256,
                     max_phrases: int | None = 4, stride: int | None = 1) -> list[list[int]]:
    """Model sequences: ``BOS`` + up to ``max_phrases`` consecutive phrases, ``EOS`` at the song end.

    A window starts at a phrase boundary every ``stride`` phrases (1: at every phrase, so the
    model sees mid-song starts just as the ranking queries present them after BOS; ``None``:
    non-overlapping windows) and holds as many whole phrases as fit in ``max_len`` tokens and
    ``max_phrases`` phrases (a single phrase longer than ``max_len`` is cut).

    Args:
        songs: the songs.
        tokenizer: phrase tokens.
        max_len: most tokens per window (BOS and EOS included).
        max_phrases: most phrases per window (``None``: no limit).
        stride: phrases between window starts (``None``: the previous window's length).
    Returns:
        Lists of token ids.
    """
    windows: list[list[int]] = []
    limit = max_phrases or 10**9
    for song in songs:
        toks = phrase_tokens(song, tokenizer)
        start = 0
        while start < len(toks):
            seq, k = [tokenizer.bos_id], start
            while k < len(toks) and k - start < limit and len(seq) + len(toks[k]) <= max_len:
                seq += toks[k]
                k += 1
            if k == start:  # one phrase longer than max_len
                seq = (seq + toks[k])[:max_len]
                k += 1
            elif k == len(toks) and len(seq) < max_len:
                seq.append(tokenizer.eos_id)
            if len(seq) > 1:
                windows.append(seq)
            start = start + stride if stride else k
    return windows


def evaluation_sequences(songs: Sequence[Song], tokenizer: MelodyTokenizer, max_len: int = 256,
                         max_phrases: int | None = 4) -> list[list[int]]:
    """Held-out sequences for next-token metrics: each song from its start in non-overlapping windows."""
    return training_windows(songs, tokenizer, max_len, max_phrases, stride=None)
