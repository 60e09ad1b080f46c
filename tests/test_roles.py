"""Role assignment and beat grid of :func:`llmmusic.data.roles.read_midi`, case by case.

Pieces are built as ``pretty_midi`` objects at 120 BPM, so one beat is 0.5 s and 480 ticks.
"""

from __future__ import annotations

import math

import mido
import pretty_midi
import pytest

from llmmusic.data.midi import MidiReadError
from llmmusic.data.piece import Note
from llmmusic.data.roles import (
    _lowest_voice,
    _mean_pitch,
    _monophonic_share,
    _skyline,
    _times_to_ticks,
    read_midi,
    snap_ticks,
)

BEAT = 0.5  # seconds at 120 BPM


def _pm(*parts) -> pretty_midi.PrettyMIDI:
    """Parts as ``(name, program, is_drum, notes)``, notes as ``(pitch, start_beat)`` or
    ``(pitch, start_beat, beats)`` (default one beat)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, program, drum, notes in parts:
        inst = pretty_midi.Instrument(program, is_drum=drum, name=name)
        for pitch, start, *beats in notes:
            length = beats[0] if beats else 1
            inst.notes.append(pretty_midi.Note(90, pitch, start * BEAT, (start + length) * BEAT))
        pm.instruments.append(inst)
    return pm


def _line(pitches, first_beat=0):
    """One note per beat."""
    return [(p, first_beat + k) for k, p in enumerate(pitches)]


def _pitches(notes):
    return [(n.pitch, n.start) for n in notes]


# --------------------------------------------------------------------------------------------- helpers
def test_snap_ticks_rounds_half_up_to_the_grid():
    assert snap_ticks(59) == 0 and snap_ticks(60) == 120  # 60 / 120 = 0.5: half up
    assert snap_ticks(179.9) == 120 and snap_ticks(300) == 360  # 2.5 sixteenths -> 3
    assert snap_ticks(10, grid=4) == 12 and snap_ticks(9.9, grid=4) == 8
    assert isinstance(snap_ticks(61), int)


def test_times_to_ticks_through_three_tempi(tmp_path):
    # 90 BPM for 4 quarters (2/3 s each: 8/3 s), 150 BPM for 4 more (0.4 s each: 1.6 s), then 60 BPM
    q = 220
    mid = mido.MidiFile(ticks_per_beat=q)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
                                      mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=4 * q),
                                      mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=4 * q)]))
    path = tmp_path / "tempi.mid"
    mid.save(path)
    pm = pretty_midi.PrettyMIDI(str(path))
    times = [0.0, 1.0, 8 / 3 + 0.4, 8 / 3 + 1.6 + 1.0]  # 1.5, 5 and 9 quarters after the start
    assert _times_to_ticks(pm, times) == pytest.approx([0, 1.5 * q, 5 * q, 9 * q])


def test_times_to_ticks_without_tempo_map_is_120_bpm():
    pm = pretty_midi.PrettyMIDI(resolution=220)
    pm._tick_scales = []
    # 120 BPM: 2 quarters a second, 440 ticks a second
    assert _times_to_ticks(pm, [0.0, 0.5, 1.25]) == pytest.approx([0, 220, 550])


def test_mean_pitch_and_monophonic_share():
    assert math.isnan(_mean_pitch([])) and _mean_pitch([Note(40, 120, 90, 0), Note(45, 120, 90, 0)]) == 42.5
    assert _monophonic_share([]) == 0 and _monophonic_share([Note(60, 120, 90, 0)]) == 1
    # onsets 0 (one note), 120 (a dyad), 240 (a doubled pitch, still one pitch): 2 of 3
    notes = [Note(60, 120, 90, 0), Note(62, 120, 90, 120), Note(65, 120, 90, 120), Note(64, 120, 90, 240),
             Note(64, 240, 80, 240)]
    assert _monophonic_share(notes) == pytest.approx(2 / 3)


def test_skyline_and_lowest_voice_tie_breaks():
    # at onset 0 the longer 72 is on top; at 480 the two 74s tie in pitch and duration: the first listed stays
    notes = [Note(72, 240, 60, 0), Note(72, 480, 90, 0), Note(60, 480, 80, 0), Note(74, 240, 50, 480),
             Note(74, 240, 100, 480)]
    top, rest = _skyline(notes)
    assert top == [Note(72, 480, 90, 0), Note(74, 240, 50, 480)]
    assert rest == [Note(72, 240, 60, 0), Note(60, 480, 80, 0), Note(74, 240, 100, 480)]
    # the lowest voice keeps the longer of two equal low pitches
    low, rest = _lowest_voice([Note(40, 240, 70, 0), Note(40, 480, 70, 0), Note(52, 240, 70, 0)])
    assert low == [Note(40, 480, 70, 0)] and rest == [Note(40, 240, 70, 0), Note(52, 240, 70, 0)]


# --------------------------------------------------------------------------------------------- drums and labels
def test_drum_parts_are_merged_and_labelled():
    pm = _pm(("Kit", 0, True, [(36, 0, 0.25), (36, 2, 0.25)]), ("  ", 0, True, [(42, 1, 0.25)]),
             ("Piano", 0, False, _line([60, 62])))
    piece = read_midi(pm)
    assert _pitches(piece.rhythm) == [(36, 0), (42, 480), (36, 960)]
    assert piece.meta["roles"]["rhythm"] == ["0:Kit (program 0, drums)", "1:unnamed (program 0, drums)"]
    assert piece.meta["source"] is None and piece.meta["md5"] is None and "repairs" not in piece.meta


# --------------------------------------------------------------------------------------------- bass
def test_a_gm_bass_program_is_the_bass_even_when_not_low():
    # program 35 (fretless bass) at mean pitch 61: not "clearly low", but a bass by its program
    pm = _pm(("Keys", 0, False, _line([72, 74, 76, 77])), ("Fretless", 35, False, _line([58, 60, 62, 64])))
    piece = read_midi(pm)
    assert _pitches(piece.bass) == [(58, 0), (60, 480), (62, 960), (64, 1440)]
    assert piece.meta["roles"]["bass"] == ["1:Fretless (program 35)"]
    assert piece.meta["roles"]["melody"] == ["0:Keys (program 0)"] and piece.chords == []


def test_the_lowest_of_several_gm_bass_parts_wins_over_a_lower_other_part():
    pm = _pm(("Tuba", 58, False, _line([30, 31, 33, 35])), ("Pick Bass", 34, False, _line([45, 47, 48, 50])),
             ("Finger Bass", 33, False, _line([40, 41, 43, 45])), ("Keys", 0, False, _line([72, 74, 76, 77])))
    piece = read_midi(pm)
    # mean pitches: pick bass 47.5, finger bass 42.25 (the tuba, 32.25, has no bass program)
    assert piece.meta["roles"]["bass"] == ["2:Finger Bass (program 33)"]
    assert [n.pitch for n in piece.bass] == [40, 41, 43, 45]
    assert piece.meta["roles"]["melody"] == ["3:Keys (program 0)"]
    assert piece.meta["roles"]["chords"] == ["0:Tuba (program 58)", "1:Pick Bass (program 34)"]
    assert sorted(n.pitch for n in piece.chords) == [30, 31, 33, 35, 45, 47, 48, 50]


def test_of_two_parts_a_low_monophonic_one_is_the_bass():
    pm = _pm(("Right", 0, False, _line([72, 74, 76, 77])), ("Left", 0, False, _line([40, 41, 43, 45])))
    piece = read_midi(pm)
    assert piece.meta["roles"] == {"melody": ["0:Right (program 0)"], "chords": [], "bass": ["1:Left (program 0)"],
                                   "rhythm": []}
    assert [n.pitch for n in piece.bass] == [40, 41, 43, 45]


def test_a_part_of_mean_pitch_55_is_not_clearly_low():
    # "Left" averages exactly 55: no bass part; the bass is then its notes below 55
    pm = _pm(("Right", 0, False, _line([72, 74, 76, 77])), ("Left", 0, False, _line([54, 56, 54, 56])))
    piece = read_midi(pm)
    assert _pitches(piece.bass) == [(54, 0), (54, 960)]
    assert _pitches(piece.chords) == [(56, 480), (56, 1440)]
    assert piece.meta["roles"]["bass"] == ["lowest voice of chords below pitch 55"]
    assert piece.meta["roles"]["chords"] == ["1:Left (program 0)"]


def test_a_low_part_with_80_percent_single_onsets_is_the_bass():
    # 5 onsets, 4 of them single notes: a share of exactly 0.8; mean pitch 256 / 6 = 42.7
    left = _line([40, 41, 43, 45]) + [(40, 4), (47, 4)]
    pm = _pm(("Right", 0, False, _line([72, 74, 76, 77, 79])), ("Left", 0, False, left))
    piece = read_midi(pm)
    assert piece.meta["roles"]["bass"] == ["1:Left (program 0)"]
    assert _pitches(piece.bass) == [(40, 0), (41, 480), (43, 960), (45, 1440), (40, 1920), (47, 1920)]
    assert piece.chords == []


def test_without_a_bass_part_the_split_point_is_pitch_55():
    # one piano part: the skyline is the melody; of the rest, the lowest note per onset below 55 is the bass
    pm = _pm(("Piano", 0, False, [(72, 0), (64, 0), (55, 0), (74, 1), (65, 1), (54, 1)]))
    piece = read_midi(pm)
    assert _pitches(piece.melody) == [(72, 0), (74, 480)]
    assert _pitches(piece.bass) == [(54, 480)]
    assert _pitches(piece.chords) == [(55, 0), (64, 0), (65, 480)]
    assert piece.meta["roles"] == {"melody": ["skyline of 0:Piano (program 0)"],
                                   "chords": ["rest of 0:Piano (program 0)"],
                                   "bass": ["lowest voice of chords below pitch 55"], "rhythm": []}


# --------------------------------------------------------------------------------------------- melody
def test_a_part_named_vocal_is_the_melody_over_a_higher_line():
    pm = _pm(("Flute", 73, False, _line([84, 86, 88, 89])), ("Lead Vocal", 0, False, _line([67, 69, 71, 72])))
    piece = read_midi(pm)  # 8 bars: at least 4 notes, which the vocal part has
    assert piece.meta["roles"]["melody"] == ["1:Lead Vocal (program 0)"]
    assert [n.pitch for n in piece.melody] == [67, 69, 71, 72]
    assert [n.pitch for n in piece.chords] == [84, 86, 88, 89] and piece.bass == []


def test_the_melody_part_needs_a_note_every_two_bars():
    # "Whistle" is the higher line but has only two notes; "Keys" has four
    pm = _pm(("Keys", 0, False, _line([72, 74, 76, 77])), ("Whistle", 78, False, [(90, 0), (91, 4)]))
    for bars, melody in ((2, "1:Whistle (program 78)"), (5, "1:Whistle (program 78)"), (8, "0:Keys (program 0)")):
        # at least max(2, bars // 2) notes: 2, 2 and 4
        assert read_midi(pm, bars=bars).meta["roles"]["melody"] == [melody], bars


def test_a_polyphonic_part_is_no_melody_candidate():
    # strings in 3-note chords (share 0) above keys with one dyad in 5 onsets (share 0.8, still a candidate)
    strings = [(p, b) for b in range(4) for p in (84, 88, 91)]
    keys = _line([72, 74, 76, 77, 79]) + [(67, 4)]
    pm = _pm(("Strings", 48, False, strings), ("Keys", 0, False, keys))
    piece = read_midi(pm)
    assert piece.meta["roles"]["melody"] == ["1:Keys (program 0)"]
    assert [n.pitch for n in piece.melody] == [72, 74, 76, 77, 79]
    assert sorted(n.pitch for n in piece.chords) == [67] + [84] * 4 + [88] * 4 + [91] * 4 and piece.bass == []


# --------------------------------------------------------------------------------------------- window and errors
def test_the_window_starts_at_the_bar_of_the_first_onset():
    # first onset on beat 2 of bar 0: the window starts at bar 0, and the note keeps its offset
    pm = _pm(("Keys", 0, False, [(72, 2), (74, 5)]))
    piece = read_midi(pm, bars=1)
    assert piece.meta["start_bar"] == 0 and _pitches(piece.melody) == [(72, 960)]


def test_errors_name_the_file_and_the_reason(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a MIDI file")
    with pytest.raises(MidiReadError) as err:
        read_midi(bad)
    assert err.value.reason == "unreadable: OSError: MThd not found. Probably not a MIDI file"
    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    with pytest.raises(MidiReadError) as err:
        read_midi(empty)
    assert (err.value.path, err.value.reason) == (str(empty), "no notes")
    one = tmp_path / "one.mid"
    _pm(("Keys", 0, False, [(72, 0)])).write(str(one))
    with pytest.raises(MidiReadError) as err:
        read_midi(one, start_bar=3)
    assert (err.value.path, err.value.reason) == (str(one), "no notes in window")
