"""Prompt/representation variants of the generation request, each with its own schema and parser.

Every variant answers three questions: which messages ask for a piece (:meth:`Variant.messages`),
which structured-outputs schema constrains the reply (:meth:`Variant.schema`; on the embedded engine
it is sent as a one-line grammar, see :mod:`llmmusic.generation.grammar`), and how a reply becomes a
:class:`~llmmusic.data.piece.Piece` (:meth:`Variant.parse`). The knowledge in the notes stays the model's:
no prompt holds human music, a genre rule or an example of a genre.

===============  ==============================================================================
``paper``        the paper's prompt, unchanged (absolute ticks, 16/8/8/16 events, drum keys 35/38/42)
``corrected``    the paper's prompt made consistent (8 bars of ticks, chords as pitch lists)
``events``       time-ordered events ``[pitch, length]`` with explicit rests (pitch 0); start times
                 are derived, so nothing can pile up at tick 0
``grid``         positions as bar / step (sixteenth) ``[pitch, bar, step, length]``
``symbolic``     ``grid`` plus the words musicians use: chord symbols (``"Am7"``), a drum-machine
                 groove (1-4 lanes of a named drum and its 16-step ``x``/``.`` pattern), and the tempo and key the model
                 chooses (written into the MIDI)
``bars``         bar by bar, in a musician's words: for each of the 8 bars its chord symbol, melody
                 and bass notes as note names (``"E4"``) at a step of the bar; the drum-machine
                 groove; the tempo and key the model chooses
``plan``         plan then compose: a first call writes the model's own plan (sound, tempo, key,
                 progression, groove, bass, melody) as JSON; a second call composes ``bars``
                 conditioned on it. Both calls are cached; the plan is stored beside the MIDI
===============  ==============================================================================

Deviations of the new variants from the paper (named in chapter 1): positions on a sixteenth grid;
event counts are ranges the model chooses within, about the paper's 16/8/8 at most; velocity is one value per track (not asked);
the drum track is a one-bar groove repeated over the 8 bars; ``symbolic``/``plan`` choose their
tempo and key (the paper fixes 120 BPM and writes no key).

Used in: :mod:`llmmusic.generation.generate`; notebooks/01_prompt_design.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmmusic.generation.grammar import compact_grammar
from llmmusic.generation.json_schema import array_of, closed_object, conforms, fixed_tuple, int_range
from llmmusic.generation.music_symbols import CHORD_SYMBOLS, DRUMS, KEYS, QUALITIES, chord_pitches, note_names, note_pitch
from llmmusic.generation.parse import ParseResult, _decode, _FAIL, parse_reply
from llmmusic.data.piece import TICKS_PER_BAR, TRACKS, Note, Piece
from llmmusic.generation.prompts import PROMPT_VARIANTS, PromptVariant, build_generation_messages, generation_schema

BARS = 8
STEP_TICKS = TICKS_PER_BAR // 16  # a sixteenth note
#: One velocity per track (the new variants do not ask for velocities).
VELOCITY = {"melody": 96, "chords": 72, "bass": 90, "rhythm": 90}
MELODY_PITCH = (48, 96)
BASS_PITCH = (28, 60)
CHORD_PITCH = (36, 84)
DRUM_KEY = (35, 81)

COMPOSER_SYSTEM = (
    "You are a composer. You write short pieces of music as compact JSON, and nothing else.\n"
    "A piece is 8 bars of 4/4 with four tracks: melody, chords, bass and drums.\n"
)
GRID_TIME = (
    "Time: bar 1-8; step 1-16 is the sixteenth note inside the bar (1 = beat 1, 5 = beat 2, 9 = beat 3, "
    "13 = beat 4); length is in sixteenths (2 = eighth note, 4 = quarter, 8 = half, 16 = whole note).\n"
)
PITCH_NOTE = "Pitches are MIDI note numbers (60 = middle C).\n"
DRUM_LEGEND = ("General MIDI drum keys (35-81), e.g. 36 kick, 38 snare, 42 closed hi-hat, 46 open hi-hat, "
               "49 crash, 51 ride.\n")
CLOSING = "Choose everything the way a musician who knows the requested genre and style would.\n"


@dataclass(frozen=True)
class Ask:
    """What a variant's prompt asks of a piece, for the chapters' sentences and reference lines.

    Attributes:
        bars: bars in which notes may start (the paper's start ticks 0-7680 are 4 bars).
        notes: per track (:data:`~llmmusic.data.piece.TRACKS`), the notes per piece the prompt asks for as
            ``(fewest, most)``; ``None`` where the prompt leaves the count open (a drum groove's hits).
        drums: how the drums are asked for, in words.
    """

    bars: int
    notes: dict[str, tuple[int, int] | None]
    drums: str

    def targets(self) -> list[tuple[int, int] | None]:
        """:attr:`notes` in :data:`~llmmusic.data.piece.TRACKS` order (the plots' reference lines)."""
        return [self.notes.get(t) for t in TRACKS]

    def describe(self) -> str:
        """The request in one sentence: notes per track and the drums."""
        words = {"melody": "melody", "chords": "chord", "bass": "bass", "rhythm": "drum"}
        parts = [(f"{lo}" if lo == hi else f"{lo}-{hi}") + f" {words[t]}" for t in TRACKS
                 if (r := self.notes.get(t)) is not None for lo, hi in [r]]
        counts = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)
        return f"{counts} notes in {self.bars} bars; drums: {self.drums}"


#: Drum words of the variants that ask for a one-bar groove in drum-machine lanes.
LANES_ASK = "a one-bar groove of 1-4 named drums in 16-step lanes, repeated in every bar"


def _per_bar(lo: int, hi: int, bars: int = BARS) -> tuple[int, int]:
    return lo * bars, hi * bars


#: Fewest and most pitches of a chord symbol.
CHORD_SIZE = (min(map(len, QUALITIES.values())), max(map(len, QUALITIES.values())))


@dataclass(frozen=True)
class Variant:
    """A generation request: messages, schema and parser (see the module docstring).

    Attributes:
        name: the ``--variant`` name; version: the template id recorded in every manifest row.
        max_tokens: default reply budget; needs_plan: a plan call comes first.
    """

    name: str
    version: str
    max_tokens: int = 1500
    needs_plan: bool = False
    compact: bool = True

    # -- the request -------------------------------------------------------------------------
    def system(self) -> str:
        raise NotImplementedError

    def user(self, genre: str, style: str, mood: str, plan: dict[str, Any] | None = None) -> str:
        return f"Write an 8-bar {genre} piece in {style} style with a {mood} mood."

    def messages(self, genre: str, style: str, mood: str, plan: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """System message first (the same for every song: its tokens are reused across requests)."""
        return [{"role": "system", "content": self.system()},
                {"role": "user", "content": self.user(genre, style, mood, plan)}]

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def ask(self) -> Ask:
        """What the prompt asks of a piece (bars, notes per track, drums)."""
        raise NotImplementedError

    def response_format(self, endpoint: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(``response_format``, ``extra_body``) for ``endpoint``: the embedded engine gets the
        compact grammar, every other endpoint the OpenAI ``json_schema``."""
        if self.compact and endpoint == "embedded":
            return None, {"grammar": compact_grammar(self.schema())}
        return {"type": "json_schema", "json_schema": {"name": f"piece_{self.name}", "strict": True,
                                                       "schema": self.schema()}}, None

    # -- the reply ---------------------------------------------------------------------------
    def parse(self, text: Any, plan: dict[str, Any] | None = None) -> ParseResult:
        """A reply as a piece; never raises. Events that break the schema are dropped and counted."""
        if not isinstance(text, str):
            return ParseResult(None, [], "not_json")
        value, repairs = _decode(text)
        if value is _FAIL:
            return ParseResult(None, repairs, "not_json")
        if not isinstance(value, dict):
            return ParseResult(None, repairs, "not_object")
        props = self.schema()["properties"]
        clean: dict[str, Any] = {}
        for key, sub in props.items():
            if key not in value:
                return ParseResult(None, repairs, f"missing_track:{key}")
            if sub.get("type") == "array":
                if not isinstance(value[key], list):
                    return ParseResult(None, repairs, f"bad_track:{key}")
                kept = [e for e in value[key] if conforms(e, sub["items"])]
                if len(kept) < len(value[key]):
                    repairs.append(f"dropped_events:{key}:{len(value[key]) - len(kept)}")
                if not kept:
                    return ParseResult(None, repairs, f"empty_track:{key}")
                clean[key] = kept
            elif conforms(value[key], sub):
                clean[key] = value[key]
            else:
                return ParseResult(None, repairs, f"bad_field:{key}")
        try:
            piece = self.build(clean, plan, repairs)
        except ValueError as exc:
            return ParseResult(None, repairs, f"bad_value:{exc}")
        return ParseResult(piece, repairs, None)

    def build(self, value: dict[str, Any], plan: dict[str, Any] | None, repairs: list[str]) -> Piece:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------ grid
def _at(bar: int, step: int) -> int:
    return (bar - 1) * TICKS_PER_BAR + (step - 1) * STEP_TICKS


def _drum_loop(hits: list[tuple[int, int]]) -> list[Note]:
    """A one-bar groove of (key, step 1-16) hits repeated in every bar (duplicates once)."""
    return [Note(key, STEP_TICKS, VELOCITY["rhythm"], b * TICKS_PER_BAR + (step - 1) * STEP_TICKS)
            for b in range(BARS) for key, step in sorted(set(hits))]


def _positioned(events: list[list[int]], track: str) -> list[Note]:
    return [Note(p, n * STEP_TICKS, VELOCITY[track], _at(bar, step)) for p, bar, step, n in events]


@dataclass(frozen=True)
class GridVariant(Variant):
    """Positions as bar / step; every value a number."""

    def system(self) -> str:
        return (COMPOSER_SYSTEM + GRID_TIME + PITCH_NOTE + DRUM_LEGEND +
                'Reply with {"melody":[...],"chords":[...],"bass":[...],"drums":[...]}:\n'
                "- melody: 8-16 notes [pitch, bar, step, length], pitch 48-96\n"
                "- chords: 4-8 chords [[pitch, pitch, pitch(, pitch)], bar, step, length], pitches 36-84, "
                "length up to 32\n"
                "- bass: 4-8 notes [pitch, bar, step, length], pitch 28-60\n"
                "- drums: a one-bar groove that repeats in every bar: 4-16 hits [drum key, step]\n" + CLOSING)

    def schema(self) -> dict[str, Any]:
        pos = (int_range(1, BARS), int_range(1, 16))
        return closed_object({
            "melody": array_of(fixed_tuple(int_range(*MELODY_PITCH), *pos, int_range(1, 16)), 8, 16),
            "chords": array_of(fixed_tuple(array_of(int_range(*CHORD_PITCH), 3, 4), *pos, int_range(1, 32)), 4, 8),
            "bass": array_of(fixed_tuple(int_range(*BASS_PITCH), *pos, int_range(1, 16)), 4, 8),
            "drums": array_of(fixed_tuple(int_range(*DRUM_KEY), int_range(1, 16)), 4, 16),
        })

    def ask(self) -> Ask:
        return Ask(BARS, {"melody": (8, 16), "chords": (4 * CHORD_SIZE[0], 8 * 4), "bass": (4, 8),
                          "rhythm": _per_bar(4, 16)}, "a one-bar groove of 4-16 hits, repeated in every bar")

    def build(self, value: dict[str, Any], plan: dict[str, Any] | None, repairs: list[str]) -> Piece:
        chords = [Note(p, n * STEP_TICKS, VELOCITY["chords"], _at(bar, step))
                  for ps, bar, step, n in value["chords"] for p in ps]
        return Piece(melody=_positioned(value["melody"], "melody"), chords=chords,
                     bass=_positioned(value["bass"], "bass"),
                     rhythm=_drum_loop([(k, s) for k, s in value["drums"]])).sorted()


# ------------------------------------------------------------------------------------------ events
def _sequence(items: list[tuple[list[int], int]], track: str, limit: int, repairs: list[str]) -> list[Note]:
    """Items played one after another from tick 0: (pitches sounding together, length in sixteenths);
    an empty pitch list is a rest. Items starting at or after ``limit`` ticks are cut (counted)."""
    notes, t, cut = [], 0, 0
    for pitches, n in items:
        if t >= limit:
            cut += 1
            continue
        dur = min(n * STEP_TICKS, limit - t)
        notes += [Note(p, dur, VELOCITY[track], t) for p in pitches]
        t += n * STEP_TICKS
    if cut:
        repairs.append(f"past_end:{track}:{cut}")
    return notes


@dataclass(frozen=True)
class EventsVariant(Variant):
    """Time-ordered events with lengths and explicit rests: start times are derived."""

    def system(self) -> str:
        return (COMPOSER_SYSTEM +
                "Each track is a sequence played one item after another from the first beat; an item starts "
                "where the one before it ends. Lengths are in sixteenths (2 = eighth note, 4 = quarter, "
                "8 = half, 16 = whole note); 8 bars are 128 sixteenths.\n" + PITCH_NOTE + DRUM_LEGEND +
                'Reply with {"melody":[...],"chords":[...],"bass":[...],"drums":[...]}:\n'
                "- melody: 8-20 items [pitch, length]; pitch 48-96, or 0 for a rest\n"
                "- chords: 4-8 items [[pitch, pitch, pitch(, pitch)], length]; pitches 36-84, [] for a rest\n"
                "- bass: 4-10 items [pitch, length]; pitch 28-60, or 0 for a rest\n"
                "- drums: one bar (16 sixteenths) that repeats in every bar: 2-16 items "
                "[[drum keys hit together], length]; [] for silence\n" + CLOSING)

    def schema(self) -> dict[str, Any]:
        rest = int_range(0, 0)
        return closed_object({
            "melody": array_of(fixed_tuple({"anyOf": [rest, int_range(*MELODY_PITCH)]}, int_range(1, 16)), 8, 20),
            "chords": array_of(fixed_tuple(array_of(int_range(*CHORD_PITCH), 0, 4), int_range(1, 32)), 4, 8),
            "bass": array_of(fixed_tuple({"anyOf": [rest, int_range(*BASS_PITCH)]}, int_range(1, 16)), 4, 10),
            "drums": array_of(fixed_tuple(array_of(int_range(*DRUM_KEY), 0, 3), int_range(1, 16)), 2, 16),
        })

    def ask(self) -> Ask:
        """Items as asked (a rest is an item, so a track may hold fewer notes)."""
        return Ask(BARS, {"melody": (8, 20), "chords": (4 * CHORD_SIZE[0], 8 * 4), "bass": (4, 10), "rhythm": None},
                   "one bar of 2-16 items of up to 3 keys, repeated in every bar")

    def build(self, value: dict[str, Any], plan: dict[str, Any] | None, repairs: list[str]) -> Piece:
        end = BARS * TICKS_PER_BAR
        mono = lambda track: [([p] if p else [], n) for p, n in value[track]]  # noqa: E731
        bar = _sequence([(ks, n) for ks, n in value["drums"]], "rhythm", TICKS_PER_BAR, repairs)
        rhythm = [Note(n.pitch, STEP_TICKS, n.velocity, n.start + b * TICKS_PER_BAR)
                  for b in range(BARS) for n in bar]
        return Piece(melody=_sequence(mono("melody"), "melody", end, repairs),
                     chords=_sequence([(ps, n) for ps, n in value["chords"]], "chords", end, repairs),
                     bass=_sequence(mono("bass"), "bass", end, repairs), rhythm=rhythm).sorted()


# ------------------------------------------------------------------------------------------ drum lanes
LANE_FORMAT = ("- drums: a one-bar groove that repeats in every bar, as a drum machine shows it: 1-4 lanes "
               "[drum, pattern]; drum one of " + ", ".join(DRUMS) + "; pattern a string of 16 steps, x = hit, "
               ". = rest\n")


def _lanes_schema() -> dict[str, Any]:
    lane = fixed_tuple({"type": "string", "enum": list(DRUMS)}, {"type": "string", "pattern": "^[x.]{16}$"})
    return array_of(lane, 1, 4)


def _lanes_loop(lanes: list[list[str]]) -> list[Note]:
    return _drum_loop([(DRUMS[drum], i + 1) for drum, steps in lanes for i, c in enumerate(steps) if c == "x"])


# ------------------------------------------------------------------------------------------ symbolic
CHORD_WORDS = ("a chord symbol: a root (C, C#, Db, D, D#, Eb, E, F, F#, Gb, G, G#, Ab, A, A#, Bb or B) followed by "
               "a quality (nothing for major, or " + ", ".join(q for q in QUALITIES if q) + ")")
NOTE_WORDS = "a note name: a letter A-G, optionally # or b, then the octave (C4 = middle C)"
SYMBOL_FORMAT = (
    f"- chords: 4-8 chords [chord, bar, beat, beats]: chord is {CHORD_WORDS}; beat 1-4 where it starts; "
    "beats = how many quarter notes it lasts (1-8)\n"
    "- melody: 8-16 notes [pitch, bar, step, length], pitch 48-96\n"
    "- bass: 4-8 notes [pitch, bar, step, length], pitch 28-60\n" + LANE_FORMAT)


@dataclass(frozen=True)
class SymbolicVariant(Variant):
    """Chord symbols, drum names, and the tempo and key the model chooses."""

    def system(self) -> str:
        return (COMPOSER_SYSTEM + GRID_TIME + PITCH_NOTE +
                'Reply with {"tempo":...,"key":...,"chords":[...],"melody":[...],"bass":[...],"drums":[...]}:\n'
                "- tempo: beats per minute, 50-200\n- key: a tonic and major or minor\n"
                + SYMBOL_FORMAT + CLOSING)

    def track_props(self) -> dict[str, Any]:
        pos = (int_range(1, BARS), int_range(1, 16))
        return {
            "chords": array_of(fixed_tuple({"type": "string", "enum": list(CHORD_SYMBOLS)}, int_range(1, BARS), int_range(1, 4),
                                   int_range(1, 8)), 4, 8),
            "melody": array_of(fixed_tuple(int_range(*MELODY_PITCH), *pos, int_range(1, 16)), 8, 16),
            "bass": array_of(fixed_tuple(int_range(*BASS_PITCH), *pos, int_range(1, 16)), 4, 8),
            "drums": _lanes_schema(),
        }

    def schema(self) -> dict[str, Any]:
        return closed_object({"tempo": int_range(50, 200), "key": {"type": "string", "enum": list(KEYS)},
                        **self.track_props()})

    def ask(self) -> Ask:
        return Ask(BARS, {"melody": (8, 16), "chords": (4 * CHORD_SIZE[0], 8 * CHORD_SIZE[1]), "bass": (4, 8),
                          "rhythm": None}, LANES_ASK)

    def build(self, value: dict[str, Any], plan: dict[str, Any] | None, repairs: list[str]) -> Piece:
        quarter = STEP_TICKS * 4
        chords = [Note(p, beats * quarter, VELOCITY["chords"], (bar - 1) * TICKS_PER_BAR + (beat - 1) * quarter)
                  for sym, bar, beat, beats in value["chords"] for p in chord_pitches(sym)]
        source = plan if plan is not None else value
        meta = {"tempo_bpm": int(source["tempo"]), "key": str(source["key"])}
        return Piece(melody=_positioned(value["melody"], "melody"), chords=chords,
                     bass=_positioned(value["bass"], "bass"),
                     rhythm=_lanes_loop(value["drums"]), meta=meta).sorted()


# ------------------------------------------------------------------------------------------ bars
MELODY_NOTES = note_names(*MELODY_PITCH)
BASS_NOTES = note_names(*BASS_PITCH)
BAR_FORMAT = (
    "- bars: exactly 8 bars, each [chord, melody, bass]:\n"
    f"  chord: held through the bar, {CHORD_WORDS}\n"
    f"  melody: 1-3 notes [note, step, length]; note is {NOTE_WORDS}, C3-C7\n"
    "  bass: 1-2 notes [note, step, length]; note is a note name, E1-C4\n" + LANE_FORMAT)
STEP_TIME = (
    "In a bar, step 1-16 is the sixteenth note where a note starts (1 = beat 1, 5 = beat 2, 9 = beat 3, "
    "13 = beat 4); length is in sixteenths (2 = eighth note, 4 = quarter, 8 = half, 16 = whole note).\n")


@dataclass(frozen=True)
class BarsVariant(Variant):
    """Bar by bar: a chord symbol and note-named melody and bass notes per bar, named drums, tempo, key."""

    def system(self) -> str:
        return (COMPOSER_SYSTEM + STEP_TIME +
                'Reply with {"tempo":...,"key":...,"bars":[...],"drums":[...]}:\n'
                "- tempo: beats per minute, 50-200\n- key: a tonic and major or minor\n"
                + BAR_FORMAT + CLOSING)

    def track_props(self) -> dict[str, Any]:
        def notes(names: tuple[str, ...], most: int) -> dict[str, Any]:
            return array_of(fixed_tuple({"type": "string", "enum": list(names)}, int_range(1, 16), int_range(1, 16)), 1, most)

        bar = fixed_tuple({"type": "string", "enum": list(CHORD_SYMBOLS)}, notes(MELODY_NOTES, 3), notes(BASS_NOTES, 2))
        return {"bars": array_of(bar, BARS, BARS),
                "drums": _lanes_schema()}

    def schema(self) -> dict[str, Any]:
        return closed_object({"tempo": int_range(50, 200), "key": {"type": "string", "enum": list(KEYS)},
                        **self.track_props()})

    def ask(self) -> Ask:
        """A chord symbol, 1-3 melody and 1-2 bass notes in each of the 8 bars."""
        return Ask(BARS, {"melody": _per_bar(1, 3), "chords": _per_bar(*CHORD_SIZE), "bass": _per_bar(1, 2),
                          "rhythm": None}, LANES_ASK)

    def build(self, value: dict[str, Any], plan: dict[str, Any] | None, repairs: list[str]) -> Piece:
        tracks: dict[str, list[Note]] = {"melody": [], "chords": [], "bass": []}
        for b, (chord, melody, bass) in enumerate(value["bars"]):
            start = b * TICKS_PER_BAR
            tracks["chords"] += [Note(p, TICKS_PER_BAR, VELOCITY["chords"], start) for p in chord_pitches(chord)]
            for track, notes in (("melody", melody), ("bass", bass)):
                tracks[track] += [Note(note_pitch(name), n * STEP_TICKS, VELOCITY[track], start + (step - 1) * STEP_TICKS)
                                  for name, step, n in notes]
        source = plan if plan is not None else value
        meta = {"tempo_bpm": int(source["tempo"]), "key": str(source["key"])}
        return Piece(**tracks, rhythm=_lanes_loop(value["drums"]), meta=meta).sorted()


# ------------------------------------------------------------------------------------------ plan
PLAN_SYSTEM = ("You are a composer. Before writing a short piece you plan it, and you reply with compact JSON "
               "only.\n")
PLAN_MAX_TOKENS = 400


@dataclass(frozen=True)
class PlanVariant(BarsVariant):
    """Plan then compose: the model's own plan (first call) conditions the ``bars`` composition."""

    needs_plan: bool = True

    def plan_messages(self, genre: str, style: str, mood: str) -> list[dict[str, str]]:
        user = (f"Plan an 8-bar {genre} piece in {style} style with a {mood} mood. First describe how this "
                "genre and style typically sound, then choose the tempo (beats per minute), the key, a chord "
                "progression in chord symbols, the drum groove, the bass line and the melody.")
        return [{"role": "system", "content": PLAN_SYSTEM}, {"role": "user", "content": user}]

    def plan_schema(self) -> dict[str, Any]:
        text = lambda n: {"type": "string", "maxLength": n}  # noqa: E731
        return closed_object({"sound": text(200), "tempo": int_range(50, 200), "key": {"type": "string", "enum": list(KEYS)},
                        "progression": text(80), "drums": text(160), "bass": text(120), "melody": text(120)})

    def plan_response_format(self, endpoint: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if endpoint == "embedded":
            return None, {"grammar": compact_grammar(self.plan_schema())}
        return {"type": "json_schema", "json_schema": {"name": "piece_plan", "strict": True,
                                                       "schema": self.plan_schema()}}, None

    def parse_plan(self, text: Any) -> tuple[dict[str, Any] | None, str | None]:
        """(plan, None) or (None, failure reason)."""
        if not isinstance(text, str):
            return None, "plan_not_json"
        value, _ = _decode(text)
        if value is _FAIL:
            return None, "plan_not_json"
        if not conforms(value, self.plan_schema()):
            return None, "plan_bad_shape"
        return value, None

    def system(self) -> str:
        return (COMPOSER_SYSTEM + STEP_TIME + 'Reply with {"bars":[...],"drums":[...]}:\n' + BAR_FORMAT +
                "Follow the plan you are given.\n")

    def user(self, genre: str, style: str, mood: str, plan: dict[str, Any] | None = None) -> str:
        if plan is None:
            raise ValueError("the plan variant composes from a plan; none was given")
        return (f"Write the 8-bar {genre} piece in {style} style with a {mood} mood that this plan describes "
                f"(tempo and key are fixed by it): {json.dumps(plan, separators=(',', ':'))}")

    def schema(self) -> dict[str, Any]:
        return closed_object(self.track_props())


# ------------------------------------------------------------------------------------------ paper
@dataclass(frozen=True)
class PaperVariant(Variant):
    """The paper's prompts (``paper``, ``corrected``) through the same interface."""

    compact: bool = False

    @property
    def prompt(self) -> PromptVariant:
        return PROMPT_VARIANTS[self.name]

    def messages(self, genre: str, style: str, mood: str, plan: dict[str, Any] | None = None) -> list[dict[str, str]]:
        return build_generation_messages(genre, style, mood, self.name)

    def response_format(self, endpoint: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return generation_schema(self.name), None

    def schema(self) -> dict[str, Any]:
        return generation_schema(self.name)["json_schema"]["schema"]

    def ask(self) -> Ask:
        """The events the prompt asks for (a chord event is one pitch unless chords are pitch lists) in the
        bars its start ticks allow."""
        p = self.prompt
        size = (3, 4) if p.chords_as_lists else (1, 1)
        notes = {t: (p.count(t) * size[0], p.count(t) * size[1]) if t == "chords" else (p.count(t), p.count(t))
                 for t in TRACKS}
        drums = (f"{p.count('rhythm')} hits of the drum pitches 35 (kick), 38 (snare) and 42 (hi-hat), "
                 f"clamped to {p.bounds.drum_min}-{p.bounds.drum_max}")
        return Ask(round(p.bounds.start_max / TICKS_PER_BAR), notes, drums)

    def parse(self, text: Any, plan: dict[str, Any] | None = None) -> ParseResult:
        p = self.prompt
        return parse_reply(text, chords_as_lists=p.chords_as_lists, bounds=p.bounds)


VARIANTS: dict[str, Variant] = {
    "paper": PaperVariant("paper", PROMPT_VARIANTS["paper"].version, max_tokens=1200),
    "corrected": PaperVariant("corrected", PROMPT_VARIANTS["corrected"].version, max_tokens=1700),
    "events": EventsVariant("events", "gen-events-v1"),
    "grid": GridVariant("grid", "gen-grid-v1"),
    "symbolic": SymbolicVariant("symbolic", "gen-symbolic-v1"),
    "bars": BarsVariant("bars", "gen-bars-v1"),
    "plan": PlanVariant("plan", "gen-plan-v1"),
}

#: The variant chapter 1's study chose for the default dataset (embedded-v2).
CHOSEN_VARIANT = "plan"


def get_variant(name: str) -> Variant:
    """The variant called ``name``."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown prompt variant {name!r}; expected one of {sorted(VARIANTS)}") from None


def dataset_variant(dataset_dir: str | Path) -> Variant:
    """The variant a generated dataset was asked with (its ``dataset.json``; ``paper`` when unrecorded).
    ``dataset_variant(d).ask()`` is what its prompt asked of each piece."""
    from llmmusic.data.dataset import load_params

    return get_variant(load_params(dataset_dir).get("variant", "paper"))


#: What each variant changes, for the chapter's table (the module docstring has the details).
SUMMARIES: dict[str, str] = {
    "paper": "the paper's prompt as written: absolute ticks, 16/8/8/16 events, drum keys 35/38/42",
    "corrected": "the paper's prompt made consistent: 8 bars of ticks, chords as pitch lists",
    "events": "time-ordered [pitch, length] events with rests; start times derived",
    "grid": "positions as bar and sixteenth step: [pitch, bar, step, length]",
    "symbolic": "grid + chord symbols, drum-machine lanes, the model's tempo and key",
    "bars": "bar by bar: chord symbol, note-named melody and bass; drum-machine lanes; the model's tempo and key",
    "plan": "the model's own plan first (sound, tempo, key, progression, groove), then bars",
}


def variant_table() -> "Any":
    """One row per variant: version, what it changes, calls per piece, wire form on the embedded engine."""
    import pandas as pd

    return pd.DataFrame([{"variant": v.name, "version": v.version, "changes": SUMMARIES[v.name],
                          "calls per piece": 2 if v.needs_plan else 1,
                          "embedded wire form": "one-line grammar" if v.compact else "json_schema"}
                         for v in VARIANTS.values()]).set_index("variant")
