"""The zero-shot question: the piece as JSON, the candidates, the answer instruction per mode, decoding.

A piece is shown in the same JSON form the generation prompt asks for (``Piece.to_dict()``: four
tracks of ``[pitch, duration, velocity, start]``), then the candidate labels and the answer
instruction of the mode. :data:`PROMPT_VERSION` names these templates and is recorded with every result.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from llmmusic.data.piece import TRACKS, Piece

#: Version of the prompt templates below; bump on any change of wording or format.
PROMPT_VERSION = "zs-v1"
MODES: tuple[str, ...] = ("free", "json", "explain", "score")

SYSTEM = (
    "You are an expert musicologist. You read music written as JSON with four tracks: melody, chords, "
    "bass and rhythm. Each track is a list of note events [pitch, duration, velocity, start_time]. Pitch is a "
    "MIDI note number (60 = middle C); on the rhythm track it is a General MIDI drum key (35/36 kick, "
    "38/40 snare, 42 closed hi-hat, 46 open hi-hat, 49 crash). Duration and start_time are in ticks, 480 "
    "ticks per quarter note, in 4/4 time at 120 BPM."
)
#: Answer instructions per mode; ``{task}`` is ``genre`` or ``style``, ``{labels}`` the candidate list.
QUESTIONS: dict[str, str] = {
    "free": "Which {task} is this piece? Choose exactly one of: {labels}.\nAnswer with the {task} name only.",
    "json": "Which {task} is this piece? Choose exactly one of: {labels}.\n"
            "Answer in JSON as {{\"label\": \"<{task}>\"}}.",
    "explain": "Which {task} is this piece? Choose exactly one of: {labels}.\n"
               "First describe the melody, chords, bass and rhythm tracks one by one and what each suggests "
               "about the {task}. Then give your final answer on the last line as `Answer: <{task}>`.",
}
QUESTIONS["score"] = QUESTIONS["free"]  # scoring reads the log-probabilities of the free-text reply
#: Decoding per mode (temperature 0: the model's most likely answer; max_tokens: reply budget).
DECODING: dict[str, dict[str, Any]] = {
    "free": dict(temperature=0.0, top_p=None, max_tokens=24, seed=0),
    "json": dict(temperature=0.0, top_p=None, max_tokens=40, seed=0),
    "explain": dict(temperature=0.0, top_p=None, max_tokens=400, seed=0),
}
DECODING["score"] = DECODING["free"]



def piece_json(piece: Piece, max_events: int | None = None) -> tuple[str, int]:
    """The piece in the paper's JSON form, compact, each track sorted by start.

    Args:
        piece: the piece.
        max_events: keep at most this many events per track (the earliest); ``None`` keeps all.
    Returns:
        ``(json_text, n_dropped)`` with ``n_dropped`` the number of events cut.
    """
    data = piece.sorted().to_dict()
    dropped = 0
    if max_events is not None:
        for name in TRACKS:
            dropped += max(0, len(data[name]) - max_events)
            data[name] = data[name][:max_events]
    return json.dumps(data, separators=(",", ":")), dropped


def build_messages(piece: Piece, labels: Sequence[str], task: str = "genre", mode: str = "free",
                   max_events: int | None = None) -> list[dict[str, str]]:
    """Chat messages asking for the ``task`` label of ``piece`` among ``labels``.

    The piece comes before the question, so all modes and tasks of one piece share a prompt prefix
    (the server reuses its cache for it).

    Args:
        piece: the piece to classify.
        labels: the candidate labels, in the order shown.
        task: the word used for the label (``genre`` or ``style``).
        mode: one of :data:`MODES`.
        max_events: per-track event cap (see :func:`piece_json`).
    Returns:
        ``[system, user]`` messages.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    text, _ = piece_json(piece, max_events)
    question = QUESTIONS[mode].format(task=task, labels=", ".join(labels))
    user = f"Here is a piece of music in JSON form:\n{text}\n\n{question}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def label_schema(labels: Sequence[str]) -> dict[str, Any]:
    """OpenAI ``response_format`` of a JSON object ``{"label": <one of labels>}``."""
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": list(labels)}},
              "required": ["label"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}



def label_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar (llama.cpp) whose only sentences are the given labels."""
    return "root ::= " + " | ".join(json.dumps(lab) for lab in labels)

