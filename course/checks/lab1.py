"""Autograder checks of lab 1 (prompt design): ``llmmusic check lab1``.

Used in: course/labs/lab1_prompt_design.py, ``llmmusic check``, tests/test_course.py.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from llmmusic.course import Part, expect, expect_callable, expect_close
from llmmusic.data.piece import PAPER_BOUNDS, TICKS_PER_BAR
from llmmusic.generation.prompts import PROMPT_VARIANTS, PromptVariant, build_generation_messages, generation_schema


def bars_allowed(ns: Mapping[str, Any]) -> None:
    expect_close(ns["bars_allowed"], PAPER_BOUNDS.start_max / TICKS_PER_BAR,
                 "bars_allowed (start times 0-7680 ticks, 1920 ticks per 4/4 bar)")
    return None


def eight_bar_variant(ns: Mapping[str, Any]) -> None:
    variant = expect_callable(ns, "eight_bar_variant")()
    expect(isinstance(variant, PromptVariant),
           f"eight_bar_variant() should return a PromptVariant, got {type(variant).__name__}")
    paper = PROMPT_VARIANTS["paper"]
    expect(variant.name not in ("paper", "corrected"),
           f"give the variant a new name (got {variant.name!r}, which is an existing variant)")
    versions = {v.version for v in PROMPT_VARIANTS.values() if v.name != variant.name}
    expect(variant.version not in versions,
           f"give the variant its own version id (got {variant.version!r}, already used by another variant)")
    target = 8 * TICKS_PER_BAR - 240
    expect(variant.bounds.start_max == target,
           f"bounds.start_max should let a note start up to an eighth note (240 ticks) before the end of bar 8, "
           f"i.e. {target}; got {variant.bounds.start_max}")
    changed = [f.name for f in fields(paper.bounds)
               if f.name != "start_max" and getattr(variant.bounds, f.name) != getattr(paper.bounds, f.name)]
    expect(not changed, f"only start_max may change, but these bounds differ from the paper's: {changed}")
    for attr in ("chords_as_lists", "tuple_example", "counts"):
        expect(getattr(variant, attr) == getattr(paper, attr),
               f"{attr} should stay as in the paper's prompt ({getattr(paper, attr)!r}), got {getattr(variant, attr)!r}")
    previous = PROMPT_VARIANTS.get(variant.name)
    PROMPT_VARIANTS[variant.name] = variant
    try:
        old = build_generation_messages("Jazz", "Swing", "happy", "paper")[1]["content"].splitlines()
        new = build_generation_messages("Jazz", "Swing", "happy", variant.name)[1]["content"].splitlines()
        differing = [(a, b) for a, b in zip(old, new) if a != b]
        expect(len(old) == len(new) and len(differing) == 1 and "start_time" in differing[0][0],
               f"the prompt built from your variant should differ from the paper's only in the start_time line; "
               f"{len(differing)} lines differ")
        expect(str(target) in differing[0][1], f"the start_time line should mention {target}: {differing[0][1]!r}")
        start = generation_schema(variant.name)["json_schema"]["schema"]["properties"]["melody"]["items"]["prefixItems"][3]
        expect(start["maximum"] == target, f"the schema's start bound should be {target}, got {start['maximum']}")
    finally:
        if previous is None:
            PROMPT_VARIANTS.pop(variant.name, None)
        else:
            PROMPT_VARIANTS[variant.name] = previous
    return None


PARTS = [
    Part("lab1.1", "eight bars asked, how many allowed?", ("bars_allowed",), bars_allowed),
    Part("lab1.3", "a new prompt variant", ("eight_bar_variant",), eight_bar_variant),
]
