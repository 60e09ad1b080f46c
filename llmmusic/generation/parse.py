"""Parse an LLM reply into a :class:`~llmmusic.data.piece.Piece`, with named repairs.

The paper's script accepts a reply only if ``json.loads`` takes it as is. We try that first
(strict), then a fixed sequence of lenient text repairs, each recorded by name in
``ParseResult.repairs`` when it changed the text (the sequence stops at the first text
that parses):

====================  ==========================================================================
``code_fence``        the JSON is inside a Markdown fence (```json ... ```)
``leading_prose``     text before the outermost ``{`` is dropped
``trailing_prose``    text after the matching ``}`` is dropped
``comments``          ``// ...``, ``/* ... */`` and ``# ...`` comments are dropped
``single_quotes``     ``'melody'`` strings become ``"melody"``
``python_tuples``     ``(60, 480, 100, 0)`` becomes ``[60, 480, 100, 0]``
``ellipsis``          ``...`` placeholders (copied from the prompt's example) are dropped
``unquoted_keys``     ``{melody: ...}`` becomes ``{"melody": ...}``
``trailing_commas``   ``[1, 2,]`` becomes ``[1, 2]``
``truncated``         an unterminated reply is cut after its last complete event and closed
====================  ==========================================================================

Then the structure is checked and normalised; more repairs and notes:
``json_string`` (the reply was a JSON string holding the JSON), ``nested_tracks`` (the tracks
sit under a key such as ``"tracks"``), ``track_key_case`` (``"Melody"``), ``extra_keys:<n>``
(other top-level keys, ignored), ``object_events`` (events as ``{"pitch": .., "duration": ..,
"velocity": .., "start": ..}``), ``string_numbers`` (``"60"``), ``rounded:<n>`` (non-integer
values rounded half up), ``dropped_events:<track>:<n>`` (malformed events ignored),
``clamped:<field>:<n>`` (values moved into :class:`~llmmusic.data.piece.Bounds`; fields ``pitch``,
``duration``, ``velocity``, ``start``, ``drum`` = rhythm pitch) or, with ``clamp=False``,
``out_of_range:<field>:<n>`` (events outside the bounds dropped).

Failures (``ParseResult.failure``): ``not_json``, ``not_object``, ``missing_track:<name>``,
``bad_track:<name>`` (not a list), ``empty_track:<name>`` (no usable event), and, should a bug
slip through, ``internal_error:<exception>``: :func:`parse_reply` never raises.

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmmusic.data.piece import (
    CORRECTED_BOUNDS,
    PAPER_BOUNDS,
    TRACKS,
    Bounds,
    Note,
    Piece,
)

__all__ = ["CORRECTED_BOUNDS", "PAPER_BOUNDS", "TEXT_REPAIRS", "Bounds", "ParseResult", "parse_reply"]

#: Lenient text repairs in the order they are tried.
TEXT_REPAIRS: tuple[str, ...] = ("code_fence", "leading_prose", "trailing_prose", "comments", "single_quotes",
                                 "python_tuples", "ellipsis", "unquoted_keys", "trailing_commas", "truncated")
_MAX_TRUNCATION_CUTS = 64  # cut points tried (from the end) by the ``truncated`` repair
_MAX_CHORD_PITCHES = 12


@dataclass
class ParseResult:
    """The outcome of :func:`parse_reply`.

    Attributes:
        piece: the parsed piece (None on failure).
        repairs: names of the repairs applied and notes on what was changed, in order.
        failure: why no piece could be made (None on success).
    """

    piece: Piece | None
    repairs: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def ok(self) -> bool:
        """True when a piece was made."""
        return self.failure is None and self.piece is not None


# --------------------------------------------------------------------------------------------- scanning
@dataclass
class _Seg:
    kind: str  # "code", "dq" (double-quoted string), "sq" (single-quoted), "comment"
    text: str
    closed: bool = True


def _segments(text: str) -> list[_Seg]:
    """Split ``text`` into code, string and comment segments (strings keep their quotes)."""
    segs: list[_Seg] = []
    n, i, start = len(text), 0, 0
    while i < n:
        c = text[i]
        if c in "\"'":
            end = i + 1
            while end < n and text[end] != c:
                end += 2 if text[end] == "\\" else 1
            if start < i:
                segs.append(_Seg("code", text[start:i]))
            closed = end < n
            segs.append(_Seg("dq" if c == '"' else "sq", text[i:end + 1], closed))
            i = start = min(end + 1, n)
            continue
        if c == "#" or text.startswith("//", i) or text.startswith("/*", i):
            if c == "/" and text[i + 1] == "*":
                end = text.find("*/", i + 2)
                end = n if end < 0 else end + 2
            else:
                end = text.find("\n", i)
                end = n if end < 0 else end
            if start < i:
                segs.append(_Seg("code", text[start:i]))
            segs.append(_Seg("comment", text[i:end]))
            i = start = end
            continue
        i += 1
    if start < n:
        segs.append(_Seg("code", text[start:]))
    return segs


def _join(segs: list[_Seg]) -> str:
    return "".join(s.text for s in segs)


def _map_code(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the code segments of ``text`` only."""
    return _join([_Seg(s.kind, fn(s.text), s.closed) if s.kind == "code" else s for s in _segments(text)])


def _matching_brace(text: str, start: int) -> int | None:
    """Index just past the ``}`` matching the ``{`` at ``start`` (None if unterminated)."""
    depth, pos = 0, start
    for seg in _segments(text[start:]):
        if seg.kind == "code":
            for j, c in enumerate(seg.text):
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        return pos + j + 1
        pos += len(seg.text)
    return None


# --------------------------------------------------------------------------------------------- text repairs
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)(?:```|\Z)", re.DOTALL)


def _code_fence(text: str) -> str:
    for match in _FENCE.finditer(text):
        if "{" in match.group(1):
            return match.group(1)
    return text


def _comments(text: str) -> str:
    return _join([s for s in _segments(text) if s.kind != "comment"])


_ESCAPE_OR_DQ = re.compile(r'(\\.)|"', re.DOTALL)


def _single_quotes(text: str) -> str:
    out = []
    for seg in _segments(text):
        if seg.kind == "sq":
            inner = seg.text[1:-1] if seg.closed else seg.text[1:]
            # escape every double quote, reading escape pairs (such as \\) as one unit
            inner = _ESCAPE_OR_DQ.sub(lambda m: m.group(1) or '\\"', inner.replace("\\'", "'"))
            seg = _Seg("dq", '"' + inner + ('"' if seg.closed else ""), seg.closed)
        out.append(seg)
    return _join(out)


def _python_tuples(text: str) -> str:
    return _map_code(text, lambda s: s.replace("(", "[").replace(")", "]"))


_ELLIPSIS = re.compile(r",\s*(?:\.\.\.|\u2026)|(?:\.\.\.|\u2026)\s*,?")


def _ellipsis(text: str) -> str:
    return _map_code(text, lambda s: _ELLIPSIS.sub("", s))


_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)")


def _unquoted_keys(text: str) -> str:
    return _map_code(text, lambda s: _UNQUOTED_KEY.sub(r'\1"\2"\3', s))


_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def _trailing_commas(text: str) -> str:
    return _map_code(text, lambda s: _TRAILING_COMMA.sub(r"\1", s))


def _closers(stack: list[str]) -> str:
    return "".join("]" if c == "[" else "}" for c in reversed(stack))


def _truncated(text: str) -> str:
    """Cut an unterminated reply after its last complete event (or track) and close it.

    Returns the first candidate (from the end) that ``json.loads`` accepts, else the text unchanged.
    """
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []
    pos = 0
    for seg in _segments(text):
        if seg.kind == "code":
            for j, c in enumerate(seg.text):
                if c in "[{":
                    stack.append(c)
                elif c in "]}" and stack:
                    stack.pop()
                    # a complete event inside a track list, or a complete track inside an object
                    if stack and (stack[-1] == "{" or (len(stack) >= 2 and stack[-1] == "[" and stack[-2] == "{")):
                        cuts.append((pos + j + 1, _closers(stack)))
        pos += len(seg.text)
    if not stack:
        return text
    for cut, closing in reversed(cuts[-_MAX_TRUNCATION_CUTS:]):
        candidate = text[:cut].rstrip().rstrip(",") + closing
        if _loads(candidate) is not _FAIL:
            return candidate
    return text


_FAIL = object()


def _loads(text: str) -> Any:
    """``json.loads`` or ``_FAIL`` (also on too-deep nesting or too-long integers)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return _FAIL


def _lenient(text: str, start: int) -> tuple[Any, list[str]]:
    """Run the text repairs on the object starting at ``start``; return (value or _FAIL, repairs)."""
    repairs: list[str] = []
    if start > 0 and text[:start].strip():
        repairs.append("leading_prose")
    text = text[start:]
    end = _matching_brace(text, 0)
    if end is not None and text[end:].strip():
        repairs.append("trailing_prose")
        text = text[:end]
    value = _loads(text)
    if value is not _FAIL:
        return value, repairs
    steps: list[tuple[str, Callable[[str], str]]] = [
        ("comments", _comments), ("single_quotes", _single_quotes), ("python_tuples", _python_tuples),
        ("ellipsis", _ellipsis), ("unquoted_keys", _unquoted_keys), ("trailing_commas", _trailing_commas),
        ("truncated", _truncated)]
    for name, fn in steps:
        new = fn(text)
        if new != text:
            repairs.append(name)
            text = new
            value = _loads(text)
            if value is not _FAIL:
                return value, repairs
    return _FAIL, repairs


def _decode(text: str) -> tuple[Any, list[str]]:
    """Strict ``json.loads``, then the lenient repairs; returns (value or _FAIL, repairs)."""
    value = _loads(text)
    if value is not _FAIL:
        return value, []
    repairs: list[str] = []
    body = _code_fence(text)
    if body != text:
        repairs.append("code_fence")
        value = _loads(body)
        if value is not _FAIL:
            return value, repairs
    starts = []
    first = body.find("{")
    if first >= 0:
        starts.append(first)
        # prose before the JSON may itself hold a brace: also try the last "{" before a track name
        names = [m.start() for m in re.finditer(r"[\"']?(?:melody|chords|bass|rhythm)[\"']?\s*:", body, re.IGNORECASE)]
        if names:
            alt = body.rfind("{", 0, names[0])
            if alt > first:
                starts.append(alt)
    tried: list[str] = []
    for start in starts:
        value, more = _lenient(body, start)
        if value is not _FAIL:
            return value, repairs + more
        tried = tried or more
    return _FAIL, repairs + tried


# --------------------------------------------------------------------------------------------- structure
_KEY_ALIASES = {
    "pitch": ("pitch", "note", "midi", "key", "p"),
    "pitches": ("pitches", "notes", "chord"),
    "duration": ("duration", "dur", "length", "len", "d"),
    "velocity": ("velocity", "vel", "v"),
    "start": ("start", "start_time", "starttime", "start_tick", "time", "onset", "t", "s"),
}


class _Notes:
    """Counters shared while converting events (for the repair notes)."""

    def __init__(self) -> None:
        self.object_events = False
        self.string_numbers = False
        self.rounded = 0


def _number(x: Any, notes: _Notes) -> float | int | None:
    """A finite number from ``x`` (int, float or numeric string), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, str):
        try:
            value = float(x.strip())
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        notes.string_numbers = True
        return int(value) if value.is_integer() else value
    return None


def _to_int(x: float, notes: _Notes) -> int:
    if isinstance(x, int):
        return x
    if not x.is_integer():
        notes.rounded += 1
    return math.floor(x + 0.5)


def _event_fields(event: Any, notes: _Notes) -> tuple[Any, Any, Any, Any] | None:
    """``(pitch_or_list, duration, velocity, start)`` of a list or object event, else None."""
    if isinstance(event, dict):
        lower = {str(k).strip().lower(): v for k, v in event.items()}
        got = {}
        for name, aliases in _KEY_ALIASES.items():
            for alias in aliases:
                if alias in lower:
                    got[name] = lower[alias]
                    break
        pitch = got.get("pitch", got.get("pitches"))
        if pitch is None or not {"duration", "velocity", "start"} <= got.keys():
            return None
        notes.object_events = True
        return pitch, got["duration"], got["velocity"], got["start"]
    if isinstance(event, (list, tuple)) and len(event) == 4:
        return event[0], event[1], event[2], event[3]
    return None


def _event_notes(event: Any, allow_pitch_list: bool, notes: _Notes) -> list[list[int]] | None:
    """Unclamped ``[pitch, duration, velocity, start]`` rows of one event (a chord gives several)."""
    fields = _event_fields(event, notes)
    if fields is None:
        return None
    pitch, *rest = fields
    values = [_number(x, notes) for x in rest]
    if any(v is None for v in values):
        return None
    if isinstance(pitch, (list, tuple)):
        if not allow_pitch_list or not 1 <= len(pitch) <= _MAX_CHORD_PITCHES:
            return None
        pitches = [_number(p, notes) for p in pitch]
    else:
        pitches = [_number(pitch, notes)]
    if any(p is None for p in pitches):
        return None
    d, v, s = (_to_int(x, notes) for x in values)  # type: ignore[arg-type]
    return [[_to_int(p, notes), d, v, s] for p in pitches]  # type: ignore[arg-type]


def _find_tracks(obj: dict, repairs: list[str]) -> dict:
    """The dict holding the tracks: ``obj`` itself or one nested under a key (up to two levels)."""
    def has_track(d: dict) -> bool:
        return any(str(k).strip().lower() in TRACKS for k in d)

    if has_track(obj):
        return obj
    frontier = [v for v in obj.values() if isinstance(v, dict)]
    for _ in range(2):
        for d in frontier:
            if has_track(d):
                repairs.append("nested_tracks")
                return d
        frontier = [v for d in frontier for v in d.values() if isinstance(v, dict)]
    return obj


def _clamp(rows: list[list[int]], track: str, bounds: Bounds, clamp: bool,
           counts: dict[str, int]) -> list[Note]:
    """Clamp (or, with ``clamp=False``, drop) out-of-range rows; count per field."""
    pitch_lo, pitch_hi = ((bounds.drum_min, bounds.drum_max) if track == "rhythm"
                          else (bounds.pitch_min, bounds.pitch_max))
    limits = {"pitch": (pitch_lo, pitch_hi), "duration": (bounds.duration_min, bounds.duration_max),
              "velocity": (bounds.velocity_min, bounds.velocity_max), "start": (bounds.start_min, bounds.start_max)}
    out = []
    for row in rows:
        keep = True
        for i, (name, (lo, hi)) in enumerate(limits.items()):
            if lo <= row[i] <= hi:
                continue
            key = "drum" if (name == "pitch" and track == "rhythm") else name
            counts[key] = counts.get(key, 0) + 1
            if clamp:
                row[i] = min(hi, max(lo, row[i]))
            else:
                keep = False
        if keep:
            out.append(Note(*row))
    return out


def _build(value: Any, chords_as_lists: bool, bounds: Bounds, clamp: bool,
           repairs: list[str]) -> ParseResult:
    """Validate the decoded JSON and build the piece."""
    if isinstance(value, str):
        inner, more = _decode(value)
        if inner is not _FAIL and not isinstance(inner, str):
            repairs += ["json_string"] + more
            value = inner
    if not isinstance(value, dict):
        return ParseResult(None, repairs, "not_object")
    obj = _find_tracks(value, repairs)
    keys = {str(k).strip().lower(): k for k in obj}
    if any(keys.get(name, name) != name for name in TRACKS if name in keys):
        repairs.append("track_key_case")
    extra = sum(1 for k in keys if k not in TRACKS)
    if extra:
        repairs.append(f"extra_keys:{extra}")
    notes = _Notes()
    rows: dict[str, list[list[int]]] = {}
    dropped: dict[str, int] = {}
    for name in TRACKS:
        if name not in keys:
            return ParseResult(None, repairs, f"missing_track:{name}")
        events = obj[keys[name]]
        if not isinstance(events, list):
            return ParseResult(None, repairs, f"bad_track:{name}")
        rows[name] = []
        for event in events:
            got = _event_notes(event, chords_as_lists and name == "chords", notes)
            if got is None:
                dropped[name] = dropped.get(name, 0) + 1
            else:
                rows[name] += got
    if notes.object_events:
        repairs.append("object_events")
    if notes.string_numbers:
        repairs.append("string_numbers")
    if notes.rounded:
        repairs.append(f"rounded:{notes.rounded}")
    repairs += [f"dropped_events:{name}:{n}" for name, n in dropped.items()]
    counts: dict[str, int] = {}
    tracks = {name: _clamp(rows[name], name, bounds, clamp, counts) for name in TRACKS}
    label = "clamped" if clamp else "out_of_range"
    repairs += [f"{label}:{f}:{counts[f]}" for f in ("pitch", "drum", "duration", "velocity", "start") if f in counts]
    for name in TRACKS:
        if not tracks[name]:
            return ParseResult(None, repairs, f"empty_track:{name}")
    return ParseResult(Piece(**tracks), repairs, None)


def parse_reply(text: Any, *, chords_as_lists: bool = False, clamp: bool = True,
                bounds: Bounds = PAPER_BOUNDS) -> ParseResult:
    """Parse an LLM reply into a piece; never raises.

    Args:
        text: the reply text (anything else fails with ``not_json``).
        chords_as_lists: accept chord events ``[[p1, p2, p3(, p4)], duration, velocity, start]``
            (expanded into simultaneous notes); plain 4-number chord events are accepted too.
        clamp: move out-of-range values into ``bounds`` (the paper's behaviour); if False,
            drop events with any value outside ``bounds``.
        bounds: value ranges (:data:`PAPER_BOUNDS`: start 0-7680 ticks; :data:`CORRECTED_BOUNDS`
            for 8 full bars).
    Returns:
        A :class:`ParseResult`; see the module docstring for repair and failure names.
    """
    repairs: list[str] = []
    try:
        if not isinstance(text, str):
            return ParseResult(None, repairs, "not_json")
        value, repairs = _decode(text)
        if value is _FAIL:
            return ParseResult(None, repairs, "not_json")
        return _build(value, chords_as_lists, bounds, clamp, repairs)
    except Exception as exc:  # noqa: BLE001 -- the contract is "never raises"; the reason is kept
        return ParseResult(None, list(repairs), f"internal_error:{type(exc).__name__}")
