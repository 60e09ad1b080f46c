"""A JSON schema (the subset the compact variants use) as a one-line llama.cpp GBNF grammar.

OpenAI's structured outputs take the JSON schema itself; llama.cpp's ``llama-server`` turns a
``json_schema`` into a grammar that allows optional whitespace and newlines, and a small model then
spends a large share of its tokens on indentation. :func:`compact_grammar` writes the same
language on one line, in the form of Python's ``json.dumps`` (``{"melody": [[60, 1, 1, 4], ...]}``):
no newline or indentation anywhere, one space after each comma and colon.

Supported: ``object`` (every listed property required, in order), ``array`` with ``items`` and
``minItems``/``maxItems`` or with ``prefixItems`` (a fixed tuple), ``integer`` with ``minimum`` and
``maximum`` (digit by digit, so bounds are enforced), ``string`` with ``enum`` or with a
``maxLength`` or a ``pattern`` of the form ``^[chars]{n}$``, and ``anyOf`` (alternatives). Anything else raises :class:`ValueError` naming the schema path.

Used in: :mod:`llmmusic.generation.variants`.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Integer ranges wider than this are refused (no schema here needs more).
MAX_INT_RANGE = 100_000
#: Characters a free string may hold: no quote, backslash or control character.
STRING_CHAR = r'[^"\\\x00-\x1f]'


class _Rules:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self._by_body: dict[str, str] = {}

    def add(self, hint: str, body: str) -> str:
        """A rule for ``body`` (shared when the same body was seen before); returns its name."""
        if body in self._by_body:
            return self._by_body[body]
        name = "".join(c if c.isalnum() else "-" for c in hint.lower()).strip("-") or "r"
        base, i = name, 2
        while name in self.rules:
            name, i = f"{base}-{i}", i + 1
        self.rules[name] = body
        self._by_body[body] = name
        return name


def _literal(text: str) -> str:
    return json.dumps(text)


#: Separators as Python's ``json.dumps`` writes them by default: a space after commas and colons
#: costs no extra token with this tokenizer (" 4" is one token, like "4") and keeps the model on the
#: JSON it has read most; newlines and indentation, the costly part, are never allowed.
COMMA = '", "'
COLON = '": "'


def _repeat(item: str, lo: int, hi: int) -> str:
    """``item`` repeated ``lo``..``hi`` times, comma-separated, inside brackets."""
    if hi == 0:
        return '"[" "]"'
    if lo == 0:
        return f'"[" ( {item} ( {COMMA} {item} ){{0,{hi - 1}}} )? "]"'
    return f'"[" {item} ( {COMMA} {item} ){{{lo - 1},{hi - 1}}} "]"'


def _digits(lo: str, hi: str) -> list[str]:
    """GBNF alternatives matching every decimal string from ``lo`` to ``hi`` (same width)."""
    if len(lo) == 1:
        return [f"[{lo}-{hi}]" if lo != hi else _literal(lo)]
    if lo[0] == hi[0]:
        return [f"{_literal(lo[0])} {alt}" for alt in _digits(lo[1:], hi[1:])]
    width = len(lo) - 1
    out = [f"{_literal(lo[0])} {alt}" for alt in _digits(lo[1:], "9" * width)]
    if int(hi[0]) - int(lo[0]) > 1:
        first = chr(ord(lo[0]) + 1)
        last = chr(ord(hi[0]) - 1)
        head = _literal(first) if first == last else f"[{first}-{last}]"
        out.append(head + " [0-9]" * width)
    out += [f"{_literal(hi[0])} {alt}" for alt in _digits("0" * width, hi[1:])]
    return out


def int_range(lo: int, hi: int) -> str:
    """A GBNF expression for the integers ``lo``..``hi`` (``lo >= 0``), digit by digit with character
    classes, so the engine tracks a few alternatives instead of one per number."""
    if lo < 0 or hi < lo:
        raise ValueError(f"integer range {lo}..{hi}: expected 0 <= minimum <= maximum")
    alts: list[str] = []
    width = len(str(lo))
    while lo <= hi:
        top = min(hi, 10 ** width - 1)
        alts += _digits(str(lo), str(top))
        lo, width = top + 1, width + 1
    return " | ".join(alts)


def _trie(words: list[str]) -> str:
    """A GBNF expression matching exactly ``words``, factored by shared prefixes (few alternatives
    per step, however many words)."""
    groups: dict[str, list[str]] = {}
    ends = False
    for w in words:
        if w:
            groups.setdefault(w[0], []).append(w[1:])
        else:
            ends = True
    alts = []
    for head, rests in groups.items():
        sub = _trie(rests)
        alts.append(_literal(head) + (f" {sub}" if sub else ""))
    if not alts:
        return ""
    body = alts[0] if len(alts) == 1 else "( " + " | ".join(alts) + " )"
    return f"( {' | '.join(alts)} )?" if ends else body


def _convert(schema: dict[str, Any], path: str, rules: _Rules) -> str:
    kind = schema.get("type")
    if "anyOf" in schema:
        parts = [_convert(s, f"{path}-{i}", rules) for i, s in enumerate(schema["anyOf"])]
        return rules.add(path, " | ".join(parts))
    if "enum" in schema:
        values = schema["enum"]
        if not values or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{path}: enum must be a non-empty list of strings")
        return rules.add(path, _trie(sorted({json.dumps(v) for v in values})))
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is None or hi is None or hi < lo or hi - lo > MAX_INT_RANGE:
            raise ValueError(f"{path}: integers need minimum <= maximum within {MAX_INT_RANGE}")
        return rules.add(f"int-{lo}-{hi}", int_range(int(lo), int(hi)))
    if kind == "string" and "pattern" in schema:
        match = re.fullmatch(r"\^(\[[^\]]+\])\{(\d+)\}\$", schema["pattern"])
        if match is None:
            raise ValueError(f"{path}: only patterns of the form ^[chars]{{n}}$ are supported")
        return rules.add(f"{path}", f'"\\"" {match.group(1)}{{{match.group(2)}}} "\\""')
    if kind == "string":
        n = schema.get("maxLength")
        if n is None:
            raise ValueError(f"{path}: a free string needs maxLength")
        return rules.add(f"str-{n}", f'"\\"" {STRING_CHAR}{{0,{int(n)}}} "\\""')
    if kind == "array":
        if "prefixItems" in schema:
            parts = [_convert(s, f"{path}-{i}", rules) for i, s in enumerate(schema["prefixItems"])]
            return rules.add(path, '"[" ' + f" {COMMA} ".join(parts) + ' "]"')
        if "items" not in schema:
            raise ValueError(f"{path}: an array needs items or prefixItems")
        item = _convert(schema["items"], f"{path}-item", rules)
        lo, hi = int(schema.get("minItems", 0)), schema.get("maxItems")
        if hi is None:
            raise ValueError(f"{path}: an array needs maxItems")
        return rules.add(path, _repeat(item, lo, int(hi)))
    if kind == "object":
        props = schema.get("properties") or {}
        if not props:
            raise ValueError(f"{path}: an object needs properties")
        parts = [f'{_literal(json.dumps(k) + ": ")} {_convert(v, f"{path}-{k}", rules)}' for k, v in props.items()]
        return rules.add(path, '"{" ' + f" {COMMA} ".join(parts) + ' "}"')
    raise ValueError(f"{path}: unsupported schema type {kind!r}")


def compact_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar (root rule ``root``) of ``schema`` with no whitespace anywhere."""
    rules = _Rules()
    top = _convert(schema, "value", rules)
    lines = [f"root ::= {top}"] + [f"{name} ::= {body}" for name, body in rules.rules.items()]
    return "\n".join(lines) + "\n"
