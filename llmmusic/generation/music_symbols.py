"""Music-theory vocabulary for the symbolic reply formats: keys, chord symbols, General MIDI drum names.

These are generic, genre-free facts (a chord symbol's intervals, the General MIDI percussion map),
so a reply can say ``"Am7"`` or ``"ride"`` in the words a model has read, and the parser turns them
into pitches. No genre knowledge is written here.

Used in: :mod:`llmmusic.generation.variants`.
"""

from __future__ import annotations

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: Chord roots as written (sharps and flats), with their pitch class.
ROOTS: dict[str, int] = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
                         "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
#: Chord qualities as written after the root, with their intervals in semitones above the root.
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10),
    "dim": (0, 3, 6), "dim7": (0, 3, 6, 9), "aug": (0, 4, 8), "sus2": (0, 2, 7), "sus4": (0, 5, 7),
    "5": (0, 7, 12), "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9), "9": (0, 4, 10, 14), "m9": (0, 3, 10, 14),
    "maj9": (0, 4, 11, 14), "m7b5": (0, 3, 6, 10), "add9": (0, 4, 7, 14), "7sus4": (0, 5, 7, 10),
    "13": (0, 4, 10, 21),
}
#: The 24 major and minor keys, as ``"C major"``, ``"A minor"`` ...
KEYS: tuple[str, ...] = tuple(f"{n} {m}" for m in ("major", "minor") for n in NOTE_NAMES)
#: Lowest pitch of a chord's root (C3); roots fall in C3-B3.
CHORD_ROOT_BASE = 48
#: General MIDI percussion keys by the names a drummer uses.
DRUMS: dict[str, int] = {
    "kick": 36, "kick2": 35, "snare": 38, "snare2": 40, "rimshot": 37, "clap": 39,
    "closed_hihat": 42, "pedal_hihat": 44, "open_hihat": 46, "crash": 49, "ride": 51, "ride_bell": 53,
    "splash": 55, "china": 52, "floor_tom": 41, "low_tom": 45, "mid_tom": 47, "high_tom": 50,
    "tambourine": 54, "cowbell": 56, "bongo_high": 60, "bongo_low": 61, "conga_high": 63, "conga_low": 64,
    "timbale_high": 65, "timbale_low": 66, "agogo": 67, "cabasa": 69, "maracas": 70, "guiro": 73,
    "claves": 75, "woodblock": 76, "triangle": 81,
}
CHORD_SYMBOLS: tuple[str, ...] = tuple(r + q for r in ROOTS for q in QUALITIES)


def note_names(lo: int, hi: int) -> tuple[str, ...]:
    """Every spelling (sharps and flats) of the MIDI pitches ``lo``..``hi``: ``"C4"`` = 60, ``"Bb3"`` = 58."""
    return tuple(f"{root}{(p // 12) - 1}" for p in range(lo, hi + 1) for root, pc in ROOTS.items() if pc == p % 12)


def note_pitch(name: str) -> int:
    """``"C4"`` -> 60, ``"F#2"`` -> 42, ``"Bb3"`` -> 58 (octave numbers as in scientific pitch notation)."""
    for size in (2, 1):
        root, octave = name[:size], name[size:]
        if root in ROOTS and octave.lstrip("-").isdigit():
            return 12 * (int(octave) + 1) + ROOTS[root]
    raise ValueError(f"not a note name: {name!r} (expected e.g. 'C4', 'F#2' or 'Bb3')")


def chord_pitches(symbol: str) -> list[int]:
    """The MIDI pitches of a chord symbol in close position, root in C3-B3 (``"Am7"`` -> 57, 60, 64, 67).

    Raises:
        ValueError: not a root from :data:`ROOTS` followed by a quality from :data:`QUALITIES`.
    """
    for size in (2, 1):
        root, quality = symbol[:size], symbol[size:]
        if root in ROOTS and quality in QUALITIES:
            base = CHORD_ROOT_BASE + ROOTS[root]
            return [base + i for i in QUALITIES[quality]]
    raise ValueError(f"not a chord symbol: {symbol!r} (expected a root such as C, F# or Bb and a quality "
                     f"from {sorted(QUALITIES)})")


def key_pitch_class(key: str) -> tuple[int, str]:
    """``"Bb minor"`` -> (10, "minor")."""
    name, _, mode = key.partition(" ")
    if name not in ROOTS or mode not in ("major", "minor"):
        raise ValueError(f"not a key: {key!r} (expected e.g. 'C major' or 'F# minor')")
    return ROOTS[name], mode
