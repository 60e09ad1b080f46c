"""Human-made music available offline: where it is and how to load it.

* :func:`shared_data_dir`: the shared data folder beside the project (``../shared/data``, or
  ``$LLMMUSIC_SHARED_DATA``); None when absent (a fresh clone).
* :func:`human_midi`: the 1,116 labelled human MIDI arrangements (5 folder genres; Lakh
  TOP-MAGD / MASD labels for the files that are byte-identical to Lakh files).
* :func:`lakh_labels` and :func:`label_folder_by_md5`: the Lakh TOP-MAGD / MASD / MAGD labels,
  keyed by the md5 of a file's bytes, applied to any folder of MIDI files (e.g. a user's Lakh copy).
* :func:`pop909_melodies`: the MELODY tracks of POP909.
* :func:`music21_folk`: Essen folk songs and O'Neill's Irish tunes from music21's bundled
  corpus, parsed once and cached as JSON.

Used in: notebooks/02_dataset_statistics.py, notebooks/03_zero_shot.py,
notebooks/04_cnn_classification.py, notebooks/05_melody_completion.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from llmmusic import atomic
from llmmusic.paths import ROOT
from llmmusic.data.midi import load_midi
from llmmusic.data.roles import dedupe_notes, grid_notes, snap_ticks
from llmmusic.paths import home
from llmmusic.data.piece import TICKS_PER_QUARTER, Note, Piece

HUMAN_MIDI = "human-midi"
LAKH_LABELS = Path("lakh-genre-labels") / "midi_genre_map.json"
POP909 = "pop909"
#: music21 corpus folders read by :func:`music21_folk`.
FOLK_COLLECTIONS: tuple[str, ...] = ("essenFolksong", "oneills1850")
FOLK_VELOCITY = 90  # music21's default MIDI velocity; the ABC sources carry no dynamics


def shared_data_dir() -> Path | None:
    """The shared data folder (``$LLMMUSIC_SHARED_DATA`` or ``<repo>/../shared/data``), or None if absent."""
    env = os.environ.get("LLMMUSIC_SHARED_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def _data_root(root: str | os.PathLike | None, sub: str | Path, marker: str) -> Path:
    """The folder ``sub`` of the shared data (``root`` may be the shared folder or ``sub`` itself)."""
    if root is None:
        shared = shared_data_dir()
        if shared is None:
            raise FileNotFoundError("the shared data folder is absent: set LLMMUSIC_SHARED_DATA or pass root=")
        root = shared
    root = Path(root)
    for candidate in (root, root / sub):
        if (candidate / marker).exists():
            return candidate
    raise FileNotFoundError(f"{root}: expected {marker} in it or in its {sub}/ folder")


def _split_labels(value: Any) -> list[str]:
    """``"a|b"`` -> ``["a", "b"]``; empty or missing -> ``[]``."""
    if not isinstance(value, str) or not value.strip():
        return []
    return sorted({v.strip() for v in value.split("|") if v.strip()})


def human_midi(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The labelled human MIDI collection, one row per file (labels.csv order).

    Args:
        root: the shared data folder or its ``human-midi`` folder (default :func:`shared_data_dir`).
    Returns:
        Columns ``path`` (str), ``md5``, ``folder_genre``, ``topmagd`` and ``masd`` (lists of
        labels, empty when the file is not a Lakh file) and ``source_name`` (original file name).
    Raises:
        FileNotFoundError: the folder or its labels.csv is absent.
    """
    base = _data_root(root, HUMAN_MIDI, "labels.csv")
    table = pd.read_csv(base / "labels.csv", dtype=str, keep_default_na=False)
    missing = {"md5", "folder_genre", "topmagd", "masd"} - set(table.columns)
    if missing:
        raise ValueError(f"{base / 'labels.csv'}: missing columns {sorted(missing)}")
    table["path"] = [str(base / "midi" / f"{md5}.mid") for md5 in table["md5"]]
    for column in ("topmagd", "masd"):
        table[column] = [_split_labels(v) for v in table[column]]
    columns = ["path", "md5", "folder_genre", "topmagd", "masd"] + (
        ["source_name"] if "source_name" in table.columns else [])
    return table[columns].reset_index(drop=True)


def lakh_labels(path: str | os.PathLike | None = None) -> dict[str, dict[str, list[str]]]:
    """The Lakh genre labels: ``{"topmagd": {md5: [labels]}, "masd": {...}, "magd": {...}}``.

    Label lists are de-duplicated and sorted (the source repeats labels).

    Args:
        path: ``midi_genre_map.json``, its folder, or the shared data folder (default
            :func:`shared_data_dir`).
    """
    if path is None or Path(path).is_dir():
        folder = _data_root(path, LAKH_LABELS.parent, LAKH_LABELS.name)
        path = folder / LAKH_LABELS.name
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    return {kind: {md5: sorted(set(labels)) for md5, labels in table.items()} for kind, table in raw.items()}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def label_folder_by_md5(folder: str | os.PathLike, labels: dict | None = None) -> pd.DataFrame:
    """Label every MIDI file under ``folder`` (recursively) whose md5 has Lakh labels.

    Args:
        folder: any folder of ``.mid`` / ``.midi`` files (e.g. ``lmd_full``).
        labels: the :func:`lakh_labels` mapping (default: loaded from the shared data).
    Returns:
        One row per labelled file, sorted by path: ``path``, ``md5``, ``topmagd``, ``masd``
        and ``magd`` (lists; empty where that taxonomy has no label).
    """
    labels = lakh_labels() if labels is None else labels
    kinds = ("topmagd", "masd", "magd")
    rows = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".mid", ".midi"):
            continue
        md5 = _md5(path)
        found = {kind: list(labels.get(kind, {}).get(md5, [])) for kind in kinds}
        if found["topmagd"] or found["masd"] or found["magd"]:
            rows.append({"path": str(path), "md5": md5, **found})
    return pd.DataFrame(rows, columns=["path", "md5", *kinds])


def pop909_melodies(root: str | os.PathLike | None = None, limit: int | None = None) -> list[Piece]:
    """The MELODY track of each POP909 song as a melody-only piece (the whole song).

    Ticks follow the file's beat grid (480 per quarter, onsets and offsets snapped to 16th
    notes, as in :func:`llmmusic.data.roles.read_midi`); no window, no re-basing.

    Args:
        root: the shared data folder or its ``pop909`` folder (default :func:`shared_data_dir`).
        limit: read only the first ``limit`` songs (by number).
    Returns:
        Pieces with ``meta`` ``song`` (``"001"``...), ``source="pop909"`` and ``path``.
    Raises:
        FileNotFoundError: the folder is absent; ValueError: a file has no MELODY track.
    """
    base = _data_root(root, POP909, "midi")
    files = sorted((base / "midi").glob("*.mid"))[:limit]
    pieces = []
    for path in files:
        pm = load_midi(str(path))
        melody = [inst for inst in pm.instruments if inst.name.strip().upper() == "MELODY"]
        if not melody:
            raise ValueError(f"{path}: no instrument named MELODY (found {[i.name for i in pm.instruments]})")
        notes = dedupe_notes([n for inst in melody for n in grid_notes(pm, inst.notes)])
        pieces.append(Piece(melody=notes, meta={"song": path.stem, "source": "pop909", "path": str(path)}))
    return pieces


# --------------------------------------------------------------------------------------------- music21 folk
_TUNE_START = re.compile(r"(?m)^X:\s*(\d+)")


def _tunes(text: str) -> list[tuple[str, str]]:
    """``(reference number, tune text)`` for each ``X:`` tune of an ABC file (file header prepended)."""
    starts = list(_TUNE_START.finditer(text))
    header = text[:starts[0].start()] if starts else ""
    bounds = [m.start() for m in starts] + [len(text)]
    return [(m.group(1), header + text[bounds[i]:bounds[i + 1]]) for i, m in enumerate(starts)]


def _tune_notes(abc: str) -> tuple[str, list[list[int]]]:
    """Parse one ABC tune with music21: (title, melody rows ``[pitch, duration, velocity, start]``).

    Ties are merged, grace notes (zero length) and chord symbols skipped, a chord keeps its top
    pitch; ticks at 480 per quarter snapped to 16th notes.
    """
    from music21 import converter, harmony

    score = converter.parseData(abc, format="abc")
    title = (score.metadata.title if score.metadata is not None else None) or ""
    rows = []
    for el in score.stripTies().flatten().notes:
        if isinstance(el, harmony.ChordSymbol) or float(el.quarterLength) <= 0:
            continue
        pitch = max(p.midi for p in el.pitches) if el.isChord else el.pitch.midi
        start = snap_ticks(float(el.offset) * TICKS_PER_QUARTER)
        end = snap_ticks((float(el.offset) + float(el.quarterLength)) * TICKS_PER_QUARTER)
        rows.append([int(pitch), max(120, end - start), FOLK_VELOCITY, start])
    return str(title), rows


def _folk_files(collection: str) -> list[Path]:
    import music21

    folder = Path(music21.__file__).parent / "corpus" / collection
    if not folder.is_dir():
        raise FileNotFoundError(f"music21 corpus folder {folder} is absent (music21 {music21.__version__})")
    return [p for p in sorted(folder.glob("*.abc")) if not p.stem.startswith("test")]


def music21_folk(limit: int | None = None, cache_dir: str | os.PathLike | None = None,
                 collections: tuple[str, ...] = FOLK_COLLECTIONS) -> list[Piece]:
    """Folk melodies from music21's bundled corpus as melody-only pieces.

    Tunes are read in order (collection, file, tune number). Each ABC file's tunes are cached in
    ``<cache_dir>/<collection>/<file>.json`` (keyed by the file's md5); a tune is parsed only
    the first time it is needed. Parsing the whole corpus (about 10,500 tunes) takes minutes once.

    Args:
        limit: return at most this many melodies (tunes that fail to parse or have no notes
            are skipped and do not count).
        cache_dir: cache folder (default ``llmmusic.paths.home() / "music21_folk"``).
        collections: music21 corpus folders (Essen ``essenFolksong``, O'Neill ``oneills1850``).
    Returns:
        Pieces with ``meta`` ``song`` (``"<collection>/<file>/<X>"``), ``collection``, ``title``
        and ``source="music21"``.
    """
    import music21

    cache_root = Path(cache_dir) if cache_dir is not None else home() / "music21_folk"
    pieces: list[Piece] = []
    for collection in collections:
        for path in _folk_files(collection):
            if limit is not None and len(pieces) >= limit:
                return pieces
            text = path.read_text(encoding="utf-8", errors="replace")
            digest = hashlib.md5(text.encode("utf-8")).hexdigest()
            cache_path = cache_root / collection / f"{path.stem}.json"
            cache: dict[str, Any] = {}
            if cache_path.exists():
                try:
                    cache = json.loads(cache_path.read_text(encoding="utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    cache = {}  # a torn cache file: parse the tunes again
            if not isinstance(cache, dict) or cache.get("md5") != digest:
                cache = {"md5": digest, "file": path.name, "music21": music21.__version__, "tunes": {}}
            changed = False
            for number, abc in _tunes(text):
                if limit is not None and len(pieces) >= limit:
                    break
                entry = cache["tunes"].get(number)
                if entry is None:
                    try:
                        title, rows = _tune_notes(abc)
                        entry = {"title": title, "notes": rows}
                    except Exception as exc:  # music21 rejects a few malformed tunes; remembered, skipped
                        entry = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                    cache["tunes"][number] = entry
                    changed = True
                if entry.get("notes"):
                    pieces.append(Piece(melody=[Note(*row) for row in entry["notes"]],
                                        meta={"song": f"{collection}/{path.stem}/{number}", "collection": collection,
                                              "title": entry["title"], "source": "music21"}))
            if changed:
                atomic.write_text(cache_path, json.dumps(cache, separators=(",", ":")))
    return pieces
