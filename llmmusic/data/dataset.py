"""A generated LLM-MIDI dataset on disk: layout, manifest, loading, and its card.

Layout of ``data/llm-midi/<name>/``::

    dataset.json     the run's parameters (taxonomy, prompt variant, decoding, model, sampling)
    manifest.jsonl   one JSON row per LLM attempt (see :class:`ManifestRow`)
    midi/<genre>/<style>/<genre>__<style>__NNN.mid   valid pieces
    midi/<genre>/<style>/<genre>__<style>__NNN.plan.json   the plan (plan-then-compose variants)
    cache.sqlite     every LLM call (rerunning the generation makes zero calls)
    runs.jsonl       one summary per generation run (throughput, calls, interruptions)
    DATASET.md       the dataset card

Used in: notebooks/02_dataset_statistics.py and every experiment chapter.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from llmmusic.errors import DataError
from llmmusic.data.piece import Piece
from llmmusic.data.taxonomy import Taxonomy, get_taxonomy, label_slug
from llmmusic.paths import ROOT

log = logging.getLogger(__name__)

#: The chapters' default: the plan-then-compose prompt that chapter 1's design study chose (schema decoding).
DEFAULT_DATASET = ROOT / "data" / "llm-midi" / "embedded-v2"
FREE_DATASET = ROOT / "data" / "llm-midi" / "embedded-free-v1"
#: The paper's prompt, schema decoding: the faithful baseline that chapter 1 reads and chapter 2 compares with.
PAPER_DATASET = ROOT / "data" / "llm-midi" / "embedded-v1"
MANIFEST = "manifest.jsonl"
PARAMS = "dataset.json"
CACHE = "cache.sqlite"
RUNS = "runs.jsonl"


@dataclass
class ManifestRow:
    """One LLM attempt at one song of the grid."""

    genre: str
    style: str
    index: int
    attempt: int
    mood: str
    temperature: float
    seed: int
    status: str  # "valid", "invalid" (reply unusable) or "error" (no reply)
    failure: str | None = None
    repairs: list[str] = field(default_factory=list)
    n_notes: dict[str, int] = field(default_factory=dict)
    cache_key: str | None = None
    path: str | None = None  # MIDI file relative to the dataset folder (valid rows)
    midi_sha256: str | None = None
    model: str = ""
    endpoint: str = ""
    decoding: str = ""
    prompt_version: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    cached: bool = False
    finish_reason: str | None = None
    time: str = ""
    plan_cache_key: str | None = None  # plan-then-compose variants: the plan call
    plan_path: str | None = None  # the plan, stored beside the MIDI file (valid rows)
    plan_usage: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def midi_relpath(genre: str, style: str, index: int) -> str:
    """Relative path of a song's MIDI file inside a dataset folder."""
    g, s = label_slug(genre), label_slug(style)
    return f"midi/{g}/{s}/{g}__{s}__{index:03d}.mid"


def plan_relpath(midi_path: str) -> str:
    """Where the plan of a plan-then-compose piece is stored: beside its MIDI file."""
    return midi_path.removesuffix(".mid") + ".plan.json"


def _json_row(line: str | bytes) -> dict[str, Any] | None:
    """The JSON object on one line, or None when the line is not one."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def read_manifest_rows(path: str | Path) -> list[dict[str, Any]]:
    """All complete rows of a JSON-lines file (a manifest, a run log); a torn last line (crash mid-write)
    is skipped, and a complete last row missing only its newline is kept.

    Raises:
        DataError: a line before the last is not a JSON object, or the file is not UTF-8 text.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected JSON lines") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = _json_row(line)
        if row is not None:
            rows.append(row)
        elif number == len(lines):
            log.warning("%s: ignoring torn last line %d", path, number)
        else:
            raise DataError(f"{path}: line {number} is not a JSON object; expected one row per line")
    return rows


def repair_torn_tail(path: str | Path) -> bool:
    """End a JSON-lines file with a complete line: a last row missing only its newline gets one, a torn
    (incomplete) last line is cut; return True if the file was changed."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return False
    cut = data.rfind(b"\n") + 1
    if _json_row(data[cut:]) is not None:  # complete: only the newline was lost
        with open(path, "ab") as handle:
            handle.write(b"\n")
        log.warning("%s: added the missing newline after the last row", path)
        return True
    with open(path, "r+b") as handle:
        handle.truncate(cut)
    log.warning("%s: removed a torn last line (%d bytes)", path, len(data) - cut)
    return True


def load_manifest(dataset_dir: str | Path) -> pd.DataFrame:
    """Every attempt of a dataset as a DataFrame (one row per manifest line)."""
    dataset_dir = Path(dataset_dir)
    manifest = dataset_dir / MANIFEST
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: no manifest (is {dataset_dir} a generated dataset?)")
    return pd.DataFrame(read_manifest_rows(manifest))


def load_params(dataset_dir: str | Path) -> dict[str, Any]:
    """The run parameters recorded in ``dataset.json`` (empty if absent)."""
    path = Path(dataset_dir) / PARAMS
    if not path.exists():
        return {}
    from llmmusic.atomic import read_json

    return read_json(path, "the run parameters")


def taxonomy_of(dataset_dir: str | Path) -> Taxonomy:
    """The label set a dataset was generated with (its ``dataset.json``; ``paper`` when unrecorded)."""
    return get_taxonomy(load_params(dataset_dir).get("taxonomy", "paper"))


def valid_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    """The valid attempts, one per song (the first valid one), in grid order."""
    if manifest.empty:
        return manifest
    valid = manifest[manifest["status"] == "valid"]
    return valid.drop_duplicates(["genre", "style", "index"]).sort_values(["genre", "style", "index"])


def load_pieces(dataset_dir: str | Path = DEFAULT_DATASET, limit: int | None = None,
                genres: Iterable[str] | None = None, styles: Iterable[str] | None = None) -> list[Piece]:
    """The valid pieces of a dataset, read from their MIDI files.

    Args:
        dataset_dir: the dataset folder.
        limit: at most this many pieces (taken in grid order after filtering).
        genres, styles: keep only these labels.
    Returns:
        Pieces whose ``meta`` has genre, style, mood, index, temperature and path.
    """
    from llmmusic.data.midi import midi_to_piece

    dataset_dir = Path(dataset_dir)
    rows = valid_rows(load_manifest(dataset_dir))
    if genres is not None:
        rows = rows[rows["genre"].isin(list(genres))]
    if styles is not None:
        rows = rows[rows["style"].isin(list(styles))]
    if limit is not None:
        rows = rows.head(limit)
    pieces = []
    for row in rows.itertuples(index=False):
        path = verified_file(dataset_dir, row.path, getattr(row, "midi_sha256", None))
        piece = midi_to_piece(path)
        piece.meta.update(genre=row.genre, style=row.style, mood=row.mood, index=int(row.index),
                          temperature=float(row.temperature), path=str(dataset_dir / row.path))
        pieces.append(piece)
    return pieces


def verified_file(dataset_dir: str | Path, relpath: str, sha256: str | None) -> Path:
    """The path of a dataset file after checking it against the manifest's hash.

    Raises:
        DataError: the file is missing or its content differs from the manifest's ``sha256``.
    """
    import hashlib

    path = Path(dataset_dir) / str(relpath)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: listed in {Path(dataset_dir) / MANIFEST} but not readable ({exc.strerror})") from None
    if isinstance(sha256, str) and sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{path}: its content differs from the sha256 in {Path(dataset_dir) / MANIFEST} "
                        "(the file was changed or is corrupt)")
    return path


def pick_dataset(path: str | Path | None = None, root: str | Path | None = None) -> Path | None:
    """The dataset folder a chapter should read.

    Args:
        path: an explicit folder (relative paths are tried from the working directory, then from
            the repository root); ``None`` = the default.
        root: the folder holding datasets (default ``data/llm-midi`` of the repository).
    Returns:
        ``path`` if given; else :data:`llmmusic.data.dataset.DEFAULT_DATASET` if it has a manifest;
        else the dataset under ``root`` with the most manifest rows; ``None`` if there is none.
    Raises:
        FileNotFoundError: an explicit ``path`` has no ``manifest.jsonl``.
    """
    if path is not None and str(path) != "":
        candidates = [Path(path)] if Path(path).is_absolute() else list(dict.fromkeys([Path.cwd() / path, ROOT / path]))
        for candidate in candidates:
            if (candidate / MANIFEST).is_file():
                return candidate.resolve()
        raise FileNotFoundError(f"dataset {path}: no {MANIFEST} in {' or '.join(map(str, candidates))}")
    if (DEFAULT_DATASET / MANIFEST).is_file():
        return DEFAULT_DATASET
    root = Path(root) if root is not None else DEFAULT_DATASET.parent
    found = [(sum(1 for _ in open(d / MANIFEST, encoding="utf-8")), d) for d in sorted(root.glob("*"))
             if (d / MANIFEST).is_file()]
    return max(found, key=lambda x: x[0])[1] if found else None
