"""Pieces as multi-track piano rolls: one channel per track, 128 pitches, a 16th-note time grid.

A roll is a ``uint8`` array of shape ``(4, 128, steps)``: channels follow
:data:`llmmusic.data.piece.TRACKS` (melody, chords, bass, rhythm), rows are MIDI pitches 0-127 (on the
rhythm channel: General MIDI drum keys), columns are 16th notes (120 ticks at 480 per quarter;
8 bars = 128 steps). A cell holds the velocity (1-127) of the note sounding there, or 0. Drum
hits mark only their onset step (drum durations carry no musical meaning and the LLM's are
clamped to 240-960 ticks, while human drum notes are short). :func:`as_input` turns rolls into
the float input of a network, either scaled velocities or binary (note on/off).

LLM-MIDI and human MIDI share this representation: both are read into a
:class:`~llmmusic.data.piece.Piece` first (``llmmusic.data.dataset.load_pieces`` and
``llmmusic.data.roles.read_midi``). :func:`human_windows` cuts several bar windows from one file.
:func:`cached_arrays` keeps arrays built from a dataset as ``.npz`` files keyed by a hash of
their inputs' content (:func:`content_ids` of the files, or a manifest whose file hashes were
checked), so later runs load them in a second and a changed or corrupt input is never hidden by a
warm cache; an unreadable cache file is rebuilt.

Used in: notebooks/04_cnn_classification.py (also usable by any chapter that needs rolls).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, TRACKS, Piece

#: Ticks per roll step: a 16th note at 480 ticks per quarter.
STEP_TICKS = 120
STEPS_PER_BAR = TICKS_PER_BAR // STEP_TICKS  # 16
N_PITCHES = 128
DEFAULT_BARS = 8
MODES: tuple[str, ...] = ("velocity", "binary")
DRUM_CHANNEL = TRACKS.index("rhythm")
#: Bump when the roll or its cache layout changes (part of every cache key).
ROLL_VERSION = "roll-v1"


def steps_for(bars: int) -> int:
    """Roll length in 16th-note steps for ``bars`` bars of 4/4."""
    return int(bars) * STEPS_PER_BAR


def _step(tick: float) -> int:
    """Nearest step of a tick (half up), so off-grid LLM ticks land on the closest 16th."""
    return int(np.floor(tick / STEP_TICKS + 0.5))


def piece_to_roll(piece: Piece, bars: int = DEFAULT_BARS, drum_onsets: bool = True) -> np.ndarray:
    """The piano roll of ``piece``.

    Args:
        piece: a 4-track piece (ticks at 480 per quarter, starting at tick 0).
        bars: roll length in bars (16 steps each); notes starting later are dropped, notes
            running past the end are cut.
        drum_onsets: mark drum hits at their onset step only (default) instead of their duration.
    Returns:
        ``uint8`` array ``(4, 128, 16 * bars)``; a cell holds the highest velocity sounding there
        (a velocity-0 note counts as 1, so every note is visible), 0 where silent.
    """
    steps = steps_for(bars)
    roll = np.zeros((len(TRACKS), N_PITCHES, steps), dtype=np.uint8)
    for channel, name in enumerate(TRACKS):
        for note in piece.track(name):
            if not 0 <= note.pitch < N_PITCHES:
                raise ValueError(f"piece {piece.meta.get('path', '')!s}: {name} note pitch {note.pitch} "
                                 "outside 0-127")
            start = _step(note.start)
            if start >= steps or start < 0:
                continue
            end = start + 1 if (channel == DRUM_CHANNEL and drum_onsets) else max(start + 1, _step(note.end))
            end = min(end, steps)
            cells = roll[channel, note.pitch, start:end]
            np.maximum(cells, np.uint8(max(1, min(127, note.velocity))), out=cells)
    return roll


def pieces_to_rolls(pieces: Sequence[Piece], bars: int = DEFAULT_BARS, drum_onsets: bool = True) -> np.ndarray:
    """Rolls of many pieces stacked: ``uint8`` ``(n, 4, 128, 16 * bars)`` (65 KB per piece at 8 bars)."""
    out = np.zeros((len(pieces), len(TRACKS), N_PITCHES, steps_for(bars)), dtype=np.uint8)
    for i, piece in enumerate(pieces):
        out[i] = piece_to_roll(piece, bars, drum_onsets)
    return out


def as_input(rolls: np.ndarray, mode: str = "velocity") -> np.ndarray:
    """Rolls as network input: ``velocity`` (value / 127) or ``binary`` (1 where a note sounds).

    Args:
        rolls: ``uint8`` rolls of any leading shape.
        mode: one of :data:`MODES`.
    Returns:
        ``float32`` array of the same shape, values in [0, 1].
    """
    if mode == "velocity":
        return rolls.astype(np.float32) / 127.0
    if mode == "binary":
        return (rolls > 0).astype(np.float32)
    raise ValueError(f"unknown roll mode {mode!r}; expected one of {MODES}")


def occupancy(rolls: np.ndarray, bars_per_part: int = 4) -> np.ndarray:
    """Share of active cells in consecutive parts of ``bars_per_part`` bars, per roll.

    Used to show that paper-setting LLM pieces (ticks 0-7680 = 4 bars) leave the second half of an
    8-bar roll empty.

    Returns:
        ``float`` array ``(n, parts)``: fraction of the roll's active cells in each part.
    """
    rolls = np.asarray(rolls)
    if rolls.ndim == 3:
        rolls = rolls[None]
    width = bars_per_part * STEPS_PER_BAR
    parts = rolls.shape[-1] // width
    active = (rolls > 0).reshape(rolls.shape[0], -1, rolls.shape[-1]).sum(axis=1).astype(float)
    per_part = np.stack([active[:, k * width:(k + 1) * width].sum(axis=1) for k in range(parts)], axis=1)
    total = per_part.sum(axis=1, keepdims=True)
    return np.divide(per_part, total, out=np.zeros_like(per_part), where=total > 0)


# --------------------------------------------------------------------------------------------- human MIDI
def human_windows(path: str | os.PathLike, bars: int = DEFAULT_BARS, n_windows: int = 1,
                  hop_bars: int | None = None) -> list[Piece]:
    """Up to ``n_windows`` windows of ``bars`` bars from one MIDI file, read with ``read_midi``.

    The first window starts at the bar of the first note (as ``read_midi`` does); the next ones
    every ``hop_bars`` bars later (default ``bars``: back to back). Windows without notes are
    skipped. The file is parsed once.

    Args:
        path: any MIDI file.
        bars: window length in bars.
        n_windows: most windows returned.
        hop_bars: bars between window starts.
    Returns:
        Pieces (``meta`` from ``read_midi``, plus ``window`` = 0, 1, ... and ``md5`` of the file).
    Raises:
        MidiReadError: the file is unreadable or has no notes.
    """
    import hashlib as _hashlib
    import io

    from llmmusic.data.midi import MidiReadError, load_midi
    from llmmusic.data.roles import read_midi

    data = Path(path).read_bytes()
    md5 = _hashlib.md5(data).hexdigest()
    try:
        pm = load_midi(io.BytesIO(data))
    except Exception as exc:  # mido/pretty_midi raise many kinds on broken files
        raise MidiReadError(path, f"unreadable: {type(exc).__name__}: {exc}") from exc
    first = read_midi(pm, bars=bars)
    windows = [first]
    hop = int(hop_bars or bars)
    if n_windows > 1:
        end_tick = pm.time_to_tick(pm.get_end_time()) * TICKS_PER_QUARTER / pm.resolution
        last_bar = int(end_tick // TICKS_PER_BAR)
        bar = first.meta["start_bar"] + hop
        while len(windows) < n_windows and bar <= last_bar:
            try:
                windows.append(read_midi(pm, bars=bars, start_bar=bar))
            except MidiReadError:
                pass  # an empty stretch (e.g. a long rest): try the next window
            bar += hop
    for k, piece in enumerate(windows):
        piece.meta.update(window=k, md5=md5, source=str(path))
    return windows


# --------------------------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """Where roll arrays are cached: ``$LLMMUSIC_HOME/rolls`` (default ``~/.cache/llmmusic/rolls``)."""
    from llmmusic.paths import home

    path = home() / "rolls"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(kind: str, **parts: Any) -> str:
    """A file name ``<kind>-<sha256 of parts>.npz`` (first 20 hex digits) for :func:`cached_arrays`."""
    blob = json.dumps({"kind": kind, "version": ROLL_VERSION, **parts}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}.npz"


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def content_ids(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The sha256 of each file's bytes (``missing:<path>`` for a file that cannot be read): cache keys that
    change whenever a file does."""
    ids = []
    for path in paths:
        try:
            ids.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
        except OSError:
            ids.append(f"missing:{path}")
    return ids


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def cached_arrays(name: str, build: Callable[[], Mapping[str, np.ndarray]],
                  folder: str | os.PathLike | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """Arrays from ``<folder>/<name>`` if present, else ``build()`` saved there first.

    Args:
        name: file name, normally from :func:`cache_key` (so any change of input gives a new file).
        build: makes the arrays (called only on a miss).
        folder: cache folder (default :func:`cache_dir`).
        refresh: rebuild even if cached.
    """
    import zipfile

    path = Path(folder) if folder is not None else cache_dir()
    path = path / name
    if path.exists() and not refresh:
        try:
            return load_arrays(path)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            pass  # a torn or foreign cache file: build it again
    arrays = dict(build())
    save_arrays(path, arrays)
    return arrays


def join_labels(values: Iterable[Iterable[str]]) -> np.ndarray:
    """Label lists as ``|``-joined strings (storable in ``.npz`` without pickling)."""
    return np.array(["|".join(v) for v in values], dtype=str)


def split_labels(values: Iterable[str]) -> list[list[str]]:
    """Inverse of :func:`join_labels`."""
    return [[x for x in str(v).split("|") if x] for v in values]
