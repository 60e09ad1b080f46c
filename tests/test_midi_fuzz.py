"""Fuzzing the MIDI readers: any mutation of a valid file gives a piece or a MidiReadError, nothing else."""

from __future__ import annotations

import io

import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmmusic.data.midi import MidiReadError, midi_bytes, midi_to_piece
from llmmusic.data.roles import read_midi
from llmmusic.data.piece import Note, Piece


def _ours() -> bytes:
    """A small 4-track file as ``llmmusic generate`` writes it."""
    notes = [Note(60 + k, 240, 90, 480 * k) for k in range(4)]
    return midi_bytes(Piece(melody=notes, chords=[Note(48, 960, 70, 0)], bass=[Note(36, 480, 80, 0)],
                            rhythm=[Note(36, 120, 100, 0), Note(38, 120, 100, 960)]))


def _foreign() -> bytes:
    """A file from elsewhere: named parts, a drum part, a tempo change and a key signature."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=96)
    for name, program, drum, pitches in (("Lead", 73, False, (72, 74, 76)), ("Piano", 0, False, (48, 52, 55)),
                                         ("", 0, True, (36, 42, 38))):
        inst = pretty_midi.Instrument(program, is_drum=drum, name=name)
        inst.notes += [pretty_midi.Note(80, p, 0.5 * k, 0.5 * k + 0.4) for k, p in enumerate(pitches)]
        pm.instruments.append(inst)
    pm.key_signature_changes.append(pretty_midi.KeySignature(2, 0.0))
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


SEEDS = {"ours": _ours(), "foreign": _foreign()}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file with a few bytes overwritten, inserted or deleted, or cut short."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(("set", "insert", "delete", "truncate")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return name, bytes(data)


def _read(reader, data: bytes, path) -> None:
    path.write_bytes(data)
    try:
        piece = reader(path)
    except MidiReadError as exc:
        assert exc.path == str(path) and exc.reason
        return
    assert isinstance(piece, Piece)


@pytest.mark.parametrize("reader", [read_midi, midi_to_piece], ids=["read_midi", "midi_to_piece"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_mutated_files_give_a_piece_or_a_midi_read_error(reader, case, tmp_path):
    _read(reader, case[1], tmp_path / f"{case[0]}.mid")


@pytest.mark.parametrize("data", [b"", b"MThd", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x00", b"\x00" * 64,
                                  b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\xff\xff\xff\xff"],
                         ids=["empty", "magic-only", "zero-division", "zeros", "huge-track"])
@pytest.mark.parametrize("reader", [read_midi, midi_to_piece], ids=["read_midi", "midi_to_piece"])
def test_known_bad_files(reader, data, tmp_path):
    _read(reader, data, tmp_path / "bad.mid")
