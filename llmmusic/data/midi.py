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
* :func:`llmmusic.data.roles.read_midi` reads any (human-made) MIDI file into a piece: role
  assignment, beat-grid ticks and an N-bar window.

MIDI cannot store a note of velocity 0 (a note-on with velocity 0 means note-off). The
``exact`` writer therefore writes velocity 0 as 1, so every note the LLM asked for is in the
file; the ``official`` writer, like the paper's script, writes 0 and the note is lost.

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py,
notebooks/03_zero_shot.py, notebooks/04_cnn_classification.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from typing import Any, Literal

import mido
import pretty_midi

from llmmusic import atomic
from llmmusic.data.piece import TICKS_PER_QUARTER, TRACKS, Note, Piece

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
                                  "use llmmusic.data.roles.read_midi for other MIDI files")
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
