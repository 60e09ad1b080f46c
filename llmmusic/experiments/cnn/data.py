"""Roll sets: LLM-MIDI pieces and human MIDI files as ``uint8`` piano rolls plus hand-made features, cached.

* :func:`llm_rollset`: the valid pieces of a generated dataset (cache keyed by its manifest's hash).
* :func:`human_rollset`: windows of any table of MIDI files (``corpora.human_midi()``,
  ``corpora.label_folder_by_md5(lakh_dir)``), unreadable files recorded as ``{"path", "reason"}``.
* :func:`pieces_rollset`: rolls of pieces already in memory (the course's samples), not cached.

Rolls come from ``llmmusic.data.pianoroll``, features from ``llmmusic.analysis.baselines``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.analysis.baselines import FEATURE_VERSION, feature_matrix
from llmmusic.data import pianoroll
from llmmusic.data.midi_folder import read_each
from llmmusic.data.piece import Piece
from llmmusic.paths import ROOT

#: Table columns of an LLM piece (from its ``meta``).
LLM_COLUMNS = ("genre", "style", "mood", "index", "temperature", "path")


@dataclass
class RollSet:
    """Rolls, features and one table row per roll.

    Attributes:
        rolls: ``uint8`` ``(n, 4, 128, steps)`` piano rolls.
        features: ``float32`` ``(n, n_features)`` (``baselines.piece_features``).
        table: one row per roll (labels, source file, window, ...).
        failures: files that could not be read (``path``, ``reason``); empty for LLM-MIDI.
        key: the cache file name (identifies the inputs).
    """

    rolls: np.ndarray
    features: np.ndarray
    table: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))
    key: str = ""

    def __len__(self) -> int:
        return len(self.rolls)

    def subset(self, index: np.ndarray | Sequence[int]) -> "RollSet":
        """The rows ``index`` (positions) as a new RollSet."""
        index = np.asarray(index, dtype=int)
        return RollSet(self.rolls[index], self.features[index], self.table.iloc[index].reset_index(drop=True),
                       self.failures, self.key)


def _pack(rolls: np.ndarray, features: np.ndarray, table: pd.DataFrame, failures: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"rolls": rolls, "features": features, "table": np.array(table.to_json(orient="records")),
            "failures": np.array(failures.to_json(orient="records"))}


def _unpack(arrays: Mapping[str, np.ndarray], key: str) -> RollSet:
    table = pd.DataFrame(json.loads(str(arrays["table"])))
    failures = pd.DataFrame(json.loads(str(arrays["failures"])), columns=["path", "reason"])
    return RollSet(arrays["rolls"], arrays["features"], table, failures, key)


def pieces_rollset(pieces: Sequence[Piece], bars: int = pianoroll.DEFAULT_BARS,
                   columns: Sequence[str] = ("genre", "style", "mood")) -> RollSet:
    """Rolls and features of pieces in memory (not cached); the table holds ``columns`` of each piece's meta."""
    table = pd.DataFrame([{k: p.meta.get(k) for k in columns} for p in pieces])
    return RollSet(pianoroll.pieces_to_rolls(pieces, bars), feature_matrix(pieces, bars), table)


def llm_rollset(dataset_dir: str | Path, bars: int = pianoroll.DEFAULT_BARS, limit: int | None = None,
                cache_folder: str | Path | None = None, refresh: bool = False) -> RollSet:
    """Rolls and features of the valid pieces of a generated dataset (cached).

    The cache key is the sha256 of the dataset's ``manifest.jsonl`` (which names every MIDI file
    with its hash), ``bars`` and ``limit``: a dataset that grew gets a new cache file. Every piece's
    file is checked against its hash in the manifest first, so a changed or corrupt file is named
    even when the cache is warm.

    Args:
        dataset_dir: the dataset folder (``data/llm-midi/<name>``).
        bars: roll length in bars.
        limit: at most this many pieces (grid order, as ``load_pieces``).
        cache_folder: cache folder (default ``pianoroll.cache_dir()``).
        refresh: rebuild even if cached.
    Returns:
        RollSet whose table has genre, style, mood, index, temperature, path.
    """
    from llmmusic.book.provenance import sha256_file
    from llmmusic.data.dataset import MANIFEST, load_manifest, load_pieces, valid_rows, verified_file

    dataset_dir = Path(dataset_dir)
    manifest = dataset_dir / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no manifest (expected a generated dataset folder)")
    rows = valid_rows(load_manifest(dataset_dir))
    for row in (rows.head(limit) if limit is not None else rows).itertuples(index=False):
        verified_file(dataset_dir, row.path, getattr(row, "midi_sha256", None))
    key = pianoroll.cache_key("llm", manifest=sha256_file(manifest), bars=bars, limit=limit, features=FEATURE_VERSION)

    def build() -> dict[str, np.ndarray]:
        pieces = load_pieces(dataset_dir, limit=limit)
        rs = pieces_rollset(pieces, bars, LLM_COLUMNS)
        rs.table["path"] = [_relative(p) for p in rs.table.get("path", [])]
        return _pack(rs.rolls, rs.features, rs.table, rs.failures)

    return _unpack(pianoroll.cached_arrays(key, build, cache_folder, refresh), key)


def _relative(path: Any) -> str:
    try:
        return Path(str(path)).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def human_rollset(files: pd.DataFrame, bars: int = pianoroll.DEFAULT_BARS, n_windows: int = 1,
                  hop_bars: int | None = None, cache_folder: str | Path | None = None,
                  refresh: bool = False) -> RollSet:
    """Rolls and features of windows of MIDI files (cached).

    Args:
        files: one row per file with at least ``path`` (e.g. ``corpora.human_midi()`` or
            ``corpora.label_folder_by_md5(folder)``); other columns (``md5``, ``folder_genre``,
            ``topmagd``, ``masd``, ...) are copied to every window of the file (lists ``|``-joined).
        bars: window length in bars.
        n_windows: windows per file (``pianoroll.human_windows``).
        hop_bars: bars between window starts (default ``bars``).
        cache_folder: cache folder.
        refresh: rebuild even if cached.
    Returns:
        RollSet whose table has ``file`` (row position in ``files``), ``window`` and the columns of
        ``files``; unreadable files are listed in ``failures``.
    """
    if "path" not in files.columns:
        raise ValueError(f"files: expected a 'path' column, got {list(files.columns)}")
    key = pianoroll.cache_key("human", files=pianoroll.content_ids(files["path"]), bars=bars, n_windows=n_windows,
                              hop_bars=hop_bars, features=FEATURE_VERSION)

    def build() -> dict[str, np.ndarray]:
        pieces, rows, failures = [], [], []

        def read(entry: tuple[int, dict[str, Any]]) -> list[Piece]:
            return pianoroll.human_windows(entry[1]["path"], bars=bars, n_windows=n_windows, hop_bars=hop_bars)

        entries = list(enumerate(row._asdict() for row in files.itertuples(index=False)))
        for (i, info), windows in read_each(entries, read, failures, path=lambda entry: entry[1]["path"]):
            for piece in windows:
                pieces.append(piece)
                out = {k: ("|".join(v) if isinstance(v, (list, tuple)) else v) for k, v in info.items()}
                out.update(file=i, window=int(piece.meta["window"]), start_bar=int(piece.meta["start_bar"]))
                out["path"] = str(info["path"])
                rows.append(out)
        return _pack(pianoroll.pieces_to_rolls(pieces, bars), feature_matrix(pieces, bars), pd.DataFrame(rows),
                     pd.DataFrame(failures, columns=["path", "reason"]))

    return _unpack(pianoroll.cached_arrays(key, build, cache_folder, refresh), key)
