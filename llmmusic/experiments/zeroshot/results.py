"""Reading the answers: summaries against chance (:func:`summarize`), the chapter's tables (answer
concentration, how replies were read, agreement between modes, the answer prior), and the results
file (JSON lines; :func:`write_results`, :func:`read_results`, :func:`merge_results`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.experiments.zeroshot.items import EvalSet, Task, standard_tasks

#: The summary columns the chapter shows.
SUMMARY_COLUMNS: tuple[str, ...] = ("task", "mode", "n", "accuracy", "acc_low", "acc_high", "macro_f1", "f1_low",
                                    "f1_high", "top3", "chance_uniform", "chance_majority", "unparsed", "calls",
                                    "prompt_tokens", "completion_tokens")
#: Mode pairs compared by :func:`mode_agreement`; pairs with ``json`` only when it ran.
AGREEMENT_PAIRS: tuple[tuple[str, str], ...] = (("free", "score"), ("free", "json"), ("json", "score"))


def summarize(results: pd.DataFrame, tasks: Sequence[Task], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (task, mode): n, accuracy and macro-F1 with 95 % bootstrap intervals, chance
    levels, top-3 (score mode), unparsed answers, calls and tokens.

    Macro-F1 averages over the classes that occur in the sample as a true label or an answer (as
    sklearn does by default), not over every candidate. ``chance_uniform`` is the accuracy of a
    uniform guess among the *asked* labels after the task's mapping (e.g. 3 of the 13 paper genres
    count as Rock for a Rock file); ``chance_majority`` always answers the most frequent true label.

    Args:
        results: output of :func:`run_items` (several calls concatenated is fine).
        tasks: the tasks (for their label sets).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
    Returns:
        the summary table.
    """
    from llmmusic.analysis import metrics

    out = []
    by_name = {t.name: t for t in tasks}
    for (tname, mode), g in results.groupby(["task", "mode"], sort=False):
        task = by_name[tname]
        labels = task.eval_labels or task.labels
        truth = [tuple(t) if isinstance(t, (list, tuple)) else t for t in g["truth"]]
        scores = None
        if mode == "score" and "scores" in g:
            scores = eval_scores(np.vstack(g["scores"].to_numpy()), task)
        preds = list(g["pred"])
        rep = metrics.classification_report(truth, preds, labels, scores=scores, n_boot=n_boot, seed=seed,
                                            f1_labels=metrics.present_labels(truth, preds, labels))
        if task.mapping is not None:
            share = {lab: sum(task.mapping.get(c) == lab for c in task.labels) / len(task.labels) for lab in labels}
            rep["chance_uniform"] = float(np.mean([sum(share.get(v, 0.0) for v in metrics._as_set(t)) for t in truth]))
        out.append(dict(
            task=tname, mode=mode, n=rep["n"], accuracy=rep["accuracy"],
            acc_low=rep.get("accuracy_ci", (np.nan, np.nan))[0], acc_high=rep.get("accuracy_ci", (np.nan, np.nan))[1],
            macro_f1=rep["macro_f1"], f1_low=rep.get("macro_f1_ci", (np.nan, np.nan))[0],
            f1_high=rep.get("macro_f1_ci", (np.nan, np.nan))[1],
            top3=rep.get("top3", np.nan), chance_uniform=rep["chance_uniform"], chance_majority=rep["chance_majority"],
            unparsed=rep["unparsed"], calls=int(g["calls"].sum()), fresh_calls=int(g["fresh_calls"].sum()),
            prompt_tokens=int(g["prompt_tokens"].sum()), completion_tokens=int(g["completion_tokens"].sum()),
            seconds=float(g["latency_s"].sum()),
        ))
    return pd.DataFrame(out)


def eval_scores(scores: np.ndarray, task: Task) -> np.ndarray:
    """Scores over ``task.labels`` carried to the evaluated label set: each evaluated label gets the
    best score of the candidates mapped to it (``-inf`` if none)."""
    if task.mapping is None:
        return scores
    labels = task.eval_labels or sorted({v for v in task.mapping.values() if v})
    out = np.full((scores.shape[0], len(labels)), -np.inf)
    for j, lab in enumerate(task.labels):
        target = task.mapping.get(lab)
        if target in labels:
            k = labels.index(target)
            out[:, k] = np.maximum(out[:, k], scores[:, j])
    return out


def throughput(results: pd.DataFrame) -> dict[str, float]:
    """Fresh (non-cached) calls, their seconds, calls per second and tokens per call."""
    fresh = int(results["fresh_calls"].sum()) if len(results) else 0
    secs = float(results["fresh_latency_s"].sum()) if len(results) else 0.0
    calls = int(results["calls"].sum()) if len(results) else 0
    return dict(calls=calls, fresh_calls=fresh, fresh_seconds=secs,
                calls_per_second=fresh / secs if secs else float("nan"),
                prompt_tokens=int(results["prompt_tokens"].sum()) if len(results) else 0,
                completion_tokens=int(results["completion_tokens"].sum()) if len(results) else 0)


def write_results(results: pd.DataFrame | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write result rows (a frame, or row dicts as they are) as JSON lines, atomically.

    JSON has no NaN: a missing value (NaN, or an infinite float) is written as ``null``, also inside lists.
    """
    from llmmusic import atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = results.to_dict(orient="records") if isinstance(results, pd.DataFrame) else list(results)
    text = "".join(json.dumps(_finite(r), default=_jsonable, sort_keys=True, allow_nan=False) + "\n" for r in records)
    atomic.write_text(path, text)
    return path


def _finite(v: Any) -> Any:
    """``v`` with every NaN or infinite float, at any depth of dicts, lists and arrays, as ``None``."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_finite(x) for x in v]
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return v.item()
    return str(v)


def read_result_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows written by :func:`write_results`, as dicts.

    Raises:
        FileNotFoundError: no results file at ``path``.
        DataError: a line is not a JSON object.
    """
    from llmmusic.data.dataset import read_manifest_rows

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no results file (chapter 3 and `llmmusic zeroshot run` write it)", str(path))
    return read_manifest_rows(path)


def read_results(path: str | Path) -> pd.DataFrame:
    """The rows written by :func:`write_results`, as a frame (raises as :func:`read_result_rows`)."""
    return pd.DataFrame(read_result_rows(path))


def summarize_results(path: str | Path, n_boot: int = 1000, seed: int = 0,
                      dataset: str | None = None) -> pd.DataFrame | None:
    """:func:`summarize` of a results file over the standard questions (``llm-genre``, ``llm-style``,
    ``human-folder``, ``human-topmagd``), if it exists.

    Args:
        dataset: keep only the LLM-MIDI rows of the generated dataset of this folder name (rows that do not
            name their dataset are dropped then); the human sets' rows hold for every dataset and stay.
    Returns:
        One row per question and mode (n, accuracy and macro-F1 with intervals, top-3, chance),
        or ``None`` when there is no results file (or no row of a standard question).
    """
    path = Path(path)
    return summarize_standard(read_results(path), n_boot, seed, dataset) if path.is_file() else None


def summarize_standard(results: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                       dataset: str | None = None) -> pd.DataFrame | None:
    """:func:`summarize_results` of result rows already read (``None`` when no row is of a standard question)."""
    if results.empty:
        return None
    tasks = standard_tasks()
    results = results[results["task"].isin(list(tasks))]
    if dataset is not None:
        named = results["dataset"] if "dataset" in results.columns else pd.Series(None, index=results.index)
        ours = named.map(lambda d: isinstance(d, str) and Path(d).name == dataset)
        results = results[(results["source"] != "llm-midi") | ours]
    if results.empty:
        return None
    summary = summarize(results, list(tasks.values()), n_boot=n_boot, seed=seed)
    columns = ["task", "mode", "n", "accuracy", "acc_low", "acc_high", "macro_f1", "top3", "chance_uniform",
               "chance_majority", "unparsed"]
    return summary[[c for c in columns if c in summary.columns]]


def agreement(results: pd.DataFrame, a: str = "free", b: str = "score") -> pd.DataFrame:
    """Per task: how often modes ``a`` and ``b`` give the same answer on the same piece, and their accuracies.

    Returns:
        DataFrame with task, n (pieces with both modes), same (fraction of identical raw answers),
        acc_<a>, acc_<b>.
    """
    out = []
    for task, g in results.groupby("task", sort=False):
        pa = g[g["mode"] == a].set_index("id")
        pb = g[g["mode"] == b].set_index("id")
        common = pa.index.intersection(pb.index)
        if len(common) == 0:
            continue
        out.append({"task": task, "n": len(common),
                    "same": float((pa.loc[common, "raw"] == pb.loc[common, "raw"]).mean()),
                    f"acc_{a}": float(pa.loc[common, "correct"].mean()),
                    f"acc_{b}": float(pb.loc[common, "correct"].mean())})
    return pd.DataFrame(out)




def mode_agreement(results: pd.DataFrame, modes: Sequence[str]) -> pd.DataFrame:
    """:func:`agreement` of the :data:`AGREEMENT_PAIRS` whose modes were asked, one frame with a ``pair``
    column (``free vs score``); pairs without common pieces are left out, and none gives an empty frame."""
    pairs = [pair for pair in AGREEMENT_PAIRS if pair == ("free", "score") or "json" in modes]
    frames = [agreement(results, a, b).assign(pair=f"{a} vs {b}") for a, b in pairs]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def concentration(results: pd.DataFrame) -> pd.DataFrame:
    """Per (task, mode): answers, distinct answers, the most common answer and its share."""
    return (results.groupby(["task", "mode"], sort=False)["raw"]
            .agg(n="size", distinct="nunique", most_common=lambda x: x.value_counts().index[0],
                 share=lambda x: x.value_counts(normalize=True).iloc[0]).reset_index())


def parse_methods(results: pd.DataFrame) -> pd.DataFrame:
    """How the free, json and explain replies were read (:class:`Answer` ``how``), counted per (task, mode)."""
    how = results[results["mode"].isin(["free", "json", "explain"])].groupby(["task", "mode", "how"]).size()
    return how.unstack(fill_value=0)


def answer_prior(results: pd.DataFrame, tasks: Sequence[Task]) -> list[pd.Series]:
    """Per task with score-mode rows: the mean over pieces of each candidate's probability (first-token
    scores renormalised over the candidates), indexed by the candidates and named after the task."""
    if results.empty:
        return []
    score_rows = results[results["mode"] == "score"]
    prior = []
    for t in tasks:
        part = score_rows[score_rows["task"] == t.name]
        if part.empty:
            continue
        s = np.vstack(part["scores"].to_numpy())
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        prior.append(pd.Series(p.mean(axis=0), index=t.labels, name=t.name))
    return prior


def censored(results: pd.DataFrame) -> tuple[int, int]:
    """``(censored, total)`` candidate scores of the score-mode rows: how many were not among the reported
    alternatives, of all candidates scored."""
    score_rows = results[results["mode"] == "score"] if not results.empty else results
    if score_rows.empty:
        return 0, 0
    return int(score_rows["censored"].sum()), int(sum(len(v) for v in score_rows["scores"]))


def merge_results(kept: Iterable[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]],
                  sets: Sequence[EvalSet]) -> tuple[list[Mapping[str, Any]], int]:
    """The rows of a results file after a run: the earlier rows of the sets that did not run, then the new
    rows (a set with no items did not run).

    Returns:
        ``(rows, n_kept)``.
    """
    ran = {es.name for es in sets if es.items}
    old = [row for row in kept if row.get("source") not in ran]
    return old + list(rows), len(old)
