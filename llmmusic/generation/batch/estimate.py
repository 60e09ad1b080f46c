"""Requests, tokens, hours and cost of a run, counted before anything is sent."""


from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmmusic.data.dataset import DEFAULT_DATASET, MANIFEST, RUNS, read_manifest_rows
from llmmusic.generation.batch.requests import PendingCall, pending_calls
from llmmusic.generation.generate import Generator

log = logging.getLogger(__name__)

#: Characters per token assumed when no measured usage is found (a rough rule for English text and JSON).
CHARS_PER_TOKEN = 4.0


# ---------------------------------------------------------------------------------------------- estimate
@dataclass
class StageTokens:
    """Mean tokens per request of one stage, and where they come from."""

    prompt: float
    completion: float
    replies: int = 0  # measured replies (0: not measured)


@dataclass
class Estimate:
    """What a run will take, before anything is sent (see :func:`estimate`)."""

    songs: int
    requests: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    tokens_source: str
    replies_per_piece: float | None
    pieces_per_hour: float | None
    throughput_source: str
    hours: float | None
    price_in: float | None
    price_out: float | None
    cost: float | None
    awaiting_run: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_requests": self.total_requests}

    def text(self) -> str:
        """The estimate as a few lines for a person."""
        stages = (", ".join(f"{n} {stage}" for stage, n in self.requests.items()) if len(self.requests) > 1
                  else "one per song")
        lines = [f"songs pending       {self.songs}",
                 f"requests            {self.total_requests} ({stages}; first attempts)",
                 f"prompt tokens       {self.prompt_tokens:,}",
                 f"completion tokens   {self.completion_tokens:,}",
                 f"  tokens per request: {self.tokens_source}"]
        if self.replies_per_piece:
            lines.append(f"  retries: {self.replies_per_piece:.2f} replies per valid piece measured, so about "
                         f"{round(self.total_requests * self.replies_per_piece)} requests in all")
        if self.hours is not None:
            lines.append(f"hours               {self.hours:.1f} at {self.pieces_per_hour:g} pieces/hour "
                         f"({self.throughput_source})")
        else:
            lines.append(f"hours               unknown ({self.throughput_source}); pass --pieces-per-hour")
        if self.cost is not None:
            lines.append(f"cost                {self.cost:.2f} at {self.price_in:g} / {self.price_out:g} per million "
                         "prompt / completion tokens (the prices you passed)")
            if self.replies_per_piece:
                lines.append(f"  with the measured retries: about {self.cost * self.replies_per_piece:.2f}")
        else:
            lines.append("cost                pass --price-in and --price-out (per million tokens) for a cost")
        if self.awaiting_run:
            lines.append(f"({self.awaiting_run} song(s) have a cached reply that a normal run records first)")
        return "\n".join(lines)


def measured_tokens(dataset_dir: str | Path, prompt_version: str, decoding: str) -> dict[str, StageTokens]:
    """Mean prompt and completion tokens per request measured in a dataset's manifest, per stage (rows of
    ``prompt_version`` and ``decoding`` with usage; fresh and cached replies alike)."""
    rows = [r for r in read_manifest_rows(Path(dataset_dir) / MANIFEST)
            if r.get("prompt_version") == prompt_version and r.get("decoding") == decoding]
    stages: dict[str, StageTokens] = {}
    compose = [r["usage"] for r in rows if isinstance(r.get("usage"), dict) and r["usage"]]
    # each plan reply once: the rows of one attempt (a compose error after it, say) repeat its usage
    plans = list({r["plan_cache_key"]: r["plan_usage"] for r in rows if r.get("plan_cache_key")
                  and isinstance(r.get("plan_usage"), dict) and r["plan_usage"]}.values())
    for stage, usages in (("compose", compose), ("plan", plans)):
        if usages:
            stages[stage] = StageTokens(statistics.fmean(u.get("prompt_tokens", 0) for u in usages),
                                        statistics.fmean(u.get("completion_tokens", 0) for u in usages), len(usages))
    return stages


def replies_per_piece(dataset_dir: str | Path, prompt_version: str, decoding: str) -> float | None:
    """Replies (attempts that got one) per valid piece in a dataset, for this prompt; None without a valid piece."""
    rows = [r for r in read_manifest_rows(Path(dataset_dir) / MANIFEST)
            if r.get("prompt_version") == prompt_version and r.get("decoding") == decoding]
    valid = {(r["genre"], r["style"], r["index"]) for r in rows if r.get("status") == "valid"}
    replies = sum(1 for r in rows if r.get("status") != "error")
    return replies / len(valid) if valid else None


def measured_throughput(dataset_dir: str | Path, model: str) -> tuple[float, int] | None:
    """(median pieces per hour, runs) over a dataset's finished runs of ``model`` that made fresh calls, or None."""
    runs = [r for r in read_manifest_rows(Path(dataset_dir) / RUNS)
            if not r.get("interrupted") and r.get("pieces_per_hour") and (r.get("llm") or {}).get("model") == model
            and (r.get("llm_calls") or r.get("completion_tokens"))]
    return (statistics.median(r["pieces_per_hour"] for r in runs), len(runs)) if runs else None


def _token_source(generator: Generator, tokens_from: Path | None) -> tuple[Path | None, dict[str, StageTokens]]:
    """The dataset whose measured usage gives tokens per request: ``tokens_from``, else the run's own folder,
    else the first dataset beside the committed one with replies to the same prompt."""
    version, decoding = generator.variant.version, generator.config.decoding
    if tokens_from is not None:
        return tokens_from, measured_tokens(tokens_from, version, decoding)
    root = DEFAULT_DATASET.parent
    candidates = [generator.config.out, DEFAULT_DATASET, *sorted(p for p in root.glob("*") if p.is_dir())]
    for folder in dict.fromkeys(Path(c) for c in candidates):
        if (folder / MANIFEST).is_file():
            stages = measured_tokens(folder, version, decoding)
            if "compose" in stages:
                return folder, stages
    return None, {}


def _model_of(dataset_dir: Path) -> str:
    models = Counter(r.get("model") for r in read_manifest_rows(dataset_dir / MANIFEST) if r.get("model"))
    return models.most_common(1)[0][0] if models else "an unknown model"


def _unmeasured(call: PendingCall, stage: str, max_tokens: int) -> StageTokens:
    """Tokens of one request without a measurement: its characters / :data:`CHARS_PER_TOKEN` (a compose
    call after a pending plan: the plan call's, its own prompt being unknown yet) and the reply budget."""
    chars = sum(len(m["content"]) for m in call.messages)
    return StageTokens(chars / CHARS_PER_TOKEN, call.params["max_tokens"] if stage == call.stage else max_tokens)


def estimate(generator: Generator, pieces_per_hour: float | None = None, price_in: float | None = None,
             price_out: float | None = None, tokens_from: str | Path | None = None) -> Estimate:
    """Requests, tokens, hours and cost of ``generator``'s run (its pending songs, ``limit`` applied).

    Tokens per request are the means measured in a dataset's manifest for the same prompt version and
    decoding (``tokens_from``, else the run's folder, else a dataset under ``data/llm-midi``), counted by
    the model that made it; with none, prompt tokens are the characters of each request's messages
    / :data:`CHARS_PER_TOKEN` and completion tokens the reply budget (an upper bound). A plan call
    pending implies its compose call. Hours: ``pieces_per_hour``, else the median of the finished runs in
    the run's folder, else in the token source. Cost: only with both prices (per million tokens).
    """
    pending = pending_calls(generator, generator.config.limit)
    source, stages = _token_source(generator, Path(tokens_from) if tokens_from is not None else None)
    version, decoding = generator.variant.version, generator.config.decoding
    requests = Counter({"plan": 0, "compose": 0} if generator.variant.needs_plan else {"compose": 0})
    prompt = completion = 0.0
    for call in pending.calls:
        for stage in ("plan", "compose") if call.stage == "plan" else ("compose",):
            requests[stage] += 1
            tokens = stages.get(stage) or _unmeasured(call, stage, generator.config.max_tokens or 0)
            prompt += tokens.prompt
            completion += tokens.completion
    if source is not None and stages:
        described = "; ".join(f"{stage} {t.prompt:.1f} prompt + {t.completion:.1f} completion ({t.replies} replies)"
                              for stage, t in stages.items())
        tokens_source = (f"measured in {source}: {described}, counted by {_model_of(source)}'s tokenizer "
                         "(another model's tokenizer counts somewhat differently)")
        missing = [s for s in requests if requests[s] and s not in stages]
        if missing:
            tokens_source += f"; {', '.join(missing)}: characters / {CHARS_PER_TOKEN:g} and the reply budget"
    else:
        tokens_source = (f"no measured usage for prompt {version} ({decoding}); prompt tokens = characters / "
                         f"{CHARS_PER_TOKEN:g}, completion tokens = the reply budget (an upper bound)")
    retry = replies_per_piece(source, version, decoding) if source is not None else None
    throughput_source = "--pieces-per-hour"
    if pieces_per_hour is None:
        model = generator.client.model_id
        for folder in dict.fromkeys(p for p in (generator.config.out, source) if p is not None):
            measured = measured_throughput(folder, model)
            if measured is not None:
                pieces_per_hour = measured[0]
                throughput_source = (f"median of {measured[1]} finished run(s) of {model} in "
                                     f"{Path(folder) / RUNS}, on the machines they name")
                break
        else:
            throughput_source = f"no finished run of {model} measured"
    songs = len({(c.song.genre, c.song.style, c.song.index) for c in pending.calls})
    hours = songs / pieces_per_hour if pieces_per_hour else None
    cost = (prompt / 1e6 * price_in + completion / 1e6 * price_out
            if price_in is not None and price_out is not None else None)
    return Estimate(songs=songs, requests=dict(requests), prompt_tokens=round(prompt),
                    completion_tokens=round(completion), tokens_source=tokens_source, replies_per_piece=retry,
                    pieces_per_hour=pieces_per_hour, throughput_source=throughput_source, hours=hours,
                    price_in=price_in, price_out=price_out, cost=cost, awaiting_run=pending.awaiting_run)
