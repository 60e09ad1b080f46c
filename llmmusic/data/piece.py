"""The data model: a 4-track piece of notes in ticks (480 per quarter note).

Every other module takes and returns ``Piece`` objects: LLM replies are parsed into
them (``llmmusic.generation.parse``), MIDI files are read into and written from them
(``llmmusic.data.midi``), and the experiments consume them.

Used in: every notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

TICKS_PER_QUARTER = 480
TICKS_PER_BAR = 4 * TICKS_PER_QUARTER  # 4/4 throughout
TRACKS: tuple[str, ...] = ("melody", "chords", "bass", "rhythm")


@dataclass(frozen=True)
class Bounds:
    """Allowed value ranges of note events (inclusive), used by prompts, schemas and clamping."""

    pitch_min: int = 0
    pitch_max: int = 127
    duration_min: int = 240
    duration_max: int = 960
    velocity_min: int = 0
    velocity_max: int = 127
    start_min: int = 0
    start_max: int = 7680
    drum_min: int = 35
    drum_max: int = 50


#: The paper's ranges and clamping: start 0-7680 ticks (4 bars at 480 ticks per quarter, although
#: the prompt says 8 bars), durations 240-960, drum keys 35-50.
PAPER_BOUNDS = Bounds()
#: The corrected variant: start ticks span 8 bars (a note may start up to an eighth before the end).
CORRECTED_BOUNDS = Bounds(start_max=8 * TICKS_PER_BAR - 240)


@dataclass(frozen=True, order=True)
class Note:
    """One note event, in the paper's tuple order ``(pitch, duration, velocity, start)``.

    Attributes:
        pitch: MIDI pitch 0-127 (on the rhythm track: a General MIDI drum key).
        duration: length in ticks (480 = quarter note).
        velocity: MIDI velocity 0-127.
        start: onset in ticks from the start of the piece.
    """

    pitch: int
    duration: int
    velocity: int
    start: int

    @property
    def end(self) -> int:
        """Offset tick (start + duration)."""
        return self.start + self.duration

    def as_list(self) -> list[int]:
        """The paper's 4-tuple as a JSON list."""
        return [self.pitch, self.duration, self.velocity, self.start]


@dataclass
class Piece:
    """A 4-track piece: melody, chords, bass and rhythm, each a list of notes.

    ``meta`` holds free-form provenance (genre, style, mood, source file, ...).
    """

    melody: list[Note] = field(default_factory=list)
    chords: list[Note] = field(default_factory=list)
    bass: list[Note] = field(default_factory=list)
    rhythm: list[Note] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def track(self, name: str) -> list[Note]:
        """The notes of track ``name`` (one of ``TRACKS``)."""
        if name not in TRACKS:
            raise KeyError(f"unknown track {name!r}; expected one of {TRACKS}")
        return getattr(self, name)

    def tracks(self) -> dict[str, list[Note]]:
        """All four tracks, in ``TRACKS`` order."""
        return {name: self.track(name) for name in TRACKS}

    def items(self) -> Iterator[tuple[str, Note]]:
        """Every (track name, note) pair."""
        for name in TRACKS:
            for note in self.track(name):
                yield name, note

    @property
    def n_notes(self) -> int:
        """Total number of notes over the four tracks."""
        return sum(len(notes) for notes in self.tracks().values())

    @property
    def end_tick(self) -> int:
        """The last offset tick over all tracks (0 for an empty piece)."""
        return max((note.end for _, note in self.items()), default=0)

    def sorted(self) -> "Piece":
        """A copy with each track sorted by (start, pitch)."""
        key = lambda n: (n.start, n.pitch, n.duration, n.velocity)  # noqa: E731
        return Piece(**{t: sorted(ns, key=key) for t, ns in self.tracks().items()}, meta=dict(self.meta))

    def to_dict(self) -> dict[str, list[list[int]]]:
        """The paper's JSON form: ``{track: [[pitch, duration, velocity, start], ...]}``."""
        return {name: [note.as_list() for note in notes] for name, notes in self.tracks().items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], meta: dict[str, Any] | None = None) -> "Piece":
        """Build a piece from the JSON form produced by :meth:`to_dict` (no repair, no clamping)."""
        tracks = {name: [Note(*map(int, event)) for event in data.get(name, [])] for name in TRACKS}
        return cls(**tracks, meta=dict(meta or {}))
