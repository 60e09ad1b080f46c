"""The zero-shot experiment end to end: ask every question of the evaluation sets, write the results
file, and give back the tables, figures' data, audio examples and summary lines the chapter shows.

One driver for chapter 3 and ``llmmusic zeroshot run``; chapter 4, lab 3 and the headline table read
the results file it writes (``data/zeroshot/results.jsonl`` by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.piece import Piece
from llmmusic.experiments.zeroshot import results as R
from llmmusic.experiments.zeroshot.items import EvalSet, Task
from llmmusic.experiments.zeroshot.prompts import MODES
from llmmusic.experiments.zeroshot.run import RowSink, run_sets
from llmmusic.experiments.zeroshot.scoring import LabelTokens
from llmmusic.generation.llm import LLMClient
from llmmusic.paths import ROOT

DEFAULT_DIR = ROOT / "data" / "zeroshot"
DEFAULT_CACHE = DEFAULT_DIR / "cache.sqlite"
#: The results file's name in its folder (beside the call cache).
RESULTS_NAME = "results.jsonl"
DEFAULT_RESULTS = DEFAULT_DIR / RESULTS_NAME


def sample_pin(dataset_dir: str | Path) -> Path:
    """The file pinning a dataset's LLM-MIDI sample (``data/zeroshot/samples/<dataset folder name>.json``):
    one per dataset, so each keeps asking about the same pieces while it grows."""
    return DEFAULT_DIR / "samples" / f"{Path(dataset_dir).name}.json"


#: The folder under :data:`DEFAULT_DIR` of the human sets' run at size (no generated dataset changes them).
HUMAN_AT_SIZE = "human"


def at_size_results(label: str, root: Path = DEFAULT_DIR) -> Path:
    """The results file of a run large enough to decide a claim: ``data/zeroshot/<label>/results.jsonl``, with
    ``label`` a generated dataset's folder name (its LLM-MIDI set) or :data:`HUMAN_AT_SIZE`; its call cache
    is ``cache.sqlite`` beside it (the README's commands write both). ``root``: another folder of such runs."""
    return Path(root) / label / RESULTS_NAME


def chapter_results() -> Path:
    """Where chapter 3 writes its results in a book build (``<executed>/results/zeroshot.jsonl``), so that a
    quick build never rewrites the committed run in ``data/zeroshot`` (``llmmusic zeroshot run`` makes that)."""
    from llmmusic.book.provenance import executed_dir

    return executed_dir() / "results" / "zeroshot.jsonl"


def current_results() -> Path:
    """The zero-shot results the rest of the book reads (chapter 4, lab 3, the headline and claims tables):
    this build's chapter 3 run when there is one, else the committed run (:data:`DEFAULT_RESULTS`)."""
    ran = chapter_results()
    return ran if ran.is_file() else DEFAULT_RESULTS


def at_size_table(labels: Sequence[str], n_boot: int = 1000, seed: int = 0, root: Path = DEFAULT_DIR) -> pd.DataFrame:
    """The runs at size that exist among ``labels`` (see :func:`at_size_results`, under ``root``): one row per
    question and mode with n, accuracy and its 95 % interval, the interval's half-width, chance, and the run's
    throughput (:func:`request_throughput`)."""
    frames = []
    for label in labels:
        path = at_size_results(label, root)
        rows = R.read_results(path) if path.is_file() else None
        summary = R.summarize_standard(rows, n_boot=n_boot, seed=seed) if rows is not None else None
        if summary is None:
            continue
        frames.append(summary.assign(run=label, half_width=(summary["acc_high"] - summary["acc_low"]) / 2,
                                     **request_throughput(rows)))
    columns = ["run", "task", "mode", "n", "accuracy", "acc_low", "acc_high", "half_width", "chance_uniform",
               "chance_majority", "items_per_hour", "prompt_tokens_per_s"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def request_throughput(rows: pd.DataFrame) -> dict[str, float]:
    """Items (piece and question) per hour and prompt tokens per second over the recorded request times.

    Recorded times, not this process's: a run made in resumed chunks counts each request once, at the
    time it took. The free and score rows of an item share one request (the score row holds it and any
    extra scoring requests), so per item the larger of the two counts; json and explain rows add theirs.
    """
    shared = rows["mode"].isin(["free", "score"])
    per_item = rows[shared].groupby(["id", "task"])[["latency_s", "prompt_tokens"]].max()
    seconds = float(per_item["latency_s"].sum() + rows.loc[~shared, "latency_s"].sum())
    tokens = float(per_item["prompt_tokens"].sum() + rows.loc[~shared, "prompt_tokens"].sum())
    items = len(rows.groupby(["id", "task"]))
    if not seconds:
        return {"items_per_hour": float("nan"), "prompt_tokens_per_s": float("nan")}
    return {"items_per_hour": 3600 * items / seconds, "prompt_tokens_per_s": tokens / seconds}


@dataclass(frozen=True)
class Clip:
    """An audio example: its name, the piece and the caption."""

    name: str
    piece: Piece
    caption: str


@dataclass
class ZeroShotRun:
    """What one run gave: the sets, every answer, the results file, and the chapter's tables (computed
    when first asked for).

    Attributes:
        sets: the evaluation sets asked.
        modes: the modes asked.
        results: one row per (item, question, mode), see :func:`~llmmusic.experiments.zeroshot.run.classify`.
        rows: the same rows as dicts, as written to the results file.
        path: the results file written (``None``: none written).
        kept: rows of the sets that did not run, kept in the results file.
        n_boot: bootstrap resamples of the summary's intervals.
        seed: bootstrap seed.
    """

    sets: list[EvalSet]
    modes: list[str]
    results: pd.DataFrame
    rows: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    kept: int = 0
    n_boot: int = 1000
    seed: int = 0

    @property
    def ran(self) -> list[str]:
        """The names of the sets that had items, sorted."""
        return sorted({es.name for es in self.sets if es.items})

    @property
    def tasks(self) -> list[Task]:
        """Every question of the sets, in order."""
        return [t for es in self.sets for t in es.tasks]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """:func:`~llmmusic.experiments.zeroshot.results.summarize` of the answers."""
        return R.summarize(self.results, self.tasks, n_boot=self.n_boot, seed=self.seed)

    @cached_property
    def concentration(self) -> pd.DataFrame:
        """:func:`~llmmusic.experiments.zeroshot.results.concentration` of the answers."""
        return R.concentration(self.results)

    @property
    def parse_methods(self) -> pd.DataFrame:
        """How the free, json and explain replies were read."""
        return R.parse_methods(self.results)

    @property
    def agreement(self) -> pd.DataFrame:
        """Agreement between the modes asked (empty when no pair has common pieces)."""
        return R.mode_agreement(self.results, self.modes)

    @property
    def answer_prior(self) -> list[pd.Series]:
        """Per question with score-mode answers: the mean probability of each candidate."""
        return R.answer_prior(self.results, self.tasks)

    @property
    def censored(self) -> tuple[int, int]:
        """``(censored, total)`` candidate scores of the score-mode answers."""
        return R.censored(self.results)

    def usage(self, client: LLMClient) -> str:
        """Answers, requests (from the cache / sent now), tokens, the request rate when first made, and the
        results file."""
        tp = R.throughput(self.results)
        lines = [f"{len(self.results)} answers; {tp['calls']} requests ({client.stats.cache_hits} answered from the "
                 f"cache, {client.stats.calls} sent to the model now); {tp['prompt_tokens']:,} prompt and "
                 f"{tp['completion_tokens']:,} completion tokens"]
        if tp["fresh_calls"]:
            lines.append(f"when first made: {tp['fresh_calls']} requests in {tp['fresh_seconds']:.0f} s of request "
                         f"time, {tp['calls_per_second']:.3f} requests/s")
        if self.path is not None:
            lines.append(f"results: {self.path} ({len(self.rows)} rows of {self.ran}, {self.kept} of other sets kept)")
        return "\n".join(lines)

    def clips(self) -> list[Clip]:
        """One piece answered right and one answered wrong, from the first question that has both (score-mode
        answers, else free), captioned with the model's top three candidates; empty when none has both."""
        items = {(es.name, it.id): it for es in self.sets for it in es.items}
        results = self.results
        score_rows = results[results["mode"] == "score"]
        pick = score_rows if not score_rows.empty else results[results["mode"] == "free"]
        both = [t for t in self.tasks if pick[pick["task"] == t.name]["correct"].nunique() == 2]
        if not both:
            return []
        task = both[0]
        part = pick[pick["task"] == task.name]
        clips = []
        for correct in (True, False):
            r = part[part["correct"] == correct].iloc[0]
            item = items[(r["source"], r["id"])]
            top = ""
            if isinstance(r.get("scores"), list):
                order = np.argsort(r["scores"])[::-1][:3]
                top = "; top 3: " + ", ".join(task.labels[i] for i in order)
            caption = (f"{'Correct' if correct else 'Wrong'}: {r['task']}, true {r['truth']}, answered {r['raw']}{top} "
                       f"({item.source}, {item.id}).")
            clips.append(Clip(f"{'correct' if correct else 'wrong'}_example", item.piece, caption))
        return clips

    def summary_lines(self) -> list[str]:
        """The chapter's summary: accuracy against chance per question (free answers, else the first mode
        asked) and the most common answer."""
        mode = "free" if "free" in self.modes else self.modes[0]
        conc = self.concentration
        top = conc[conc["mode"] == mode].sort_values("share", ascending=False).iloc[0]
        return ([f"**{r.task}** ({mode} answers): accuracy {r.accuracy:.3f} (95 % CI {r.acc_low:.3f}-{r.acc_high:.3f}, "
                 f"{int(r.n)} pieces) against uniform chance {r.chance_uniform:.3f} and majority {r.chance_majority:.3f}."
                 for r in self.summary[self.summary["mode"] == mode].itertuples()]
                + [f"The most common answer to **{top.task}** was {top.most_common}: {top.share:.0%} of its answers."])


def run_experiment(client: LLMClient, sets: Sequence[EvalSet], modes: Sequence[str], *, n_json: int | None = None,
                   n_explain: int | None = None, n_free: int | None = None, max_events: int | None = 32, tokens: LabelTokens | None = None,
                   out: str | Path | None = DEFAULT_RESULTS, earlier: Sequence[Mapping[str, Any]] | None = None,
                   n_boot: int = 1000, seed: int = 0, on_set: Callable[[EvalSet], None] | None = None,
                   on_row: RowSink | None = None) -> ZeroShotRun:
    """Ask every question of every set in every mode, then rewrite the results file once.

    The file keeps the earlier rows of the sets that did not run and replaces those of the sets that
    did (one atomic write after the last answer: an interrupted run leaves it as it was).

    Args:
        client: the LLM client (cached).
        sets: the evaluation sets (:func:`~llmmusic.experiments.zeroshot.items.build_sets`).
        modes: the modes to ask; names outside :data:`MODES` are left out.
        n_json: ask ``json`` mode of the first ``n_json`` pieces of each set only (``None``: all).
        n_explain: the same for ``explain``.
        n_free: the same for ``free`` (free text on a subset, scored answers on every piece).
        max_events: per-track event cap in the prompt.
        tokens: label tokenisation for score mode.
        out: the results file (JSON lines); ``None`` writes none.
        earlier: the rows already in ``out`` (``None``: read now; the command reads them before anything
            else so that a corrupt file stops it at once).
        n_boot: bootstrap resamples of the summary.
        seed: bootstrap seed.
        on_set: called with every set before it runs (also an empty one).
        on_row: called with every finished row.
    Returns:
        the :class:`ZeroShotRun`.
    """
    asked = [m for m in modes if m in MODES]
    limits = {m: n for m, n in (("json", n_json), ("explain", n_explain), ("free", n_free)) if n is not None}
    path = Path(out) if out is not None else None
    if path is not None and earlier is None:
        earlier = R.read_result_rows(path) if path.exists() else []
    rows: list[dict[str, Any]] = []

    def collect(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    results = run_sets(client, sets, asked, max_events=max_events, tokens=tokens, mode_limits=limits,
                       on_set=on_set, on_row=collect)
    kept = 0
    if path is not None:
        merged, kept = R.merge_results(earlier or [], rows, sets)
        R.write_results(merged, path)
    return ZeroShotRun(list(sets), asked, results, rows, path, kept, n_boot, seed)
