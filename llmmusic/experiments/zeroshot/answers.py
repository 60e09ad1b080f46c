"""Reading a free-text reply: which candidate label it names (:func:`parse_answer`), never raising."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

#: The label of a reply that names no candidate.
UNPARSED = "unparsed"


@dataclass(frozen=True)
class Answer:
    """A parsed reply: the label (or :data:`UNPARSED`) and how it was found.

    ``how``: ``json``, ``exact``, ``case`` (case/separator-insensitive match), ``mention`` (first
    candidate named in the text), ``last-mention`` (explain mode without an answer line: the last
    candidate named), ``none``.
    """

    label: str
    how: str


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip()


_STRIP = " \t\r\n.,;:!?'\"`*()[]{}<>"


def _mentions(text: str, labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """(position, -length, label) of every whole-word mention of a candidate (separator-insensitive)."""
    norm_text = _norm(text)
    found = []
    for lab in labels:
        pattern = r"(?<![a-z0-9])" + re.escape(_norm(lab)).replace(r"\ ", r"[\s_\-]?") + r"(?![a-z0-9])"
        for m in re.finditer(pattern, norm_text):
            found.append((m.start(), -(m.end() - m.start()), lab))
    return sorted(found)


def parse_answer(text: str, labels: Sequence[str], mode: str = "free") -> Answer:
    """The candidate a reply names, robustly; never raises.

    Order: a JSON object with a ``label`` field; in ``explain`` mode the text after the last
    ``Answer:``; the whole (stripped) text equal to a candidate; equal ignoring case and ``_``/``-``/space;
    the first candidate mentioned as a whole word (the longest one at the same place). An ``explain``
    reply without an answer line takes its last mention. Anything else is :data:`UNPARSED`.

    Args:
        text: the reply.
        labels: the candidate labels.
        mode: the mode that produced the reply.
    Returns:
        an :class:`Answer`.
    """
    text = text or ""
    by_norm = {_norm(lab): lab for lab in labels}
    m = re.search(r"\{[^{}]*\"label\"\s*:\s*\"([^\"]*)\"[^{}]*\}", text)
    if m:
        value = m.group(1)
        if value in labels:
            return Answer(value, "json")
        if _norm(value) in by_norm:
            return Answer(by_norm[_norm(value)], "json")
    segment, last = text, False
    if mode == "explain":
        hits = list(re.finditer(r"answer\s*[:：]", text, flags=re.IGNORECASE))
        if hits:
            segment = text[hits[-1].end():]
            segment = segment.strip().splitlines()[0] if segment.strip() else ""
        else:
            last = True
    stripped = segment.strip(_STRIP)
    if stripped in labels:
        return Answer(stripped, "exact")
    if _norm(stripped) in by_norm:
        return Answer(by_norm[_norm(stripped)], "case")
    found = _mentions(segment, labels)
    if not found:
        return Answer(UNPARSED, "none")
    if last:
        end = max(found, key=lambda f: (f[0], -f[1]))
        return Answer(end[2], "last-mention")
    return Answer(found[0][2], "mention")


