"""Non-neural baselines for genre / style classification: hand-made features + scikit-learn.

:func:`piece_features` describes a piece by what a musician would count: pitch-class histograms
of the melody, chords and bass (weighted by duration), where in the bar notes start (16th-note
positions) for the pitched tracks and for the drums, which drum keys are used, melodic intervals,
and per-track density, register, length, loudness and polyphony. :func:`fit_classifier` fits a
logistic regression (standardised features) or a random forest on them; :func:`chance_scores`
gives the label-blind baselines (uniform guessing, always the training majority).

Used in: notebooks/04_cnn_classification.py.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from llmmusic.data.piece import TICKS_PER_BAR, TICKS_PER_QUARTER, TRACKS, Piece

PITCHED = ("melody", "chords", "bass")
POSITIONS = 16  # 16th-note positions in a 4/4 bar
DRUM_KEYS = tuple(range(35, 51))  # the paper's clamped drum range; other keys share one bin
INTERVALS = tuple(range(-12, 13))  # melodic steps in semitones, larger leaps clipped
TRACK_STATS = ("notes_per_bar", "mean_pitch", "pitch_std", "mean_duration_q", "mean_velocity", "polyphony")
KINDS = ("logreg", "forest")
#: Bump when the features change (part of every cache key).
FEATURE_VERSION = "feat-v1"


def feature_names() -> list[str]:
    """Names of the columns of :func:`piece_features`, in order."""
    names = [f"{t}_pc{pc}" for t in PITCHED for pc in range(12)]
    names += [f"pitched_onset_pos{p}" for p in range(POSITIONS)]
    names += [f"drum_onset_pos{p}" for p in range(POSITIONS)]
    names += [f"drum_key{k}" for k in DRUM_KEYS] + ["drum_key_other"]
    names += [f"melody_interval{i:+d}" for i in INTERVALS]
    names += [f"{t}_{s}" for t in TRACKS for s in TRACK_STATS]
    return names


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def piece_features(piece: Piece, bars: int = 8) -> np.ndarray:
    """The feature vector of one piece (see the module docstring; names in :func:`feature_names`).

    Histograms are normalised to sum 1 (all zeros for an empty track); ``notes_per_bar`` divides by
    ``bars``; pitches and velocities are scaled to [0, 1] (/127), durations are in quarter notes.

    Args:
        piece: a 4-track piece.
        bars: the length the piece is taken to have (for note density).
    Returns:
        ``float32`` vector of ``len(feature_names())`` values.
    """
    parts: list[np.ndarray] = []
    for name in PITCHED:
        pcs = np.zeros(12)
        for n in piece.track(name):
            pcs[n.pitch % 12] += max(n.duration, 1)
        parts.append(_normalised(pcs))
    pitched_pos = np.zeros(POSITIONS)
    for name in PITCHED:
        for n in piece.track(name):
            pitched_pos[(n.start % TICKS_PER_BAR) * POSITIONS // TICKS_PER_BAR] += 1
    drum_pos = np.zeros(POSITIONS)
    keys = np.zeros(len(DRUM_KEYS) + 1)
    for n in piece.rhythm:
        drum_pos[(n.start % TICKS_PER_BAR) * POSITIONS // TICKS_PER_BAR] += 1
        keys[DRUM_KEYS.index(n.pitch) if n.pitch in DRUM_KEYS else -1] += 1
    parts += [_normalised(pitched_pos), _normalised(drum_pos), _normalised(keys)]
    intervals = np.zeros(len(INTERVALS))
    melody = sorted(piece.melody, key=lambda n: (n.start, -n.pitch))
    for a, b in zip(melody, melody[1:]):
        step = int(np.clip(b.pitch - a.pitch, INTERVALS[0], INTERVALS[-1]))
        intervals[step - INTERVALS[0]] += 1
    parts.append(_normalised(intervals))
    stats = []
    for name in TRACKS:
        notes = piece.track(name)
        if not notes:
            stats += [0.0] * len(TRACK_STATS)
            continue
        pitches = np.array([n.pitch for n in notes], dtype=float)
        onsets: dict[int, int] = {}
        for n in notes:
            onsets[n.start] = onsets.get(n.start, 0) + 1
        stats += [len(notes) / max(1, bars), pitches.mean() / 127, pitches.std() / 127,
                  float(np.mean([n.duration for n in notes])) / TICKS_PER_QUARTER,
                  float(np.mean([n.velocity for n in notes])) / 127,
                  sum(1 for c in onsets.values() if c > 1) / len(onsets)]
    parts.append(np.array(stats))
    return np.concatenate(parts).astype(np.float32)


def feature_matrix(pieces: Sequence[Piece], bars: int = 8) -> np.ndarray:
    """:func:`piece_features` of many pieces: ``float32`` ``(n, n_features)``."""
    if not pieces:
        return np.zeros((0, len(feature_names())), dtype=np.float32)
    return np.stack([piece_features(p, bars) for p in pieces])


def fit_classifier(x: np.ndarray, y: Sequence[str], kind: str = "logreg", seed: int = 0) -> Any:
    """Fit a scikit-learn classifier on feature rows ``x`` and labels ``y``.

    Args:
        x: features ``(n, n_features)``.
        y: one label per row.
        kind: ``logreg`` (standardised features, L2 logistic regression, C=1, up to 2000
            iterations) or ``forest`` (300 trees, balanced depth, seeded).
        seed: random state.
    Returns:
        The fitted estimator (``predict_proba`` columns follow ``estimator.classes_``). With a single
        class in ``y`` (a tiny, early dataset) it is a constant ``DummyClassifier``.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind not in KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; expected one of {KINDS}")
    if len(set(np.asarray(y).tolist())) < 2:
        return DummyClassifier(strategy="most_frequent").fit(np.asarray(x), np.asarray(y))
    if kind == "logreg":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    else:
        model = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=seed, n_jobs=1)
    with warnings.catch_warnings():  # tiny early datasets have few pieces per class; that is expected here
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        return model.fit(np.asarray(x), np.asarray(y))


def predict_scores(model: Any, x: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Class probabilities of ``model`` for rows ``x`` in the column order of ``labels``.

    A label the model never saw in training gets probability 0.

    Returns:
        ``float`` array ``(n, len(labels))``.
    """
    proba = model.predict_proba(np.asarray(x))
    classes = list(model.classes_)
    out = np.zeros((len(x), len(labels)))
    for j, lab in enumerate(labels):
        if lab in classes:
            out[:, j] = proba[:, classes.index(lab)]
    return out


def chance_scores(y_true: Sequence[Any], labels: Sequence[str], y_train: Sequence[str] | None = None) -> dict[str, Any]:
    """Label-blind baselines on a test set.

    Args:
        y_true: test labels (or sets of acceptable labels).
        labels: the candidate classes.
        y_train: training labels; when given, the majority baseline answers the *training*
            majority (an honest baseline), else the test set's (``metrics.chance_levels``).
    Returns:
        dict: uniform (expected accuracy of uniform guessing), majority (accuracy of the constant
        answer), majority_label, majority_macro_f1.
    """
    from llmmusic.analysis import metrics

    levels = metrics.chance_levels(y_true, labels)
    if y_train is not None and len(y_train):
        values, counts = np.unique(np.asarray(y_train), return_counts=True)
        best = max(labels, key=lambda lab: counts[list(values).index(lab)] if lab in values else -1)
        const = [best] * len(y_true)
        levels.update(majority=metrics.accuracy(y_true, const), majority_label=best,
                      majority_macro_f1=metrics.f1(y_true, const, "macro", labels))
    return levels
