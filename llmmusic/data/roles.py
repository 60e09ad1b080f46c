"""Any MIDI file as a 4-track piece (:func:`read_midi`): the paper's four roles given to a file's parts
(drums; a bass part or the lowest voice; a melody part or the skyline; the rest as chords), onsets on a
sixteenth-note grid whatever the tempo, and an N-bar window. A file that does not load, or a window
without notes, raises :class:`~llmmusic.data.midi.MidiReadError`.

Used in: :mod:`llmmusic.data.corpora`, :mod:`llmmusic.data.pianoroll`, :mod:`llmmusic.analysis.stats`,
:mod:`llmmusic.experiments.zeroshot.items`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import pretty_midi

from llmmusic.data.midi import TEMPO_BPM, MidiReadError, load_midi
from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, TRACKS, Note, Piece


#: Onsets and offsets are snapped to this grid (a 16th note); it is also the shortest duration.
GRID_TICKS = TICKS_PER_QUARTER // 4
#: A part whose mean pitch is below this is "clearly low" (a bass candidate); 55 = G3.
LOW_MEAN_PITCH = 55.0
#: A part is "mostly monophonic" when at least this share of its onsets holds a single note.
MONOPHONIC_SHARE = 0.8
#: GM programs 32-39 are basses; 112-127 are percussive instruments and sound effects (never melody).
BASS_PROGRAMS = range(32, 40)
EFFECT_PROGRAMS = range(112, 128)
_MELODY_NAMES = ("melody", "melodie", "vocal", "voice", "vox", "lead", "tune", "solo", "sing")


def _times_to_ticks(pm: pretty_midi.PrettyMIDI, times: Any) -> Any:
    """Seconds -> the file's absolute ticks (float), following its tempo map.

    The vectorised inverse of pretty_midi's tick-to-time mapping (``pm._tick_scales``: list of
    ``(tick, seconds per tick)`` from each tempo change on); agrees with ``pm.time_to_tick``.
    """
    import numpy as np

    scales = pm._tick_scales or [(0, 60.0 / (TEMPO_BPM * pm.resolution))]
    change_ticks = np.array([t for t, _ in scales], dtype=float)
    per_tick = np.array([s for _, s in scales], dtype=float)
    change_times = np.concatenate([[0.0], np.cumsum(np.diff(change_ticks) * per_tick[:-1])])
    times = np.asarray(times, dtype=float)
    idx = np.clip(np.searchsorted(change_times, times, side="right") - 1, 0, len(scales) - 1)
    return change_ticks[idx] + (times - change_times[idx]) / per_tick[idx]


def snap_ticks(ticks: float, grid: int = GRID_TICKS) -> int:
    """``ticks`` rounded (half up) to the nearest multiple of ``grid``."""
    return int(math.floor(ticks / grid + 0.5)) * grid


def grid_notes(pm: pretty_midi.PrettyMIDI, notes: list[pretty_midi.Note], grid: int = GRID_TICKS) -> list[Note]:
    """pretty_midi notes -> notes on a beat grid of 480 ticks per quarter, snapped to ``grid``.

    Used by :func:`read_midi` and :func:`llmmusic.data.corpora.pop909_melodies`.

    Onsets and offsets go through the file's tempo map to quarter notes, so the result does not
    depend on tempo. Durations are at least ``grid``.
    """
    import numpy as np

    if not notes:
        return []
    scale = TICKS_PER_QUARTER / pm.resolution
    ticks = _times_to_ticks(pm, [t for n in notes for t in (n.start, n.end)]) * scale
    snapped = (np.floor(ticks / grid + 0.5) * grid).astype(int).reshape(-1, 2)
    return [Note(int(n.pitch), max(grid, int(end - start)), int(n.velocity), int(start))
            for n, (start, end) in zip(notes, snapped)]


def _onset_groups(notes: list[Note]) -> dict[int, list[Note]]:
    groups: dict[int, list[Note]] = {}
    for n in notes:
        groups.setdefault(n.start, []).append(n)
    return groups


def _skyline(notes: list[Note]) -> tuple[list[Note], list[Note]]:
    """Split into (highest note at each onset, all other notes)."""
    top, rest = [], []
    for group in _onset_groups(notes).values():
        best = max(group, key=lambda n: (n.pitch, n.duration))
        top.append(best)
        rest.extend(n for n in group if n is not best)
    return top, rest


def _lowest_voice(notes: list[Note]) -> tuple[list[Note], list[Note]]:
    """Split into (lowest note at each onset, all other notes)."""
    low, rest = [], []
    for group in _onset_groups(notes).values():
        best = min(group, key=lambda n: (n.pitch, -n.duration))
        low.append(best)
        rest.extend(n for n in group if n is not best)
    return low, rest


def _mean_pitch(notes: list[Note]) -> float:
    return sum(n.pitch for n in notes) / len(notes) if notes else float("nan")


def _monophonic_share(notes: list[Note]) -> float:
    groups = _onset_groups(notes)
    return sum(1 for g in groups.values() if len({n.pitch for n in g}) == 1) / max(1, len(groups))


def dedupe_notes(notes: list[Note]) -> list[Note]:
    """One note per (pitch, onset): the longest (then loudest); sorted by (start, pitch)."""
    best: dict[tuple[int, int], Note] = {}
    for n in notes:
        key = (n.start, n.pitch)
        if key not in best or (n.duration, n.velocity) > (best[key].duration, best[key].velocity):
            best[key] = n
    return [best[k] for k in sorted(best)]


@dataclass
class _Part:
    label: str
    program: int
    is_drum: bool
    name: str
    notes: list[Note]


def _assign_roles(parts: list[_Part], bars: int) -> tuple[dict[str, list[Note]], dict[str, list[str]]]:
    """Role assignment (see :func:`read_midi`); returns (notes per track, part labels per track)."""
    roles: dict[str, list[str]] = {t: [] for t in TRACKS}
    tracks: dict[str, list[Note]] = {t: [] for t in TRACKS}
    for p in parts:
        if p.is_drum:
            tracks["rhythm"] += p.notes
            roles["rhythm"].append(p.label)
    pitched = [p for p in parts if not p.is_drum]
    # bass: a GM bass program (the lowest if several), else the lowest part if clearly low
    bass_parts = [p for p in pitched if p.program in BASS_PROGRAMS]
    if not bass_parts and len(pitched) >= 2:
        lowest = min(pitched, key=lambda p: _mean_pitch(p.notes))
        if _mean_pitch(lowest.notes) < LOW_MEAN_PITCH and _monophonic_share(lowest.notes) >= MONOPHONIC_SHARE:
            bass_parts = [lowest]
    bass_part = min(bass_parts, key=lambda p: _mean_pitch(p.notes)) if bass_parts else None
    if bass_part is not None:
        tracks["bass"] += bass_part.notes
        roles["bass"].append(bass_part.label)
        pitched = [p for p in pitched if p is not bass_part]
    # melody: a part named like a melody, else the highest mostly-monophonic part, else the skyline
    min_notes = max(2, bars // 2)  # at least a note every two bars
    named = [p for p in pitched if any(w in p.name.lower() for w in _MELODY_NAMES) and len(p.notes) >= min_notes]
    mono = [p for p in pitched if p.program not in EFFECT_PROGRAMS and len(p.notes) >= min_notes
            and _monophonic_share(p.notes) >= MONOPHONIC_SHARE]
    candidates = named or mono
    if candidates:
        melody_part = max(candidates, key=lambda p: _mean_pitch(p.notes))
        top, rest = _skyline(melody_part.notes)
        tracks["melody"] += top
        roles["melody"].append(melody_part.label)
        others = [p for p in pitched if p is not melody_part]
        tracks["chords"] += rest + [n for p in others for n in p.notes]
        roles["chords"] += [p.label for p in others]
    else:
        top, rest = _skyline([n for p in pitched for n in p.notes])
        tracks["melody"] += top
        tracks["chords"] += rest
        roles["melody"] += [f"skyline of {p.label}" for p in pitched]
        roles["chords"] += [f"rest of {p.label}" for p in pitched]
    # no bass part: the lowest note at each onset of the chords, where it lies below the split point
    if bass_part is None and tracks["chords"]:
        low, rest = _lowest_voice(tracks["chords"])
        tracks["bass"] = [n for n in low if n.pitch < LOW_MEAN_PITCH]
        tracks["chords"] = rest + [n for n in low if n.pitch >= LOW_MEAN_PITCH]
        if tracks["bass"]:
            roles["bass"].append("lowest voice of chords below pitch 55")
    return {t: dedupe_notes(ns) for t, ns in tracks.items()}, roles


def _load_lenient(data: bytes) -> tuple[pretty_midi.PrettyMIDI, list[str]]:
    """Load MIDI bytes; if that fails, retry once with out-of-range data bytes clipped to 0-127.

    Returns the file and the repairs made (``["clipped_data_bytes"]`` or none); re-raises the
    first error when the retry fails too.
    """
    try:
        return load_midi(io.BytesIO(data)), []
    except Exception as first:
        try:
            buffer = io.BytesIO()
            mido.MidiFile(file=io.BytesIO(data), clip=True).save(file=buffer)
            return load_midi(io.BytesIO(buffer.getvalue())), ["clipped_data_bytes"]
        except Exception:
            raise first from None


def read_midi(path_or_pm: str | os.PathLike | pretty_midi.PrettyMIDI, *, bars: int = 8,
              start_bar: int | None = None) -> Piece:
    """Read any MIDI file (e.g. human-made) into a 4-track piece of ``bars`` bars.

    Timing: onsets and offsets are mapped through the file's tempo map to quarter notes, then
    to 480 ticks per quarter and snapped to 16th notes (120 ticks; shortest duration 120), so
    tempo does not matter. Bars are 4 quarter notes (1920 ticks) whatever the time signature.

    Window: from the bar holding the first onset (default) or from ``start_bar`` (0-based),
    ``bars`` bars long; notes starting in it are kept, cut at its end, and re-based to tick 0.

    Roles, decided on the notes in the window:

    * rhythm: every drum part, merged.
    * bass: the part with a GM bass program (32-39; the lowest if several); otherwise, if there
      are at least two pitched parts, the part with the lowest mean pitch if that is below 55
      (G3) and the part is mostly monophonic (see melody). Without a bass part, the bass is
      the lowest note at each onset of the chords material wherever it lies below 55 (a
      keyboard-style split point: the left hand's low notes of a piano part); the bass stays
      empty when no such note exists.
    * melody: a part whose name says melody/vocal/lead/voice/tune/solo (with enough notes, as
      below), else the highest (by mean pitch) mostly-monophonic part (>= 80% of onsets a
      single pitch, >= ``bars // 2`` notes, not a GM effect program 112-127); its highest note
      at each onset (its other notes join the chords). With no such part
      (e.g. a single piano part) the melody is the skyline (highest note at each onset) of all
      pitched material.
    * chords: everything else, merged.

    Each track keeps one note per (pitch, onset). ``meta`` has ``source`` (path), ``md5`` (of
    the file bytes), ``start_bar``, ``bars``, ``roles`` (which parts went where) and, for a file
    that only loads with MIDI data bytes clipped to 0-127, ``repairs: ["clipped_data_bytes"]``.

    Args:
        path_or_pm: a MIDI path or a ``pretty_midi.PrettyMIDI``.
        bars: window length in bars of 4 quarter notes.
        start_bar: first bar of the window (0-based); default the bar of the first onset.
    Returns:
        The piece (tracks may be empty, e.g. no drums).
    Raises:
        MidiReadError: unreadable file, no notes, or no notes in the window.
    """
    path = None if isinstance(path_or_pm, pretty_midi.PrettyMIDI) else str(path_or_pm)
    md5 = None
    try:
        repairs: list[str] = []
        if path is None:
            pm = path_or_pm
        else:
            data = Path(path).read_bytes()
            md5 = hashlib.md5(data).hexdigest()
            pm, repairs = _load_lenient(data)
        parts = [_Part(f"{i}:{inst.name.strip() or 'unnamed'} (program {inst.program}{', drums' if inst.is_drum else ''})",
                       int(inst.program), bool(inst.is_drum), inst.name, grid_notes(pm, inst.notes))
                 for i, inst in enumerate(pm.instruments)]
    except Exception as exc:  # pretty_midi/mido raise many kinds on broken files
        raise MidiReadError(path, f"unreadable: {type(exc).__name__}: {exc}") from exc
    onsets = [n.start for p in parts for n in p.notes]
    if not onsets:
        raise MidiReadError(path, "no notes")
    first_bar = min(onsets) // TICKS_PER_BAR if start_bar is None else int(start_bar)
    lo, hi = first_bar * TICKS_PER_BAR, (first_bar + bars) * TICKS_PER_BAR
    for p in parts:
        p.notes = [Note(n.pitch, min(n.end, hi) - n.start, n.velocity, n.start - lo)
                   for n in p.notes if lo <= n.start < hi]
    parts = [p for p in parts if p.notes]
    if not parts:
        raise MidiReadError(path, "no notes in window")
    tracks, roles = _assign_roles(parts, bars)
    meta = {"source": path, "md5": md5, "start_bar": first_bar, "bars": bars, "roles": roles}
    if repairs:
        meta["repairs"] = repairs
    return Piece(**tracks, meta=meta)
