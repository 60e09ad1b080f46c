"""Dataset statistics and objective music metrics.

Two kinds of numbers:

* **generation statistics** from a dataset's manifest (one row per LLM attempt): valid pieces per
  genre x style, failure reasons, repairs, tokens, and the free vs schema decoding comparison;
* **music statistics** from pieces (LLM-made or human): notes per track, pitch ranges, durations,
  velocities, pitch-class histograms, drum usage, and per-piece objective metrics.

The metrics follow the definitions popularised by MusPy (Dong et al. 2020), computed here in numpy
on our ``Piece`` (ticks, 480 per quarter):

* ``pitch_class_entropy`` — Shannon entropy (bits) of the pitch-class histogram of note counts
  (0 = one pitch class, log2(12) = 3.585 = all twelve equally often);
* ``scale_consistency`` — the largest share of notes whose pitch class lies in one major scale
  (each natural minor scale has the same pitch classes as its relative major);
* ``polyphony`` — mean number of distinct pitches sounding, over the sixteenth-note grid points
  where at least one pitch sounds; ``polyphony_rate`` — share of those points with two or more;
* ``note_density`` — notes per bar over the piece's span (whole bars up to the last offset);
* ``empty_beat_rate`` — share of the span's beats (quarter notes) in which no note sounds.

Pitched metrics use the melody, chords and bass tracks (the rhythm track holds drum keys);
``tracks=("melody",)`` gives melody-only values (used to compare with POP909 melodies).

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.midi_folder import read_each
from llmmusic.data.sampling import balanced_sample
from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, TRACKS, Note, Piece

PITCHED: tuple[str, ...] = ("melody", "chords", "bass")
GRID = TICKS_PER_QUARTER // 4  # sixteenth note
METRICS: tuple[str, ...] = ("n_notes", "pitch_class_entropy", "scale_consistency", "polyphony", "polyphony_rate",
                            "note_density", "empty_beat_rate", "pitch_range", "mean_duration_beats")
MAJOR_SCALE: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11)
DRUM_ROLES: dict[str, tuple[int, ...]] = {"kick": (35, 36), "snare": (37, 38, 39, 40), "hat": (42, 44, 46)}


# --------------------------------------------------------------------------------------------- datasets
def _reason(text: Any) -> str:
    return str(text).split(":")[0] if isinstance(text, str) and text else "none"


def generation_summary(manifest: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of a generation run.

    Args:
        manifest: :func:`llmmusic.data.dataset.load_manifest` (one row per attempt).
    Returns:
        songs (asked), valid_songs, attempts, valid_attempt_rate (valid replies / replies),
        first_attempt_valid_rate (songs valid at attempt 0 / songs), mean_attempts_per_valid_song,
        given_up (songs with no valid reply), mean_completion_tokens and mean_latency_s (per reply;
        cached rows keep the latency of the original call), decoding, model.
    """
    if manifest.empty:
        return {"songs": 0, "valid_songs": 0, "attempts": 0}
    replies = manifest[manifest["status"] != "error"]
    songs = manifest.groupby(["genre", "style", "index"])
    valid_song = songs["status"].apply(lambda s: (s == "valid").any())
    first = manifest[manifest["attempt"] == 0]
    valid_rows = manifest[manifest["status"] == "valid"].drop_duplicates(["genre", "style", "index"])
    tokens = replies["usage"].apply(lambda u: (u or {}).get("completion_tokens", np.nan) if isinstance(u, dict) else np.nan)
    return {
        "songs": int(len(valid_song)),
        "valid_songs": int(valid_song.sum()),
        "attempts": int(len(manifest)),
        "valid_attempt_rate": float((replies["status"] == "valid").mean()) if len(replies) else float("nan"),
        "first_attempt_valid_rate": float((first["status"] == "valid").mean()) if len(first) else float("nan"),
        "mean_attempts_per_valid_song": float(valid_rows["attempt"].mean() + 1) if len(valid_rows) else float("nan"),
        "given_up": int((~valid_song).sum()),
        "mean_completion_tokens": float(np.nanmean(tokens)) if tokens.notna().any() else float("nan"),
        "mean_latency_s": float(replies["latency_s"].mean()) if len(replies) else float("nan"),
        "decoding": ", ".join(sorted(set(map(str, manifest["decoding"])))) if "decoding" in manifest else "",
        "model": ", ".join(sorted(set(map(str, manifest["model"])))) if "model" in manifest else "",
    }


def decoding_comparison(datasets: Mapping[str, str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """:func:`generation_summary` of several datasets side by side.

    Args:
        datasets: label -> dataset folder (e.g. ``{"schema": ..., "free": ...}``).
    Returns:
        ``(table, missing)``: one row per dataset that has a manifest; labels of those that do not.
    """
    manifests = _manifests(datasets)
    rows = {label: generation_summary(manifest) for label, manifest in manifests.items()}
    return pd.DataFrame.from_dict(rows, orient="index"), [label for label in datasets if label not in manifests]


def _manifests(datasets: Mapping[str, str | Path | None]) -> dict[str, pd.DataFrame]:
    """label -> manifest of each dataset folder that has one (the others left out)."""
    from llmmusic.data.dataset import load_manifest

    return {label: load_manifest(folder) for label, folder in datasets.items()
            if folder is not None and (Path(folder) / "manifest.jsonl").is_file()}


def failure_table(datasets: Mapping[str, str | Path | None]) -> pd.DataFrame:
    """:func:`failure_counts` of several datasets side by side: reasons (rows) x labels (columns), zeros
    filled; datasets without a manifest are left out (empty when no attempt failed)."""
    counts = {label: failure_counts(manifest) for label, manifest in _manifests(datasets).items()}
    return pd.DataFrame(counts).fillna(0).astype(int)


def repair_table(datasets: Mapping[str, str | Path | None]) -> pd.DataFrame:
    """:func:`repair_counts` of several datasets side by side: repairs (rows) x labels (columns), zeros filled;
    datasets without a manifest are left out."""
    counts = {label: repair_counts(manifest) for label, manifest in _manifests(datasets).items()}
    return pd.DataFrame(counts).fillna(0).astype(int)


def failure_counts(manifest: pd.DataFrame) -> pd.Series:
    """Invalid or failed attempts by reason (the part of ``failure`` before the first ``:``)."""
    bad = manifest[manifest["status"] != "valid"] if not manifest.empty else manifest
    if bad.empty:
        return pd.Series(dtype=int, name="attempts")
    return bad["failure"].map(_reason).value_counts().rename("attempts")


def repair_counts(manifest: pd.DataFrame) -> pd.Series:
    """How often each repair was applied to a reply (repairs recorded by the parser, by kind)."""
    counts: Counter[str] = Counter()
    for repairs in manifest.get("repairs", []):
        for repair in repairs or []:
            counts[_reason(repair)] += 1
    return pd.Series(dict(counts.most_common()), dtype=int, name="replies")


def counts_grid(manifest: pd.DataFrame, genres: Sequence[str], styles: Sequence[str]) -> pd.DataFrame:
    """Valid songs per genre (rows) x style (columns), the full grid with zeros."""
    from llmmusic.data.dataset import valid_rows

    grid = pd.DataFrame(0, index=list(genres), columns=list(styles), dtype=int)
    if manifest.empty:
        return grid
    for (genre, style), n in valid_rows(manifest).groupby(["genre", "style"]).size().items():
        if genre in grid.index and style in grid.columns:
            grid.loc[genre, style] = int(n)
    return grid


def dataset_grid(dataset_dir: str | Path, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`counts_grid` over the dataset's own taxonomy (``manifest``: its manifest, if already loaded)."""
    from llmmusic.data.dataset import load_manifest, taxonomy_of

    taxonomy = taxonomy_of(dataset_dir)
    return counts_grid(load_manifest(dataset_dir) if manifest is None else manifest, taxonomy.genres, taxonomy.styles)


# --------------------------------------------------------------------------------------------- notes
def note_table(pieces: Sequence[Piece], meta_keys: Sequence[str] = ("genre", "style")) -> pd.DataFrame:
    """One row per note: piece (position in ``pieces``), the ``meta_keys``, track, pitch, duration,
    velocity, start (ticks)."""
    rows = []
    for i, piece in enumerate(pieces):
        meta = {k: piece.meta.get(k) for k in meta_keys}
        for track, n in piece.items():
            rows.append({"piece": i, **meta, "track": track, "pitch": n.pitch, "duration": n.duration,
                         "velocity": n.velocity, "start": n.start})
    columns = ["piece", *meta_keys, "track", "pitch", "duration", "velocity", "start"]
    return pd.DataFrame(rows, columns=columns)


def track_summary(pieces: Sequence[Piece]) -> pd.DataFrame:
    """Per piece and track: n_notes, pitch_min, pitch_max, pitch_range (NaN for an empty track)."""
    rows = []
    for i, piece in enumerate(pieces):
        for track, notes in piece.tracks().items():
            pitches = [n.pitch for n in notes]
            rows.append({"piece": i, "genre": piece.meta.get("genre"), "track": track, "n_notes": len(notes),
                         "pitch_min": min(pitches) if pitches else np.nan,
                         "pitch_max": max(pitches) if pitches else np.nan,
                         "pitch_range": (max(pitches) - min(pitches)) if pitches else np.nan})
    return pd.DataFrame(rows)


def pitch_class_histogram(pieces: Sequence[Piece], by: str | None = "genre",
                          tracks: Sequence[str] = PITCHED) -> pd.DataFrame:
    """Share of notes in each pitch class (C..B), per group of ``piece.meta[by]`` (rows).

    Args:
        pieces: the pieces.
        by: a meta key to group by (``None``: one row, ``all``).
        tracks: which tracks count.
    Returns:
        DataFrame with 12 columns ``C`` .. ``B`` whose rows sum to 1 (groups without notes dropped).
    """
    from llmmusic.book.plots import PITCH_CLASSES

    counts: dict[str, np.ndarray] = {}
    for piece in pieces:
        key = str(piece.meta.get(by)) if by else "all"
        hist = counts.setdefault(key, np.zeros(12))
        for track in tracks:
            for n in piece.track(track):
                hist[n.pitch % 12] += 1
    table = pd.DataFrame({k: v / v.sum() for k, v in counts.items() if v.sum() > 0}, index=list(PITCH_CLASSES)).T
    return table.sort_index()


def drum_key_counts(pieces: Sequence[Piece]) -> pd.Series:
    """How many rhythm-track notes use each drum key, most used first."""
    counts = Counter(n.pitch for p in pieces for n in p.rhythm)
    return pd.Series(dict(counts.most_common()), dtype=int, name="notes")


def drum_pattern(piece: Piece, bar: int = 0, step: int = TICKS_PER_QUARTER // 2) -> str:
    """The kick / snare / hat onsets of one bar of the rhythm track on an eighth-note grid.

    Returns:
        e.g. ``"K x...x... | S ..x...x. | H xxxxxxxx"`` (``x`` = an onset in that step).
    """
    steps = TICKS_PER_BAR // step
    lanes = []
    for role, keys in DRUM_ROLES.items():
        cells = ["."] * steps
        for n in piece.rhythm:
            pos = (n.start - bar * TICKS_PER_BAR) // step
            if n.pitch in keys and 0 <= pos < steps:
                cells[pos] = "x"
        lanes.append(f"{role[0].upper()} {''.join(cells)}")
    return " | ".join(lanes)


def drum_patterns(pieces: Sequence[Piece], top: int = 10, bar: int = 0) -> pd.DataFrame:
    """The most frequent one-bar drum patterns (see :func:`drum_pattern`) with counts and shares."""
    counts = Counter(drum_pattern(p, bar) for p in pieces if p.rhythm)
    total = sum(counts.values())
    rows = [{"pattern": pat, "pieces": n, "share": n / total} for pat, n in counts.most_common(top)]
    return pd.DataFrame(rows, columns=["pattern", "pieces", "share"])


# --------------------------------------------------------------------------------------------- the paper's writer
def overlapping_notes(piece: Piece, tracks: Sequence[str] = TRACKS) -> int:
    """Notes that start before the previous note of the same track (in start order) has ended."""
    count = 0
    for track in tracks:
        notes = sorted(piece.track(track), key=lambda n: (n.start, n.pitch))
        count += sum(1 for a, b in zip(notes, notes[1:]) if b.start < a.end)
    return count


def writer_effect(piece: Piece) -> dict[str, Any]:
    """How the paper script's serialising MIDI writer changes a piece (vs our exact writer).

    Both files are written and read back (:func:`llmmusic.data.midi.piece_to_midi` with
    ``writer="official"`` / ``"exact"``, then :func:`llmmusic.data.midi.midi_to_piece`).

    Returns:
        overlaps (notes starting inside the previous note of their track), moved (notes whose
        (track, pitch, onset) is not in the official file), end_exact / end_official (last
        offset in ticks), and the two read-back pieces under ``exact`` / ``official``.
    """
    from llmmusic.data.midi import midi_to_piece, piece_to_midi

    exact = midi_to_piece(piece_to_midi(piece, writer="exact"))
    official = midi_to_piece(piece_to_midi(piece, writer="official"))
    have = Counter((t, n.pitch, n.start) for t, n in official.items())
    moved = sum((Counter((t, n.pitch, n.start) for t, n in exact.items()) - have).values())
    return {"overlaps": overlapping_notes(piece), "moved": int(moved), "notes": exact.n_notes,
            "end_exact": exact.end_tick, "end_official": official.end_tick, "exact": exact, "official": official}


def writer_effects(pieces: Sequence[Piece]) -> pd.DataFrame:
    """:func:`writer_effect` of each piece (without the pieces), one row each, with genre and style."""
    rows = []
    for i, piece in enumerate(pieces):
        effect = {k: v for k, v in writer_effect(piece).items() if k not in ("exact", "official")}
        rows.append({"piece": i, "genre": piece.meta.get("genre"), "style": piece.meta.get("style"), **effect})
    return pd.DataFrame(rows)


def writer_effects_line(effects: pd.DataFrame) -> str:
    """One sentence on :func:`writer_effects`: share of pieces changed, notes moved, mean last offset."""
    return (f"{(effects['moved'] > 0).mean():.0%} of {len(effects)} pieces change under the official writer; "
            f"{effects['moved'].sum()} of {effects['notes'].sum()} notes move; "
            f"mean last offset {effects['end_exact'].mean():.0f} -> {effects['end_official'].mean():.0f} ticks")


def most_moved(pieces: Sequence[Piece], effects: pd.DataFrame) -> Piece:
    """The piece with the most notes moved by the official writer (first in order among ties);
    ``effects`` is :func:`writer_effects` of ``pieces`` or of a prefix of them."""
    return pieces[int(effects.sort_values(["moved", "piece"], ascending=[False, True]).iloc[0]["piece"])]


# --------------------------------------------------------------------------------------------- metrics
def _notes(piece: Piece, tracks: Sequence[str]) -> list[Note]:
    return [n for t in tracks for n in piece.track(t)]


def span_bars(piece: Piece) -> int:
    """Whole bars from tick 0 to the last offset over all tracks (at least 1)."""
    return max(1, math.ceil(piece.end_tick / TICKS_PER_BAR))


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Shannon entropy in bits of the pitch-class histogram of note counts (NaN without notes)."""
    if not notes:
        return float("nan")
    hist = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest share of notes inside one major (= relative natural minor) scale (NaN without notes)."""
    if not notes:
        return float("nan")
    hist = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = max(sum(hist[(root + step) % 12] for step in MAJOR_SCALE) for root in range(12))
    return float(best / hist.sum())


def _sounding(notes: Sequence[Note], end: int) -> list[set[int]]:
    """Distinct pitches sounding at each sixteenth-note grid point in ``[0, end)``."""
    points = range(0, end, GRID)
    return [{n.pitch for n in notes if n.start <= t < n.end} for t in points]


def polyphony(notes: Sequence[Note]) -> tuple[float, float]:
    """(mean distinct pitches sounding, share with 2+) over grid points where something sounds."""
    if not notes:
        return float("nan"), float("nan")
    counts = [len(s) for s in _sounding(notes, max(n.end for n in notes)) if s]
    if not counts:
        return float("nan"), float("nan")
    return float(np.mean(counts)), float(np.mean([c >= 2 for c in counts]))


def empty_beat_rate(notes: Sequence[Note], bars: int) -> float:
    """Share of the ``bars * 4`` beats in which no note sounds (a note sounds in ``[start, end)``)."""
    beats = bars * 4
    if beats <= 0:
        return float("nan")
    busy = np.zeros(beats, dtype=bool)
    for n in notes:
        first, last = n.start // TICKS_PER_QUARTER, (n.end - 1) // TICKS_PER_QUARTER
        busy[max(0, first): min(beats, last + 1)] = True
    return float(1.0 - busy.mean())


def piece_metrics(piece: Piece, tracks: Sequence[str] = PITCHED) -> dict[str, float]:
    """The objective metrics of one piece over ``tracks`` (see the module docstring).

    Returns:
        n_notes, pitch_class_entropy (bits), scale_consistency (0-1), polyphony (pitches),
        polyphony_rate (0-1), note_density (notes per bar), empty_beat_rate (0-1),
        pitch_range (semitones), mean_duration_beats (quarter notes), span_bars.
    """
    notes = _notes(piece, tracks)
    bars = span_bars(piece)
    poly, poly_rate = polyphony(notes)
    pitches = [n.pitch for n in notes]
    return {
        "n_notes": float(len(notes)),
        "pitch_class_entropy": pitch_class_entropy(notes),
        "scale_consistency": scale_consistency(notes),
        "polyphony": poly,
        "polyphony_rate": poly_rate,
        "note_density": len(notes) / bars,
        "empty_beat_rate": empty_beat_rate(notes, bars),
        "pitch_range": float(max(pitches) - min(pitches)) if pitches else float("nan"),
        "mean_duration_beats": float(np.mean([n.duration for n in notes]) / TICKS_PER_QUARTER) if notes else float("nan"),
        "span_bars": float(bars),
    }


def metrics_table(pieces: Iterable[Piece], tracks: Sequence[str] = PITCHED, source: str = "",
                  meta_keys: Sequence[str] = ("genre", "style", "folder_genre")) -> pd.DataFrame:
    """:func:`piece_metrics` for every piece, one row each, with ``source`` and the ``meta_keys``."""
    rows = []
    for piece in pieces:
        meta = {k: piece.meta[k] for k in meta_keys if k in piece.meta}
        rows.append({"source": source, **meta, **piece_metrics(piece, tracks)})
    return pd.DataFrame(rows)


def source_metric_tables(sources: Mapping[str, Sequence[Piece] | None],
                         melody_sources: Mapping[str, Sequence[Piece] | None] | None = None
                         ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """:func:`metrics_table` of each source of pieces, over the pitched tracks and over the melody alone.

    Args:
        sources: label -> pieces (``None``: a source that is not here, left out).
        melody_sources: label -> pieces compared on the melody only (e.g. POP909 melodies).
    Returns:
        ``(all_tracks, melody)``: label -> table; ``melody`` holds ``sources`` then ``melody_sources``.
    """
    present = {label: pieces for label, pieces in sources.items() if pieces is not None}
    melodies = {**present, **{k: v for k, v in (melody_sources or {}).items() if v is not None}}
    return ({label: metrics_table(pieces, source=label) for label, pieces in present.items()},
            {label: metrics_table(pieces, tracks=("melody",), source=label) for label, pieces in melodies.items()})


def summarise_metrics(tables: Mapping[str, pd.DataFrame], metrics: Sequence[str] = METRICS,
                      digits: int = 2) -> pd.DataFrame:
    """Mean ± standard deviation of each metric per source, side by side.

    Args:
        tables: source label -> :func:`metrics_table`.
        metrics: which columns.
        digits: decimals shown.
    Returns:
        DataFrame indexed by metric with one ``"mean ± std"`` column per source and a row ``pieces``.
    """
    out: dict[str, dict[str, str]] = {}
    for label, table in tables.items():
        col = {"pieces": str(len(table))}
        for metric in metrics:
            values = table[metric].dropna() if metric in table else pd.Series(dtype=float)
            col[metric] = f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}" if len(values) else "n/a"
        out[label] = col
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------- human MIDI
def human_sample(n: int, seed: int = 0, bars: int = 8, root: str | Path | None = None,
                 per_genre: bool = True) -> tuple[list[Piece], list[dict[str, str]]]:
    """Read a random sample of the human MIDI collection into pieces.

    Args:
        n: files to try (spread evenly over the folder genres when ``per_genre``).
        seed: sampling seed.
        bars: window length passed to :func:`llmmusic.data.roles.read_midi`.
        root: the shared data folder (default :func:`llmmusic.data.corpora.shared_data_dir`).
        per_genre: sample each folder genre equally.
    Returns:
        ``(pieces, failures)``: pieces with ``meta["folder_genre"]`` (and ``genre`` set to it), and one
        :func:`llmmusic.data.midi_folder.failure` row (``path``, ``reason``) per unreadable file.
    """
    from llmmusic.data.corpora import human_midi
    from llmmusic.data.roles import read_midi

    table = human_midi(root)
    if per_genre:
        chosen = balanced_sample(table, "folder_genre", n, seed)
    else:
        chosen = table.sample(min(n, len(table)), random_state=seed)
    pieces, failures = [], []
    rows = list(chosen.itertuples(index=False))
    for row, piece in read_each(rows, lambda r: read_midi(r.path, bars=bars), failures, path=lambda r: r.path):
        piece.meta.update(folder_genre=row.folder_genre, genre=row.folder_genre, path=str(row.path))
        pieces.append(piece)
    return pieces, failures


def pop909_windows(n: int | None, bars: int = 8) -> list[Piece]:
    """The first ``n`` POP909 melodies (:func:`llmmusic.data.corpora.pop909_melodies`), each cut to its
    first ``bars`` bars from its first note (:func:`window`)."""
    from llmmusic.data.corpora import pop909_melodies

    return [window(song, bars) for song in pop909_melodies(limit=n)]


def window(piece: Piece, bars: int, start_bar: int | None = None) -> Piece:
    """The ``bars``-bar excerpt of ``piece`` that starts at ``start_bar`` (default: the first bar with a
    note), shifted to tick 0; notes keep their durations. Used to compare whole songs with short pieces."""
    onsets = [n.start for _, n in piece.items()]
    if start_bar is None:
        start_bar = min(onsets) // TICKS_PER_BAR if onsets else 0
    lo, hi = start_bar * TICKS_PER_BAR, (start_bar + bars) * TICKS_PER_BAR
    tracks = {t: [Note(n.pitch, n.duration, n.velocity, n.start - lo) for n in notes if lo <= n.start < hi]
              for t, notes in piece.tracks().items()}
    return Piece(**tracks, meta={**piece.meta, "window": [start_bar, bars]})


def summary_lines(dataset: str, generation: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Chapter 2's "what this chapter shows": the run's yield, then two music metrics, LLM beside human MIDI."""
    lines = [f"`{dataset}`: {generation['valid_songs']} valid pieces of {generation['songs']} songs asked "
             f"({generation['valid_attempt_rate']:.1%} of replies valid, {generation['mean_completion_tokens']:.0f} "
             "completion tokens per reply)."]
    for metric, words in (("pitch_class_entropy", "pitch-class entropy"), ("scale_consistency", "scale consistency")):
        parts = [f"{label} {t[metric].mean():.2f} ± {t[metric].std():.2f} ({len(t)} pieces)"
                 for label, t in tables.items() if metric in t]
        lines.append(f"Mean {words} (melody, chords and bass): " + "; ".join(parts) + ".")
    return lines
