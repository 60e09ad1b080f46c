"""The prompt/representation variants: schemas, compact grammars, parsers and the MIDI round trip."""

from __future__ import annotations

import copy
import io
import json
import re

import pretty_midi
import pytest

from llmmusic.generation.grammar import compact_grammar
from llmmusic.data.midi import midi_bytes, midi_to_piece
from llmmusic.generation.music_symbols import chord_pitches, key_pitch_class
from llmmusic.data.piece import TICKS_PER_BAR
from llmmusic.generation.json_schema import conforms
from llmmusic.generation.variants import VARIANTS, get_variant

LITERAL = re.compile(r'"(?:[^"\\\\]|\\\\.)*"')
NEW = ("events", "grid", "symbolic", "bars", "plan")
DRUMS4 = {"grid": [[36, 1], [38, 5], [42, 3], [42, 7]],
          "symbolic": [["kick", "x...x...x...x..."], ["snare", "....x.......x..."], ["closed_hihat", "x.x.x.x.x.x.x.x."],
                       ["crash", "x..............."]]}

REFERENCE = {
    "grid": {"melody": [[60 + i, 1 + i // 2, 1 + 8 * (i % 2), 4] for i in range(8)],
             "chords": [[[48, 52, 55], b, 1, 16] for b in (1, 2, 3, 4)],
             "bass": [[36, b, 1, 8] for b in range(1, 9)], "drums": DRUMS4["grid"]},
    "events": {"melody": [e for _ in range(3) for e in ([60, 4], [0, 4], [64, 8])],
               "chords": [[[48, 52, 55], 16], [[], 16], [[50, 53, 57], 32], [[43, 47, 50], 16]],
               "bass": [e for _ in range(4) for e in ([36, 8], [0, 8])], "drums": [[[36, 42], 4], [[38], 4], [[42], 4], [[], 4]]},
    "symbolic": {"tempo": 140, "key": "E minor", "chords": [["Em", b, 1, 4] for b in (1, 2, 3, 4)],
                 "melody": [[64, b, 1, 4] for b in range(1, 9)], "bass": [[40, b, 1, 4] for b in range(1, 9)],
                 "drums": DRUMS4["symbolic"]},
}
REFERENCE["bars"] = {"tempo": 90, "key": "A minor",
                     "bars": [[c, [["E4", 1, 4], ["C5", 5, 4], ["A4", 9, 8]], [["A2", 1, 8], ["E2", 9, 8]]]
                              for c in ("Am7", "Dm7", "G7", "Cmaj7", "Fmaj7", "Bm7b5", "E7", "Am")],
                     "drums": DRUMS4["symbolic"]}
REFERENCE["plan"] = {k: v for k, v in REFERENCE["bars"].items() if k not in ("tempo", "key")}
PLAN = {"sound": "dark and driving", "tempo": 96, "key": "F# minor", "progression": "F#m D A E",
        "drums": "kick on 1 and 3", "bass": "root notes", "melody": "stepwise"}
#: One out-of-range value per variant: (track, event index, field index, bad value).
OUT_OF_RANGE = {"grid": ("melody", 0, 0, 127), "events": ("bass", 0, 0, 20),
                "symbolic": ("melody", 0, 1, 9), "bars": ("bars", 0, 0, "H7"), "plan": ("bars", 1, 0, "X")}


def _plan(name):
    return PLAN if get_variant(name).needs_plan else None


@pytest.mark.parametrize("name", NEW)
def test_schema_accepts_the_reference_reply_and_rejects_out_of_range_values(name):
    v = get_variant(name)
    assert conforms(REFERENCE[name], v.schema())
    bad = copy.deepcopy(REFERENCE[name])
    track, i, j, value = OUT_OF_RANGE[name]
    bad[track][i][j] = value
    assert not conforms(bad, v.schema())
    # the parser drops (and counts) the event that breaks the schema, keeps the rest
    result = v.parse(json.dumps(bad), _plan(name))
    assert result.piece is not None
    assert result.failure is None and f"dropped_events:{track}:1" in result.repairs


@pytest.mark.parametrize("name", NEW)
def test_reply_to_piece_to_midi_and_back(name):
    v = get_variant(name)
    result = v.parse(json.dumps(REFERENCE[name], separators=(",", ":")), _plan(name))
    assert result.failure is None, result
    piece = result.piece
    assert all(piece.track(t) for t in ("melody", "chords", "bass", "rhythm"))
    back = midi_to_piece(pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(piece))))
    assert back.tracks() == piece.tracks()
    assert back.meta.get("tempo_bpm", 120) == piece.meta.get("tempo_bpm", 120)
    assert back.meta.get("key") == piece.meta.get("key")


def test_symbolic_writes_its_tempo_and_key_and_plan_takes_them_from_the_plan():
    sym = get_variant("symbolic").parse(json.dumps(REFERENCE["symbolic"])).piece
    assert sym.meta == {"tempo_bpm": 140, "key": "E minor"}
    planned = get_variant("plan").parse(json.dumps(REFERENCE["plan"]), PLAN).piece
    assert planned.meta == {"tempo_bpm": 96, "key": "F# minor"}
    # the MIDI file holds the tempo: 8 bars at 96 BPM last 20 s
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(planned)))
    assert pm.get_tempo_changes()[1][0] == pytest.approx(96)
    assert pm.tick_to_time(8 * TICKS_PER_BAR) == pytest.approx(8 * 4 * 60 / 96)


def test_bars_place_each_bar_and_hold_its_chord():
    piece = get_variant("bars").parse(json.dumps(REFERENCE["bars"])).piece
    assert [(n.pitch, n.start) for n in piece.melody[:4]] == [(64, 0), (72, 480), (69, 960), (64, TICKS_PER_BAR)]
    assert [n.pitch for n in piece.bass[:2]] == [45, 40]  # A2, E2
    first_bar = sorted(n.pitch for n in piece.chords if n.start == 0)
    assert first_bar == [57, 60, 64, 67] and {n.duration for n in piece.chords} == {TICKS_PER_BAR}
    bad = copy.deepcopy(REFERENCE["bars"])
    bad["bars"][3][1][0][0] = "H4"  # a bar with an unknown note name is dropped whole, and counted
    result = get_variant("bars").parse(json.dumps(bad))
    assert "dropped_events:bars:1" in result.repairs
    assert sorted({n.start // TICKS_PER_BAR for n in result.piece.chords}) == [0, 1, 2, 3, 4, 5, 6]


def test_grid_positions_and_the_drum_loop():
    piece = get_variant("grid").parse(json.dumps(REFERENCE["grid"])).piece
    assert [n.start for n in piece.melody[:3]] == [0, 960, 1920]  # bar 1 step 1, bar 1 step 9, bar 2 step 1
    assert {n.duration for n in piece.melody} == {480}  # 4 sixteenths
    # 4 hits a bar, repeated over 8 bars
    assert len(piece.rhythm) == 32 and {n.start % TICKS_PER_BAR for n in piece.rhythm} == {0, 240, 480, 720}


def test_events_derive_start_times_rests_and_cut_past_bar_8():
    piece = get_variant("events").parse(json.dumps(REFERENCE["events"])).piece
    assert [(n.pitch, n.start) for n in piece.melody[:3]] == [(60, 0), (64, 960), (60, 1920)]  # the rest moves time
    chords_starts = sorted({n.start for n in piece.chords})
    assert chords_starts == [0, 2 * TICKS_PER_BAR, 4 * TICKS_PER_BAR]  # the [] rest leaves bar 2 empty
    long = {**REFERENCE["events"], "bass": [[36, 16]] * 10}  # 10 bars: the last two are cut
    result = get_variant("events").parse(json.dumps(long))
    assert "past_end:bass:2" in result.repairs and len(result.piece.bass) == 8


def test_parse_failures_are_named():
    v = get_variant("grid")
    assert v.parse("not json").failure == "not_json"
    assert v.parse("[1,2]").failure == "not_object"
    assert v.parse(json.dumps({k: x for k, x in REFERENCE["grid"].items() if k != "bass"})).failure == "missing_track:bass"
    assert v.parse(json.dumps({**REFERENCE["grid"], "melody": [[0, 0, 0, 0]]})).failure == "empty_track:melody"
    with pytest.raises(ValueError, match="plan"):
        get_variant("plan").messages("Jazz", "Swing", "calm")


def test_chord_symbols_and_keys():
    from llmmusic.generation.music_symbols import note_names, note_pitch

    assert chord_pitches("Am7") == [57, 60, 64, 67]
    assert [note_pitch(n) for n in ("C4", "Bb3", "F#2", "E1")] == [60, 58, 42, 28]
    assert {note_pitch(n) for n in note_names(48, 96)} == set(range(48, 97))
    with pytest.raises(ValueError, match="note name"):
        note_pitch("X4")
    assert chord_pitches("C#dim") == [49, 52, 55]
    assert chord_pitches("E5") == [52, 59, 64]
    assert key_pitch_class("Bb minor") == (10, "minor")
    with pytest.raises(ValueError, match="chord symbol"):
        chord_pitches("H7")


@pytest.mark.parametrize("name", NEW)
def test_compact_grammar_is_sent_to_the_embedded_engine_and_the_schema_elsewhere(name):
    v = get_variant(name)
    fmt, extra = v.response_format("embedded")
    assert fmt is None and extra["grammar"].startswith("root ::= ")
    assert not [r for r in extra["grammar"].splitlines() if r.startswith(("space", "ws"))]
    fmt, extra = v.response_format("openai")
    assert extra is None and fmt["json_schema"]["schema"] == v.schema()


def test_compact_grammar_spells_bounds_and_has_no_whitespace_rule():
    grammar = compact_grammar({"type": "object", "properties": {
        "a": {"type": "array", "items": {"type": "integer", "minimum": 3, "maximum": 5}, "minItems": 1, "maxItems": 2},
        "b": {"type": "string", "enum": ["x", "y"]}}})
    assert "int-3-5 ::= [3-5]\n" in grammar
    assert '{0,1}' in grammar  # at most one more item after the first
    assert not [lit for lit in LITERAL.findall(grammar) if "\\n" in lit or "  " in lit]  # one line, no indentation
    assert '( ", " int-3-5 )' in grammar and '"\\"a\\": "' in grammar  # json.dumps separators
    assert '"\\"" ( "x" "\\"" | "y" "\\"" )' in grammar  # the enum, as a trie
    with pytest.raises(ValueError, match="maxItems"):
        compact_grammar({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1}})


def test_every_variant_has_its_own_version():
    assert len({v.version for v in VARIANTS.values()}) == len(VARIANTS)
    assert VARIANTS["paper"].version == "gen-paper-v1"  # the faithful baseline is unchanged


def _as_regex(expr: str) -> re.Pattern:
    """A GBNF expression of literals, character classes, groups and ``|`` as a Python regex."""
    out = []
    for tok in re.findall(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]|[()|?]', expr):
        out.append(re.escape(json.loads(tok)) if tok.startswith('"') else tok)
    return re.compile("".join(out))


@pytest.mark.parametrize("lo,hi", [(0, 0), (1, 8), (1, 16), (28, 60), (48, 96), (50, 200), (0, 127), (7, 1234)])
def test_int_range_matches_exactly_the_range(lo, hi):
    from llmmusic.generation.grammar import int_range

    pattern = _as_regex(int_range(lo, hi))
    assert [i for i in range(0, 1400) if pattern.fullmatch(str(i))] == list(range(lo, hi + 1))
    assert not pattern.fullmatch("007")


def test_enum_trie_matches_exactly_its_words():
    from llmmusic.generation.grammar import _trie
    from llmmusic.generation.music_symbols import CHORD_SYMBOLS, DRUMS

    for words in (list(CHORD_SYMBOLS), list(DRUMS), ["a", "ab", "abc", "b"]):
        pattern = _as_regex(_trie(sorted(words)))
        assert all(pattern.fullmatch(w) for w in words)
        assert not any(pattern.fullmatch(w + "x") or (len(w) > 1 and w[:-1] not in words and pattern.fullmatch(w[:-1]))
                       for w in words)


def test_drum_lanes_are_16_steps_of_x_and_dot_and_loop_over_8_bars():
    v = get_variant("symbolic")
    lanes = v.schema()["properties"]["drums"]
    assert conforms(DRUMS4["symbolic"], lanes)
    assert not conforms([["kick", "x...x...x...x.."]], lanes)  # 15 steps
    assert not conforms([["kick", "x...o...x...x..."]], lanes)
    assert not conforms([["cymbal", "x...x...x...x..."]], lanes)  # not a drum name
    assert not conforms([], lanes) and not conforms(DRUMS4["symbolic"] + [["ride", "." * 16]], lanes)  # 1-4 lanes
    piece = v.parse(json.dumps(REFERENCE["symbolic"])).piece
    first_bar = sorted((n.start // 120, n.pitch) for n in piece.rhythm if n.start < TICKS_PER_BAR)
    assert first_bar[:3] == [(0, 36), (0, 42), (0, 49)] and len(piece.rhythm) == 8 * 15


@pytest.mark.parametrize("name", [n for n in NEW if n != "events"])  # events: a rest is an item, not a note
def test_the_reference_piece_has_the_notes_its_prompt_asks_for(name):
    piece = get_variant(name).parse(json.dumps(REFERENCE[name]), _plan(name)).piece
    ask = get_variant(name).ask()
    for track, target in zip(("melody", "chords", "bass", "rhythm"), ask.targets()):
        if target is not None:
            assert target[0] <= len(piece.track(track)) <= target[1], (track, target)
    assert max(n.start for t in piece.tracks().values() for n in t) < ask.bars * TICKS_PER_BAR


def test_the_bars_ask_spans_what_its_schema_allows():
    """The fewest and most notes a valid bars reply can hold are the ends of the ask's ranges."""
    fewest = {"bars": [["C", [["C4", 1, 4]], [["C2", 1, 4]]]] * 8, "drums": DRUMS4["symbolic"][:1]}
    most = {"bars": [["C13", [["C4", 1, 4], ["D4", 5, 4], ["E4", 9, 4]], [["C2", 1, 4], ["G2", 9, 4]]]] * 8,
            "drums": DRUMS4["symbolic"][:1]}
    ask = get_variant("plan").ask()
    for reply, end in ((fewest, 0), (most, 1)):
        piece = get_variant("plan").parse(json.dumps(reply), PLAN).piece
        assert [len(piece.track(t)) for t in ("melody", "chords", "bass")] == [ask.notes[t][end] for t in ("melody", "chords", "bass")]
    assert ask.notes["rhythm"] is None and "repeated in every bar" in ask.drums


def test_the_paper_ask_is_4_bars_of_fixed_counts_and_a_dataset_names_its_variant(tmp_path):
    from llmmusic.data.dataset import PAPER_DATASET
    from llmmusic.generation.variants import dataset_variant

    paper = get_variant("paper").ask()
    assert paper.bars == 4 and paper.targets() == [(16, 16), (8, 8), (8, 8), (16, 16)]
    assert paper.describe().startswith("16 melody, 8 chord, 8 bass and 16 drum notes in 4 bars; drums: 16 hits")
    assert get_variant("corrected").ask().bars == 8 and get_variant("corrected").ask().notes["chords"] == (24, 32)
    assert dataset_variant(PAPER_DATASET).ask() == paper
    assert dataset_variant(tmp_path).name == "paper"  # no dataset.json: the paper's prompt
    (tmp_path / "dataset.json").write_text(json.dumps({"variant": "plan"}))
    assert dataset_variant(tmp_path) is get_variant("plan")
