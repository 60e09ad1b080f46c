"""The musicality and legibility probe of a generated dataset (the prompt-design study's yardstick).

Per piece (:func:`piece_probe`): the share of note events at tick 0, distinct onsets per note, bars
actually used, melody pitch-class entropy, the share of melody notes in the best-fitting major/minor
key, repetition (share of 1-bar patterns that repeat an earlier bar of the same track), and drum
keys used. Per dataset (:func:`probe_dataset`): their means with 95 % intervals, tokens per piece,
valid rate, pieces per hour, and **genre legibility**: 5-fold cross-validated genre accuracy of the
feature baseline (:mod:`llmmusic.analysis.baselines` features plus the written tempo) against uniform and
majority chance, with a bootstrap interval.

Used in: ``llmmusic probe``; notebooks/01_prompt_design.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.piece import TICKS_PER_BAR, Piece

PITCHED = ("melody", "chords", "bass")
BARS = 8
#: Per-piece metrics, in table order, with what each measures.
METRICS: dict[str, str] = {
    "tick0_share": "share of note events (all tracks) starting at tick 0",
    "onsets_per_note": "distinct onset ticks / note events (all tracks)",
    "bars_used": "bars (of 8) in which a pitched note starts",
    "pc_entropy": "melody pitch-class entropy (bits)",
    "in_key_share": "share of melody notes in the best-fitting major/minor key",
    "repetition": "share of non-empty 1-bar patterns repeating an earlier bar (pitched tracks)",
    "drum_keys": "distinct drum keys used",
    "drums_in_unison": "1 when 2+ drum keys all hit the same steps of the first bar, else 0",
}


def _bar_patterns(notes: Iterable[Any]) -> dict[int, tuple]:
    bars: dict[int, list[tuple[int, int, int]]] = {}
    for n in notes:
        bars.setdefault(n.start // TICKS_PER_BAR, []).append((n.start % TICKS_PER_BAR, n.pitch, n.duration))
    return {b: tuple(sorted(v)) for b, v in bars.items()}


def repetition(piece: Piece, tracks: Sequence[str] = PITCHED) -> float:
    """Share of non-empty (track, bar) patterns equal to an earlier bar's pattern of the same track."""
    repeated = total = 0
    for t in tracks:
        seen: set[tuple] = set()
        for _, pattern in sorted(_bar_patterns(piece.track(t)).items()):
            total += 1
            repeated += pattern in seen
            seen.add(pattern)
    return repeated / total if total else float("nan")


def piece_probe(piece: Piece) -> dict[str, float]:
    """The per-piece metrics of :data:`METRICS` (NaN where a track they need is empty)."""
    from llmmusic.analysis.stats import pitch_class_entropy, scale_consistency

    notes = [n for _, n in piece.items()]
    pitched = [n for t in PITCHED for n in piece.track(t)]
    return {
        "tick0_share": float(np.mean([n.start == 0 for n in notes])) if notes else float("nan"),
        "onsets_per_note": len({n.start for n in notes}) / len(notes) if notes else float("nan"),
        "bars_used": float(len({n.start // TICKS_PER_BAR for n in pitched if n.start < BARS * TICKS_PER_BAR})),
        "pc_entropy": pitch_class_entropy(piece.melody),
        "in_key_share": scale_consistency(piece.melody),
        "repetition": repetition(piece),
        "drum_keys": float(len({n.pitch for n in piece.rhythm})),
        "drums_in_unison": drums_in_unison(piece),
    }


def drums_in_unison(piece: Piece) -> float:
    """1.0 when the drum track uses 2+ keys and every key hits the same steps of the first bar, else 0.0."""
    steps: dict[int, set[int]] = {}
    for n in piece.rhythm:
        if n.start < TICKS_PER_BAR:
            steps.setdefault(n.pitch, set()).add(n.start)
    return float(len(steps) > 1 and len({frozenset(v) for v in steps.values()}) == 1)


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its normal-approximation 95 % interval, NaNs left out, the interval
    kept within the values' range (a share cannot go below 0)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else float("nan")
    return float(x.mean()), float(max(x.min(), x.mean() - half)), float(min(x.max(), x.mean() + half))


def legibility_features(pieces: Sequence[Piece]) -> np.ndarray:
    """The baseline's features of each piece plus log2(tempo / 120) (0 for the paper's fixed tempo)."""
    from llmmusic.analysis.baselines import feature_matrix
    from llmmusic.data.midi import piece_tempo

    tempo = np.array([[math.log2(piece_tempo(p) / 120.0)] for p in pieces], dtype=np.float32)
    return np.hstack([feature_matrix(pieces), tempo])


def legibility(pieces: Sequence[Piece], labels: Sequence[str], folds: int = 5, seed: int = 0,
               kind: str = "logreg") -> dict[str, Any]:
    """Cross-validated accuracy of the feature baseline at telling ``labels`` apart.

    Stratified ``folds``-fold CV (fewer when a class has fewer items); each item is predicted by the
    model that did not see it. Returns accuracy with its 95 % bootstrap interval, the uniform and
    out-of-fold majority chance, and the number of items and classes.
    """
    from sklearn.model_selection import StratifiedKFold

    from llmmusic.analysis.baselines import fit_classifier
    from llmmusic.analysis.metrics import accuracy, bootstrap_ci

    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    k = int(min(folds, counts.min())) if len(classes) > 1 else 0
    if k < 2:
        got = {str(c): int(n) for c, n in zip(classes, counts)}
        raise ValueError(f"legibility needs at least 2 items in each of 2+ classes; got counts {got}")
    x = legibility_features(pieces)
    pred = np.empty(len(y), dtype=object)
    majority = np.empty(len(y), dtype=object)
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        model = fit_classifier(x[train], y[train], kind=kind, seed=seed)
        pred[test] = model.predict(x[test])
        values, n = np.unique(y[train], return_counts=True)
        majority[test] = values[n.argmax()]
    acc = accuracy(list(y), list(pred))
    lo, hi = bootstrap_ci(list(y), list(pred), "accuracy", seed=seed)
    return {"accuracy": acc, "low": lo, "high": hi, "uniform": 1.0 / len(classes),
            "majority": accuracy(list(y), list(majority)), "n": len(y), "classes": len(classes), "folds": k}


def pilot_keys(dataset_dir: str | Path, per_genre: int) -> set[tuple[str, str, int]]:
    """The (genre, style, index) songs of the pilot selection of a dataset's taxonomy."""
    from llmmusic.data.dataset import taxonomy_of
    from llmmusic.generation.songs import GenerateConfig, plan_songs

    config = GenerateConfig(out=Path(dataset_dir), taxonomy=taxonomy_of(dataset_dir).name, pilot=per_genre)
    return {(s.genre, s.style, s.index) for s in plan_songs(config)}


def _rows(dataset_dir: Path, keys: set[tuple[str, str, int]] | None) -> pd.DataFrame:
    from llmmusic.data.dataset import load_manifest

    rows = load_manifest(dataset_dir)
    if keys is not None and not rows.empty:
        mask = [(g, s, int(i)) in keys for g, s, i in zip(rows["genre"], rows["style"], rows["index"])]
        rows = rows[mask]
    return rows


def _tokens(row: Mapping[str, Any]) -> float:
    total = 0.0
    for field in ("usage", "plan_usage"):
        usage = row.get(field)
        if isinstance(usage, dict):
            total += usage.get("completion_tokens", 0) or 0
    return total


def pieces_per_hour(dataset_dir: str | Path) -> float:
    """Median pieces per hour over the dataset's logged runs that made pieces by calling the LLM."""
    path = Path(dataset_dir) / "runs.jsonl"
    if not path.exists():
        return float("nan")
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rates = [r["pieces_per_hour"] for r in runs if r.get("songs_valid") and r.get("llm_calls")]
    return float(np.median(rates)) if rates else float("nan")


def probe_dataset(dataset_dir: str | Path, pilot: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The probe of one dataset (or of its pilot selection): metrics, costs and genre legibility.

    Returns:
        dict: ``pieces``, ``valid_rate`` (valid replies / replies), ``tokens_per_piece``
        (completion tokens of every reply, plan calls included, per valid piece), ``pieces_per_hour``,
        each metric of :data:`METRICS` as ``(mean, low, high)``, and ``legibility``.
    """
    from llmmusic.data.dataset import valid_rows
    from llmmusic.data.midi import midi_to_piece

    dataset_dir = Path(dataset_dir)
    keys = pilot_keys(dataset_dir, pilot) if pilot is not None else None
    rows = _rows(dataset_dir, keys)
    if rows.empty:
        raise ValueError(f"{dataset_dir}: no manifest rows{' in the pilot selection' if keys else ''}")
    valid = valid_rows(rows)
    replied = rows[rows["status"] != "error"]
    pieces = [midi_to_piece(dataset_dir / p) for p in valid["path"]]
    table = pd.DataFrame([piece_probe(p) for p in pieces])
    out: dict[str, Any] = {
        "dataset": dataset_dir.name, "pieces": len(pieces),
        "valid_rate": int((replied["status"] == "valid").sum()) / len(replied) if len(replied) else float("nan"),
        "tokens_per_piece": sum(_tokens(r) for r in replied.to_dict("records")) / max(1, len(valid)),
        "pieces_per_hour": pieces_per_hour(dataset_dir),
    }
    for name in METRICS:
        out[name] = mean_ci(table[name].tolist()) if len(table) else (float("nan"),) * 3
    try:
        out["legibility"] = legibility(pieces, list(valid["genre"]), seed=seed)
    except ValueError as exc:  # a pilot still being made: report what there is, say why legibility is missing
        nan = float("nan")
        out["legibility"] = {"accuracy": nan, "low": nan, "high": nan, "uniform": nan, "majority": nan,
                             "n": len(pieces), "classes": int(valid["genre"].nunique()), "folds": 0,
                             "note": str(exc)}
    return out


def probe_table(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per probed dataset: each interval as ``mean [low, high]``, legibility against chance."""
    def fmt(v: Any, digits: int = 2) -> str:
        return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"

    rows = []
    for r in results:
        leg = r["legibility"]
        row = {"dataset": r["dataset"], "pieces": r["pieces"], "valid rate": round(r["valid_rate"], 3),
               "tokens/piece": round(r["tokens_per_piece"]), "pieces/hour": round(r["pieces_per_hour"], 1)}
        row.update({m: fmt(r[m]) for m in METRICS})
        if math.isnan(leg["accuracy"]):
            row["genre legibility"] = row["uniform / majority"] = "too few pieces per genre"
        else:
            row["genre legibility"] = f"{leg['accuracy']:.3f} [{leg['low']:.3f}, {leg['high']:.3f}]"
            row["uniform / majority"] = f"{leg['uniform']:.3f} / {leg['majority']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("dataset")


def best_variant(results: Sequence[Mapping[str, Any]], max_tick0: float = 0.10) -> dict[str, Any]:
    """The study's choice, by a stated rule: among datasets whose mean share of events at tick 0 is
    below ``max_tick0``, the one with the highest lower end of its legibility interval (ties: fewer
    tokens per piece). Returns ``{"dataset", "reason", "meets_target"}``; ``meets_target`` is the
    issue's bar: legibility >= 0.25 with the interval's lower end above uniform chance."""
    measured = [r for r in results if not math.isnan(r["legibility"]["accuracy"])]
    if not measured:
        raise ValueError("no dataset has a measured legibility yet (each needs 2+ pieces in every genre)")
    eligible = [r for r in measured if r["tick0_share"][0] < max_tick0] or measured
    best = max(eligible, key=lambda r: (r["legibility"]["low"], -r["tokens_per_piece"]))
    leg = best["legibility"]
    meets = leg["accuracy"] >= 0.25 and leg["low"] > leg["uniform"]
    reason = (f"highest lower legibility bound ({leg['low']:.3f}; accuracy {leg['accuracy']:.3f}, uniform "
              f"chance {leg['uniform']:.3f}) among {len(eligible)} of {len(results)} datasets with < "
              f"{max_tick0:.0%} of events at tick 0 ({len(results) - len(measured)} without a measured legibility)")
    return {"dataset": best["dataset"], "reason": reason, "meets_target": meets}


def choice_lines(choice: Mapping[str, Any]) -> str:
    """:func:`best_variant`'s choice in words: the variant and why, then whether it meets the target."""
    target = ("target met" if choice["meets_target"] else "target not met: no variant makes the genres legible "
              "at 0.25 with this model; the numbers above are the finding")
    return f"choice: {choice['dataset']} — {choice['reason']}\n{target}"


def study(paper_dir: str | Path, pilot_dirs: Iterable[str | Path], per_genre: int = 6,
          seed: int = 0) -> tuple[list[dict[str, Any]], list[Path]]:
    """The prompt-design study: the probe of the paper-prompt dataset's pilot selection, then of each
    pilot folder that exists. Returns (results, the pilot folders that are missing or empty)."""
    results = [{**probe_dataset(paper_dir, pilot=per_genre, seed=seed), "dataset": "paper"}]
    missing = []
    for d in map(Path, pilot_dirs):
        if not (d / "manifest.jsonl").exists():
            missing.append(d)
            continue
        results.append({**probe_dataset(d, seed=seed), "dataset": d.name.removeprefix("pilot-")})
    return results, missing


def reply_of(dataset_dir: str | Path, genre: str, style: str, index: int = 0) -> dict[str, Any] | None:
    """The valid reply of one song: its text, its plan (plan-then-compose variants) and its piece."""
    from llmmusic.generation.cache import CallCache
    from llmmusic.data.dataset import load_manifest, valid_rows
    from llmmusic.data.midi import midi_to_piece

    dataset_dir = Path(dataset_dir)
    rows = valid_rows(load_manifest(dataset_dir))
    rows = rows[(rows["genre"] == genre) & (rows["style"] == style) & (rows["index"] == index)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    cache = CallCache(dataset_dir / "cache.sqlite")
    plan_key = row.get("plan_cache_key")
    hit = cache.get(row["cache_key"])
    plan = cache.get(plan_key) if isinstance(plan_key, str) else None
    piece = midi_to_piece(dataset_dir / row["path"])
    piece.meta.update(genre=genre, style=style, mood=row["mood"])
    return {"text": hit.text if hit else None, "plan": plan.text if plan else None, "piece": piece,
            "tokens": _tokens(row.to_dict())}


def study_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per variant comparing it with the first result (the paper prompt), numbers measured."""
    base = results[0]
    lines = []
    for r in results[1:]:
        leg, b = r["legibility"], base["legibility"]
        legible = ("legibility not measured yet (too few pieces per genre)" if math.isnan(leg["accuracy"]) else
                   f"genre legibility {leg['accuracy']:.3f} [{leg['low']:.3f}, {leg['high']:.3f}] vs "
                   f"{b['accuracy']:.3f} [{b['low']:.3f}, {b['high']:.3f}] "
                   f"({'above' if leg['low'] > leg['uniform'] else 'not clearly above'} uniform chance "
                   f"{leg['uniform']:.3f})")
        lines.append(f"{r['dataset']} ({r['pieces']} pieces): {legible}; events at tick 0 {r['tick0_share'][0]:.1%} "
                     f"vs {base['tick0_share'][0]:.1%}; bars used {r['bars_used'][0]:.1f} vs {base['bars_used'][0]:.1f}; "
                     f"1-bar repetition {r['repetition'][0]:.2f} vs {base['repetition'][0]:.2f}; "
                     f"{r['tokens_per_piece'] / base['tokens_per_piece']:.2f}x the tokens per piece")
    return lines


def pilot_folders(pilots: str, root: str | Path | None = None) -> dict[str, Path]:
    """Variant name -> its pilot folder ``<root>/pilot-<variant>`` (``root``: ``data/llm-midi``) for each
    name of the comma-separated ``pilots``."""
    from llmmusic.paths import ROOT

    base = Path(root) if root is not None else ROOT / "data" / "llm-midi"
    return {name: base / f"pilot-{name}" for name in (p.strip() for p in pilots.split(",")) if name}


def pilot_style(dataset_dir: str | Path, genre: str, per_genre: int) -> str | None:
    """The style of ``genre``'s first song (song index 0) in the pilot selection, ``None`` if it has none."""
    from llmmusic.generation.songs import GenerateConfig, plan_songs

    return next((s.style for s in plan_songs(GenerateConfig(out=Path(dataset_dir), pilot=per_genre))
                 if s.genre == genre), None)


def reply_text(name: str, shown: Mapping[str, Any], limit: int = 600) -> str:
    """A :func:`reply_of` result as text: its plan (if any), then its reply cut to ``limit`` characters."""
    text = shown["text"] or ""
    plan = f"--- {name}: plan ---\n{shown['plan']}\n" if shown["plan"] else ""
    return (f"{plan}--- {name}: reply ({shown['tokens']:.0f} tokens) ---\n"
            f"{text[:limit]}{' ...' if len(text) > limit else ''}\n")


def study_examples(paper_dir: str | Path, pilot_dirs: Mapping[str, str | Path], genre: str,
                   per_genre: int = 6) -> tuple[str | None, dict[str, dict[str, Any] | None]]:
    """One song under every variant: the first pilot song of ``genre`` in the paper-prompt dataset and
    in each pilot folder that exists.

    Returns:
        ``(style, examples)``: variant name (``paper`` first) -> :func:`reply_of` of that song plus its
        ``shown`` text (:func:`reply_text`), or ``None`` where the variant has no valid piece for it.
    """
    style = pilot_style(paper_dir, genre, per_genre)
    folders = {"paper": Path(paper_dir), **{n: Path(d) for n, d in pilot_dirs.items() if Path(d).exists()}}
    examples: dict[str, dict[str, Any] | None] = {}
    for name, folder in folders.items():
        shown = reply_of(folder, genre, style, 0)
        examples[name] = None if shown is None else {**shown, "shown": reply_text(name, shown)}
    return style, examples


def summary_lines(results: Sequence[Mapping[str, Any]], choice: Mapping[str, Any]) -> list[str]:
    """Chapter 1's "what this chapter shows": the paper prompt's probe, the chosen variant's, and the target."""
    base = results[0]
    best = next(r for r in results if r["dataset"] == choice["dataset"])

    def said(r: Mapping[str, Any]) -> str:
        leg = r["legibility"]
        return (f"{r['tick0_share'][0]:.1%} of note events at tick 0, genre legibility {leg['accuracy']:.3f} "
                f"(95 % CI {leg['low']:.3f}-{leg['high']:.3f}; uniform chance {leg['uniform']:.3f}), "
                f"{r['tokens_per_piece']:.0f} completion tokens per piece")

    return [f"The paper's prompt ({base['pieces']} pilot songs): {said(base)}.",
            f"Of {len(results) - 1} new prompt variants, the stated rule chooses **{best['dataset']}** "
            f"({best['pieces']} songs): {said(best)}.",
            "Target (legibility >= 0.25 with the interval's lower end above chance): "
            + ("met." if choice["meets_target"] else "not met with this model; that is the finding.")]


def headline_rows(results: Sequence[Mapping[str, Any]], choice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The book's headline rows: genre legibility of the paper prompt's pilot and of the chosen variant's."""
    rows = []
    for r in (results[0], next(r for r in results if r["dataset"] == choice["dataset"])):
        leg = r["legibility"]
        rows.append({"finding": f"Prompt design: the genre of `{r['dataset']}` pieces is legible to a feature "
                                f"baseline (13 genres, 5-fold CV)", "measure": "accuracy", "value": leg["accuracy"],
                     "low": leg["low"], "high": leg["high"], "chance": leg["uniform"], "n": r["pieces"]})
    return rows
