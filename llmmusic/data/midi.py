"""MIDI files to and from pieces.

* :func:`piece_to_midi` / :func:`midi_bytes` write a :class:`~llmmusic.data.piece.Piece` as the
  paper's 4-track file: a tempo/meta track (120 BPM, 4/4, 480 ticks per quarter), then
  ``melody`` and ``chords`` (GM program 0, piano), ``bass`` (program 33, electric bass) and
  ``rhythm`` (drums, channel index 9). Two writers:

  - ``exact`` places every note at its requested start tick with its requested duration.
  - ``official`` reproduces the serialising writer of the paper's generation script: per
    track, events sorted by start; each note-off follows its note-on after the duration,
    and the next note-on comes ``start - (previous start + previous duration)`` ticks later,
    clipped at 0. Overlapping notes are therefore pushed later, the push carries over to the
    following notes (the next delta is counted from the *requested* end of the previous note,
    not from where it was written), and a track never holds two sounding notes. Like the script, all pitched tracks use channel 0; unlike it, every
    track carries its name (a meta event that changes no note) so the file reads back
    by name.

* :func:`midi_to_piece` reads files written here back by track name.
* :func:`read_midi` reads any (human-made) MIDI file into a piece: role assignment,
  beat-grid ticks and an N-bar window.

MIDI cannot store a note of velocity 0 (a note-on with velocity 0 means note-off). The
``exact`` writer therefore writes velocity 0 as 1, so every note the LLM asked for is in the
file; the ``official`` writer, like the paper's script, writes 0 and the note is lost.

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py,
notebooks/03_zero_shot.py, notebooks/04_cnn_classification.py.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import mido
import pretty_midi

from llmmusic import atomic
from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, TRACKS, Note, Piece

TEMPO_BPM = 120
#: GM program of each pitched track (0 = acoustic grand piano, 33 = electric bass (finger)).
PROGRAMS: dict[str, int] = {"melody": 0, "chords": 0, "bass": 33}
DRUM_CHANNEL = 9
WRITERS = ("exact", "official")
Writer = Literal["exact", "official"]



# --------------------------------------------------------------------------------------------- writing
def piece_tempo(piece: Piece) -> float:
    """The piece's tempo in BPM: ``meta["tempo_bpm"]`` (a model-chosen tempo) or the paper's 120."""
    return float(piece.meta.get("tempo_bpm") or TEMPO_BPM)


def _exact_pretty_midi(piece: Piece) -> pretty_midi.PrettyMIDI:
    """Our writer: every note at its requested tick, one instrument per track (tempo and key from
    ``meta["tempo_bpm"]`` / ``meta["key"]`` when set)."""
    tempo = piece_tempo(piece)
    seconds_per_tick = 60.0 / (tempo * TICKS_PER_QUARTER)
    pm = pretty_midi.PrettyMIDI(resolution=TICKS_PER_QUARTER, initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    if piece.meta.get("key"):
        pm.key_signature_changes.append(
            pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(str(piece.meta["key"])), 0.0))
    for name in TRACKS:
        is_drum = name == "rhythm"
        inst = pretty_midi.Instrument(program=PROGRAMS.get(name, 0), is_drum=is_drum, name=name)
        for n in sorted(piece.track(name), key=lambda n: (n.start, n.pitch, n.duration, n.velocity)):
            inst.notes.append(pretty_midi.Note(velocity=max(1, int(n.velocity)), pitch=int(n.pitch),
                                               start=n.start * seconds_per_tick,
                                               end=(n.start + n.duration) * seconds_per_tick))
        pm.instruments.append(inst)
    return pm


def _official_midi_file(piece: Piece) -> mido.MidiFile:
    """The paper script's serialising writer (see the module docstring), plus track names."""
    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_QUARTER)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=int(60_000_000 / piece_tempo(piece))))
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    meta.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(meta)
    for name in TRACKS:
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        channel = DRUM_CHANNEL if name == "rhythm" else 0
        if name != "rhythm":
            track.append(mido.Message("program_change", program=PROGRAMS[name], channel=channel, time=0))
        current = 0
        for n in sorted(piece.track(name), key=lambda n: n.start):  # stable, as in the script
            track.append(mido.Message("note_on", note=n.pitch, velocity=n.velocity, channel=channel,
                                      time=max(0, n.start - current)))
            track.append(mido.Message("note_off", note=n.pitch, velocity=0, channel=channel, time=n.duration))
            current = n.start + n.duration
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    return mid


def _check_writer(writer: str) -> None:
    if writer not in WRITERS:
        raise ValueError(f"unknown MIDI writer {writer!r}; expected one of {WRITERS}")


def midi_bytes(piece: Piece, writer: Writer = "exact") -> bytes:
    """The bytes of the MIDI file of ``piece`` (deterministic: same piece, same bytes).

    Args:
        piece: the piece (ticks at 480 per quarter note).
        writer: ``exact`` (notes at their requested ticks) or ``official`` (the paper script's
            serialising writer).
    Returns:
        A standard MIDI file (type 1) as bytes.
    """
    _check_writer(writer)
    buffer = io.BytesIO()
    if writer == "exact":
        _exact_pretty_midi(piece).write(buffer)
    else:
        _official_midi_file(piece).save(file=buffer)
    return buffer.getvalue()


def sha256(piece: Piece, writer: Writer = "exact") -> str:
    """Hex SHA-256 of :func:`midi_bytes` (a content id of the written file)."""
    return hashlib.sha256(midi_bytes(piece, writer)).hexdigest()


def load_midi(source: Any) -> pretty_midi.PrettyMIDI:
    """``PrettyMIDI(source)`` without its warnings about meta events on non-zero tracks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(source)


def piece_to_midi(piece: Piece, path: str | os.PathLike | None = None,
                  writer: Writer = "exact") -> pretty_midi.PrettyMIDI:
    """Write ``piece`` as a 4-track MIDI file.

    Args:
        piece: the piece to write.
        path: if given, the file is written there atomically (parent folders created).
        writer: ``exact`` or ``official`` (see the module docstring).
    Returns:
        The file as a ``pretty_midi.PrettyMIDI`` (for ``official``: the written file read back,
        so it shows the serialised timing).
    """
    _check_writer(writer)
    if writer == "exact":
        pm = _exact_pretty_midi(piece)
        data = None
    else:
        data = midi_bytes(piece, writer)
        pm = load_midi(io.BytesIO(data))
    if path is not None:
        if data is None:
            buffer = io.BytesIO()
            pm.write(buffer)
            data = buffer.getvalue()
        atomic.write_bytes(path, data)
    return pm


# --------------------------------------------------------------------------------------------- our files
def _as_pretty_midi(path_or_pm: Any) -> tuple[pretty_midi.PrettyMIDI, str | None]:
    """Load ``path_or_pm`` (path or PrettyMIDI) and return it with its path (None for objects)."""
    if isinstance(path_or_pm, pretty_midi.PrettyMIDI):
        return path_or_pm, None
    return load_midi(str(path_or_pm)), str(path_or_pm)


def _tick_notes(pm: pretty_midi.PrettyMIDI, inst: pretty_midi.Instrument) -> list[Note]:
    """The notes of ``inst`` in the file's own ticks scaled to 480 per quarter (no snapping)."""
    scale = TICKS_PER_QUARTER / pm.resolution
    notes = []
    for n in inst.notes:
        start = round(pm.time_to_tick(n.start) * scale)
        end = round(pm.time_to_tick(n.end) * scale)
        notes.append(Note(int(n.pitch), int(end - start), int(n.velocity), int(start)))
    return notes


def midi_to_piece(path_or_pm: str | os.PathLike | pretty_midi.PrettyMIDI) -> Piece:
    """Read a 4-track file written by :func:`piece_to_midi` back into a piece.

    Instruments are matched to tracks by name (``melody``, ``chords``, ``bass``, ``rhythm``);
    instruments with another name are ignored. Each track comes back sorted by (start, pitch).

    Args:
        path_or_pm: a MIDI path or a ``pretty_midi.PrettyMIDI``.
    Returns:
        The piece; ``meta["path"]`` holds the path when one was given.
    Raises:
        MidiReadError: the file is unreadable, or no instrument is named after a track (use
            :func:`read_midi` for other files).
    """
    path = None if isinstance(path_or_pm, pretty_midi.PrettyMIDI) else str(path_or_pm)
    tracks: dict[str, list[Note]] = {name: [] for name in TRACKS}
    found = False
    try:
        pm, path = _as_pretty_midi(path_or_pm)
        for inst in pm.instruments:
            name = inst.name.strip().lower()
            if name in tracks:
                tracks[name].extend(_tick_notes(pm, inst))
                found = True
        meta: dict[str, Any] = {"path": path} if path else {}
        meta.update(_tempo_and_key(pm))
    except Exception as exc:  # pretty_midi/mido raise many kinds on broken files
        raise MidiReadError(path, f"unreadable: {type(exc).__name__}: {exc}") from exc
    if not found and pm.instruments:
        names = sorted({inst.name for inst in pm.instruments})
        raise MidiReadError(path, f"no instrument named one of {TRACKS} (found {names}); "
                                  "use llmmusic.data.midi.read_midi for other MIDI files")
    return Piece(**tracks, meta=meta).sorted()


def _tempo_and_key(pm: pretty_midi.PrettyMIDI) -> dict[str, Any]:
    """``tempo_bpm`` (when not the paper's 120) and ``key`` (when the file has a key signature)."""
    out: dict[str, Any] = {}
    _, tempi = pm.get_tempo_changes()
    if len(tempi) and round(float(tempi[0])) != TEMPO_BPM:
        out["tempo_bpm"] = int(round(float(tempi[0])))
    if pm.key_signature_changes:
        from llmmusic.generation.music_symbols import NOTE_NAMES

        number = pm.key_signature_changes[0].key_number
        out["key"] = f"{NOTE_NAMES[number % 12]} {'major' if number < 12 else 'minor'}"
    return out


# --------------------------------------------------------------------------------------------- any MIDI
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


class MidiReadError(ValueError):
    """A MIDI file that :func:`read_midi` or :func:`midi_to_piece` cannot turn into a piece.

    Attributes:
        path: the file (``"<PrettyMIDI>"`` for an in-memory object).
        reason: ``"unreadable: <error>"``, ``"no notes"``, ``"no notes in window"`` or (``midi_to_piece``)
            ``"no instrument named ..."``.
    """

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = str(path) if path is not None else "<PrettyMIDI>"
        self.reason = reason
        super().__init__(f"{reason} ({self.path})")


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
