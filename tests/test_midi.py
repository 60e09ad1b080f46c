"""MIDI writing (exact and official writers) and reading back."""

from __future__ import annotations

import hashlib
import io
import itertools

import mido
import pretty_midi
import pytest

from llmmusic.data.midi import midi_bytes, midi_to_piece, piece_to_midi, sha256
from llmmusic.data.piece import Note, Piece


def _piece() -> Piece:
    """A small piece with chords (simultaneous notes) and an overlap in the melody."""
    return Piece(
        melody=[Note(72, 480, 100, 0), Note(74, 960, 90, 240), Note(76, 240, 80, 1920), Note(77, 240, 80, 7680)],
        chords=[Note(60, 960, 70, 0), Note(64, 960, 70, 0), Note(67, 960, 70, 0), Note(62, 480, 70, 960)],
        bass=[Note(36, 480, 100, 0), Note(43, 480, 100, 480), Note(36, 960, 100, 960)],
        rhythm=[Note(35, 240, 110, 0), Note(42, 240, 70, 240), Note(38, 240, 100, 480), Note(42, 240, 70, 480)],
        meta={"genre": "Pop"},
    )


def test_exact_round_trip_keeps_every_note(tmp_path):
    piece = _piece()
    path = tmp_path / "a" / "piece.mid"
    piece_to_midi(piece, path)
    back = midi_to_piece(path)
    assert back.to_dict() == piece.sorted().to_dict()
    assert back.meta["path"] == str(path)
    # also from the in-memory object
    assert midi_to_piece(piece_to_midi(piece)).to_dict() == piece.sorted().to_dict()


def test_exact_file_layout(tmp_path):
    path = tmp_path / "piece.mid"
    piece_to_midi(_piece(), path)
    mid = mido.MidiFile(path)
    assert mid.ticks_per_beat == 480 and len(mid.tracks) == 5
    meta = [m for m in mid.tracks[0] if m.is_meta]
    assert any(m.type == "set_tempo" and m.tempo == 500_000 for m in meta)
    assert any(m.type == "time_signature" and (m.numerator, m.denominator) == (4, 4) for m in meta)
    pm = pretty_midi.PrettyMIDI(str(path))
    layout = [(i.name, i.program, i.is_drum) for i in pm.instruments]
    assert layout == [("melody", 0, False), ("chords", 0, False), ("bass", 33, False), ("rhythm", 0, True)]
    drum_channels = {m.channel for m in mid.tracks[4] if m.type == "note_on"}
    assert drum_channels == {9}


def test_writing_is_deterministic(tmp_path):
    for writer in ("exact", "official"):
        a, b = tmp_path / f"{writer}1.mid", tmp_path / f"{writer}2.mid"
        piece_to_midi(_piece(), a, writer=writer)
        piece_to_midi(_piece(), b, writer=writer)
        digest = hashlib.sha256(a.read_bytes()).hexdigest()
        assert digest == hashlib.sha256(b.read_bytes()).hexdigest()
        assert a.read_bytes() == midi_bytes(_piece(), writer)
        assert sha256(_piece(), writer) == digest
    assert sha256(_piece(), "exact") != sha256(_piece(), "official")


def test_official_writer_serialises_each_track():
    back = midi_to_piece(piece_to_midi(_piece(), writer="official"))
    # melody: 72 [0, 480); 74 requested at 240 is pushed to 480 (delta clipped at 0) and ends at 1440;
    # the script counts the next delta from the *requested* end 240 + 960 = 1200, so 76 (requested
    # at 1920) comes 720 ticks after 1440, at 2160, and the push carries on to the last note.
    assert [(n.pitch, n.start, n.duration) for n in back.melody] == [
        (72, 0, 480), (74, 480, 960), (76, 2160, 240), (77, 7920, 240)]
    # chords: the three simultaneous notes become a sequence, the fourth follows the third
    assert [(n.pitch, n.start) for n in back.chords] == [(60, 0), (64, 960), (67, 1920), (62, 2880)]
    # no track holds two sounding notes
    for notes in back.tracks().values():
        assert all(a.end <= b.start for a, b in itertools.pairwise(notes))
    # non-overlapping tracks are unchanged
    assert back.bass == _piece().sorted().bass


def test_official_writer_matches_script_messages():
    mid = mido.MidiFile(file=io.BytesIO(midi_bytes(_piece(), "official")))
    melody = [m for m in mid.tracks[1] if not m.is_meta]
    assert melody[0].type == "program_change" and melody[0].program == 0 and melody[0].channel == 0
    timing = [(m.type, m.note, m.time) for m in melody[1:]]
    assert timing[:4] == [("note_on", 72, 0), ("note_off", 72, 480), ("note_on", 74, 0), ("note_off", 74, 960)]
    bass_program = [m for m in mid.tracks[3] if m.type == "program_change"]
    assert [(m.program, m.channel) for m in bass_program] == [(33, 0)]
    assert not [m for m in mid.tracks[4] if m.type == "program_change"]
    assert {m.channel for m in mid.tracks[4] if m.type == "note_on"} == {9}


def test_unknown_writer_and_foreign_file_are_errors(tmp_path):
    with pytest.raises(ValueError, match="writer"):
        midi_bytes(_piece(), "fancy")  # type: ignore[arg-type]
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0, name="Violin")
    inst.notes.append(pretty_midi.Note(80, 60, 0.0, 0.5))
    pm.instruments.append(inst)
    with pytest.raises(ValueError, match="read_midi"):
        midi_to_piece(pm)


# --------------------------------------------------------------------------------------------- read_midi
import numpy as np

from llmmusic.data.midi import MidiReadError
from llmmusic.data.piece import TICKS_PER_BAR
from llmmusic.data.roles import _times_to_ticks, read_midi


def _band_file(path, resolution=220):
    """A 3-bar band arrangement whose tempo changes (90 -> 150 BPM at bar 1), written with mido.

    Parts: drums, a finger bass (program 33), a high monophonic lead (program 80) with one
    off-grid onset, a piano pad in 3-note chords and a sound-effect part (program 122).
    Returns the expected notes per role as (pitch, start, duration) at 480 ticks per quarter.
    """
    q = resolution
    mid = mido.MidiFile(ticks_per_beat=q)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
                           mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=4 * q),
                           mido.MetaMessage("end_of_track", time=0)])
    mid.tracks.append(meta)

    def part(name, channel, program, notes):
        events = []
        for pitch, start_q, dur_q in notes:  # in quarter notes
            events.append((round(start_q * q), 1, pitch))
            events.append((round((start_q + dur_q) * q), 0, pitch))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0),
                                mido.Message("program_change", program=program, channel=channel, time=0)])
        now = 0
        for tick, on, pitch in sorted(events):
            track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=90 if on else 0,
                                      channel=channel, time=tick - now))
            now = tick
        mid.tracks.append(track)

    drums = [(36, b, 0.25) for b in range(0, 12, 2)] + [(38, b, 0.25) for b in range(1, 12, 2)]
    bass = [(36, b, 1) for b in range(12)]
    lead = [(76, 0, 1), (79, 1.52, 0.5), (81, 2, 2), (84, 4, 4), (83, 8, 4)]  # 1.52 snaps to 1.5
    pad = [(p, b, 4) for b in (0, 4, 8) for p in (60, 64, 67)]
    fx = [(90, 3, 0.25)] * 1
    part("Drums", 9, 0, drums)
    part("Bass", 1, 33, bass)
    part("Synth", 2, 80, lead)
    part("Pad", 3, 0, pad)
    part("FX", 4, 122, fx)
    mid.save(path)
    to_ticks = lambda notes: sorted((p, round(s * 4) * 120, round(d * 4) * 120) for p, s, d in notes)
    return {"rhythm": to_ticks(drums), "bass": to_ticks(bass), "melody": to_ticks(lead),
            "chords": to_ticks(pad + fx)}


def _triples(notes):
    return sorted((n.pitch, n.start, n.duration) for n in notes)


def test_read_midi_roles_and_beat_grid_under_tempo_changes(tmp_path):
    path = tmp_path / "band.mid"
    expected = _band_file(path)
    piece = read_midi(path, bars=8)
    for track in ("rhythm", "bass", "melody", "chords"):
        assert _triples(piece.track(track)) == expected[track], track
    assert piece.meta["start_bar"] == 0 and piece.meta["bars"] == 8
    assert piece.meta["roles"]["bass"] == ["1:Bass (program 33)"]
    assert piece.meta["roles"]["melody"] == ["2:Synth (program 80)"]
    assert piece.meta["md5"] == hashlib.md5(path.read_bytes()).hexdigest() and piece.meta["source"] == str(path)
    # the same music at another resolution gives the same piece
    other = read_midi(_write_again(tmp_path, 96))
    assert other.to_dict() == piece.to_dict()


def _write_again(tmp_path, resolution):
    path = tmp_path / f"band{resolution}.mid"
    _band_file(path, resolution)
    return path


def test_times_to_ticks_agrees_with_pretty_midi(tmp_path):
    path = tmp_path / "band.mid"
    _band_file(path)
    pm = pretty_midi.PrettyMIDI(str(path))
    times = [n.start for inst in pm.instruments for n in inst.notes] + [0.0, 1.234, 9.9]
    assert np.allclose(_times_to_ticks(pm, times), [pm.time_to_tick(t) for t in times], atol=0.5)


def test_read_midi_window_start_bar_and_cut(tmp_path):
    path = tmp_path / "band.mid"
    _band_file(path)
    window = read_midi(path, bars=1, start_bar=1)
    assert window.meta["start_bar"] == 1
    # the lead note 84 (bar 1, a whole note) is the melody; the 83 starts in bar 2: outside
    assert _triples(window.melody) == [(84, 0, 1920)]
    assert all(0 <= n.start and n.end <= TICKS_PER_BAR for _, n in window.items())
    # a note crossing the window end is cut: bar 0 only, the lead's 81 (2 quarters from beat 2) ends at bar end
    first = read_midi(path, bars=1)
    assert (81, 960, 960) in _triples(first.melody)


def test_read_midi_single_piano_is_split(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=73)
    piano = pretty_midi.Instrument(0, name="Piano")
    beat = 60 / 73
    # bar 0 is empty: the window starts at bar 1 (the bar of the first onset)
    for i, (top, mid, low) in enumerate([(72, 64, 40), (74, 65, 41), (76, 67, 43), (77, 69, 45)]):
        t = (4 + i) * beat
        for p in (top, mid, low):
            piano.notes.append(pretty_midi.Note(80, p, t, t + beat))
    pm.instruments.append(piano)
    piece = read_midi(pm, bars=2)
    assert piece.meta["start_bar"] == 1 and piece.meta["source"] is None
    assert [n.pitch for n in piece.melody] == [72, 74, 76, 77]
    assert [n.start for n in piece.melody] == [0, 480, 960, 1440]
    assert [n.pitch for n in piece.bass] == [40, 41, 43, 45]
    assert sorted(n.pitch for n in piece.chords) == [64, 65, 67, 69]
    assert piece.rhythm == []


def test_read_midi_errors(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a MIDI file")
    with pytest.raises(MidiReadError) as err:
        read_midi(bad)
    assert err.value.reason.startswith("unreadable:") and err.value.path == str(bad)
    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    with pytest.raises(MidiReadError, match="no notes") as err:
        read_midi(empty)
    assert err.value.reason == "no notes"
    band = tmp_path / "band.mid"
    _band_file(band)
    with pytest.raises(MidiReadError) as err:
        read_midi(band, start_bar=40)
    assert err.value.reason == "no notes in window"


def _music21_midi(tmp_path, name):
    corpus = pytest.importorskip("music21.corpus")
    score = corpus.parse(name)
    path = tmp_path / (name.replace("/", "_") + ".mid")
    score.write("midi", fp=str(path))
    return score, path


def test_read_midi_bach_chorale_voices(tmp_path):
    score, path = _music21_midi(tmp_path, "bach/bwv66.6")
    piece = read_midi(path, bars=4)
    assert piece.meta["roles"]["melody"] == ["0:Soprano (program 0)"]
    assert piece.meta["roles"]["bass"] == ["3:Bass (program 0)"]
    assert piece.meta["roles"]["chords"] == ["1:Alto (program 0)", "2:Tenor (program 0)"]
    soprano = [(n.pitch.midi, round(float(n.offset) * 480), round(float(n.quarterLength) * 480))
               for n in score.parts[0].flatten().notes if n.offset < 16]
    assert _triples(piece.melody) == sorted(soprano)


def test_read_midi_ragtime_piano(tmp_path):
    _, path = _music21_midi(tmp_path, "joplin/maple_leaf_rag")
    piece = read_midi(path)  # two piano staves, tempo 100 then 120
    assert all(n.start % 120 == 0 and n.duration % 120 == 0 for _, n in piece.items())
    assert piece.end_tick <= 8 * TICKS_PER_BAR
    assert piece.melody and piece.chords and piece.bass and not piece.rhythm
    assert max(n.pitch for n in piece.bass) < 55
    onsets = [n.start for n in piece.melody]
    assert len(onsets) == len(set(onsets))  # the skyline is monophonic


def test_read_midi_shared_human_files(shared_data):
    from conftest import require_shared

    labels = require_shared(shared_data, "human-midi", "labels.csv")
    import csv
    rows = list(csv.DictReader(labels.open()))
    for row in rows[:: max(1, len(rows) // 3)][:3]:
        path = shared_data / "human-midi" / "midi" / f"{row['md5']}.mid"
        piece = read_midi(path)
        assert piece.meta["md5"] == row["md5"]
        assert piece.n_notes > 0 and piece.melody
        assert all(n.start % 120 == 0 and 0 <= n.start < 8 * TICKS_PER_BAR and n.duration >= 120
                   for _, n in piece.items())


def test_read_midi_clips_out_of_range_data_bytes(tmp_path):
    data = midi_bytes(_piece())
    note_on = bytes([0x90, 72, 100])  # melody's first note, channel 0
    assert data.count(note_on) == 1
    broken = tmp_path / "broken.mid"
    broken.write_bytes(data.replace(note_on, bytes([0x90, 72, 200])))
    with pytest.raises(OSError):
        mido.MidiFile(broken)
    piece = read_midi(broken)
    assert piece.meta["repairs"] == ["clipped_data_bytes"]
    assert piece.melody[0].pitch == 72 and piece.melody[0].velocity == 127
    intact = tmp_path / "intact.mid"
    intact.write_bytes(data)
    assert "repairs" not in read_midi(intact).meta


def test_exact_writer_keeps_velocity_zero_notes():
    from llmmusic.data.midi import midi_to_piece, piece_to_midi
    from llmmusic.data.piece import Note, Piece

    piece = Piece(melody=[Note(60, 480, 0, 0), Note(62, 480, 90, 480)], chords=[Note(48, 960, 70, 0)],
                  bass=[Note(36, 480, 80, 0)], rhythm=[Note(35, 240, 100, 0)])
    back = midi_to_piece(piece_to_midi(piece))
    assert [(n.pitch, n.velocity) for n in back.melody] == [(60, 1), (62, 90)]


# --------------------------------------------------------------------------------------------- tempo, key, details
def _meta_events(track):
    """(type, absolute tick) of the meta events of a mido track."""
    events, now = [], 0
    for m in track:
        now += m.time
        if m.is_meta:
            events.append((m.type, now))
    return events


def test_tempo_and_key_are_written_and_read_back(tmp_path):
    for key in ("C minor", "A minor", "D major"):  # key numbers 12, 21 and 2
        piece = Piece(melody=[Note(72, 480, 100, 480)], chords=[Note(60, 960, 70, 0)], bass=[Note(36, 480, 90, 0)],
                      rhythm=[Note(36, 240, 100, 0)], meta={"tempo_bpm": 96, "key": key})
        path = tmp_path / f"{key}.mid"
        pm = piece_to_midi(piece, path)
        # at 96 BPM a quarter note lasts 60 / 96 = 0.625 s
        assert pm.instruments[0].notes[0].start == pytest.approx(0.625)
        back = midi_to_piece(path)
        assert back.meta == {"path": str(path), "tempo_bpm": 96, "key": key}
        assert back.melody == [Note(72, 480, 100, 480)]
        mid = mido.MidiFile(path)
        assert [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"] == [625_000]
        events = _meta_events(mid.tracks[0])
        assert [e for e in events if e[0] in ("time_signature", "key_signature")] == [("time_signature", 0),
                                                                                     ("key_signature", 0)]
    # the paper's tempo and no key: nothing in meta (and no path for an object)
    assert midi_to_piece(piece_to_midi(_piece())).meta == {}


def test_official_writer_tempo_and_messages():
    piece = Piece(melody=[Note(72, 480, 100, 240), Note(74, 480, 90, 960)], chords=[Note(60, 960, 70, 0)],
                  bass=[Note(36, 480, 80, 0)], rhythm=[Note(36, 240, 100, 0), Note(38, 240, 100, 480)],
                  meta={"tempo_bpm": 151})
    mid = mido.MidiFile(file=io.BytesIO(midi_bytes(piece, "official")))
    meta = [m for m in mid.tracks[0]]
    assert [m.tempo for m in meta if m.type == "set_tempo"] == [397_350]  # int(60_000_000 / 151) = int(397350.99)
    assert [(m.numerator, m.denominator) for m in meta if m.type == "time_signature"] == [(4, 4)]
    assert meta[-1].type == "end_of_track" and meta[-1].time == 0
    melody = [(m.type, m.note, m.velocity, m.channel, m.time) for m in mid.tracks[1] if m.type.startswith("note")]
    # the first note 240 ticks in; the second 960 - (240 + 480) = 240 ticks after the first ends; note-offs velocity 0
    assert melody == [("note_on", 72, 100, 0, 240), ("note_off", 72, 0, 0, 480),
                      ("note_on", 74, 90, 0, 240), ("note_off", 74, 0, 0, 480)]
    for track in mid.tracks[1:]:  # each track ends with its last note
        assert track[-1].type == "end_of_track" and track[-1].time == 0
    assert {m.channel for m in mid.tracks[4] if m.type in ("note_on", "note_off")} == {9}
    assert midi_to_piece(piece_to_midi(piece, writer="official")).meta == {"tempo_bpm": 151}


def test_exact_writer_returns_every_track_in_time_order():
    pm = piece_to_midi(Piece(melody=[Note(72, 480, 100, 0)], chords=_piece().chords))
    assert [i.name for i in pm.instruments] == ["melody", "chords", "bass", "rhythm"]  # empty tracks too
    assert [n.pitch for n in pm.instruments[1].notes] == [60, 64, 67, 62]  # by start, then pitch
    assert sha256(_piece()) == sha256(_piece(), "exact")


def test_midi_to_piece_scales_other_resolutions():
    # 240 ticks per quarter in the file: a quarter note on beat 2 is 480 ticks from 480 at 480 per quarter
    pm = pretty_midi.PrettyMIDI(resolution=240)
    inst = pretty_midi.Instrument(0, name="melody")
    inst.notes.append(pretty_midi.Note(100, 72, 0.5, 1.0))
    pm.instruments.append(inst)
    assert midi_to_piece(pm).melody == [Note(72, 480, 100, 480)]


def test_midi_read_errors_say_what_and_where(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a MIDI file")
    with pytest.raises(MidiReadError) as err:
        midi_to_piece(bad)
    assert err.value.path == str(bad)
    assert err.value.reason == "unreadable: OSError: MThd not found. Probably not a MIDI file"
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0, name="Violin"))
    with pytest.raises(MidiReadError) as err:
        midi_to_piece(pm)
    assert err.value.reason == ("no instrument named one of ('melody', 'chords', 'bass', 'rhythm') (found "
                                "['Violin']); use llmmusic.data.roles.read_midi for other MIDI files")
    assert err.value.path == "<PrettyMIDI>" and str(err.value) == err.value.reason + " (<PrettyMIDI>)"
    violin = tmp_path / "violin.mid"
    pm.instruments[0].notes.append(pretty_midi.Note(80, 60, 0.0, 0.5))  # read back, an instrument needs a note
    pm.write(str(violin))
    with pytest.raises(MidiReadError) as err:
        midi_to_piece(violin)
    assert err.value.path == str(violin) and "(found ['Violin'])" in err.value.reason
