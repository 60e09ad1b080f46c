"""Melody phrases, their tokens, n-gram baselines and the next-phrase ranking protocol.

The data side of the melody-completion experiment (the model itself is in
:mod:`llmmusic.experiments.melody.model`):

* **Songs and phrases.** A song's melody track is quantised to a sixteenth-note grid and cut into
  phrases of ``phrase_bars`` bars on the beat grid (480 ticks per quarter, 1,920 per bar: every
  corpus is read as 4/4, as :class:`~llmmusic.data.piece.Piece` is). Phrase onsets are relative to the
  phrase start, so a phrase from bar 1 of one song and one from bar 9 of another are comparable.
* **Tokens.** :class:`MelodyTokenizer` wraps miditok's REMI tokenizer (no velocities, no time
  signatures, sixteenth-note positions, durations up to 8 beats): a phrase is
  ``Bar Position Pitch Duration Position Pitch Duration ... [Bar ...]`` with exactly
  ``phrase_bars`` Bar tokens, so phrases concatenate into a song.
* **Splits.** Song-level train / validation / test splits with a fixed seed.
* **Baselines.** Add-k smoothed n-gram models (:class:`NGramModel`) fitted on the same sequences.
* **Next-phrase ranking** (the PiRhDy / MusicBERT protocol): for a context phrase, the true next
  phrase is ranked among ``n_candidates`` (50) candidates; the 49 others are random next-phrases
  of *other* songs of the same split, never identical to the true one (as in PiRhDy's
  dataset code). A model ranks candidates by its log-likelihood of the candidate given the context.

Used in: notebooks/05_melody_completion.py (and ``llmmusic melody``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
import pandas as pd

from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, Note, Piece

#: Quantisation grid of onsets and durations: a sixteenth note, in ticks.
GRID = TICKS_PER_QUARTER // 4
#: The corpora this experiment knows: the generated dataset and two human collections.
CORPORA: tuple[str, ...] = ("llm-midi", "pop909", "folk")
#: The candidates per query in the PiRhDy / MusicBERT protocol (1 true + 49 others).
N_CANDIDATES = 50
#: The HITS@k cut-offs reported by PiRhDy and MusicBERT.
HITS_AT: tuple[int, ...] = (1, 5, 10, 25)
#: Velocity given to decoded notes (tokens carry none).
DECODED_VELOCITY = 90


# --------------------------------------------------------------------------------------------- phrases
@dataclass(frozen=True)
class Phrase:
    """A window of ``bars`` bars of one song's melody.

    Attributes:
        song: id of the song it comes from.
        index: phrase number within the song (0 = the first ``bars`` bars).
        bars: length in bars.
        notes: notes with onsets relative to the phrase start (ticks, 480 per quarter).
    """

    song: str
    index: int
    bars: int
    notes: tuple[Note, ...]

    @property
    def is_empty(self) -> bool:
        """True when no note starts in the phrase."""
        return not self.notes


@dataclass
class Song:
    """One song's melody cut into consecutive phrases (empty ones included, so adjacency is kept).

    Attributes:
        song: unique id within its corpus (e.g. the MIDI path or POP909 number).
        corpus: ``llm-midi``, ``pop909`` or ``folk``.
        phrases: phrases 0, 1, 2, ... in order.
        meta: the source piece's metadata.
    """

    song: str
    corpus: str
    phrases: list[Phrase]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nonempty(self) -> int:
        """Phrases holding at least one note."""
        return sum(not p.is_empty for p in self.phrases)

    def notes(self) -> list[Note]:
        """All melody notes back on the song's own time line (ticks from the song start)."""
        return [Note(n.pitch, n.duration, n.velocity, n.start + p.index * p.bars * TICKS_PER_BAR)
                for p in self.phrases for n in p.notes]


def quantise(notes: Iterable[Note], grid: int = GRID) -> list[Note]:
    """Snap onsets to the nearest grid line and durations to a positive multiple of the grid.

    Args:
        notes: notes in ticks.
        grid: grid step in ticks (default a sixteenth note).
    Returns:
        Sorted notes (by start, pitch); exact duplicates (same start and pitch) kept once.
    """
    out: dict[tuple[int, int], Note] = {}
    for n in notes:
        start = int(round(n.start / grid)) * grid
        duration = max(grid, int(round(n.duration / grid)) * grid)
        out.setdefault((start, n.pitch), Note(n.pitch, duration, n.velocity, max(0, start)))
    return sorted(out.values(), key=lambda n: (n.start, n.pitch))


def split_phrases(notes: Sequence[Note], phrase_bars: int = 1, song: str = "",
                  n_phrases: int | None = None) -> list[Phrase]:
    """Cut a melody into consecutive phrases of ``phrase_bars`` bars on the bar grid.

    A note belongs to the phrase its onset falls in (it may sound on into the next one).

    Args:
        notes: notes in ticks from the song start (quantise first: an onset at tick 1,915
            would otherwise fall in bar 0).
        phrase_bars: bars per phrase.
        song: song id stored in each phrase.
        n_phrases: number of phrases (default: up to the phrase of the last onset).
    Returns:
        Phrases 0 .. n-1, empty ones included.
    """
    if phrase_bars < 1:
        raise ValueError(f"phrase_bars must be >= 1, got {phrase_bars}")
    span = phrase_bars * TICKS_PER_BAR
    if n_phrases is None:
        n_phrases = (max(n.start for n in notes) // span + 1) if notes else 0
    buckets: list[list[Note]] = [[] for _ in range(n_phrases)]
    for n in notes:
        k = n.start // span
        if 0 <= k < n_phrases:
            buckets[k].append(Note(n.pitch, n.duration, n.velocity, n.start - k * span))
    return [Phrase(song, i, phrase_bars, tuple(b)) for i, b in enumerate(buckets)]


def song_id(piece: Piece, corpus: str, position: int) -> str:
    """A piece's song id: ``corpus:`` + the first of meta ``song``, ``song_id``, ``id``, the file stem of
    ``path``, ``source``; else ``corpus:#position``."""
    for key in ("song", "song_id", "id", "path", "source"):
        value = piece.meta.get(key)
        if value not in (None, ""):
            return f"{corpus}:{Path(str(value)).stem if key == 'path' else value}"
    return f"{corpus}:#{position}"


def song_from_piece(piece: Piece, corpus: str, phrase_bars: int = 1, max_bars: int | None = None,
                    song: str | None = None) -> Song:
    """The melody track of ``piece`` as a :class:`Song` of phrases.

    Leading empty phrases (an intro before the melody enters) are dropped: the song starts at
    the first phrase holding a note, on the same bar grid.

    Args:
        piece: a piece (only its melody track is used).
        corpus: corpus name stored in the song.
        phrase_bars: bars per phrase.
        max_bars: keep only notes starting in the first ``max_bars`` bars (rounded down to whole
            phrases) counted from the first phrase with a note; ``None`` keeps all.
        song: song id (default :func:`song_id`).
    """
    notes = quantise(piece.melody)
    span = phrase_bars * TICKS_PER_BAR
    if notes:  # drop leading empty phrases (intros before the melody), keeping the bar grid
        shift = (notes[0].start // span) * span
        notes = [Note(n.pitch, n.duration, n.velocity, n.start - shift) for n in notes]
    n_phrases = None
    if max_bars is not None:
        n_phrases = max(0, max_bars // phrase_bars)
        notes = [n for n in notes if n.start < n_phrases * phrase_bars * TICKS_PER_BAR]
        if notes:
            n_phrases = min(n_phrases, max(n.start for n in notes) // span + 1)
        else:
            n_phrases = 0
    sid = song if song is not None else song_id(piece, corpus, 0)
    return Song(sid, corpus, split_phrases(notes, phrase_bars, sid, n_phrases), dict(piece.meta))


def songs_from_pieces(pieces: Sequence[Piece], corpus: str, phrase_bars: int = 1,
                      max_bars: int | None = None) -> list[Song]:
    """Every piece with at least one non-empty phrase as a :class:`Song` (ids made unique).

    Args:
        pieces: pieces of one corpus.
        corpus: its name.
        phrase_bars: bars per phrase.
        max_bars: see :func:`song_from_piece`.
    """
    songs, seen = [], set()
    for i, piece in enumerate(pieces):
        sid = song_id(piece, corpus, i)
        if sid in seen:
            sid = f"{sid}#{i}"
        seen.add(sid)
        s = song_from_piece(piece, corpus, phrase_bars, max_bars, song=sid)
        if s.n_nonempty:
            songs.append(s)
    return songs


def load_corpus(name: str, *, dataset: str | Path | None = None, limit: int | None = None,
                phrase_bars: int = 1, max_bars: int | None = None) -> list[Song]:
    """Load one corpus's melodies as songs.

    Args:
        name: ``llm-midi`` (the generated dataset's melody tracks), ``pop909`` (MELODY track of
            ``shared/data/pop909``) or ``folk`` (music21's bundled Essen / O'Neill melodies).
        dataset: the LLM-MIDI dataset folder (default: :func:`llmmusic.data.dataset.pick_dataset`).
        limit: at most this many pieces.
        phrase_bars: bars per phrase.
        max_bars: keep only the first ``max_bars`` bars of each song.
    Returns:
        Songs with at least one non-empty phrase.
    Raises:
        FileNotFoundError: the corpus is not available here (no dataset; no shared data).
    """
    if name == "llm-midi":
        from llmmusic.data.dataset import load_pieces
        from llmmusic.data.dataset import pick_dataset

        folder = pick_dataset(dataset)
        if folder is None:
            raise FileNotFoundError("no generated dataset under data/llm-midi (make one with `llmmusic generate`)")
        pieces = load_pieces(folder, limit=limit)
    elif name == "pop909":
        from llmmusic.data.corpora import pop909_melodies, shared_data_dir

        if shared_data_dir() is None:
            raise FileNotFoundError("POP909 needs the shared data folder (../shared/data or $LLMMUSIC_SHARED_DATA)")
        pieces = pop909_melodies(limit=limit)
    elif name == "folk":
        from llmmusic.data.corpora import music21_folk

        pieces = music21_folk(limit=limit)
    else:
        raise ValueError(f"unknown corpus {name!r}; expected one of {CORPORA}")
    return songs_from_pieces(pieces, name, phrase_bars, max_bars)


SPLITS: tuple[str, ...] = ("train", "validation", "test")


def split_songs(songs: Sequence[Song], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                seed: int = 0) -> dict[str, list[Song]]:
    """Song-level train / validation / test split (no song is in two splits).

    Songs are ordered by id, shuffled with ``seed`` and cut by ``fractions``; the same songs and
    seed always give the same split. Validation and test get at least one song each when there
    are three or more songs.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    ordered = sorted(songs, key=lambda s: s.song)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n = len(ordered)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:
        n_val, n_test = max(1, n_val), max(1, n_test)
    n_train = n - n_val - n_test
    shuffled = [ordered[i] for i in order]
    return {"train": shuffled[:n_train], "validation": shuffled[n_train:n_train + n_val],
            "test": shuffled[n_train + n_val:]}


# --------------------------------------------------------------------------------------------- tokens
class MelodyTokenizer:
    """REMI tokens (miditok) for monophonic or polyphonic melody phrases.

    Vocabulary: PAD, BOS, EOS, Bar, Pitch_21..109, Duration (sixteenth steps up to 4 beats, then
    eighth steps up to 8 beats), Position_0..15 (sixteenths in the bar). Velocity is not encoded.
    Notes outside the pitch range are dropped by miditok; longer notes are cut to 8 beats.

    Args:
        pitch_range: lowest and highest MIDI pitch (inclusive).
    """

    def __init__(self, pitch_range: tuple[int, int] = (21, 109)) -> None:
        from miditok import REMI, TokenizerConfig

        self.pitch_range = tuple(pitch_range)
        config = TokenizerConfig(pitch_range=self.pitch_range, beat_res={(0, 4): 4, (4, 8): 2},
                                 use_velocities=False, use_time_signatures=False, use_pitchdrum_tokens=False,
                                 special_tokens=["PAD", "BOS", "EOS"])
        self.remi = REMI(config)
        self.vocab: dict[str, int] = dict(self.remi.vocab)
        self.names: list[str] = [None] * len(self.vocab)  # type: ignore[list-item]
        for token, idx in self.vocab.items():
            self.names[idx] = token
        self.pad_id = self.vocab["PAD_None"]
        self.bos_id = self.vocab["BOS_None"]
        self.eos_id = self.vocab["EOS_None"]
        self.bar_id = self.vocab["Bar_None"]

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return len(self.names)

    @property
    def n_targets(self) -> int:
        """Tokens a model can be asked to predict (all but PAD and BOS): the chance denominator."""
        return self.vocab_size - 2

    def describe(self) -> dict[str, Any]:
        """Tokenizer facts for provenance and checkpoints."""
        import importlib.metadata as md

        return {"tokenizer": "miditok.REMI", "miditok": md.version("miditok"), "pitch_range": list(self.pitch_range),
                "grid_ticks": GRID, "vocab_size": self.vocab_size}

    def token_type(self, idx: int) -> str:
        """The type of a token id: ``Bar``, ``Position``, ``Pitch``, ``Duration``, ``PAD``, ``BOS`` or ``EOS``."""
        return self.names[idx].split("_", 1)[0]

    def encode_notes(self, notes: Sequence[Note], bars: int) -> list[int]:
        """Token ids of notes whose onsets lie in ``[0, bars * 1920)`` ticks, with exactly ``bars`` Bar tokens.

        Args:
            notes: notes relative to the window start (ticks, 480 per quarter).
            bars: window length in bars (trailing empty bars get their Bar token too).
        """
        from symusic import Note as SNote
        from symusic import Score, Track

        ids: list[int] = []
        if notes:
            score = Score(TICKS_PER_QUARTER)
            track = Track("melody", 0, False)
            for n in notes:
                track.notes.append(SNote(int(n.start), int(n.duration), int(n.pitch), 80))
            score.tracks.append(track)
            seqs = self.remi.encode(score)
            seq = seqs[0] if isinstance(seqs, list) else seqs
            ids = list(seq.ids)
        missing = bars - sum(1 for i in ids if i == self.bar_id)
        if missing < 0:
            raise ValueError(f"notes span more than {bars} bars (last onset {max(n.start for n in notes)} ticks)")
        return ids + [self.bar_id] * missing

    def encode_phrase(self, phrase: Phrase) -> list[int]:
        """Token ids of one phrase (see :meth:`encode_notes`)."""
        return self.encode_notes(phrase.notes, phrase.bars)

    def decode(self, ids: Sequence[int], velocity: int = DECODED_VELOCITY) -> list[Note]:
        """Notes of a token sequence (ticks from the first Bar, 480 per quarter).

        Special tokens are skipped; ill-formed stretches (a Pitch without a Duration, ...) are
        skipped by miditok's decoder.
        """
        from miditok import TokSequence

        body = [int(i) for i in ids if int(i) not in (self.pad_id, self.bos_id, self.eos_id)]
        if not any(self.names[i].startswith("Pitch") for i in body):
            return []
        score = self.remi.decode([TokSequence(ids=body)])
        scale = TICKS_PER_QUARTER / score.ticks_per_quarter
        notes = [Note(int(n.pitch), int(round(n.duration * scale)), velocity, int(round(n.time * scale)))
                 for t in score.tracks for n in t.notes]
        return sorted(notes, key=lambda n: (n.start, n.pitch))


def phrase_tokens(song: Song, tokenizer: MelodyTokenizer) -> list[list[int]]:
    """Token ids of each phrase of a song, in order (empty phrases are their Bar tokens)."""
    return [tokenizer.encode_phrase(p) for p in song.phrases]


def training_windows(songs: Sequence[Song], tokenizer: MelodyTokenizer, max_len: int = 256,
                     max_phrases: int | None = 4, stride: int | None = 1) -> list[list[int]]:
    """Model sequences: ``BOS`` + up to ``max_phrases`` consecutive phrases, ``EOS`` at the song end.

    A window starts at a phrase boundary every ``stride`` phrases (1: at every phrase, so the
    model sees mid-song starts just as the ranking queries present them after BOS; ``None``:
    non-overlapping windows) and holds as many whole phrases as fit in ``max_len`` tokens and
    ``max_phrases`` phrases (a single phrase longer than ``max_len`` is cut).

    Args:
        songs: the songs.
        tokenizer: phrase tokens.
        max_len: most tokens per window (BOS and EOS included).
        max_phrases: most phrases per window (``None``: no limit).
        stride: phrases between window starts (``None``: the previous window's length).
    Returns:
        Lists of token ids.
    """
    windows: list[list[int]] = []
    limit = max_phrases or 10**9
    for song in songs:
        toks = phrase_tokens(song, tokenizer)
        start = 0
        while start < len(toks):
            seq, k = [tokenizer.bos_id], start
            while k < len(toks) and k - start < limit and len(seq) + len(toks[k]) <= max_len:
                seq += toks[k]
                k += 1
            if k == start:  # one phrase longer than max_len
                seq = (seq + toks[k])[:max_len]
                k += 1
            elif k == len(toks) and len(seq) < max_len:
                seq.append(tokenizer.eos_id)
            if len(seq) > 1:
                windows.append(seq)
            start = start + stride if stride else k
    return windows


def evaluation_sequences(songs: Sequence[Song], tokenizer: MelodyTokenizer, max_len: int = 256,
                         max_phrases: int | None = 4) -> list[list[int]]:
    """Held-out sequences for next-token metrics: each song from its start in non-overlapping windows."""
    return training_windows(songs, tokenizer, max_len, max_phrases, stride=None)


# --------------------------------------------------------------------------------------------- scoring
class SequenceScorer(Protocol):
    """What a model offers to the evaluation: per-token log-probabilities and arg-max predictions."""

    def token_scores(self, sequences: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each sequence: (log p(token_i | tokens_<i), arg-max prediction) for i = 1 .. len-1."""
        ...


def next_token_metrics(scorer: SequenceScorer, sequences: Sequence[Sequence[int]],
                       tokenizer: MelodyTokenizer) -> dict[str, float]:
    """Next-token accuracy and perplexity of ``scorer`` on ``sequences`` (every token after BOS).

    Returns:
        dict with n_tokens, accuracy, perplexity, nll (nats per token) and accuracy per token
        type (``accuracy_Pitch``, ``accuracy_Duration``, ``accuracy_Position``, ``accuracy_Bar``).
    """
    logps, hits, types = [], [], []
    for seq, (lp, pred) in zip(sequences, scorer.token_scores(sequences)):
        target = np.asarray(seq[1:])
        logps.append(lp)
        hits.append(pred == target)
        types += [tokenizer.token_type(int(t)) for t in target]
    lp_all = np.concatenate(logps) if logps else np.zeros(0)
    hit_all = np.concatenate(hits) if hits else np.zeros(0, bool)
    out = {"n_tokens": int(lp_all.size), "accuracy": float(hit_all.mean()) if lp_all.size else float("nan"),
           "nll": float(-lp_all.mean()) if lp_all.size else float("nan")}
    out["perplexity"] = float(math.exp(out["nll"])) if lp_all.size else float("nan")
    types_arr = np.asarray(types)
    for kind in ("Pitch", "Duration", "Position", "Bar"):
        mask = types_arr == kind
        out[f"accuracy_{kind}"] = float(hit_all[mask].mean()) if mask.any() else float("nan")
    return out


def chance_next_token(tokenizer: MelodyTokenizer) -> dict[str, float]:
    """Uniform guessing over the predictable tokens: accuracy 1/V', perplexity V'."""
    v = tokenizer.n_targets
    return {"accuracy": 1.0 / v, "perplexity": float(v), "nll": math.log(v)}


class NGramModel:
    """An add-k smoothed n-gram model over token ids (order 1 = unigram, 2 = bigram, 3 = trigram).

    ``p(w | h) = (count(h, w) + k) / (count(h) + k * V')`` over the V' predictable tokens (all
    but PAD and BOS); histories shorter than ``order - 1`` are left-padded with BOS.

    Args:
        order: n of the n-gram (1 .. 3; counts are a dense V^n table).
        tokenizer: gives the vocabulary.
        k: additive smoothing constant.
    """

    def __init__(self, order: int, tokenizer: MelodyTokenizer, k: float = 0.1) -> None:
        if not 1 <= order <= 3:
            raise ValueError(f"order must be 1..3, got {order}")
        self.order, self.k = order, float(k)
        self.V = tokenizer.vocab_size
        self.bos, self.pad = tokenizer.bos_id, tokenizer.pad_id
        self.counts = np.zeros((self.V,) * order, dtype=np.float64)
        self._logp: np.ndarray | None = None

    @property
    def name(self) -> str:
        return {1: "unigram", 2: "bigram", 3: "trigram"}[self.order]

    def _padded(self, seq: Sequence[int]) -> np.ndarray:
        return np.asarray([self.bos] * (self.order - 1) + list(seq), dtype=np.int64)

    def _ngrams(self, seq: Sequence[int]) -> np.ndarray:
        """(n_targets, order) index rows for targets seq[1:] (the first token, BOS, is given)."""
        p = self._padded(seq)
        n = len(seq) - 1
        if self.order == 1:
            return p[1:, None]
        columns = [p[j + 1: j + 1 + n] for j in range(self.order - 1)] + [p[self.order: self.order + n]]
        return np.stack(columns, axis=1)

    def fit(self, sequences: Iterable[Sequence[int]]) -> "NGramModel":
        """Count n-grams of the training sequences (each starting with BOS)."""
        self.counts[:] = 0
        for seq in sequences:
            if len(seq) < 2:
                continue
            np.add.at(self.counts, tuple(self._ngrams(seq).T), 1.0)
        allowed = np.ones(self.V, bool)
        allowed[[self.bos, self.pad]] = False
        smoothed = (self.counts + self.k) * allowed
        self._logp = np.log(smoothed / smoothed.sum(axis=-1, keepdims=True), where=smoothed > 0,
                            out=np.full_like(smoothed, -np.inf))
        return self

    def _table(self) -> np.ndarray:
        if self._logp is None:
            raise RuntimeError("NGramModel is not fitted; call fit() first")
        return self._logp

    def token_scores(self, sequences: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-token log-probabilities and arg-max predictions (see :class:`SequenceScorer`)."""
        table = self._table()
        out = []
        for seq in sequences:
            grams = self._ngrams(seq)
            hist = tuple(grams[:, :-1].T)
            lp = table[hist + (grams[:, -1],)]
            rows = table[hist] if self.order > 1 else np.broadcast_to(table, (len(grams), self.V))
            out.append((lp, rows.argmax(axis=-1)))
        return out

    def continuation_log_probs(self, prefix: Sequence[int],
                               candidates: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Summed log-probability of each candidate's tokens after ``prefix`` and each candidate's length."""
        sums = np.empty(len(candidates))
        for c, cand in enumerate(candidates):
            lp, _ = self.token_scores([list(prefix) + list(cand)])[0]
            sums[c] = lp[len(prefix) - 1:].sum()
        return sums, np.asarray([len(c) for c in candidates], dtype=float)


def fit_ngram(order: int, tokenizer: MelodyTokenizer, train: Sequence[Sequence[int]],
              validation: Sequence[Sequence[int]] | None = None,
              ks: Sequence[float] = (0.001, 0.01, 0.1, 1.0)) -> NGramModel:
    """An n-gram model whose k is the one of ``ks`` with the lowest validation perplexity.

    Args:
        order: n.
        tokenizer: vocabulary.
        train: training sequences.
        validation: held-out sequences to choose k on (``None``: the first k).
        ks: candidate smoothing constants.
    """
    best, best_nll = None, math.inf
    for k in (ks if validation else ks[:1]):
        model = NGramModel(order, tokenizer, k).fit(train)
        if not validation:
            return model
        nll = -np.concatenate([lp for lp, _ in model.token_scores(validation)]).mean()
        if nll < best_nll:
            best, best_nll = model, nll
    assert best is not None
    return best


# --------------------------------------------------------------------------------------------- ranking
@dataclass
class Query:
    """One next-phrase ranking query.

    Attributes:
        song: the query's song.
        index: phrase index of the true next phrase in that song.
        context: token ids of the context phrase(s) (no BOS).
        candidates: token ids of the candidates; ``candidates[true_index]`` is the true next phrase.
        true_index: position of the true phrase among the candidates (random, seeded).
        candidate_songs: song of each candidate (the others are never ``song``).
        pool: where the other candidates came from: ``split`` or ``corpus`` (too few phrases in the split).
    """

    song: str
    index: int
    context: list[int]
    candidates: list[list[int]]
    true_index: int
    candidate_songs: list[str]
    pool: str = "split"


def _pairs(songs: Sequence[Song], context_phrases: int) -> list[tuple[Song, int]]:
    """(song, k) for every non-empty phrase k >= 1 whose previous phrase is non-empty."""
    out = []
    for s in songs:
        for k in range(max(1, context_phrases), len(s.phrases)):
            if not s.phrases[k].is_empty and not s.phrases[k - 1].is_empty:
                out.append((s, k))
    return out


def make_queries(songs: Sequence[Song], tokenizer: MelodyTokenizer, n_candidates: int = N_CANDIDATES,
                 context_phrases: int = 1, max_queries: int | None = None, seed: int = 0,
                 fallback: Sequence[Song] | None = None) -> list[Query]:
    """Next-phrase ranking queries over the songs of one split.

    For each (context, true next phrase) pair, ``n_candidates - 1`` other candidates are drawn
    without replacement from the next-phrases of the *other* songs of the split, skipping any
    whose tokens equal the true phrase's (PiRhDy's rule). If the split holds too few distinct
    phrases from other songs, candidates come from ``fallback`` (e.g. the whole corpus) and the
    query's ``pool`` says so.

    Args:
        songs: the evaluation split.
        tokenizer: tokens of the phrases.
        n_candidates: candidates per query (true one included).
        context_phrases: phrases of context before the true next phrase.
        max_queries: keep this many queries (a seeded random subset); ``None`` = all.
        seed: random seed (subset, candidates, position of the true phrase).
        fallback: songs to draw candidates from when the split is too small.
    Returns:
        Queries; empty if the songs hold no consecutive non-empty phrase pair.
    Raises:
        ValueError: not enough distinct phrases from other songs even in ``fallback``.
    """
    rng = np.random.default_rng(seed)
    pairs = _pairs(songs, context_phrases)
    if max_queries is not None and len(pairs) > max_queries:
        pick = np.sort(rng.choice(len(pairs), size=max_queries, replace=False))
        pairs = [pairs[i] for i in pick]
    cache: dict[tuple[str, int], list[int]] = {}

    def toks(s: Song, k: int) -> list[int]:
        key = (s.song, k)
        if key not in cache:
            cache[key] = tokenizer.encode_phrase(s.phrases[k])
        return cache[key]

    def pool_of(group: Sequence[Song]) -> list[tuple[str, tuple[int, ...]]]:
        return [(s.song, tuple(toks(s, k))) for s, k in _pairs(group, 1)]

    split_pool = pool_of(songs)
    corpus_pool: list[tuple[str, tuple[int, ...]]] | None = None
    queries = []
    for s, k in pairs:
        truth = toks(s, k)
        context = [t for j in range(k - context_phrases, k) for t in toks(s, j)]
        pool_name, pool = "split", split_pool
        usable = [i for i, (sid, t) in enumerate(pool) if sid != s.song and list(t) != truth]
        if len(usable) < n_candidates - 1 and fallback is not None:
            if corpus_pool is None:
                corpus_pool = pool_of(fallback)
            pool_name, pool = "corpus", corpus_pool
            usable = [i for i, (sid, t) in enumerate(pool) if sid != s.song and list(t) != truth]
        if len(usable) < n_candidates - 1:
            raise ValueError(f"song {s.song}: only {len(usable)} candidate phrases from other songs, "
                             f"need {n_candidates - 1} (use more songs or a larger test split)")
        others = [pool[i] for i in rng.choice(usable, size=n_candidates - 1, replace=False)]
        true_index = int(rng.integers(n_candidates))
        cands = [list(t) for _, t in others]
        songs_of = [sid for sid, _ in others]
        cands.insert(true_index, truth)
        songs_of.insert(true_index, s.song)
        queries.append(Query(s.song, k, context, cands, true_index, songs_of, pool_name))
    return queries


class ContinuationScorer(Protocol):
    """A model that scores candidate continuations of a prefix."""

    def continuation_log_probs(self, prefix: Sequence[int],
                               candidates: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(summed log-probability of each candidate's tokens given ``prefix``, number of tokens of each)."""
        ...


def query_scores(scorer: ContinuationScorer, queries: Sequence[Query], bos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood of every candidate given ``BOS + context``.

    Returns:
        ``(sum_logp, n_tokens)``, each of shape (n_queries, n_candidates).
    """
    sums, lens = [], []
    for q in queries:
        s, n = scorer.continuation_log_probs([bos_id] + q.context, q.candidates)
        sums.append(s)
        lens.append(n)
    return np.asarray(sums), np.asarray(lens)


def query_ranks(queries: Sequence[Query], sum_logp: np.ndarray, n_tokens: np.ndarray,
                normalise: bool = False) -> np.ndarray:
    """1-based rank of the true next phrase in each query.

    Args:
        queries: the queries.
        sum_logp, n_tokens: from :func:`query_scores`.
        normalise: rank by mean log-probability per token instead of the sum.
    Returns:
        int array (n_queries,). Ties go to the candidate listed first (the true phrase's position
        is random, so ties favour no one on average).
    """
    from llmmusic.analysis.metrics import ranks_from_scores

    if not len(queries):
        return np.zeros(0, dtype=int)
    scores = sum_logp / n_tokens if normalise else sum_logp
    n_c = scores.shape[1]
    return ranks_from_scores([q.true_index for q in queries], scores, list(range(n_c)))


def chance_ranking(n_candidates: int = N_CANDIDATES) -> dict[str, float]:
    """Expected MAP and HITS@k of a random ranking of ``n_candidates`` (one relevant item).

    MAP = mean of 1/r over r = 1..n = H_n / n; HITS@k = k / n.
    """
    r = np.arange(1, n_candidates + 1)
    out = {"MAP": float(np.mean(1.0 / r))}
    for k in HITS_AT:
        out[f"HITS@{k}"] = min(k, n_candidates) / n_candidates
    return out


def ranking_table(results: dict[str, np.ndarray], n_candidates: int = N_CANDIDATES, n_boot: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """MAP (with a 95 % bootstrap interval over queries) and HITS@k per model, plus the chance row.

    Args:
        results: model name -> ranks of its queries.
        n_candidates: candidates per query (for the chance row).
        n_boot: bootstrap resamples (0 = no interval).
        seed: bootstrap seed.
    Returns:
        DataFrame indexed by model with columns n_queries, MAP, MAP_low, MAP_high, HITS@1, ...
    """
    from llmmusic.analysis.metrics import bootstrap_ci, ranking_metrics

    rows = {}
    for name, ranks in results.items():
        row: dict[str, Any] = {"n_queries": int(len(ranks))}
        row.update(ranking_metrics(ranks))
        if n_boot and len(ranks):
            lo, hi = bootstrap_ci(list(ranks), list(ranks), lambda r, _: float(np.mean(1.0 / np.asarray(r))),
                                  n=n_boot, seed=seed)
            row["MAP_low"], row["MAP_high"] = lo, hi
        rows[name] = row
    rows["chance"] = {"n_queries": np.nan, **chance_ranking(n_candidates)}
    cols = ["n_queries", "MAP", "MAP_low", "MAP_high"] + [f"HITS@{k}" for k in HITS_AT]
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=cols)


# --------------------------------------------------------------------------------------------- plots
def melody_roll(parts: Sequence[tuple[str, Sequence[Note]]], ax: Any = None, title: str = "",
                bars: int | None = None, colours: Sequence[str] = ("#4c72b0", "#55a868", "#c44e52", "#8172b2")
                ) -> tuple[Any, Any]:
    """A piano roll of one or more melody parts on one time axis in bars (e.g. context + continuation).

    Args:
        parts: (label, notes) pairs drawn in order, each in its own colour.
        ax: axes to draw into (``None``: a new figure).
        title: axes title.
        bars: width in bars (default: up to the last note end).
        colours: one per part, cycled.
    Returns:
        ``(fig, ax)``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 2.6))
    else:
        fig = ax.figure
    all_notes = [n for _, ns in parts for n in ns]
    end = bars or max(1, int(np.ceil(max((n.end for n in all_notes), default=TICKS_PER_BAR) / TICKS_PER_BAR)))
    handles = []
    for (label, notes), colour in zip(parts, list(colours) * (len(parts) // len(colours) + 1)):
        for n in notes:
            ax.add_patch(Rectangle((n.start / TICKS_PER_BAR, n.pitch - 0.4), n.duration / TICKS_PER_BAR, 0.8,
                                   facecolor=colour, edgecolor="black", linewidth=0.4))
        handles.append(Patch(facecolor=colour, edgecolor="black", label=f"{label} ({len(notes)})"))
    lo = min((n.pitch for n in all_notes), default=60)
    hi = max((n.pitch for n in all_notes), default=72)
    ax.set_ylim(lo - 2, hi + 2)
    ax.set_xlim(0, end)
    for q in range(end * 4 + 1):
        ax.axvline(q / 4, color="black", linewidth=0.8 if q % 4 == 0 else 0.2, alpha=0.6 if q % 4 == 0 else 0.3)
    ax.set_xlabel("bar")
    ax.set_ylabel("pitch (MIDI)")
    ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def plot_ranking(table: pd.DataFrame, metric: str = "MAP", scoring: str = "mean", ax: Any = None,
                 title: str = "") -> tuple[Any, Any]:
    """Grouped bars of a ranking metric per corpus (groups) and model (bars), chance as a dashed line.

    Args:
        table: :attr:`llmmusic.experiments.melody.experiment.RankingResult.table` (index corpus, model, scoring).
        metric: column to draw (``MAP``, ``HITS@1``, ...).
        scoring: ``sum`` or ``mean`` (log-probability per candidate or per token).
        ax: axes (``None``: a new figure).
        title: axes title.
    Returns:
        ``(fig, ax)``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.4))
    else:
        fig = ax.figure
    t = table.reset_index()
    models = [m for m in dict.fromkeys(t["model"]) if m != "chance"]
    corpora = list(dict.fromkeys(t["corpus"]))
    width = 0.8 / max(1, len(models))

    def column(model: str, name: str) -> np.ndarray:
        rows = t[(t.model == model) & (t.scoring == scoring)].set_index("corpus")
        return np.array([float(rows[name].get(c, np.nan)) if name in rows else np.nan for c in corpora])

    for j, model in enumerate(models):
        vals = column(model, metric)
        x = np.arange(len(corpora)) + (j - (len(models) - 1) / 2) * width
        ax.bar(x, vals, width, label=model)
        if metric == "MAP" and "MAP_low" in t:
            ax.errorbar(x, vals, yerr=[vals - column(model, "MAP_low"), column(model, "MAP_high") - vals], fmt="none",
                        ecolor="black", elinewidth=0.8, capsize=2)
    chance = t[t.model == "chance"][metric]
    if len(chance):
        ax.axhline(float(chance.iloc[0]), color="black", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(corpora)), corpora)
    ax.set_ylabel(f"{metric} ({scoring} log-prob.)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax
