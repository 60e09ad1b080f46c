"""Reply parsing: strict JSON, each named repair, each failure reason, clamping, and fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmmusic.data.piece import TRACKS, Note, Piece
from llmmusic.generation.parse import (
    CORRECTED_BOUNDS,
    PAPER_BOUNDS,
    ParseResult,
    parse_reply,
)

GOOD = {"melody": [[60, 480, 100, 0], [62, 240, 90, 480]], "chords": [[48, 960, 80, 0]],
        "bass": [[36, 480, 100, 0]], "rhythm": [[35, 240, 110, 0], [42, 240, 70, 240]]}
GOOD_JSON = json.dumps(GOOD)
TUPLES = ("{'melody': [(60, 480, 100, 0), (62, 240, 90, 480)], 'chords': [(48, 960, 80, 0)], "
          "'bass': [(36, 480, 100, 0)], 'rhythm': [(35, 240, 110, 0), (42, 240, 70, 240)]}")


def test_strict_json_needs_no_repair():
    result = parse_reply(GOOD_JSON)
    assert result.ok and result.repairs == [] and result.failure is None
    assert result.piece.to_dict() == GOOD
    assert result.piece.melody[1] == Note(62, 240, 90, 480)


# (reply text, expected repairs in order) -- every one parses to GOOD
REPAIRED = [
    ("```json\n" + GOOD_JSON + "\n```", ["code_fence"]),
    ("```\n" + GOOD_JSON + "\n```\nEnjoy!", ["code_fence"]),
    ("Here is your song:\n" + GOOD_JSON, ["leading_prose"]),
    (GOOD_JSON + "\nThis uses a I-IV-V progression.", ["trailing_prose"]),
    ("Sure! " + GOOD_JSON + " Hope you like it.", ["leading_prose", "trailing_prose"]),
    ("Format {pitch, duration}: " + GOOD_JSON, ["leading_prose"]),
    ("`" + GOOD_JSON + "`", ["leading_prose", "trailing_prose"]),  # one character each side
    (GOOD_JSON + "!", ["trailing_prose"]),
    ("\n  " + GOOD_JSON + "\nEnjoy!", ["trailing_prose"]),  # white space before the JSON is no prose
    ("Here you go: " + json.dumps({"song": {"tracks": GOOD}}), ["leading_prose", "nested_tracks"]),
    (GOOD_JSON.replace('"chords"', '// the harmony\n"chords"'), ["comments"]),
    (GOOD_JSON.replace('"bass"', '/* low end */ "bass"'), ["comments"]),
    (GOOD_JSON.replace('"chords"', '# harmony\n"chords"').replace('"rhythm"', '// drums\n"rhythm"'), ["comments"]),
    (GOOD_JSON.replace('"chords"', '/* harmony */ "chords"').replace('"rhythm"', '/* drums */ "rhythm"'), ["comments"]),
    (GOOD_JSON.replace('"bass"', '/* low end *//* bass */"bass"'), ["comments"]),  # back to back, no space
    (GOOD_JSON.replace('"chords"', '/**/ "chords"'), ["comments"]),  # empty
    (GOOD_JSON[:-1] + " /* and so on", ["comments", "truncated"]),  # unterminated: runs to the end
    ("Here: {// the song\n" + GOOD_JSON[1:] + " Enjoy", ["leading_prose", "trailing_prose", "comments"]),
    (GOOD_JSON.replace('"melody"', "'melody'"), ["single_quotes"]),
    (GOOD_JSON.replace("[60, 480, 100, 0]", "(60, 480, 100, 0)"), ["python_tuples"]),
    (TUPLES, ["single_quotes", "python_tuples"]),
    (GOOD_JSON.replace("[[48, 960, 80, 0]]", "[[48, 960, 80, 0], ...]"), ["ellipsis"]),
    (GOOD_JSON.replace('"rhythm"', "rhythm").replace('"melody"', "melody"), ["unquoted_keys"]),
    (GOOD_JSON.replace("[[36, 480, 100, 0]]", "[[36, 480, 100, 0],]"), ["trailing_commas"]),
    (GOOD_JSON[:-1] + ",}", ["trailing_commas"]),
    (GOOD_JSON[:-2] + ", [50, 240, 80, 9", ["truncated"]),  # last event incomplete: dropped
    (GOOD_JSON[:-2] + ", [5", ["truncated"]),
    (GOOD_JSON[:-1], ["truncated"]),
    ("```json\n" + TUPLES[:-1] + ", (3", ["code_fence", "single_quotes", "python_tuples", "truncated"]),
    (json.dumps(GOOD_JSON), ["json_string"]),
    ("```json\n" + json.dumps(GOOD_JSON) + "\n```", ["code_fence", "json_string"]),
    (json.dumps({"tracks": GOOD}), ["nested_tracks"]),
    (json.dumps({"song": {"tracks": GOOD}, "title": "x"}), ["nested_tracks"]),
    (json.dumps({k.capitalize(): v for k, v in GOOD.items()}), ["track_key_case"]),
    ("Format {pitch, duration}: " + json.dumps({k.capitalize(): v for k, v in GOOD.items()}),
     ["leading_prose", "track_key_case"]),
    (json.dumps({**GOOD, "tempo": 120, "key": "C"}), ["extra_keys:2"]),
]


@pytest.mark.parametrize("text,repairs", REPAIRED)
def test_each_repair_is_named_and_gives_the_piece(text, repairs):
    result = parse_reply(text)
    assert result.ok, result
    assert result.repairs == repairs
    assert result.piece.to_dict() == GOOD


def test_truncated_keeps_complete_events_only():
    text = GOOD_JSON[:GOOD_JSON.index('"rhythm"')] + '"rhythm": [[35, 240, 110, 0], [42, 24'
    result = parse_reply(text)
    assert result.ok and result.repairs == ["truncated"]
    assert result.piece.rhythm == [Note(35, 240, 110, 0)]
    # cut inside the bass track: rhythm is then missing
    cut = parse_reply(GOOD_JSON[:GOOD_JSON.index('"bass"') + 12])
    assert "truncated" in cut.repairs and cut.failure == "missing_track:bass"


def test_object_events_string_numbers_and_rounding():
    events = {"melody": [{"pitch": 60, "duration": 480, "velocity": 100, "start_time": 0}],
              "chords": [{"note": "48", "dur": 960, "vel": 80, "time": 0}],
              "bass": [[36.4, 480.5, 99.5, 0]], "rhythm": [[35, 240, 110, 0]]}
    result = parse_reply(json.dumps(events))
    assert result.ok
    assert result.repairs == ["object_events", "string_numbers", "rounded:3"]
    assert result.piece.bass == [Note(36, 481, 100, 0)]
    assert result.piece.chords == [Note(48, 960, 80, 0)]


# (reply text, expected failure)
FAILED = [
    ("", "not_json"),
    ("I cannot write music.", "not_json"),
    ("{not json at all", "not_json"),
    ("[[60, 480, 100, 0]]", "not_object"),
    ("42", "not_object"),
    ('"just a string"', "not_object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "bass"}), "missing_track:bass"),
    (json.dumps({"melody": GOOD["melody"]}), "missing_track:chords"),
    (json.dumps({**GOOD, "chords": "C G Am F"}), "bad_track:chords"),
    (json.dumps({**GOOD, "rhythm": {"kick": [0, 960]}}), "bad_track:rhythm"),
    (json.dumps({**GOOD, "rhythm": []}), "empty_track:rhythm"),
    (json.dumps({**GOOD, "melody": [[60, 480], "C4", None, [60, 480, 100, 0, 5]]}), "empty_track:melody"),
]


@pytest.mark.parametrize("text,failure", FAILED)
def test_each_failure_reason(text, failure):
    result = parse_reply(text)
    assert result.failure == failure and result.piece is None and not result.ok


def test_non_string_input_fails_without_raising():
    assert parse_reply(None).failure == "not_json"  # type: ignore[arg-type]
    assert parse_reply(b"{}").failure == "not_json"  # type: ignore[arg-type]


def test_malformed_events_are_dropped_and_counted():
    data = {**GOOD, "melody": GOOD["melody"] + [[60, 480, 100], [60, "loud", 100, 0], [True, 480, 100, 0],
                                                [float("nan"), 480, 100, 0]]}
    result = parse_reply(json.dumps(data))
    assert result.ok and result.repairs == ["dropped_events:melody:4"]
    assert result.piece.melody == [Note(60, 480, 100, 0), Note(62, 240, 90, 480)]


def test_chords_as_lists_expands_and_plain_chords_still_accepted():
    data = {**GOOD, "chords": [[[48, 52, 55], 960, 80, 0], [[50, 53, 57, 60], 960, 80, 960], [43, 960, 80, 1920]]}
    text = json.dumps(data)
    result = parse_reply(text, chords_as_lists=True)
    assert result.ok and result.repairs == []
    assert [(n.pitch, n.start) for n in result.piece.chords] == [
        (48, 0), (52, 0), (55, 0), (50, 960), (53, 960), (57, 960), (60, 960), (43, 1920)]
    # the paper's schema: a pitch list is not a note
    paper = parse_reply(text)
    assert paper.ok and paper.repairs == ["dropped_events:chords:2"] and len(paper.piece.chords) == 1
    only_lists = json.dumps({**GOOD, "chords": [[[48, 52, 55], 960, 80, 0]]})
    assert parse_reply(only_lists).failure == "empty_track:chords"
    # pitch lists only on the chords track
    melody_list = json.dumps({**GOOD, "melody": [[[60, 64], 480, 100, 0]] + GOOD["melody"]})
    assert parse_reply(melody_list, chords_as_lists=True).repairs == ["dropped_events:melody:1"]


def test_paper_clamping_and_counts():
    data = {"melody": [[130, 100, 200, 9000], [-5, 2000, -1, -10]], "chords": [[48, 960, 80, 0]],
            "bass": [[36, 480, 100, 0]], "rhythm": [[60, 240, 110, 0], [20, 240, 110, 0], [36, 240, 110, 0]]}
    result = parse_reply(json.dumps(data))
    assert result.ok
    assert result.piece.melody == [Note(127, 240, 127, 7680), Note(0, 960, 0, 0)]
    assert [n.pitch for n in result.piece.rhythm] == [50, 35, 36]
    assert result.repairs == ["clamped:pitch:2", "clamped:drum:2", "clamped:duration:2", "clamped:velocity:2",
                              "clamped:start:2"]


def test_corrected_bounds_and_no_clamp():
    data = {**GOOD, "melody": [[60, 480, 100, 12000], [62, 480, 100, 0]]}
    text = json.dumps(data)
    assert parse_reply(text).piece.melody[0].start == PAPER_BOUNDS.start_max == 7680
    corrected = parse_reply(text, bounds=CORRECTED_BOUNDS)
    assert corrected.repairs == [] and corrected.piece.melody[0].start == 12000
    strict = parse_reply(text, clamp=False)
    assert strict.ok and strict.repairs == ["out_of_range:start:1"] and strict.piece.melody == [Note(62, 480, 100, 0)]


# --------------------------------------------------------------------------------------------- fuzzing
def _check(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    assert result.failure is None or not result.failure.startswith("internal_error"), result.failure
    if result.ok:
        for name, notes in result.piece.tracks().items():
            assert notes, name
            lo, hi = (35, 50) if name == "rhythm" else (0, 127)
            assert all(lo <= n.pitch <= hi and 240 <= n.duration <= 960 and 0 <= n.velocity <= 127
                       and 0 <= n.start <= 7680 for n in notes)
    else:
        assert result.piece is None and result.failure


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCTURAL = st.text(alphabet="{}[]()\"',:.0123456789-eE \n`/*#melodychrsbatupk\\", max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.sampled_from(TRACKS) | st.text(max_size=5),
                                                              kids, max_size=5),
    max_leaves=40)
numbers = st.integers(-1000, 20000) | st.floats(allow_nan=True, allow_infinity=True) | st.text(
    alphabet="0123456789.-", max_size=6)
events = st.lists(st.lists(numbers, min_size=3, max_size=5) | st.tuples(
    st.lists(numbers, max_size=4), numbers, numbers, numbers).map(list), max_size=6)
pieces = st.fixed_dictionaries({t: events for t in TRACKS})


@FUZZ
@given(st.text(max_size=500))
def test_never_raises_on_any_text(text):
    _check(parse_reply(text))
    _check(parse_reply(text, chords_as_lists=True))


@FUZZ
@given(STRUCTURAL)
def test_never_raises_on_json_like_noise(text):
    _check(parse_reply(text, chords_as_lists=True))


@FUZZ
@given(json_values, st.integers(0, 10_000), st.booleans())
def test_never_raises_on_mangled_json(value, cut, tuples):
    text = json.dumps(value)
    if tuples:
        text = text.replace("[", "(").replace("]", ")").replace('"', "'")
    _check(parse_reply(text[:cut]))


@FUZZ
@given(pieces, st.integers(0, 10_000))
def test_never_raises_on_piece_like_json(data, cut):
    text = json.dumps(data)
    _check(parse_reply(text, chords_as_lists=True))
    _check(parse_reply(text[:cut]))


valid_notes = st.lists(st.builds(Note, st.integers(0, 127), st.integers(240, 960), st.integers(0, 127),
                                 st.integers(0, 7680)), min_size=1, max_size=8)
valid_drums = st.lists(st.builds(Note, st.integers(35, 50), st.integers(240, 960), st.integers(0, 127),
                                 st.integers(0, 7680)), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(valid_notes, valid_notes, valid_notes, valid_drums)
def test_valid_pieces_round_trip_strict_and_as_tuples(melody, chords, bass, rhythm):
    piece = Piece(melody, chords, bass, rhythm)
    text = json.dumps(piece.to_dict())
    strict = parse_reply(text)
    assert strict.repairs == [] and strict.piece.to_dict() == piece.to_dict()
    tuples = parse_reply(text.replace("[[", "[(").replace("], [", "), (").replace("]]", ")]"))
    assert tuples.repairs == ["python_tuples"] and tuples.piece.to_dict() == piece.to_dict()


# --------------------------------------------------------------------------------------------- edge cases
def test_truncated_cuts_right_after_the_last_complete_track():
    # the closing "}" is missing and prose follows at once: the cut after the rhythm track keeps both events
    result = parse_reply(GOOD_JSON[:-1] + ". Hope you like it")
    assert result.ok and result.repairs == ["truncated"] and result.piece.to_dict() == GOOD
    # the prose is no bracket: it neither opens nor closes anything
    xmas = parse_reply(GOOD_JSON[:-1] + "\nMerry Xmas")
    assert xmas.ok and xmas.repairs == ["truncated"] and xmas.piece.to_dict() == GOOD


def test_truncated_only_repairs_unterminated_replies():
    # closed, but with a bare word as a value: not JSON, and nothing to cut
    result = parse_reply(GOOD_JSON[:-1] + ', "tempo": X}')
    assert result.failure == "not_json" and result.repairs == []


def test_truncated_nested_tracks_keep_complete_events():
    text = json.dumps({"tracks": GOOD})[:-3] + ", [5"  # cut inside the rhythm track, in its third event
    result = parse_reply(text)
    assert result.ok and result.repairs == ["truncated", "nested_tracks"] and result.piece.to_dict() == GOOD


def test_tracks_are_looked_for_two_levels_down_only():
    result = parse_reply(json.dumps({"a": {"b": {"c": GOOD}}}))
    assert result.failure == "missing_track:melody"


def test_unquoted_keys_leave_strings_alone():
    # the string value holds "{x: y}": quoting its "key" would break the string
    text = GOOD_JSON.replace('"melody"', "melody")[:-1] + ', "note": "{x: y}"}'
    result = parse_reply(text)
    assert result.ok and result.repairs == ["unquoted_keys", "extra_keys:1"] and result.piece.to_dict() == GOOD


def test_string_numbers_with_a_fraction_are_rounded_half_up():
    data = {**GOOD, "bass": [["36", "480.5", "99.5", "0"]]}
    result = parse_reply(json.dumps(data))
    assert result.ok and result.repairs == ["string_numbers", "rounded:2"]
    assert result.piece.bass == [Note(36, 481, 100, 0)]


def test_chord_objects_and_chord_sizes():
    chords = [{"notes": [48, 52, 55], "duration": 960, "velocity": 80, "start": 0},  # "notes": the pitch list
              [[43], 960, 80, 960],  # a one-pitch list is a note
              [list(range(60, 72)), 960, 80, 1920],  # 12 pitches: the most allowed
              [list(range(60, 73)), 960, 80, 2880]]  # 13: dropped
    result = parse_reply(json.dumps({**GOOD, "chords": chords}), chords_as_lists=True)
    assert result.ok and result.repairs == ["object_events", "dropped_events:chords:1"]
    assert [(n.pitch, n.start) for n in result.piece.chords] == (
        [(48, 0), (52, 0), (55, 0), (43, 960)] + [(p, 1920) for p in range(60, 72)])


def test_clamp_counts_pitch_and_drum_apart():
    data = {**GOOD, "melody": [[130, 480, 100, 0]], "rhythm": [[60, 240, 110, 0], [20, 240, 110, 240]]}
    result = parse_reply(json.dumps(data))
    assert result.ok and result.repairs == ["clamped:pitch:1", "clamped:drum:2"]


def test_strings_with_escaped_quotes_and_braces_are_skipped_whole():
    # the title holds an escaped quote, a "}" and ends in an escaped quote: no brace of it counts
    result = parse_reply("Here it is: " + json.dumps({"title": 'a "}"', **GOOD}))
    assert result.ok and result.repairs == ["leading_prose", "extra_keys:1"] and result.piece.to_dict() == GOOD


def test_single_quoted_strings_empty_or_with_an_escaped_apostrophe():
    for title in ("''", "'Don\\'t stop'"):
        result = parse_reply(TUPLES.replace("{", "{'title': " + title + ", ", 1))
        assert result.ok and result.repairs == ["single_quotes", "python_tuples", "extra_keys:1"], title
        assert result.piece.to_dict() == GOOD


def test_the_single_quotes_repair_leaves_double_quoted_strings_alone():
    # \' is no JSON escape; in a double-quoted string it is not repaired
    result = parse_reply(GOOD_JSON[:-1] + ', "title": "Don\\\'t stop"}')
    assert result.failure == "not_json" and result.repairs == []


def test_prose_with_a_brace_before_object_events():
    # the JSON's "{" is the last one before the first track name, not the last "{" of the reply
    data = {**GOOD, "melody": [{"pitch": 60, "duration": 480, "velocity": 100, "start": 0}]}
    result = parse_reply("Format {pitch, duration}: " + json.dumps(data))
    assert result.ok and result.repairs == ["leading_prose", "object_events"]
    assert result.piece.melody == [Note(60, 480, 100, 0)]


def test_failures_keep_the_repairs_made_so_far():
    assert parse_reply(None).repairs == []  # type: ignore[arg-type]
    cases = [("Sure: {not json", ["leading_prose"], "not_json"),
             ("```json\n[1, 2, {}]\n```", ["code_fence"], "not_object"),
             ('"just a string"', [], "not_object"),
             ("Sure: " + json.dumps({**GOOD, "chords": "C G"}), ["leading_prose"], "bad_track:chords"),
             (json.dumps({**GOOD, "rhythm": [[35, 240]]}), ["dropped_events:rhythm:1"], "empty_track:rhythm")]
    for text, repairs, failure in cases:
        result = parse_reply(text)
        assert (result.repairs, result.failure, result.piece) == (repairs, failure, None), text


def test_a_bug_becomes_an_internal_error(monkeypatch):
    from llmmusic.generation import parse

    def broken(*args, **kwargs):
        raise KeyError("melody")

    monkeypatch.setattr(parse, "_build", broken)
    result = parse_reply("Sure! " + GOOD_JSON)
    assert (result.piece, result.repairs, result.failure) == (None, ["leading_prose"], "internal_error:KeyError")
    assert not result.ok


def test_double_quotes_inside_single_quoted_strings_are_escaped():
    from llmmusic.generation.parse import _single_quotes

    # 'C:\\"x' holds an escaped backslash, then a quote: both stay in the value
    assert json.loads(_single_quotes("{'a': 'C:\\\\\"x', 'b': 'say \"hi\"'}")) == {"a": 'C:\\"x', "b": 'say "hi"'}
    for title in ("'say \"hi\"'", "'C:\\\\\"x'"):
        result = parse_reply(TUPLES.replace("{", "{'title': " + title + ", ", 1))
        assert result.ok and result.repairs == ["single_quotes", "python_tuples", "extra_keys:1"], title


def test_an_object_event_missing_a_field_is_dropped():
    data = {**GOOD, "melody": GOOD["melody"] + [{"pitch": 60, "duration": 480, "velocity": 100}]}
    result = parse_reply(json.dumps(data))
    assert result.ok and result.repairs == ["dropped_events:melody:1"] and result.piece.to_dict() == GOOD


def test_a_string_ending_in_an_escaped_backslash_ends_at_its_quote():
    # "C:\\" ends after the escaped backslash; the "}" of the next string is no brace
    result = parse_reply("Here: " + json.dumps({"folder": "C:\\", "note": "}", **GOOD}))
    assert result.ok and result.repairs == ["leading_prose", "extra_keys:2"] and result.piece.to_dict() == GOOD


def test_truncated_cuts_after_a_complete_value_of_the_object():
    # cut inside the title: the cut after the complete "info" object keeps it (one extra key)
    text = json.dumps({**GOOD, "info": {"bpm": 120}, "title": "Song"})
    result = parse_reply(text[:text.index('"Song"') + 3])
    assert result.ok and result.repairs == ["truncated", "extra_keys:1"] and result.piece.to_dict() == GOOD


def test_truncated_never_cuts_inside_an_event():
    # cut inside the second chord event, after its pitch list: only the first chord is kept
    data = {"melody": GOOD["melody"], "bass": GOOD["bass"], "rhythm": GOOD["rhythm"],
            "chords": [[[48, 52, 55], 960, 80, 0], [[50, 53, 57], 960, 80, 960]]}
    text = json.dumps(data)
    result = parse_reply(text[:text.rindex("960")], chords_as_lists=True)
    assert result.ok and result.repairs == ["truncated"]
    assert [(n.pitch, n.start) for n in result.piece.chords] == [(48, 0), (52, 0), (55, 0)]
