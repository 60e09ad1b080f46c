"""The small JSON-schema vocabulary the prompt variants are written in, and a checker for it.

The builders make the only shapes :mod:`llmmusic.generation.grammar` compiles (integer ranges, fixed
tuples, bounded arrays, closed objects); :func:`conforms` checks a reply against such a schema the way
the grammar constrains it, so tests and the parser can tell a reply the engine should never produce.
"""

from __future__ import annotations

import re
from typing import Any


def int_range(lo: int, hi: int) -> dict[str, Any]:
    """An integer in ``[lo, hi]``."""
    return {"type": "integer", "minimum": lo, "maximum": hi}


def fixed_tuple(*items: dict[str, Any]) -> dict[str, Any]:
    """An array of exactly these items, in order."""
    return {"type": "array", "prefixItems": list(items), "minItems": len(items), "maxItems": len(items)}


def array_of(item: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    """An array of ``lo`` to ``hi`` ``item``s."""
    return {"type": "array", "items": item, "minItems": lo, "maxItems": hi}


def closed_object(props: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these properties, all required."""
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` satisfies ``schema`` (the subset :mod:`llmmusic.generation.grammar` supports)."""
    if "anyOf" in schema:
        return any(conforms(value, s) for s in schema["anyOf"])
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)
                and schema["minimum"] <= value <= schema["maximum"])
    if kind == "string":
        if not isinstance(value, str) or len(value) > schema.get("maxLength", len(value)):
            return False
        return "pattern" not in schema or re.fullmatch(schema["pattern"].strip("^$"), value) is not None
    if kind == "array":
        if not isinstance(value, list):
            return False
        if "prefixItems" in schema:
            items = schema["prefixItems"]
            return len(value) == len(items) and all(conforms(v, s) for v, s in zip(value, items))
        return (schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value))
                and all(conforms(v, schema["items"]) for v in value))
    if kind == "object":
        props = schema["properties"]
        return isinstance(value, dict) and set(value) == set(props) and all(conforms(value[k], s)
                                                                            for k, s in props.items())
    return False
