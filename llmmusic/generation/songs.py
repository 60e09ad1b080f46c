"""What a generation run makes: its configuration, its songs (genre x style x index, each with mood,
temperature and seed) and the order they are asked in, so that any prefix of a run is balanced.

Used in: :mod:`llmmusic.generation.generate` (the runner), :mod:`llmmusic.generation.batch`,
:mod:`llmmusic.analysis.probe`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmmusic.data.dataset import PARAMS, load_params
from llmmusic.data.taxonomy import MOODS, get_taxonomy, paper_temperature
from llmmusic.errors import UserError
from llmmusic.generation.variants import get_variant


DECODINGS = ("schema", "free")


@dataclass
class GenerateConfig:
    """Everything that defines a generation run.

    Attributes:
        out: the dataset folder.
        taxonomy: ``paper`` or ``lakh``.
        genres, styles: a slice of the taxonomy (``None`` = all).
        per_combination: songs per (genre, style).
        limit: at most this many songs in this run (``None`` = all pending).
        pilot: instead of the grid, the pilot selection: ``pilot`` songs per genre, song index 0, styles
            spread evenly (:func:`pilot_pairs`); it selects songs, like ``limit``, and can be grown later.
        variant: prompt variant, a key of :data:`llmmusic.generation.variants.VARIANTS`.
        decoding: ``schema`` (structured outputs) or ``free`` (the paper's free-form reply).
        max_attempts: attempts per song before it is given up (the paper: 5).
        max_tokens: reply budget (default: the variant's; 1200 as the paper for ``paper``).
        top_p: nucleus sampling (the paper: 0.9).
        repeat_penalty: llama.cpp repeat penalty; ``None`` = the engine default (a documented deviation when set).
        seed: base seed; each attempt's seed is derived from it, the combination, index and attempt.
        writer: MIDI writer, ``exact`` or ``official`` (the paper script's serialising writer).
    """

    out: Path
    taxonomy: str = "paper"
    genres: list[str] | None = None
    styles: list[str] | None = None
    per_combination: int = 1
    limit: int | None = None
    pilot: int | None = None
    variant: str = "paper"
    decoding: str = "schema"
    max_attempts: int = 5
    max_tokens: int | None = None
    top_p: float = 0.9
    repeat_penalty: float | None = None
    seed: int = 0
    writer: str = "exact"

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.decoding not in DECODINGS:
            raise UserError(f"decoding must be one of {DECODINGS}, got {self.decoding!r}")
        for name in ("per_combination", "max_attempts", "limit", "pilot", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        variant = get_variant(self.variant)
        tax = get_taxonomy(self.taxonomy)
        for name, chosen, allowed in (("genre", self.genres, tax.genres), ("style", self.styles, tax.styles)):
            unknown = sorted(set(chosen or []) - set(allowed))
            if unknown:
                raise UserError(f"unknown {name}(s) {unknown} for taxonomy {tax.name!r}; expected some of {list(allowed)}")
            if chosen is not None and not chosen:
                raise UserError(f"an empty list of {name}s selects nothing; give None for all")
        if self.max_tokens is None:
            self.max_tokens = variant.max_tokens

    @classmethod
    def from_dataset(cls, dataset_dir: str | Path, **overrides: Any) -> "GenerateConfig":
        """The configuration recorded in a dataset's ``dataset.json`` (plus ``overrides``)."""
        recorded = load_params(dataset_dir)
        if not recorded:
            raise UserError(f"{Path(dataset_dir) / PARAMS}: no such file (is {dataset_dir} a generated dataset?)")
        known = {k: recorded[k] for k in cls(out=dataset_dir).defining() if k in recorded}
        return cls(out=Path(dataset_dir), **{**known, **overrides})

    def song(self, genre: str, style: str, index: int) -> "Song":
        """The planned song for one cell of the grid (its mood, temperature and seed)."""
        seed = song_seed(self.seed, genre, style, index)
        return Song(genre, style, index, MOODS[random.Random(seed).randrange(len(MOODS))],
                    paper_temperature(index), seed)

    def defining(self) -> dict[str, Any]:
        """The parameters that fix what a song's reply is (must match to resume a dataset)."""
        return {k: getattr(self, k) for k in ("taxonomy", "variant", "decoding", "max_attempts", "max_tokens",
                                              "top_p", "repeat_penalty", "seed", "writer")}


@dataclass(frozen=True)
class Song:
    """One cell of the grid: a (genre, style, index) song with its mood, temperature and seed."""

    genre: str
    style: str
    index: int
    mood: str
    temperature: float
    seed: int

    def attempt_seed(self, attempt: int) -> int:
        """The sampling seed of the ``attempt``-th try (0-based)."""
        return (self.seed + 7919 * attempt) % (2**31 - 1)


def song_seed(base: int, genre: str, style: str, index: int) -> int:
    """A stable 31-bit seed for one song."""
    digest = hashlib.sha256(f"{base}|{genre}|{style}|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def diagonal_order(genres: list[str], styles: list[str]) -> list[tuple[str, str]]:
    """Every (genre, style) once, by diagonals: pass ``d`` pairs genre ``i`` with style ``(i + d) % S``.

    Any prefix is balanced: genre counts differ by at most one, and so do style counts within
    each completed pass (a genre-major order would fill the first genres only).
    """
    n_g, n_s = len(genres), len(styles)
    if n_g > n_s:  # walk the longer axis inside each pass
        return [(g, s) for s, g in diagonal_order(styles, genres)]
    return [(genres[i], styles[(i + d) % n_s]) for d in range(n_s) for i in range(n_g)]


def pilot_pairs(genres: list[str], styles: list[str], per_genre: int) -> list[tuple[str, str]]:
    """``per_genre`` styles for every genre, spread evenly over the styles: genre ``i`` takes styles
    ``i * per_genre + k`` (mod the style count), ``k`` outer so any prefix is balanced across genres."""
    n_s = len(styles)
    return [(g, styles[(i * per_genre + k) % n_s]) for k in range(per_genre) for i, g in enumerate(genres)]


def plan_songs(config: GenerateConfig) -> list[Song]:
    """All songs of the run in index-major order (every combination's song 0 first), each index
    in :func:`diagonal_order`, so a partial run covers genres and styles evenly (with ``pilot``:
    the :func:`pilot_pairs`, song index 0)."""
    tax = get_taxonomy(config.taxonomy)
    genres = [g for g in tax.genres if config.genres is None or g in config.genres]
    styles = [s for s in tax.styles if config.styles is None or s in config.styles]
    if config.pilot is not None:
        return [config.song(genre, style, 0) for genre, style in pilot_pairs(genres, styles, config.pilot)]
    return [config.song(genre, style, index)
            for index in range(config.per_combination) for genre, style in diagonal_order(genres, styles)]
