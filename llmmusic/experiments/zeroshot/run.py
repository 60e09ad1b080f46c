"""Asking the questions: one result row per (item, question, mode) (:func:`classify`), piece by piece
over a list of items (:func:`run_items`) or over evaluation sets (:func:`run_sets`)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from llmmusic.experiments.zeroshot.answers import parse_answer
from llmmusic.experiments.zeroshot.items import EvalSet, Item, Task
from llmmusic.experiments.zeroshot.prompts import DECODING, MODES, PROMPT_VERSION, build_messages, label_schema
from llmmusic.experiments.zeroshot.scoring import LabelTokens, score_reply, top_n
from llmmusic.generation.llm import LLMClient
from llmmusic.progress import report as progress_report

#: A callback that receives every finished result row.
RowSink = Callable[[dict[str, Any]], None]


def classify(client: LLMClient, item: Item, task: Task, mode: str, max_events: int | None = None,
             tokens: LabelTokens | None = None) -> dict[str, Any]:
    """Ask one question of one item in one mode; one result row (never raises on a bad reply).

    Returns:
        dict with id, source, dataset (LLM-MIDI items), task, mode, truth, raw (the model's label), how, pred (evaluated
        label), correct, scores (score mode: list of log-probabilities over ``task.labels``), reply,
        calls, fresh_calls, prompt_tokens, completion_tokens, latency_s, prompt_version; score mode
        also censored (candidates scored by the lowest reported alternative).
    """
    messages = build_messages(item.piece, task.labels, task.word, mode, max_events)
    row: dict[str, Any] = dict(id=item.id, source=item.source, task=task.name, mode=mode,
                               truth=task.true_of(item), prompt_version=PROMPT_VERSION)
    if item.dataset is not None:
        row["dataset"] = item.dataset
    if mode in ("free", "score"):  # one request serves both: the reply and its log-probabilities
        reply = client.chat(messages, **DECODING["free"], logprobs=True, top_logprobs=top_n(client))
    else:
        fmt = label_schema(task.labels) if mode == "json" else None
        reply = client.chat(messages, **DECODING[mode], response_format=fmt)
    replies = [reply]
    if mode == "score":
        sc = score_reply(client, messages, task.labels, reply, tokens)
        raw, how = sc.best, sc.method
        replies += sc.replies
        row["scores"] = [float(x) for x in sc.logprob]
        row["censored"] = int(sum(sc.censored))
        row["reply"] = reply.text
    else:
        ans = parse_answer(reply.text, task.labels, mode)
        raw, how = ans.label, ans.how
        row["reply"] = reply.text
    pred = task.evaluated(raw)
    truth = row["truth"]
    ok = pred in (set(truth) if isinstance(truth, (list, tuple, set)) else {truth})
    row.update(raw=raw, how=how, pred=pred, correct=bool(ok), calls=len(replies),
               fresh_calls=sum(not r.cached for r in replies),
               prompt_tokens=sum(r.usage.get("prompt_tokens", 0) for r in replies),
               completion_tokens=sum(r.usage.get("completion_tokens", 0) for r in replies),
               latency_s=sum(r.latency_s for r in replies),
               fresh_latency_s=sum(r.latency_s for r in replies if not r.cached))
    return row


def run_items(client: LLMClient, items: Sequence[Item], tasks: Sequence[Task], modes: Sequence[str],
              max_events: int | None = None, tokens: LabelTokens | None = None,
              mode_limits: Mapping[str, int] | None = None, progress: bool = False,
              on_row: RowSink | None = None) -> pd.DataFrame:
    """Classify every item for every task and mode, piece by piece (so the server reuses the piece prefix).

    Args:
        client: the LLM client.
        items: the pieces.
        tasks: the questions.
        modes: subset of :data:`MODES`.
        max_events: per-track event cap in the prompt.
        tokens: label tokenisation for score mode.
        mode_limits: ``{mode: n}`` runs that mode on the first ``n`` items only (e.g. explain).
        progress: show a progress bar.
        on_row: called with every finished row (e.g. to append it to a file).
    Returns:
        one row per (item, task, mode), see :func:`classify`.
    """
    for m in modes:
        if m not in MODES:
            raise ValueError(f"mode {m!r}: expected one of {MODES}")
    rows = []
    iterator: Iterable[tuple[int, Item]] = enumerate(items)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(list(iterator), desc="pieces")
    for k, item in iterator:
        progress_report(f"piece {k + 1}/{len(items)}", every_s=10)
        for task in tasks:
            for mode in modes:
                if mode_limits and mode in mode_limits and k >= mode_limits[mode]:
                    continue
                row = classify(client, item, task, mode, max_events, tokens)
                rows.append(row)
                if on_row:
                    on_row(row)
    return pd.DataFrame(rows)


def run_sets(client: LLMClient, sets: Sequence[EvalSet], modes: Sequence[str], *, max_events: int | None = 32,
             tokens: LabelTokens | None = None, mode_limits: Mapping[str, int] | None = None,
             progress: bool = False, on_set: Callable[[EvalSet], None] | None = None,
             on_row: RowSink | None = None) -> pd.DataFrame:
    """:func:`run_items` over several evaluation sets, concatenated (empty sets contribute nothing).

    ``on_set`` is called with every set before it runs (also an empty one), ``on_row`` with every finished row.
    """
    frames = []
    for es in sets:
        if on_set is not None:
            on_set(es)
        if es.items:
            frames.append(run_items(client, es.items, es.tasks, modes, max_events=max_events, tokens=tokens,
                                    mode_limits=mode_limits, progress=progress, on_row=on_row))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
