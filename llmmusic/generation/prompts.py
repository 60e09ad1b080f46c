"""Generation prompts and their JSON schemas, each template with a version id.

Variants:

* ``paper`` — the paper's prompt as written: 8 bars requested, start ticks 0-7680 (which,
  at 480 ticks per quarter, is only 4 bars: the paper's quirk, kept on purpose), every
  track a list of ``(pitch, duration, velocity, start_time)`` tuples (chords too), the
  example in Python tuple syntax, about 16/8/8/16 events.
* ``corrected`` — the same request made consistent: start ticks cover the 8 bars
  (0-15120, so every note can sound inside bar 8), chords as lists of 3-4 pitches, the
  example in JSON syntax.

``generation_schema(variant)`` is the OpenAI structured-outputs ``json_schema`` for a
variant: integer bounds and exact per-track counts. The same request works against
OpenAI and llama.cpp's ``llama-server`` (which enforces the bounds).

Used in: notebooks/01_prompt_design.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmmusic.data.piece import CORRECTED_BOUNDS, PAPER_BOUNDS, Bounds

SYSTEM_MESSAGE = (
    "You are a music generator. You reply with a single valid JSON string that describes "
    "4-track MIDI data, and nothing else."
)


@dataclass(frozen=True)
class PromptVariant:
    """A generation prompt template.

    Attributes:
        name: variant name used on the command line.
        version: template version id, recorded in every manifest row.
        bounds: the value ranges the prompt asks for (also used for clamping).
        chords_as_lists: chord events are ``[[p1, p2, p3(, p4)], duration, velocity, start]``.
        counts: requested events per track.
        tuple_example: show the example in Python tuple syntax (as the paper does).
    """

    name: str
    version: str
    bounds: Bounds
    chords_as_lists: bool
    counts: tuple[tuple[str, int], ...] = (("melody", 16), ("chords", 8), ("bass", 8), ("rhythm", 16))
    tuple_example: bool = True

    def count(self, track: str) -> int:
        """Requested number of events for ``track``."""
        return dict(self.counts)[track]


PROMPT_VARIANTS: dict[str, PromptVariant] = {
    "paper": PromptVariant("paper", "gen-paper-v1", PAPER_BOUNDS, chords_as_lists=False, tuple_example=True),
    "corrected": PromptVariant("corrected", "gen-corrected-v1", CORRECTED_BOUNDS, chords_as_lists=True,
                               tuple_example=False),
}


def get_variant(name: str) -> PromptVariant:
    """The prompt variant called ``name``."""
    try:
        return PROMPT_VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown prompt variant {name!r}; expected one of {sorted(PROMPT_VARIANTS)}") from None


def _example(variant: PromptVariant) -> str:
    """A two-events-per-track example in the variant's syntax."""
    if variant.tuple_example:
        return ('{"melody": [(60, 480, 100, 0), (62, 240, 90, 480), ...], '
                '"chords": [(48, 960, 80, 0), ...], "bass": [(36, 480, 100, 0), ...], '
                '"rhythm": [(35, 240, 110, 0), (42, 240, 70, 240), ...]}')
    return ('{"melody": [[60, 480, 100, 0], [62, 240, 90, 480], ...], '
            '"chords": [[[48, 52, 55], 960, 80, 0], ...], "bass": [[36, 480, 100, 0], ...], '
            '"rhythm": [[35, 240, 110, 0], [42, 240, 70, 240], ...]}')


def build_generation_messages(genre: str, style: str, mood: str, variant: str = "paper") -> list[dict[str, str]]:
    """The system and user messages asking for one 8-bar 4-track piece.

    Args:
        genre: e.g. ``Jazz``; style: e.g. ``Bossa Nova``; mood: e.g. ``calm``.
        variant: a key of :data:`PROMPT_VARIANTS`.
    Returns:
        OpenAI chat messages.
    """
    v = get_variant(variant)
    b = v.bounds
    chords_line = (
        "- chords: each event is ([pitch1, pitch2, pitch3(, pitch4)], duration, velocity, start_time), "
        "the pitches sounding together\n" if v.chords_as_lists else "")
    bars_note = ("8 bars of 4/4 at 120 BPM, 480 ticks per quarter note" if b.start_max > 7680
                 else "8 bars, 4/4 at 120 BPM, 480 ticks per quarter note")
    user = (
        f"Create an 8-bar {genre} song in {style} style with a {mood} mood.\n"
        "Describe it as JSON with exactly four tracks: \"melody\", \"chords\", \"bass\" and \"rhythm\". "
        "Each track is a list of note events (pitch, duration, velocity, start_time):\n"
        f"- pitch: MIDI note number {b.pitch_min}-{b.pitch_max}\n"
        f"- duration: in ticks ({b.duration_min} = eighth note, 480 = quarter note, 960 = half note); "
        "use diverse durations\n"
        f"- velocity: {b.velocity_min}-{b.velocity_max}\n"
        f"- start_time: in ticks from {b.start_min} to {b.start_max} ({bars_note})\n"
        f"{chords_line}"
        f"Use about {v.count('melody')} events for the melody, {v.count('chords')} for the chords, "
        f"{v.count('bass')} for the bass and {v.count('rhythm')} for the rhythm. The rhythm track uses drum "
        "pitches 35 (kick), 38 (snare) and 42 (hi-hat).\n"
        f"Example of the format: {_example(v)}\n"
        "Output only the JSON, with no explanation."
    )
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": user}]


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _event_schema(pitch: dict[str, Any], b: Bounds) -> dict[str, Any]:
    return {"type": "array", "minItems": 4, "maxItems": 4,
            "prefixItems": [pitch, _int(b.duration_min, b.duration_max),
                            _int(b.velocity_min, b.velocity_max), _int(b.start_min, b.start_max)]}


def generation_schema(variant: str = "paper") -> dict[str, Any]:
    """The structured-outputs ``response_format`` for ``variant``: bounds and exact counts.

    Tuples are arrays with ``prefixItems`` and ``minItems``/``maxItems`` of 4 (llama-server
    rejects ``"items": false``).
    """
    v = get_variant(variant)
    b = v.bounds
    note_pitch = _int(b.pitch_min, b.pitch_max)
    tracks: dict[str, Any] = {}
    for track, n in v.counts:
        if track == "rhythm":
            event = _event_schema(_int(b.drum_min, b.drum_max), b)
        elif track == "chords" and v.chords_as_lists:
            event = _event_schema({"type": "array", "items": note_pitch, "minItems": 3, "maxItems": 4}, b)
        else:
            event = _event_schema(note_pitch, b)
        tracks[track] = {"type": "array", "items": event, "minItems": n, "maxItems": n}
    schema = {"type": "object", "properties": tracks, "required": [t for t, _ in v.counts],
              "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": f"four_track_midi_{v.name}", "strict": True,
                                                    "schema": schema}}
