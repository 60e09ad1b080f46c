"""One question shown in full (the chapter's example), and forcing a whole answer compared with the
first-token score on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from llmmusic.experiments.zeroshot.items import EvalSet, Item, Task
from llmmusic.experiments.zeroshot.prompts import DECODING, build_messages
from llmmusic.experiments.zeroshot.scoring import LabelTokens, forced_score, score_reply, top_n
from llmmusic.generation.llm import LLMClient, Reply

#: The label forced next to the best-scored one (a paper genre the small model rarely starts with).
FORCED_LABEL = "Classical"
#: A short text prompt (no music) on which forcing without ``logit_bias`` shows the tokenisation trap.
PROBE_MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You classify music."},
    {"role": "user", "content": "A song with distorted electric guitars, power chords and loud drums. "
                                "Which genre: Pop, Rock, Jazz, Classical? Answer as JSON {\"label\": ...}."},
]
#: Messages longer than this are shortened in :func:`show_messages`.
SHOWN_CHARS = 900


@dataclass
class Example:
    """The first question of the first non-empty evaluation set, asked in free mode with log-probabilities.

    Attributes:
        set_name: the evaluation set.
        item: the piece.
        task: the question.
        messages: the prompt.
        reply: the model's reply (from the cache or fresh).
    """

    set_name: str
    item: Item
    task: Task
    messages: list[dict[str, str]]
    reply: Reply

    @property
    def truth(self) -> Any:
        """The item's true label for the question."""
        return self.task.true_of(self.item)

    def transcript(self) -> str:
        """The prompt (long messages shortened), the reply and the true label, as the chapter prints them."""
        reply = self.reply
        return "\n".join([show_messages(self.messages),
                          f"--- reply ({'cache' if reply.cached else 'model'}; {reply.usage})\n{reply.text}\n",
                          f"true {self.task.word}: {self.truth}"])


def ask_example(client: LLMClient, sets: Sequence[EvalSet], max_events: int | None = 32) -> Example:
    """Ask the free-text question of the first item of the first evaluation set that has one.

    Raises:
        RuntimeError: no evaluation set has any piece.
    """
    example_set = next((es for es in sets if es.items), None)
    if example_set is None:
        raise RuntimeError("no evaluation set has any piece: nothing to classify")
    item, task = example_set.items[0], example_set.tasks[0]
    messages = build_messages(item.piece, task.labels, task.word, "free", max_events)
    reply = client.chat(messages, **DECODING["free"], logprobs=True, top_logprobs=top_n(client))
    return Example(example_set.name, item, task, messages, reply)


def show_messages(messages: Sequence[dict[str, str]]) -> str:
    """Every message as ``--- role`` and its text; a text of :data:`SHOWN_CHARS` or more keeps its start and end."""
    parts = []
    for m in messages:
        text = m["content"]
        shown = text if len(text) < SHOWN_CHARS else text[:420] + f" ... [{len(text) - 700} characters] ... " + text[-280:]
        parts.append(f"--- {m['role']}\n{shown}\n")
    return "\n".join(parts)


def forced_tables(client: LLMClient, example: Example, tokens: LabelTokens | None,
                  max_events: int | None = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forcing a candidate as the whole answer, without and with ``logit_bias`` on its own tokens (4 requests
    on the example piece, 2 on :data:`PROBE_MESSAGES`).

    Returns:
        ``(on_the_piece, on_the_probe)``: per forced label and bias, the tokens summed and the forced
        log-probability; on the piece also the first-token score and the request's seconds.
    """
    item, task = example.item, example.task
    json_msgs = build_messages(item.piece, task.labels, task.word, "json", max_events)
    first = score_reply(client, example.messages, task.labels, example.reply, tokens)
    rows = []
    for label in dict.fromkeys([FORCED_LABEL, first.best]):
        for use_bias in (False, True):
            value, used, rep = forced_score(client, json_msgs, label, tokens if use_bias else None)
            rows.append({"label": label, "logit_bias": use_bias, "tokens": " + ".join(map(repr, used)),
                         "forced log-prob": round(value, 3),
                         "first-token score": round(float(first.logprob[task.labels.index(label)]), 3),
                         "request s": round(rep.latency_s, 1)})
    probe = []
    for use_bias in (False, True):
        value, used, _ = forced_score(client, PROBE_MESSAGES, FORCED_LABEL, tokens if use_bias else None)
        probe.append({"label": FORCED_LABEL, "logit_bias": use_bias, "tokens": " + ".join(map(repr, used)),
                      "forced log-prob": round(value, 3)})
    return pd.DataFrame(rows), pd.DataFrame(probe)
