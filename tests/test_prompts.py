import json

from llmmusic.data.piece import CORRECTED_BOUNDS, PAPER_BOUNDS
from llmmusic.generation.prompts import PROMPT_VARIANTS, build_generation_messages, generation_schema


def test_paper_prompt_has_the_papers_content():
    system, user = build_generation_messages("Jazz", "Bossa Nova", "calm", "paper")
    assert system["role"] == "system" and "JSON" in system["content"]
    text = user["content"]
    for needle in ("8-bar Jazz song in Bossa Nova style", "calm mood", '"melody"', '"chords"', '"bass"',
                   '"rhythm"', "0 to 7680", "240 = eighth", "480 = quarter", "960 = half", "35 (kick)",
                   "38 (snare)", "42 (hi-hat)", "16 events for the melody", "8 for the chords",
                   "(60, 480, 100, 0)"):
        assert needle in text, needle


def test_corrected_prompt_spans_eight_bars_and_asks_for_chord_lists():
    text = build_generation_messages("Rock", "Grunge", "sad", "corrected")[1]["content"]
    assert f"0 to {CORRECTED_BOUNDS.start_max}" in text and CORRECTED_BOUNDS.start_max > 7680 * 1.9
    assert "[[48, 52, 55], 960, 80, 0]" in text
    assert "(60, 480" not in text  # JSON syntax, not Python tuples


def _schema(variant):
    fmt = generation_schema(variant)
    assert fmt["type"] == "json_schema"
    return fmt["json_schema"]["schema"]


def test_schema_bounds_and_exact_counts():
    schema = _schema("paper")
    assert schema["required"] == ["melody", "chords", "bass", "rhythm"]
    assert schema["additionalProperties"] is False
    counts = {t: (s["minItems"], s["maxItems"]) for t, s in schema["properties"].items()}
    assert counts == {"melody": (16, 16), "chords": (8, 8), "bass": (8, 8), "rhythm": (16, 16)}
    pitch, dur, vel, start = schema["properties"]["melody"]["items"]["prefixItems"]
    assert (pitch["minimum"], pitch["maximum"]) == (0, 127)
    assert (dur["minimum"], dur["maximum"]) == (PAPER_BOUNDS.duration_min, PAPER_BOUNDS.duration_max)
    assert (start["minimum"], start["maximum"]) == (0, 7680)
    drum = schema["properties"]["rhythm"]["items"]["prefixItems"][0]
    assert (drum["minimum"], drum["maximum"]) == (35, 50)
    assert "false" not in json.dumps(schema["properties"])  # llama-server rejects "items": false


def test_corrected_schema_chords_are_pitch_lists():
    chord = _schema("corrected")["properties"]["chords"]["items"]["prefixItems"][0]
    assert chord["type"] == "array" and (chord["minItems"], chord["maxItems"]) == (3, 4)


def test_every_variant_has_a_version():
    assert len({v.version for v in PROMPT_VARIANTS.values()}) == len(PROMPT_VARIANTS)
