"""Repeated experiments over seeds: the CNN and the melody model run again with other splits and weights.

Each seed is a different song / piece split and a different initialisation: the CNN driver
(:class:`llmmusic.experiments.cnn.Experiment` on ``Settings(seed=...)``) or the melody driver
(:mod:`llmmusic.experiments.melody.experiment` with ``split_seed = seed = ...``) runs once per seed, and
one JSON row per finished seed is appended to a results file (default
``data/repeats/<dataset>/<kind>.jsonl``, :func:`results_path`). A row holds the seed, the parameters,
the wall seconds and, per metric, its value, items, 95 % interval of that seed and what pooling needs
(``correct`` of ``n`` 0/1 items, or the per-query ``ranks`` of MAP). A seed already in the file with the
same parameters is skipped, so a rerun does no work.

:func:`summarize` gives, per metric, the mean, standard deviation, minimum and maximum over seeds and a
pooled 95 % interval: every seed's items put together and bootstrapped
(:func:`llmmusic.analysis.metrics.bootstrap_ci`). The pooled interval counts an item once per seed it
was tested in (the human files are scored by every seed's model), so it describes the items, while
the spread across seeds describes the splits and initialisations.

Metric ids are the ones the headline and the claims page use: ``cnn:llm-genre``, ``cnn:llm-style``,
``cnn:human-transfer``, ``cnn:human-trained``, ``cnn:lakh-topmagd``; ``melody:map-<corpus>`` and
``melody:hits@<k>-<corpus>`` (the transformer, mean log-probability per token).

Used in: ``llmmusic repeat``, notebooks/04_cnn_classification.py, notebooks/05_melody_completion.py,
:mod:`llmmusic.book.claims`.
"""

from __future__ import annotations

import json
import logging
import math
import time
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmmusic.errors import DataError, UserError
from llmmusic.paths import ROOT

log = logging.getLogger(__name__)

KINDS = ("cnn", "melody")
#: Where the results files live: ``<REPEATS_DIR>/<dataset name>/<kind>.jsonl``.
REPEATS_DIR = ROOT / "data" / "repeats"
#: Seeds of a full repeat.
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: CNN settings that are not parameters of a repeat: the seed, the dataset (given apart), where it runs and
#: what it only shows (examples, zero-shot rows, feature baselines: not among the repeated metrics).
CNN_FIXED = ("seed", "dataset", "device", "threads", "n_examples", "zeroshot_dir", "feature_models")


@dataclass
class MelodySettings:
    """Chapter 5's parameters that a repeat varies or keeps (same names and defaults as its ``parameters``
    cell); the model learns from LLM-MIDI, and each seed sets both ``split_seed`` and ``seed``."""

    phrase_bars: int = 1
    llm_limit: int | None = None
    human_limit: int | None = 200
    human_max_bars: int | None = 32
    window_phrases: int = 4
    window_stride: int | None = None
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1
    max_len: int = 256
    epochs: int = 15
    batch_size: int = 16
    lr: float = 1e-3
    n_queries: int | None = 300
    context_phrases: int = 1
    n_boot: int = 1000
    device: str = "auto"
    torch_threads: int | None = 1


MELODY_FIXED = ("device", "torch_threads")


# ------------------------------------------------------------------------------------------- parameters
def settings_class(kind: str) -> type:
    """The settings dataclass of ``kind`` (``cnn``: :class:`llmmusic.experiments.cnn.Settings`)."""
    check_kind(kind)
    if kind == "cnn":
        from llmmusic.experiments.cnn.settings import Settings

        return Settings
    return MelodySettings


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`.

    Raises:
        UserError: another kind.
    """
    if kind not in KINDS:
        raise UserError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def parameter_names(kind: str) -> list[str]:
    """The names ``--param`` may set for ``kind``."""
    fixed = CNN_FIXED if kind == "cnn" else MELODY_FIXED
    return [f.name for f in fields(settings_class(kind)) if f.name not in fixed]


def parse_params(kind: str, pairs: Iterable[Sequence[str]]) -> dict[str, Any]:
    """``[(name, text), ...]`` as typed settings values (``none`` for an optional value, ``a,b`` for a list).

    Raises:
        UserError: an unknown name, or a value of the wrong type, naming the parameter and what it expects.
    """
    cls = settings_class(kind)
    hints = typing.get_type_hints(cls)
    allowed = parameter_names(kind)
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name not in allowed:
            raise UserError(f"--param {name}: not a parameter of a {kind} repeat; expected one of {', '.join(allowed)}")
        out[name] = _coerce(name, text, hints[name])
    return out


def _coerce(name: str, text: str, hint: Any) -> Any:
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else hint
    if optional and text.strip().lower() in ("none", "null"):
        return None
    what = {int: "an integer >= 0", float: "a number >= 0", str: "a text", bool: "true or false"}.get(base, "a list a,b")
    what += " (or none)" if optional else ""
    try:
        if base is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if base in (int, float):
            value = base(text)
            if not math.isfinite(value) or value < 0:
                raise ValueError(text)
            return value
        if base is str:
            return text
        if typing.get_origin(base) in (list, tuple, Sequence):
            items = [t.strip() for t in text.split(",") if t.strip()]
            if not items:
                raise ValueError(text)
            return items
    except ValueError:
        raise UserError(f"--param {name}: expected {what}, got {text!r}") from None
    raise UserError(f"--param {name}: cannot be set from the command line")


def record_params(kind: str, dataset_dir: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a row records and a resume compares: the dataset (name and manifest hash) and every
    setting of ``kind`` but the fixed ones, the chapter's defaults updated by ``overrides``."""
    from llmmusic.book.inputs import sha256_file

    fixed = CNN_FIXED if kind == "cnn" else MELODY_FIXED
    values = {k: v for k, v in asdict(settings_class(kind)(**dict(overrides or {}))).items() if k not in fixed}
    return _canonical({"dataset": dataset_dir.name, "manifest_sha256": sha256_file(dataset_dir / "manifest.jsonl"),
                       **values})


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists), so that parameters compare equal."""
    return json.loads(json.dumps(value, default=str))


def results_path(dataset: str | Path, kind: str) -> Path:
    """The default results file of ``kind`` on ``dataset`` (a folder or a dataset name)."""
    return REPEATS_DIR / Path(dataset).name / f"{check_kind(kind)}.jsonl"


def check_dataset(dataset_dir: str | Path | None) -> Path:
    """``dataset_dir`` if it is a generated dataset folder.

    Raises:
        UserError: not given, not a folder, or no ``manifest.jsonl``.
    """
    if dataset_dir is None:
        raise UserError("--dataset: required; expected an LLM-MIDI dataset folder such as data/llm-midi/embedded-v1")
    path = Path(dataset_dir)
    if not path.is_dir():
        raise UserError(f"--dataset {path}: no such folder; expected an LLM-MIDI dataset folder")
    if not (path / "manifest.jsonl").is_file():
        raise UserError(f"--dataset {path}: no manifest.jsonl; expected an LLM-MIDI dataset folder")
    return path


# ------------------------------------------------------------------------------------------- one seed
def _metric(measure: str, value: float, n: int, interval: Sequence[float] | None, chance: float | None,
            **items: Any) -> dict[str, Any]:
    low, high = (None, None) if interval is None else (float(interval[0]), float(interval[1]))
    return {"measure": measure, "value": float(value), "n": int(n), "low": low, "high": high,
            "chance": None if chance is None else float(chance), **items}


def _accuracy(rep: Mapping[str, Any], chance: float) -> dict[str, Any]:
    """An accuracy metric of a CNN report: its ``correct`` of ``n`` items (accuracy is a mean of 0/1)."""
    n = int(rep["n"])
    return _metric("accuracy", rep["accuracy"], n, rep.get("accuracy_ci"), chance,
                   correct=round(float(rep["accuracy"]) * n))


def cnn_seed(dataset_dir: Path, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """One CNN seed: the chapter's experiment on ``Settings(seed=seed, **params)``; the metrics and facts."""
    from llmmusic.data.taxonomy import FOLDER_GENRES
    from llmmusic.experiments.cnn import Experiment, Settings

    names = {f.name for f in fields(Settings)} - set(CNN_FIXED)
    settings = Settings(**{k: v for k, v in params.items() if k in names}, seed=seed, feature_models=())
    exp = Experiment(settings, dataset_dir)
    out = {f"cnn:llm-{task}": _accuracy(rep, 1 / len(exp.heads[task])) for task, rep in exp.reports.items()}
    if exp.human_eval is not None:
        out["cnn:human-transfer"] = _accuracy(exp.human_eval.report, 1 / len(FOLDER_GENRES))
    if exp.transfer is not None:
        out["cnn:human-trained"] = _accuracy(exp.transfer.reports["human->human"], 1 / len(FOLDER_GENRES))
    if exp.lakh is not None and "topmagd" in exp.lakh.reports:
        rep = exp.lakh.reports["topmagd"]
        out["cnn:lakh-topmagd"] = _accuracy(rep, rep["chance_uniform"])
    return {"metrics": out, "mode": exp.mode, "device": exp.training.runs[exp.mode].device,
            "pieces": len(exp.llm), "test_pieces": int(exp.test.sum())}


def melody_seed(dataset_dir: Path, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """One melody seed: split and train on LLM-MIDI with ``seed``, rank next phrases on every corpus."""
    from llmmusic.experiments.melody import HITS_AT, MelodyTokenizer, chance_ranking
    from llmmusic.experiments.melody import experiment as X
    from llmmusic.experiments.melody.completion import N_CANDIDATES
    from llmmusic.experiments.melody.model import TransformerScorer
    from llmmusic.experiments.melody.train import TrainConfig

    s = MelodySettings(**{k: v for k, v in params.items() if k in {f.name for f in fields(MelodySettings)}})
    config = X.DataConfig(dataset=str(dataset_dir), phrase_bars=s.phrase_bars, llm_limit=s.llm_limit,
                          human_limit=s.human_limit, human_max_bars=s.human_max_bars, split_seed=seed,
                          max_len=s.max_len, window_phrases=s.window_phrases, window_stride=s.window_stride)
    data = X.prepare(config)
    tokenizer = MelodyTokenizer()
    train_config = TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, seed=seed, device=s.device,
                               threads=s.torch_threads)
    trained = X.train(X.training_corpus(data, "llm-midi"), tokenizer, config, train_config, d_model=s.d_model,
                      n_layers=s.n_layers, n_heads=s.n_heads, dropout=s.dropout, seed=seed)
    ranking = X.evaluate({"transformer": TransformerScorer(trained.model)}, data, tokenizer, config,
                         n_queries=s.n_queries, context_phrases=s.context_phrases, seed=seed, n_boot=s.n_boot,
                         next_token=False, threads=s.torch_threads).ranking
    chance = chance_ranking(N_CANDIDATES)
    out: dict[str, Any] = {}
    for corpus in ranking.queries:
        ranks = ranking.ranks.get((corpus, "transformer", "mean"))
        if ranks is None or not len(ranks):
            continue
        row = ranking.table.loc[(corpus, "transformer", "mean")]
        interval = (row["MAP_low"], row["MAP_high"]) if s.n_boot else None
        out[f"melody:map-{corpus}"] = _metric("MAP", row["MAP"], len(ranks), interval, chance["MAP"],
                                              ranks=[int(r) for r in ranks])
        for k in HITS_AT:
            hits = (np.asarray(ranks) <= k).astype(float)
            out[f"melody:hits@{k}-{corpus}"] = _metric(f"HITS@{k}", hits.mean(), len(hits),
                                                       mean_interval(hits, s.n_boot, seed) if s.n_boot else None,
                                                       chance[f"HITS@{k}"], correct=int(hits.sum()))
    return {"metrics": out, "device": trained.result.device, "best_epoch": trained.result.best_epoch,
            "missing": X.missing_corpora(data)}


SeedRunner = Callable[[Path, Mapping[str, Any], int], dict[str, Any]]
#: kind -> the function that runs one seed.
RUNNERS: dict[str, SeedRunner] = {"cnn": cnn_seed, "melody": melody_seed}


# ------------------------------------------------------------------------------------------- the file
def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results file (a line that is not JSON, as a crash can leave, is skipped with a warning).

    Raises:
        FileNotFoundError: no file.
        DataError: a row that is not a results row.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: not a JSON row (an interrupted write?); skipped", path, number)
            continue
        if not isinstance(row, dict) or not {"kind", "seed", "params", "metrics"} <= set(row):
            raise DataError(f"{path}:{number}: expected a repeats row with kind, seed, params and metrics")
        rows.append(row)
    return rows


def run(kind: str, dataset_dir: str | Path, seeds: Sequence[int], out: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        progress: Callable[[str], None] | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Run ``kind`` on ``dataset_dir`` for each seed not yet in the results file with these parameters.

    Args:
        kind: ``cnn`` or ``melody``.
        dataset_dir: the LLM-MIDI dataset.
        seeds: the seeds (each: another split and initialisation).
        out: the results file (default :func:`results_path`).
        overrides: settings other than the chapter's defaults (names of :func:`parameter_names`).
        progress: called with one line per seed.
    Returns:
        ``(results file, the rows of these parameters and seeds)``, in seed order.
    """
    check_kind(kind)
    dataset_dir = check_dataset(dataset_dir)
    if not seeds or any(int(s) < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"seeds {list(seeds)}: expected distinct integers >= 0")
    path = Path(out) if out is not None else results_path(dataset_dir, kind)
    params = record_params(kind, dataset_dir, overrides)
    done = {int(r["seed"]): r for r in (load_rows(path) if path.is_file() else [])
            if r["kind"] == kind and r["params"] == params}
    say = progress or (lambda line: None)
    for seed in seeds:
        if seed in done:
            say(f"{kind} seed {seed}: already in {path}, skipped")
            continue
        start = time.perf_counter()
        result = RUNNERS[kind](dataset_dir, params, int(seed))
        row = {"kind": kind, "seed": int(seed), "params": params, **_canonical(result),
               "seconds": round(time.perf_counter() - start, 2),
               "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _append(path, row)
        done[seed] = row
        say(f"{kind} seed {seed}: {row['seconds']:.0f} s; " + ", ".join(
            f"{m} {v['value']:.3f}" for m, v in row["metrics"].items() if "hits@" not in m))
    return path, [done[s] for s in seeds]


def _append(path: Path, row: Mapping[str, Any]) -> None:
    from llmmusic.atomic import append_line

    torn = path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    append_line(path, ("\n" if torn else "") + json.dumps(row))


# ------------------------------------------------------------------------------------------- summaries
def mean_interval(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of per-item ``values`` (:func:`~llmmusic.analysis.metrics.bootstrap_ci`)."""
    from llmmusic.analysis.metrics import bootstrap_ci

    values = np.asarray(values, dtype=float)
    return bootstrap_ci(values, values, lambda v, _: float(np.mean(v)), n=n_boot, seed=seed)


def item_values(metric: Mapping[str, Any]) -> np.ndarray:
    """The per-item values whose mean is the metric: ``1 / rank`` of each query (MAP) or 0/1 items
    (``correct`` of ``n``: accuracy, HITS@k)."""
    if "ranks" in metric:
        return 1.0 / np.asarray(metric["ranks"], dtype=float)
    if "correct" in metric:
        n, correct = int(metric["n"]), int(metric["correct"])
        return np.concatenate([np.ones(correct), np.zeros(n - correct)])
    raise DataError(f"metric {metric.get('measure')}: neither ranks nor correct counts to pool")


def groups(rows: Iterable[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows split by kind and parameters (first-seen order); within a group one row per seed (the last)."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        key = json.dumps([row["kind"], row["params"]], sort_keys=True)
        found.setdefault(key, {})[int(row["seed"])] = dict(row)
    return [[g[s] for s in sorted(g)] for g in found.values()]


def select(rows: Iterable[Mapping[str, Any]], params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of ``params`` if the file has any, else of the parameters with the most seeds (latest on ties)."""
    found = groups(rows)
    if params is not None:
        match = [g for g in found if g[0]["params"] == _canonical(dict(params))]
        if match:
            return match[0]
    return max(reversed(found), key=len) if found else []


def summarize(rows: Sequence[Mapping[str, Any]], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per metric: seeds, mean, sd (across seeds, ddof 1), min, max, and the pooled value and 95 % interval.

    Args:
        rows: rows of one kind and one set of parameters (e.g. :func:`select`).
        n_boot: bootstrap resamples of the pooled interval.
        seed: bootstrap seed.
    Returns:
        DataFrame indexed by metric with measure, seeds, mean, sd, min, max, pooled, pooled_low, pooled_high,
        items and chance.
    """
    order = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    out = []
    for name in order:
        found = [r["metrics"][name] for r in rows if name in r["metrics"]]
        values = np.array([m["value"] for m in found], dtype=float)
        pooled = np.concatenate([item_values(m) for m in found])
        low, high = mean_interval(pooled, n_boot, seed) if n_boot else (np.nan, np.nan)
        out.append({"metric": name, "measure": found[0].get("measure"), "seeds": len(found),
                    "mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "min": float(values.min()), "max": float(values.max()), "pooled": float(pooled.mean()),
                    "pooled_low": low, "pooled_high": high, "items": int(pooled.size), "chance": found[0].get("chance")})
    return pd.DataFrame(out).set_index("metric") if out else pd.DataFrame()


def per_seed(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Each seed's value, 95 % interval and items per metric (index seed, metric), with the seed's seconds."""
    out = [{"seed": int(r["seed"]), "metric": name, "value": m["value"], "low": m.get("low"), "high": m.get("high"),
            "n": m["n"], "seconds": r.get("seconds")} for r in rows for name, m in r["metrics"].items()]
    return pd.DataFrame(out).set_index(["seed", "metric"]) if out else pd.DataFrame()


def spread_table(rows: Sequence[Mapping[str, Any]], n_boot: int = 1000) -> pd.DataFrame:
    """One row per metric: the value of each seed (``seed 0`` ...), then :func:`summarize`'s columns."""
    values = per_seed(rows)["value"].unstack("seed")
    values.columns = [f"seed {s}" for s in values.columns]
    summary = summarize(rows, n_boot)
    return values.reindex(summary.index).join(summary.drop(columns=["measure"]))


def pooled_summary(path: str | Path, n_boot: int = 1000) -> pd.DataFrame:
    """:func:`summarize` of the rows of the file's main parameters (:func:`select`); empty when the file is
    absent or holds no row."""
    path = Path(path)
    return summarize(select(load_rows(path)), n_boot) if path.is_file() else pd.DataFrame()


def pooled_figures(path: str | Path, n_boot: int = 1000) -> dict[str, dict[str, Any]]:
    """Metric id -> ``{value, low, high, n, chance, seeds}`` pooled over the seeds of the file's main
    parameters (:func:`select`); empty when the file is absent."""
    summary = pooled_summary(path, n_boot)
    return {name: {"value": r["pooled"], "low": r["pooled_low"], "high": r["pooled_high"], "n": int(r["items"]),
                   "chance": r["chance"], "seeds": int(r["seeds"])} for name, r in summary.iterrows()}


def datasets_table(kind: str, datasets: Sequence[str | Path], n_boot: int = 1000) -> pd.DataFrame:
    """The pooled figures of ``kind``'s repeats on each of ``datasets``, side by side.

    Args:
        kind: ``cnn`` or ``melody``.
        datasets: dataset folders or names (their files are :func:`results_path`).
        n_boot: bootstrap resamples of the pooled intervals.
    Returns:
        DataFrame indexed by (metric, dataset) with pooled, pooled_low, pooled_high, seeds, items and chance;
        a dataset without a results file adds no row.
    """
    cols = ["pooled", "pooled_low", "pooled_high", "seeds", "items", "chance"]
    parts = {Path(d).name: pooled_summary(results_path(d, kind), n_boot) for d in datasets}
    parts = {name: table[cols] for name, table in parts.items() if not table.empty}
    if not parts:
        return pd.DataFrame()
    order = list(dict.fromkeys(m for t in parts.values() for m in t.index))
    return pd.concat(parts, names=["dataset", "metric"]).swaplevel().loc[order]


# ------------------------------------------------------------------------------------------- chapters
def command(dataset: str | Path, kind: str, seeds: Sequence[int] = DEFAULT_SEEDS) -> str:
    """The command that makes (or completes) the repeats file of ``kind`` on ``dataset``."""
    from llmmusic.book.inputs import relative_to_root

    return (f"llmmusic repeat {kind} --dataset {relative_to_root(dataset)} "
            f"--seeds {','.join(str(s) for s in seeds)}")


@dataclass
class Spread:
    """A chapter's view of a repeats file: its rows (one parameter set), the table and a strip plot."""

    kind: str
    path: Path
    rows: list[dict[str, Any]]
    defaults: dict[str, Any]

    def table(self) -> pd.DataFrame:
        """:func:`spread_table` of the rows."""
        return spread_table(self.rows)

    def changed(self) -> dict[str, Any]:
        """The parameters of the rows that differ from the chapter's defaults."""
        params = self.rows[0]["params"]
        return {k: v for k, v in params.items() if self.defaults.get(k) != v and k != "manifest_sha256"}

    def caption(self) -> str:
        """What the table shows, from which file and with which parameters."""
        from llmmusic.book.inputs import relative_to_root

        changed = self.changed()
        seconds = [r.get("seconds") for r in self.rows if r.get("seconds")]
        params = ("the chapter's default parameters" if not changed else
                  "the chapter's defaults except " + ", ".join(f"{k}={json.dumps(v)}" for k, v in changed.items()))
        if self.rows[0]["params"].get("manifest_sha256") != self.defaults.get("manifest_sha256"):
            params += " (on an earlier state of the dataset)"
        return (f"{len(self.rows)} seeds (seeds {', '.join(str(r['seed']) for r in self.rows)}; each a different split "
                f"and initialisation) from `{relative_to_root(self.path)}`, {params}: each seed's value, then mean, "
                f"sd and range across seeds, and the pooled value with its 95 % bootstrap interval over the items of "
                f"all seeds" + (f"; {np.median(seconds):.0f} s of wall time per seed (median)" if seconds else "") + ".")

    def figure(self) -> tuple[Any, Any]:
        """:func:`plot_spread` of the rows."""
        return plot_spread(self.rows, title=f"{self.kind}: {len(self.rows)} seeds")


def spread(dataset_dir: str | Path | None, kind: str, path: str | Path | None = None) -> Spread | None:
    """The repeats of ``kind`` on ``dataset_dir`` (default file :func:`results_path`), preferring rows of the
    chapter's default parameters; ``None`` when there is no file or no row."""
    if dataset_dir is None:
        return None
    path = Path(path) if path is not None else results_path(dataset_dir, kind)
    if not path.is_file():
        return None
    defaults = record_params(kind, Path(dataset_dir)) if (Path(dataset_dir) / "manifest.jsonl").is_file() else {}
    rows = select([r for r in load_rows(path) if r["kind"] == kind], defaults or None)
    return Spread(kind, path, rows, defaults) if rows else None


def missing_note(dataset_dir: str | Path | None, kind: str) -> str:
    """The one line a chapter shows when there are no repeats for its dataset."""
    from llmmusic.book.inputs import relative_to_root

    if dataset_dir is None:
        return "No dataset, so no repeats over seeds."
    return (f"No repeats over seeds for `{Path(dataset_dir).name}` yet; `{command(dataset_dir, kind)}` makes them "
            f"(`{relative_to_root(results_path(dataset_dir, kind))}`).")


def compared(dataset_dir: str | Path | None = None) -> list[Path]:
    """The dataset folders a chapter sets side by side: the paper's prompt, the default, and the chapter's own
    (one folder per name, as the repeats files are per name)."""
    from llmmusic.data.dataset import DEFAULT_DATASET, PAPER_DATASET

    folders = [PAPER_DATASET, DEFAULT_DATASET] + ([Path(dataset_dir)] if dataset_dir else [])
    by_name: dict[str, Path] = {}
    for folder in folders:
        by_name.setdefault(folder.name, folder)
    return list(by_name.values())


def show_datasets(prov: Any, kind: str, datasets: Sequence[str | Path]) -> pd.DataFrame:
    """A chapter's "both datasets" cell: :func:`datasets_table` recorded by ``prov``, or a note naming the
    commands that make the missing files."""
    from llmmusic.book.provenance import notice

    table = datasets_table(kind, datasets)
    have = set(table.index.get_level_values("dataset")) if not table.empty else set()
    for d in datasets:
        if Path(d).name not in have:
            notice(missing_note(d, kind))
    if not table.empty:
        prov.table(table.round(3), "repeats_datasets",
                   caption=f"{kind}: each dataset's figures pooled over its committed repeats (seeds, items), with "
                           f"95 % bootstrap intervals: the paper's prompt beside the prompt chapter 1 chose.")
    return table


def show(prov: Any, dataset_dir: str | Path | None, kind: str) -> Spread | None:
    """A chapter's "Across seeds" cell: the spread table and strip plot recorded by ``prov``
    (:class:`llmmusic.book.provenance.Provenance`), or the note saying which command makes them."""
    from llmmusic.book.provenance import notice

    found = spread(dataset_dir, kind)
    if found is None:
        notice(missing_note(dataset_dir, kind))
        return None
    prov.table(found.table().round(3), "repeats", caption=found.caption())
    fig, _ = found.figure()
    prov.figure(fig, "repeats_strip", caption="Each seed's value (dots), the mean over seeds (red) and the pooled "
                                              "95 % interval (blue), beside chance (x).")
    return found


def plot_spread(rows: Sequence[Mapping[str, Any]], title: str = "", ax: Any = None) -> tuple[Any, Any]:
    """Strip plot per metric: each seed's value (dots), the mean (bar), the pooled 95 % interval (line), chance (x)."""
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    names = list(summary.index)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 0.42 * len(names) + 1.6))
    else:
        fig = ax.figure
    for y, name in enumerate(names):
        values = [r["metrics"][name]["value"] for r in rows if name in r["metrics"]]
        s = summary.loc[name]
        ax.hlines(y, s["pooled_low"], s["pooled_high"], color="#1f77b4", lw=3, alpha=0.5,
                  label="pooled 95 % interval" if y == 0 else None)
        ax.scatter(values, [y] * len(values), s=18, color="black", zorder=3, label="one seed" if y == 0 else None)
        ax.vlines(s["mean"], y - 0.3, y + 0.3, color="#d62728", label="mean over seeds" if y == 0 else None)
        if s["chance"] is not None and not pd.isna(s["chance"]):
            ax.scatter([s["chance"]], [y], marker="x", color="grey", label="chance" if y == 0 else None)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("value")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.6 / (0.42 * len(names) + 1.2)), ncol=4,
              frameon=False)
    fig.tight_layout()
    return fig, ax
