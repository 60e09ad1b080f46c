"""Render a Piece or MIDI file to a small compressed audio file for the book.

Two synthesizers, chosen automatically (``synth="auto"``):

* ``fluidsynth`` — a General MIDI soundfont synth (FluidSynth through ``pretty_midi``), used when
  the ``pyfluidsynth`` package imports and a GM soundfont is installed (``LLMMUSIC_SOUNDFONT``, or a
  Debian soundfont package such as ``timgm6mb-soundfont`` / ``fluid-soundfont-gm``);
* ``numpy`` — a plain additive synthesizer written here: one timbre per track (melody, chords,
  bass) built from a few harmonics with an attack/decay envelope, and drums as noise bursts
  (kick: falling sine; snare: noise + tone; hi-hat: high-passed noise).

The clip is written as MP3 (MPEG-1 Layer III, via libsndfile >= 1.1 in ``soundfile``) or, where
that is unavailable, OGG/Vorbis. :class:`AudioInfo` says which synthesizer and format made it.

Used in: notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py (through
``llmmusic.book.provenance.Provenance.audio``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SOUNDFONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
SYNTHS = ("auto", "fluidsynth", "numpy")
PEAK = 0.89  # normalised peak amplitude (headroom for the lossy encoder)


@dataclass
class AudioInfo:
    """What :func:`render_audio` wrote.

    Attributes:
        path: the audio file.
        synth: ``fluidsynth`` or ``numpy``.
        soundfont: the soundfont file (fluidsynth only).
        duration_s: length in seconds.
        sample_rate: samples per second.
        format: ``mp3`` or ``ogg``.
        rms: root-mean-square level of the written signal (0 = silent).
    """

    path: Path
    synth: str
    soundfont: str | None
    duration_s: float
    sample_rate: int
    format: str
    rms: float


# --------------------------------------------------------------------------------------------- discovery
def find_soundfont() -> Path | None:
    """The General MIDI soundfont to use: ``LLMMUSIC_SOUNDFONT`` if set, else the first installed candidate."""
    env = os.environ.get("LLMMUSIC_SOUNDFONT")
    if env:
        return Path(env) if Path(env).is_file() else None
    for candidate in SOUNDFONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def fluidsynth_available() -> bool:
    """True if FluidSynth can render here (``pyfluidsynth`` imports and a soundfont is installed)."""
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return False
    return find_soundfont() is not None


def best_format() -> str:
    """``mp3`` if this libsndfile can write MPEG-1 Layer III, else ``ogg`` (Vorbis)."""
    import soundfile as sf

    return "mp3" if "MPEG_LAYER_III" in sf.available_subtypes("MP3") else "ogg"


# --------------------------------------------------------------------------------------------- synthesis
def _envelope(n: int, sr: int, attack_s: float, decay_s: float, release_s: float = 0.03) -> np.ndarray:
    """Attack, exponential decay, and a short release to zero at the end of ``n`` samples."""
    t = np.arange(n) / sr
    env = np.exp(-t / decay_s) if decay_s > 0 else np.ones(n)
    a = max(1, int(attack_s * sr))
    env[: min(a, n)] *= np.linspace(0.0, 1.0, min(a, n), endpoint=False)
    r = min(n, max(1, int(release_s * sr)))
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


# track role -> (harmonic amplitudes, attack s, decay s)
_TIMBRES: dict[str, tuple[tuple[float, ...], float, float]] = {
    "melody": ((1.0, 0.5, 0.33, 0.2, 0.12, 0.08), 0.008, 0.9),   # bright, plucked
    "chords": ((1.0, 0.3, 0.12, 0.05), 0.03, 1.6),               # soft, sustained
    "bass": ((1.0, 0.45, 0.15), 0.005, 0.7),                     # round, low
}


def _role(instrument: Any) -> str:
    """The timbre of a pretty_midi instrument: by track name, else by GM program."""
    name = (instrument.name or "").lower()
    for role in ("melody", "chords", "bass"):
        if role in name:
            return role
    return "bass" if 32 <= instrument.program <= 39 else "melody"


def _tone(pitch: int, n: int, sr: int, role: str) -> np.ndarray:
    harmonics, attack, decay = _TIMBRES[role]
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    t = np.arange(n) / sr
    wave = np.zeros(n)
    for k, amp in enumerate(harmonics, 1):
        if f0 * k < sr / 2:
            wave += amp * np.sin(2 * np.pi * f0 * k * t)
    return wave / sum(harmonics) * _envelope(n, sr, attack, decay)


def _drum(pitch: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A drum hit by General MIDI key: kick 35/36, snares 37-40, hi-hats 42/44/46, toms, cymbals."""
    if pitch in (35, 36):  # kick: sine falling from 110 to 45 Hz
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        freq = 45 + 65 * np.exp(-t / 0.04)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.09)
    if pitch in (37, 38, 39, 40):  # snare / clap: noise and a 190 Hz body
        n = int(0.2 * sr)
        t = np.arange(n) / sr
        return (0.7 * rng.standard_normal(n) + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.05)
    if pitch in (42, 44, 46, 49, 51, 52, 55, 57, 59):  # hi-hats and cymbals: high-passed noise
        decay = 0.03 if pitch in (42, 44) else 0.25
        n = int(min(1.0, 6 * decay) * sr)
        noise = np.diff(rng.standard_normal(n + 1))
        return 0.35 * noise * np.exp(-np.arange(n) / sr / decay)
    n = int(0.3 * sr)  # toms and the rest: a pitched thud
    t = np.arange(n) / sr
    f = 80 + 6 * (pitch - 41)
    return np.sin(2 * np.pi * f * t) * np.exp(-t / 0.12)


def additive_synth(pm: Any, sample_rate: int = 22050, seed: int = 0) -> np.ndarray:
    """Synthesize a ``pretty_midi.PrettyMIDI`` with the built-in numpy synthesizer.

    Args:
        pm: the MIDI data.
        sample_rate: samples per second.
        seed: seed of the drum noise (the output is deterministic).
    Returns:
        Mono float64 samples (not normalised), long enough for every note and its decay.
    """
    rng = np.random.default_rng(seed)
    end = pm.get_end_time() + 1.0
    out = np.zeros(int(end * sample_rate) + 1)
    for instrument in pm.instruments:
        role = "drums" if instrument.is_drum else _role(instrument)
        for note in instrument.notes:
            i0 = int(note.start * sample_rate)
            gain = (max(note.velocity, 1) / 127.0) ** 1.5
            if role == "drums":
                wave = _drum(note.pitch, sample_rate, rng)
            else:
                n = max(1, int((note.end - note.start) * sample_rate))
                wave = _tone(note.pitch, n, sample_rate, role)
            wave = wave[: len(out) - i0]
            out[i0:i0 + len(wave)] += gain * wave
    return out


def fluidsynth_synth(pm: Any, sample_rate: int = 22050, soundfont: str | Path | None = None) -> np.ndarray:
    """Synthesize with FluidSynth and a General MIDI soundfont (see :func:`find_soundfont`)."""
    sf2 = Path(soundfont) if soundfont is not None else find_soundfont()
    if sf2 is None:
        raise RuntimeError("no General MIDI soundfont found; install timgm6mb-soundfont or set LLMMUSIC_SOUNDFONT")
    return np.asarray(pm.fluidsynth(fs=sample_rate, synthesizer=str(sf2)), dtype=np.float64)


# --------------------------------------------------------------------------------------------- rendering
def _to_pretty_midi(source: Any) -> Any:
    import pretty_midi

    if isinstance(source, pretty_midi.PrettyMIDI):
        return source
    if isinstance(source, (str, Path)):
        return pretty_midi.PrettyMIDI(str(source))
    from llmmusic.data.midi import piece_to_midi

    return piece_to_midi(source)


def render_audio(source: Any, out: str | Path, *, sample_rate: int = 22050, synth: str = "auto",
                 format: str = "auto", tail_s: float = 0.5, soundfont: str | Path | None = None) -> AudioInfo:
    """Render a Piece, MIDI file or PrettyMIDI to a compressed mono audio file.

    Args:
        source: a :class:`~llmmusic.data.piece.Piece`, a MIDI file path or a ``pretty_midi.PrettyMIDI``.
        out: output path; its suffix is replaced by the format's (``.mp3`` / ``.ogg``).
        sample_rate: samples per second (22050 keeps clips small).
        synth: ``auto`` (FluidSynth when available, else numpy), ``fluidsynth`` or ``numpy``.
        format: ``auto`` (mp3 if supported, else ogg), ``mp3`` or ``ogg``.
        tail_s: seconds kept after the last note ends (the decay).
        soundfont: a .sf2 file for FluidSynth (default :func:`find_soundfont`).
    Returns:
        :class:`AudioInfo` of the written file.
    """
    import soundfile as sf

    from llmmusic import atomic

    if synth not in SYNTHS:
        raise ValueError(f"synth must be one of {SYNTHS}, got {synth!r}")
    pm = _to_pretty_midi(source)
    if pm.get_end_time() <= 0:
        raise ValueError(f"{source!r}: nothing to render (no notes)")
    use = synth
    if use == "auto":
        use = "fluidsynth" if (soundfont is not None or fluidsynth_available()) else "numpy"
    sf2 = None
    if use == "fluidsynth":
        sf2 = str(Path(soundfont) if soundfont is not None else find_soundfont())
        samples = fluidsynth_synth(pm, sample_rate, sf2)
    else:
        samples = additive_synth(pm, sample_rate)
    length = int((pm.get_end_time() + tail_s) * sample_rate)
    samples = np.pad(samples, (0, max(0, length - len(samples))))[:length]
    fade = min(length, int(0.05 * sample_rate))
    samples[length - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.max(np.abs(samples)))
    if peak > 0:
        samples = samples * (PEAK / peak)
    fmt = best_format() if format == "auto" else format
    if fmt not in ("mp3", "ogg"):
        raise ValueError(f"format must be 'auto', 'mp3' or 'ogg', got {format!r}")
    path = Path(out).with_suffix("." + fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.{fmt}")
    kind = ("MP3", "MPEG_LAYER_III") if fmt == "mp3" else ("OGG", "VORBIS")
    sf.write(str(tmp), samples.astype(np.float32), sample_rate, format=kind[0], subtype=kind[1])
    atomic.write_bytes(path, tmp.read_bytes())
    tmp.unlink()
    return AudioInfo(path=path, synth=use, soundfont=sf2, duration_s=length / sample_rate, sample_rate=sample_rate,
                     format=fmt, rms=float(np.sqrt(np.mean(samples ** 2))))
