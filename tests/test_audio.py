"""Tests of llmmusic.book.audio: both synthesizers write audible clips of the right length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from llmmusic.book.audio import additive_synth, best_format, fluidsynth_available, render_audio
from llmmusic.data.piece import Note, Piece


def four_track_piece() -> Piece:
    """Two bars at 120 BPM (4 s): melody, a chord, bass, and a kick/snare/hat beat."""
    return Piece(
        melody=[Note(72, 480, 100, 0), Note(74, 480, 90, 480), Note(76, 960, 100, 960), Note(79, 1920, 80, 1920)],
        chords=[Note(60, 1920, 70, 0), Note(64, 1920, 70, 0), Note(67, 1920, 70, 0)],
        bass=[Note(36, 960, 90, 0), Note(43, 960, 90, 960), Note(41, 1920, 90, 1920)],
        rhythm=[Note(35, 240, 110, 0), Note(42, 240, 70, 480), Note(38, 240, 100, 960), Note(42, 240, 70, 1440)],
        meta={"genre": "Pop"},
    )


def decoded(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="float32")
    return samples, rate


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])
def test_numpy_synth_renders_audible_clip_of_right_length(tmp_path: Path, fmt: str) -> None:
    if fmt == "mp3" and best_format() != "mp3":
        pytest.skip("this libsndfile cannot write MP3")
    info = render_audio(four_track_piece(), tmp_path / "clip", synth="numpy", format=fmt, tail_s=0.5)
    assert info.synth == "numpy" and info.soundfont is None
    assert info.path == tmp_path / f"clip.{fmt}" and info.format == fmt
    assert info.duration_s == pytest.approx(4.5)
    samples, rate = decoded(info.path)
    assert rate == 22050
    assert len(samples) / rate == pytest.approx(4.5, abs=0.06)
    # every half second of the piece sounds (notes cover all of it); the faded end is quiet
    for start in np.arange(0.0, 4.0, 0.5):
        chunk = samples[int(start * rate): int((start + 0.5) * rate)]
        assert rms(chunk) > 0.01, f"silent at {start} s"
    assert rms(samples[-int(0.02 * rate):]) < rms(samples[: int(0.5 * rate)])
    assert np.max(np.abs(samples)) <= 1.0
    assert info.path.stat().st_size < 200_000  # compressed, not PCM (4.5 s of PCM16 mono = 198 kB)


def test_numpy_synth_has_the_notes_pitch() -> None:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0, name="melody")
    inst.notes.append(pretty_midi.Note(100, 69, 0.0, 1.0))  # A4 = 440 Hz
    pm.instruments.append(inst)
    audio = additive_synth(pm, sample_rate=22050)
    spectrum = np.abs(np.fft.rfft(audio[:22050]))
    freqs = np.fft.rfftfreq(22050, 1 / 22050)
    assert freqs[np.argmax(spectrum)] == pytest.approx(440.0, abs=2.0)


def test_drums_only_and_midi_path_input(tmp_path: Path) -> None:
    from llmmusic.data.midi import piece_to_midi

    piece = Piece(rhythm=[Note(35, 240, 110, 0), Note(38, 240, 110, 480), Note(42, 240, 80, 960)])
    midi = tmp_path / "drums.mid"
    piece_to_midi(piece, midi)
    info = render_audio(midi, tmp_path / "drums.mp3", synth="numpy")
    samples, rate = decoded(info.path)
    assert rms(samples) > 0.005
    assert info.duration_s == pytest.approx(piece_to_midi(piece).get_end_time() + 0.5, abs=1 / 22050)


def test_empty_piece_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no notes"):
        render_audio(Piece(), tmp_path / "x", synth="numpy")
    with pytest.raises(ValueError, match="synth"):
        render_audio(four_track_piece(), tmp_path / "x", synth="organ")


def test_auto_picks_fluidsynth_when_available(tmp_path: Path) -> None:
    info = render_audio(four_track_piece(), tmp_path / "auto")
    assert info.synth == ("fluidsynth" if fluidsynth_available() else "numpy")


@pytest.mark.skipif(not fluidsynth_available(), reason="pyfluidsynth or a General MIDI soundfont is not installed")
def test_fluidsynth_renders_audible_clip(tmp_path: Path) -> None:
    info = render_audio(four_track_piece(), tmp_path / "fs", synth="fluidsynth")
    assert info.synth == "fluidsynth" and info.soundfont and Path(info.soundfont).is_file()
    samples, rate = decoded(info.path)
    assert len(samples) / rate == pytest.approx(4.5, abs=0.06)
    assert rms(samples[: int(4.0 * rate)]) > 0.02
