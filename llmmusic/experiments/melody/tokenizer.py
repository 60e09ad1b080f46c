"""Melody tokens: miditok's REMI vocabulary for phrases, without velocities or time signatures.

A phrase is ``Bar Position Pitch Duration Position Pitch Duration ... [Bar ...]`` with exactly
``phrase_bars`` Bar tokens, so phrases concatenate into a song.

Used in: :mod:`llmmusic.experiments.melody.windows`, :mod:`llmmusic.experiments.melody.completion`,
:mod:`llmmusic.experiments.melody.model`.
"""

from __future__ import annotations

from typing import Any, Sequence

from llmmusic.data.piece import TICKS_PER_QUARTER, Note
from llmmusic.experiments.melody.corpus import GRID, Phrase

#: Velocity given to decoded notes (tokens carry none).
DECODED_VELOCITY = 90


class MelodyTokenizer:
    """REMI tokens (miditok) for monophonic or polyphonic melody phrases.

    Vocabulary: PAD, BOS, EOS, Bar, Pitch_21..109, Duration (sixteenth steps up to 4 beats, then
    eighth steps up to 8 beats), Position_0..15 (sixteenths in the bar). Velocity is not encoded.
    Notes outside the pitch range are dropped by miditok; longer notes are cut to 8 beats.

    Args:
        pitch_range: lowest and highest MIDI pitch (inclusive).
    """

    def __init__(self, pitch_range: tuple[int, int] = (21, 109)) -> None:
        from miditok import REMI, TokenizerConfig

        self.pitch_range = tuple(pitch_range)
        config = TokenizerConfig(pitch_range=self.pitch_range, beat_res={(0, 4): 4, (4, 8): 2},
                                 use_velocities=False, use_time_signatures=False, use_pitchdrum_tokens=False,
                                 special_tokens=["PAD", "BOS", "EOS"])
        self.remi = REMI(config)
        self.vocab: dict[str, int] = dict(self.remi.vocab)
        self.names: list[str] = [None] * len(self.vocab)  # type: ignore[list-item]
        for token, idx in self.vocab.items():
            self.names[idx] = token
        self.pad_id = self.vocab["PAD_None"]
        self.bos_id = self.vocab["BOS_None"]
        self.eos_id = self.vocab["EOS_None"]
        self.bar_id = self.vocab["Bar_None"]

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return len(self.names)

    @property
    def n_targets(self) -> int:
        """Tokens a model can be asked to predict (all but PAD and BOS): the chance denominator."""
        return self.vocab_size - 2

    def describe(self) -> dict[str, Any]:
        """Tokenizer facts for provenance and checkpoints."""
        import importlib.metadata as md

        return {"tokenizer": "miditok.REMI", "miditok": md.version("miditok"), "pitch_range": list(self.pitch_range),
                "grid_ticks": GRID, "vocab_size": self.vocab_size}

    def token_type(self, idx: int) -> str:
        """The type of a token id: ``Bar``, ``Position``, ``Pitch``, ``Duration``, ``PAD``, ``BOS`` or ``EOS``."""
        return self.names[idx].split("_", 1)[0]

    def encode_notes(self, notes: Sequence[Note], bars: int) -> list[int]:
        """Token ids of notes whose onsets lie in ``[0, bars * 1920)`` ticks, with exactly ``bars`` Bar tokens.

        Args:
            notes: notes relative to the window start (ticks, 480 per quarter).
            bars: window length in bars (trailing empty bars get their Bar token too).
        """
        from symusic import Note as SNote
        from symusic import Score, Track

        ids: list[int] = []
        if notes:
            score = Score(TICKS_PER_QUARTER)
            track = Track("melody", 0, False)
            for n in notes:
                track.notes.append(SNote(int(n.start), int(n.duration), int(n.pitch), 80))
            score.tracks.append(track)
            seqs = self.remi.encode(score)
            seq = seqs[0] if isinstance(seqs, list) else seqs
            ids = list(seq.ids)
        missing = bars - sum(1 for i in ids if i == self.bar_id)
        if missing < 0:
            raise ValueError(f"notes span more than {bars} bars (last onset {max(n.start for n in notes)} ticks)")
        return ids + [self.bar_id] * missing

    def encode_phrase(self, phrase: Phrase) -> list[int]:
        """Token ids of one phrase (see :meth:`encode_notes`)."""
        return self.encode_notes(phrase.notes, phrase.bars)

    def decode(self, ids: Sequence[int], velocity: int = DECODED_VELOCITY) -> list[Note]:
        """Notes of a token sequence (ticks from the first Bar, 480 per quarter).

        Special tokens are skipped; ill-formed stretches (a Pitch without a Duration, ...) are
        skipped by miditok's decoder.
        """
        from miditok import TokSequence

        body = [int(i) for i in ids if int(i) not in (self.pad_id, self.bos_id, self.eos_id)]
        if not any(self.names[i].startswith("Pitch") for i in body):
            return []
        score = self.remi.decode([TokSequence(ids=body)])
        scale = TICKS_PER_QUARTER / score.ticks_per_quarter
        notes = [Note(int(n.pitch), int(round(n.duration * scale)), velocity, int(round(n.time * scale)))
                 for t in score.tracks for n in t.notes]
        return sorted(notes, key=lambda n: (n.start, n.pitch))
