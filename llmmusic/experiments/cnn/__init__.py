"""Genre / style classification with a small 2-D CNN on piano rolls (the paper's second experiment).

* Data: :func:`llm_rollset` (a generated LLM-MIDI dataset) and :func:`human_rollset` (any table of
  MIDI files, e.g. ``corpora.human_midi()`` or ``corpora.label_folder_by_md5(lakh_dir)``) turn pieces
  into ``uint8`` piano rolls (``llmmusic.data.pianoroll``) plus hand-made features
  (``llmmusic.analysis.baselines``), cached as ``.npz`` keyed by the inputs' hashes.
* Split: :func:`split_by_combination` (train / validation / test, stratified by genre x style,
  seeded); :func:`file_folds` (stratified k folds of files for the human reference model).
* Model: :class:`RollCNN`, a strided 3x3 conv stem and three conv blocks (3x3 conv, batch norm,
  ReLU, 2x2 max pool), max over time, one linear head per task (genre, style, or the 5 folder genres).
* Training: :func:`train_model` (Adam, cross-entropy summed over heads, early stopping on the
  validation loss, best weights kept, history per epoch, deterministic given the seed).
* Evaluation: :func:`predict`, :func:`map_scores` (13 paper genres -> 5 folder genres or TOP-MAGD),
  :func:`report` (``llmmusic.analysis.metrics``), :func:`cross_validate` (human reference model).

Used in: notebooks/04_cnn_classification.py, ``llmmusic cnn``.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from llmmusic import progress
from llmmusic.data import pianoroll
from llmmusic.analysis.baselines import FEATURE_VERSION, feature_matrix
from llmmusic.errors import UserError
from llmmusic.data.midi_folder import read_each
from llmmusic.experiments.torch_setup import resolve_device, torch_threads
from llmmusic.paths import ROOT

SPLITS = ("train", "val", "test")


# ============================================================================================ data
@dataclass
class RollSet:
    """Rolls, features and one table row per roll.

    Attributes:
        rolls: ``uint8`` ``(n, 4, 128, steps)`` piano rolls.
        features: ``float32`` ``(n, n_features)`` (``baselines.piece_features``).
        table: one row per roll (labels, source file, window, ...).
        failures: files that could not be read (``path``, ``reason``); empty for LLM-MIDI.
        key: the cache file name (identifies the inputs).
    """

    rolls: np.ndarray
    features: np.ndarray
    table: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))
    key: str = ""

    def __len__(self) -> int:
        return len(self.rolls)

    def subset(self, index: np.ndarray | Sequence[int]) -> "RollSet":
        """The rows ``index`` (positions) as a new RollSet."""
        index = np.asarray(index, dtype=int)
        return RollSet(self.rolls[index], self.features[index], self.table.iloc[index].reset_index(drop=True),
                       self.failures, self.key)


def _pack(rolls: np.ndarray, features: np.ndarray, table: pd.DataFrame, failures: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"rolls": rolls, "features": features, "table": np.array(table.to_json(orient="records")),
            "failures": np.array(failures.to_json(orient="records"))}


def _unpack(arrays: Mapping[str, np.ndarray], key: str) -> RollSet:
    table = pd.DataFrame(json.loads(str(arrays["table"])))
    failures = pd.DataFrame(json.loads(str(arrays["failures"])), columns=["path", "reason"])
    return RollSet(arrays["rolls"], arrays["features"], table, failures, key)


def llm_rollset(dataset_dir: str | Path, bars: int = pianoroll.DEFAULT_BARS, limit: int | None = None,
                cache_folder: str | Path | None = None, refresh: bool = False) -> RollSet:
    """Rolls and features of the valid pieces of a generated dataset (cached).

    The cache key is the sha256 of the dataset's ``manifest.jsonl`` (which names every MIDI file
    with its hash), ``bars`` and ``limit``: a dataset that grew gets a new cache file. Every piece's
    file is checked against its hash in the manifest first, so a changed or corrupt file is named
    even when the cache is warm.

    Args:
        dataset_dir: the dataset folder (``data/llm-midi/<name>``).
        bars: roll length in bars.
        limit: at most this many pieces (grid order, as ``load_pieces``).
        cache_folder: cache folder (default ``pianoroll.cache_dir()``).
        refresh: rebuild even if cached.
    Returns:
        RollSet whose table has genre, style, mood, index, temperature, path.
    """
    from llmmusic.data.dataset import MANIFEST, load_manifest, load_pieces, valid_rows, verified_file
    from llmmusic.book.provenance import sha256_file

    dataset_dir = Path(dataset_dir)
    manifest = dataset_dir / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no manifest (expected a generated dataset folder)")
    rows = valid_rows(load_manifest(dataset_dir))
    for row in (rows.head(limit) if limit is not None else rows).itertuples(index=False):
        verified_file(dataset_dir, row.path, getattr(row, "midi_sha256", None))
    key = pianoroll.cache_key("llm", manifest=sha256_file(manifest), bars=bars, limit=limit, features=FEATURE_VERSION)

    def build() -> dict[str, np.ndarray]:
        pieces = load_pieces(dataset_dir, limit=limit)
        table = pd.DataFrame([{k: p.meta.get(k) for k in ("genre", "style", "mood", "index", "temperature", "path")}
                              for p in pieces])
        table["path"] = [_relative(p) for p in table.get("path", [])]
        return _pack(pianoroll.pieces_to_rolls(pieces, bars), feature_matrix(pieces, bars), table,
                     pd.DataFrame(columns=["path", "reason"]))

    return _unpack(pianoroll.cached_arrays(key, build, cache_folder, refresh), key)


def _relative(path: Any) -> str:
    try:
        return Path(str(path)).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def human_rollset(files: pd.DataFrame, bars: int = pianoroll.DEFAULT_BARS, n_windows: int = 1,
                  hop_bars: int | None = None, cache_folder: str | Path | None = None,
                  refresh: bool = False) -> RollSet:
    """Rolls and features of windows of MIDI files (cached).

    Args:
        files: one row per file with at least ``path`` (e.g. ``corpora.human_midi()`` or
            ``corpora.label_folder_by_md5(folder)``); other columns (``md5``, ``folder_genre``,
            ``topmagd``, ``masd``, ...) are copied to every window of the file (lists ``|``-joined).
        bars: window length in bars.
        n_windows: windows per file (``pianoroll.human_windows``).
        hop_bars: bars between window starts (default ``bars``).
        cache_folder: cache folder.
        refresh: rebuild even if cached.
    Returns:
        RollSet whose table has ``file`` (row position in ``files``), ``window`` and the columns of
        ``files``; unreadable files are listed in ``failures``.
    """
    if "path" not in files.columns:
        raise ValueError(f"files: expected a 'path' column, got {list(files.columns)}")
    key = pianoroll.cache_key("human", files=pianoroll.content_ids(files["path"]), bars=bars, n_windows=n_windows, hop_bars=hop_bars,
                              features=FEATURE_VERSION)

    def build() -> dict[str, np.ndarray]:
        pieces, rows, failures = [], [], []
        def read(entry: tuple[int, dict[str, Any]]) -> list[Piece]:
            return pianoroll.human_windows(entry[1]["path"], bars=bars, n_windows=n_windows, hop_bars=hop_bars)

        entries = list(enumerate(row._asdict() for row in files.itertuples(index=False)))
        for (i, info), windows in read_each(entries, read, failures, path=lambda entry: entry[1]["path"]):
            for piece in windows:
                pieces.append(piece)
                out = {k: ("|".join(v) if isinstance(v, (list, tuple)) else v) for k, v in info.items()}
                out.update(file=i, window=int(piece.meta["window"]), start_bar=int(piece.meta["start_bar"]))
                out["path"] = str(info["path"])
                rows.append(out)
        return _pack(pianoroll.pieces_to_rolls(pieces, bars), feature_matrix(pieces, bars), pd.DataFrame(rows),
                     pd.DataFrame(failures, columns=["path", "reason"]))

    return _unpack(pianoroll.cached_arrays(key, build, cache_folder, refresh), key)


# ============================================================================================ splits
def split_by_combination(genres: Sequence[str], styles: Sequence[str],
                         fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> np.ndarray:
    """Assign each piece to train / val / test, stratified by its genre x style combination.

    Within each combination the pieces are shuffled (seeded) and dealt in turn into a cycle of 20
    slots holding the three splits in proportion to ``fractions`` (70/15/15: 14 train, 3 val,
    3 test), starting at a random slot per combination. A combination of 20 pieces is therefore
    split exactly, larger ones nearly so, and small ones (early in a growing dataset) still put
    pieces into every split overall: when the deal leaves a split empty (a dataset of a few pieces),
    one piece moves to it from the largest split (:func:`_fill_empty_splits`).

    Args:
        genres, styles: labels per piece.
        fractions: train, val, test shares (sum 1; multiples of 0.05).
        seed: random seed.
    Returns:
        array of ``"train"`` / ``"val"`` / ``"test"`` per piece; every split with a non-zero fraction
        holds a piece.
    Raises:
        UserError: fewer pieces than splits with a non-zero fraction.
    """
    if len(genres) != len(styles):
        raise ValueError(f"genres has {len(genres)} items but styles has {len(styles)}")
    if not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    counts = [int(round(f * 20)) for f in fractions]
    if sum(counts) != 20:
        raise ValueError(f"fractions must be multiples of 0.05, got {fractions}")
    cycle = np.repeat(np.array(SPLITS), counts)
    rng = np.random.default_rng(seed)
    out = np.empty(len(genres), dtype=object)
    combos: dict[tuple[str, str], list[int]] = {}
    for i, combo in enumerate(zip(genres, styles)):
        combos.setdefault(combo, []).append(i)
    wanted = [s for s, c in zip(SPLITS, counts) if c]
    if len(genres) < len(wanted):
        raise UserError(f"{len(genres)} pieces are too few to split into {', '.join(wanted)}: each split needs "
                        f"one piece at least (give a larger dataset or --limit)")
    for combo in sorted(combos):
        members = np.array(combos[combo])
        rng.shuffle(members)
        offset = int(rng.integers(0, 20))
        for j, i in enumerate(members):
            out[i] = cycle[(offset + j) % 20]
    _fill_empty_splits(out, wanted, combos, rng)
    return out.astype(str)


def _fill_empty_splits(out: np.ndarray, wanted: Sequence[str], combos: Mapping[tuple[str, str], list[int]],
                       rng: np.random.Generator) -> None:
    """Give every split in ``wanted`` a piece (a small dataset's deal can leave one empty), in place.

    Each empty split takes a random piece from the largest split, chosen among the combinations with
    the most pieces in that split, so stratification suffers least. A deal with no empty split is
    left exactly as it was.
    """
    for split in wanted:
        if (out == split).any():
            continue
        donor = max(wanted, key=lambda s: int((out == s).sum()))
        per_combo = {c: [i for i in members if out[i] == donor] for c, members in sorted(combos.items())}
        most = max(len(v) for v in per_combo.values())
        pool = sorted(i for v in per_combo.values() if len(v) == most for i in v)
        out[pool[int(rng.integers(0, len(pool)))]] = split


def file_folds(labels: Sequence[str], k: int = 5, seed: int = 0) -> np.ndarray:
    """Stratified fold number (0..k-1) of each file (``sklearn`` StratifiedKFold, shuffled, seeded)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    folds = np.full(len(labels), -1, dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[test] = f
    return folds


# ============================================================================================ model
def build_model(heads: Mapping[str, int], channels: int = 16, dropout: float = 0.3,
                in_channels: int = 4, pitches: int = pianoroll.N_PITCHES) -> Any:
    """A :class:`RollCNN` (see there); ``heads`` maps a task name to its number of classes."""
    return RollCNN(heads, channels=channels, dropout=dropout, in_channels=in_channels, pitches=pitches)


class RollCNN(nn.Module):
    """A simple 2-D CNN over (pitch x time) with one channel per track.

    A stem of 3x3 convolution with stride 2 (no bias), batch norm and ReLU (width ``channels``),
    then three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (widths
    ``channels x (2, 4, 4)``): a 128 x 128 roll becomes 8 x 8. Then the maximum over time (so empty
    stretches, such as the second half of a 4-bar LLM piece in an 8-bar roll, do not dilute the
    features), the pitch axis kept (8 register bands of 16 semitones), dropout, and one linear head
    per task. The strided stem halves the cost of the first layer on a sparse input (measured in
    ``benchmarks/bench_cnn.py``).

    Args:
        heads: task name -> number of classes, e.g. ``{"genre": 13, "style": 25}``.
        channels: width of the first block.
        dropout: dropout before the heads.
        in_channels: input channels (4 tracks).
        pitches: pitch rows of the input (divisible by 16).
    """

    def __init__(self, heads: Mapping[str, int], channels: int = 16, dropout: float = 0.3,
                 in_channels: int = 4, pitches: int = pianoroll.N_PITCHES) -> None:
        super().__init__()
        if pitches % 16:
            raise ValueError(f"pitches must be divisible by 16 (a stride-2 stem and three 2x2 poolings), got {pitches}")
        layers: list[Any] = [nn.Conv2d(in_channels, channels, 3, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        prev = channels
        for width in (2 * channels, 4 * channels, 4 * channels):
            layers += [nn.Conv2d(prev, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.n_features = prev * (pitches // 16)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(self.n_features, int(k)) for name, k in heads.items()})

    def embed(self, x: Any) -> Any:
        """Features before the heads: ``(batch, n_features)``."""
        h = self.features(x)  # (batch, C, pitch bands, time)
        return h.amax(dim=3).flatten(1)

    def forward(self, x: Any) -> dict[str, Any]:
        h = self.dropout(self.embed(x))
        return {name: head(h) for name, head in self.heads.items()}


def n_parameters(model: Any) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


# ============================================================================================ training
@dataclass
class TrainConfig:
    """Training settings (every one is a chapter parameter).

    Attributes:
        epochs: most epochs.
        batch_size: pieces per step.
        lr: Adam learning rate.
        weight_decay: Adam L2 weight decay.
        channels: width of the first conv block.
        dropout: dropout before the heads.
        patience: stop after this many epochs without a lower validation loss.
        seed: seeds weights, batch order and augmentation.
        mode: roll input, ``velocity`` or ``binary``.
        transpose: random transposition of the pitched tracks by up to this many semitones
            during training (0 = off).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch CPU threads while training and predicting (``None``: torch's default). One
            thread is the default because on a shared 2-core machine it measured about 3x faster
            than two (``benchmarks/bench_cnn.py``).
    """

    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    channels: int = 16
    dropout: float = 0.3
    patience: int = 4
    seed: int = 0
    mode: str = "velocity"
    transpose: int = 0
    device: str = "auto"
    threads: int | None = 1


@dataclass
class TrainResult:
    """A trained model and how it got there.

    Attributes:
        model: the network with the weights of its best validation epoch (in eval mode, on CPU).
        heads: task name -> class labels (column order of its scores).
        config: the settings.
        history: one row per epoch: epoch, train_loss, val_loss, val_acc_<task>, seconds,
            samples_per_s.
        best_epoch: the epoch whose weights were kept (1-based).
        seconds: total training time.
        device: where it trained.
    """

    model: Any
    heads: dict[str, list[str]]
    config: TrainConfig
    history: pd.DataFrame
    best_epoch: int
    seconds: float
    device: str

    @property
    def epoch_seconds(self) -> float:
        """Median seconds per training epoch (training pass only, without validation)."""
        return float(self.history["train_seconds"].median()) if len(self.history) else float("nan")

    @property
    def samples_per_s(self) -> float:
        """Median training throughput in pieces per second."""
        return float(self.history["samples_per_s"].median()) if len(self.history) else float("nan")


def _batch_tensor(rolls: np.ndarray, mode: str, device: str, shifts: np.ndarray | None = None) -> Any:
    """uint8 rolls -> float tensor on ``device``, optionally transposing pitched channels per piece."""
    x = torch.from_numpy(pianoroll.as_input(rolls, mode))
    if shifts is not None and np.any(shifts):
        pitched = [c for c in range(x.shape[1]) if c != pianoroll.DRUM_CHANNEL]
        for s in np.unique(shifts):
            if s == 0:
                continue
            rows = torch.from_numpy(np.flatnonzero(shifts == s))
            part = x[rows][:, pitched]
            moved = torch.roll(part, shifts=int(s), dims=2)
            if s > 0:
                moved[:, :, :s] = 0
            else:
                moved[:, :, s:] = 0
            block = x[rows]
            block[:, pitched] = moved
            x[rows] = block
    return x.to(device)


def _loss(outputs: Mapping[str, Any], targets: Mapping[str, Any]) -> Any:
    return sum(torch.nn.functional.cross_entropy(outputs[name], targets[name]) for name in targets)


def train_model(train_rolls: np.ndarray, train_targets: Mapping[str, np.ndarray], val_rolls: np.ndarray,
                val_targets: Mapping[str, np.ndarray], heads: Mapping[str, Sequence[str]],
                config: TrainConfig = TrainConfig(), on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a :class:`RollCNN` with early stopping on the validation loss.

    Deterministic given ``config.seed`` on one machine and thread count (``torch.manual_seed``,
    deterministic algorithms, seeded batch order and augmentation). On a GPU, operations without a
    deterministic kernel warn instead of failing.

    Args:
        train_rolls, val_rolls: ``uint8`` rolls ``(n, 4, 128, steps)``.
        train_targets, val_targets: task name -> int class index per roll.
        heads: task name -> class labels (defines the heads and their sizes).
        config: settings.
        on_epoch: called with each history row (e.g. to print progress).
    Returns:
        TrainResult (model with the best validation weights).
    """
    if len(train_rolls) == 0 or len(val_rolls) == 0:
        raise ValueError(f"need training and validation pieces, got {len(train_rolls)} and {len(val_rolls)}")
    with torch_threads(config.threads):
        return _train_model(train_rolls, train_targets, val_rolls, val_targets, heads, config, on_epoch)


def _train_model(train_rolls: np.ndarray, train_targets: Mapping[str, np.ndarray], val_rolls: np.ndarray,
                 val_targets: Mapping[str, np.ndarray], heads: Mapping[str, Sequence[str]], config: TrainConfig,
                 on_epoch: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    device = str(resolve_device(config.device))
    previous = torch.are_deterministic_algorithms_enabled()
    if device.startswith("cuda"):  # cuBLAS needs this for deterministic matmuls; kernels without a
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic version only warn
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=device.startswith("cuda"))
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        model = build_model({k: len(v) for k, v in heads.items()}, config.channels, config.dropout,
                            in_channels=train_rolls.shape[1], pitches=train_rolls.shape[2]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        y_train = {k: torch.as_tensor(np.asarray(v), dtype=torch.long) for k, v in train_targets.items()}
        y_val = {k: np.asarray(v) for k, v in val_targets.items()}
        best_loss, best_state, best_epoch, stale = math.inf, None, 0, 0
        rows: list[dict[str, Any]] = []
        start_all = time.perf_counter()
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = rng.permutation(len(train_rolls))
            total, seen = 0.0, 0
            t0 = time.perf_counter()
            for b in range(0, len(order), config.batch_size):
                idx = np.sort(order[b:b + config.batch_size])
                if len(idx) < 2 and len(order) > 1:  # batch norm needs two items
                    continue
                shifts = rng.integers(-config.transpose, config.transpose + 1, size=len(idx)) if config.transpose else None
                x = _batch_tensor(train_rolls[idx], config.mode, device, shifts)
                targets = {k: v[idx].to(device) for k, v in y_train.items()}
                optimizer.zero_grad(set_to_none=True)
                loss = _loss(model(x), targets)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_seconds = time.perf_counter() - t0
            val_scores, val_loss = _evaluate(model, val_rolls, y_val, config.mode, device, config.batch_size * 4)
            row = {"epoch": epoch, "train_loss": total / max(1, seen), "val_loss": val_loss,
                   **{f"val_acc_{k}": float(np.mean(val_scores[k].argmax(1) == y_val[k])) for k in heads},
                   "train_seconds": train_seconds, "samples_per_s": seen / train_seconds if train_seconds else float("nan")}
            rows.append(row)
            progress.report(f"epoch {epoch}/{config.epochs}: val loss {val_loss:.3f} ({train_seconds:.1f} s)")
            if on_epoch:
                on_epoch(row)
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= config.patience:
                    break
        seconds = time.perf_counter() - start_all
    finally:
        torch.use_deterministic_algorithms(previous)
    model = model.cpu()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, {k: list(v) for k, v in heads.items()}, config, pd.DataFrame(rows),
                       best_epoch, seconds, device)


def train_on_split(rs: RollSet, heads: Mapping[str, Sequence[str]], split: Sequence[str],
                   config: TrainConfig = TrainConfig(),
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """:func:`train_model` on the ``train`` rows of ``rs`` with early stopping on its ``val`` rows.

    Args:
        rs: a RollSet whose table has a column per task in ``heads`` (e.g. genre, style).
        heads: task -> class labels.
        split: ``train`` / ``val`` / ``test`` per row (:func:`split_by_combination`).
        config: settings.
        on_epoch: progress callback.
    """
    split = np.asarray(split)
    y = {task: encode(rs.table[task].tolist(), labels) for task, labels in heads.items()}
    tr, va = split == "train", split == "val"
    return train_model(rs.rolls[tr], {t: v[tr] for t, v in y.items()}, rs.rolls[va], {t: v[va] for t, v in y.items()},
                       heads, config, on_epoch)


def heldout_reports(model: Any, mode: str, rs: RollSet, heads: Mapping[str, Sequence[str]], split: Sequence[str],
                 n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`report` of every head on the ``test`` rows of ``rs`` (keys: task names)."""
    test = np.asarray(split) == "test"
    scores = predict(model, rs.rolls[test], mode)
    return {task: report(rs.table.loc[test, task].tolist(), scores[task], labels, n_boot=n_boot, seed=seed)
            for task, labels in heads.items()}


def _evaluate(model: Any, rolls: np.ndarray, targets: Mapping[str, np.ndarray], mode: str, device: str,
              batch_size: int) -> tuple[dict[str, np.ndarray], float]:
    """Softmax scores per task and the mean summed cross-entropy on ``rolls``."""
    scores = _predict(model, rolls, mode, batch_size, device)  # inside the caller's thread setting
    loss = 0.0
    for name, y in targets.items():
        p = np.clip(scores[name][np.arange(len(y)), y], 1e-12, 1.0)
        loss += float(-np.log(p).mean())
    return scores, loss


def predict(model: Any, rolls: np.ndarray, mode: str = "velocity", batch_size: int = 128,
            device: str = "auto", threads: int | None = 1) -> dict[str, np.ndarray]:
    """Class probabilities of every head for ``rolls``.

    Args:
        model: a :class:`RollCNN`.
        rolls: ``uint8`` rolls.
        mode: roll input (must match training).
        batch_size: pieces per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch CPU threads (see :class:`TrainConfig`).
    Returns:
        task name -> ``float`` array ``(n, n_classes)`` (softmax).
    """
    with torch_threads(threads):
        return _predict(model, rolls, mode, batch_size, resolve_device(device))


def _predict(model: Any, rolls: np.ndarray, mode: str, batch_size: int, device: str) -> dict[str, np.ndarray]:
    was_training = model.training
    model.eval()
    model.to(device)
    out: dict[str, list[np.ndarray]] = {name: [] for name in model.heads}
    with torch.no_grad():
        for b in range(0, len(rolls), batch_size):
            logits = model(_batch_tensor(rolls[b:b + batch_size], mode, device))
            for name, value in logits.items():
                out[name].append(torch.softmax(value, dim=1).cpu().numpy())
    if was_training:
        model.train()
    n_classes = {name: head.out_features for name, head in model.heads.items()}
    return {name: np.concatenate(v) if v else np.zeros((0, n_classes[name])) for name, v in out.items()}


def encode(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Class index of each label in ``classes``; raises on a label outside it."""
    lookup = {c: i for i, c in enumerate(classes)}
    missing = sorted({lab for lab in labels if lab not in lookup})
    if missing:
        raise ValueError(f"labels {missing} are not among the classes {list(classes)}")
    return np.array([lookup[lab] for lab in labels], dtype=int)


# ============================================================================================ save / load
def save_model(result: TrainResult, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Save weights, heads, config and history to ``path`` (a ``.pt`` file, written atomically; the
    facts other than weights are JSON, see :mod:`llmmusic.checkpoint`)."""
    from llmmusic import checkpoint

    meta = {"heads": result.heads, "config": asdict(result.config), "history": result.history.to_dict(orient="list"),
            "best_epoch": result.best_epoch, "torch": torch.__version__, "extra": dict(extra or {})}
    return checkpoint.save(path, result.model.state_dict(), meta)


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by :func:`save_model` (never unpickles Python objects).

    Returns:
        ``(model in eval mode on CPU, info)`` where info has heads, config, history, best_epoch, extra.
    Raises:
        DataError: the file is not such a checkpoint.
    """
    from llmmusic import checkpoint
    from llmmusic.errors import DataError

    state, info = checkpoint.load(path)
    try:
        cfg = info["config"]
        in_channels = state["features.0.weight"].shape[1]
        model = build_model({k: len(v) for k, v in info["heads"].items()}, cfg["channels"], cfg["dropout"],
                            in_channels=in_channels, pitches=int(info.get("extra", {}).get("pitches", pianoroll.N_PITCHES)))
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise DataError(f"{path}: not a CNN checkpoint of llmmusic ({type(exc).__name__}: {str(exc)[:200]})") from None
    model.eval()
    return model, info


# ============================================================================================ evaluation
def map_scores(scores: np.ndarray, labels: Sequence[str], mapping: Mapping[str, str | None] | None,
               targets: Sequence[str]) -> np.ndarray:
    """Carry scores over ``labels`` to ``targets``: each target gets the best score of the labels
    that map to it, ``-inf`` if none does.

    The argmax of the result is the argmax restricted to labels that map somewhere, mapped.
    ``mapping=None`` means identity (labels that are targets keep their score).

    Returns:
        ``float`` array ``(n, len(targets))``.
    """
    scores = np.asarray(scores, dtype=float)
    out = np.full((scores.shape[0], len(targets)), -np.inf)
    index = {t: k for k, t in enumerate(targets)}
    for j, lab in enumerate(labels):
        target = lab if mapping is None else mapping.get(lab)
        if target in index:
            k = index[target]
            out[:, k] = np.maximum(out[:, k], scores[:, j])
    return out


def mapping_to(labels: Sequence[str], targets: Sequence[str],
               default: Mapping[str, str | None]) -> Mapping[str, str | None] | None:
    """``None`` (identity) when the model's ``labels`` already include every target (a model trained
    on the ``lakh`` taxonomy), else ``default`` (e.g. ``taxonomy.PAPER_TO_TOPMAGD``)."""
    return None if set(targets) <= set(labels) else default


def argmax_labels(scores: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The best label per row (first on ties)."""
    return [labels[j] for j in np.asarray(scores).argmax(axis=1)] if len(scores) else []


def report(y_true: Sequence[Any], scores: np.ndarray, labels: Sequence[str], n_boot: int = 1000,
           seed: int = 0) -> dict[str, Any]:
    """``metrics.classification_report`` of argmax predictions plus ``confusion`` and ``pred``.

    Args:
        y_true: labels or sets of acceptable labels.
        scores: ``(n, len(labels))``.
        labels: the classes.
        n_boot: bootstrap resamples for the 95 % intervals.
        seed: bootstrap seed.
    Returns:
        the report dict, with ``pred`` (list) and ``confusion`` (DataFrame) added.
    """
    from llmmusic.analysis import metrics

    pred = argmax_labels(scores, labels)
    rep = metrics.classification_report(list(y_true), pred, labels, scores=scores, n_boot=n_boot, seed=seed)
    rep["pred"] = pred
    rep["confusion"] = metrics.confusion(list(y_true), pred, labels)
    return rep


def summary_row(name: str, rep: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """One table row of a :func:`report`: n, accuracy (95 % CI), macro-F1 (CI), micro-F1, top-3, chance."""
    acc_ci = rep.get("accuracy_ci", (np.nan, np.nan))
    f1_ci = rep.get("macro_f1_ci", (np.nan, np.nan))
    return {"model": name, **extra, "n": rep["n"], "accuracy": rep["accuracy"],
            "acc_ci": f"{acc_ci[0]:.3f}-{acc_ci[1]:.3f}", "macro_f1": rep["macro_f1"],
            "f1_ci": f"{f1_ci[0]:.3f}-{f1_ci[1]:.3f}", "micro_f1": rep["micro_f1"],
            "top3": rep.get("top3", np.nan), "chance_uniform": rep["chance_uniform"],
            "chance_majority": rep["chance_majority"]}


def by_file(scores: np.ndarray, files: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean scores over the windows of each file.

    Returns:
        ``(file ids in first-seen order, scores (n_files, k))``.
    """
    files = np.asarray(files)
    ids, first = np.unique(files, return_index=True)
    ids = ids[np.argsort(first)]
    return ids, np.stack([scores[files == f].mean(axis=0) for f in ids]) if len(ids) else scores[:0]


def file_scores(model: Any, rs: RollSet, mode: str, task: str = "genre") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of head ``task`` per file of a :func:`human_rollset` (mean over its windows).

    Returns:
        ``(file ids, scores (n_files, n_classes))``.
    """
    return by_file(predict(model, rs.rolls, mode)[task], rs.table["file"].to_numpy())


def folder_genre_report(scores: np.ndarray, labels: Sequence[str], truth: Sequence[str], n_boot: int = 1000,
                        seed: int = 0) -> dict[str, Any] | None:
    """Scores over the model's genres, evaluated on the 5 folder genres of the human collection.

    Scores are carried by ``taxonomy.PAPER_TO_FOLDER`` (identity for labels that are folder genres)
    and the prediction is the argmax restricted to genres that map to a folder genre.

    Returns:
        :func:`report` over ``FOLDER_GENRES``, or ``None`` when no model genre maps to one.
    """
    from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_TO_FOLDER

    mapped = map_scores(scores, labels, mapping_to(labels, FOLDER_GENRES, PAPER_TO_FOLDER), FOLDER_GENRES)
    if len(mapped) and not np.isfinite(mapped).any():
        return None
    return report(list(truth), mapped, FOLDER_GENRES, n_boot=n_boot, seed=seed)


def lakh_reports(model: Any, mode: str, heads: Mapping[str, Sequence[str]], rs: RollSet, files: pd.DataFrame,
                 n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Evaluate on Lakh files with their TOP-MAGD (genre) and, where possible, MASD (style) label sets.

    Genre scores are carried to TOP-MAGD by ``taxonomy.PAPER_TO_TOPMAGD`` (identity for a model
    trained on the ``lakh`` taxonomy); a prediction is right when it is among the file's labels,
    so F1-micro over the 13 genres equals accuracy over files. Styles are scored on MASD only when
    the model's style labels are the MASD styles (the prompt styles have no MASD mapping).

    Args:
        model: a :class:`RollCNN` with a ``genre`` head (and maybe ``style``).
        mode: roll input of the model.
        heads: task -> class labels of the model.
        rs: :func:`human_rollset` of ``files``.
        files: :func:`corpora.label_folder_by_md5` rows (``topmagd``, ``masd`` lists).
        n_boot, seed: bootstrap settings.
    Returns:
        ``{"topmagd": report}`` plus ``"masd"`` when scored; each report has ``n`` files.
    """
    from llmmusic.data.taxonomy import MASD_STYLES, PAPER_TO_TOPMAGD, TOPMAGD_GENRES

    out: dict[str, dict[str, Any]] = {}
    ids, scores = file_scores(model, rs, mode, "genre")
    keep = [k for k, f in enumerate(ids) if len(files["topmagd"].iloc[f])]
    if keep:
        truth = [tuple(files["topmagd"].iloc[ids[k]]) for k in keep]
        mapped = map_scores(scores[keep], heads["genre"], mapping_to(heads["genre"], TOPMAGD_GENRES, PAPER_TO_TOPMAGD),
                            TOPMAGD_GENRES)
        out["topmagd"] = report(truth, mapped, TOPMAGD_GENRES, n_boot=n_boot, seed=seed)
    if "style" in heads and set(MASD_STYLES) <= set(heads["style"]) and "masd" in files.columns:
        ids, scores = file_scores(model, rs, mode, "style")
        keep = [k for k, f in enumerate(ids) if len(files["masd"].iloc[f])]
        if keep:
            truth = [tuple(files["masd"].iloc[ids[k]]) for k in keep]
            out["masd"] = report(truth, map_scores(scores[keep], heads["style"], None, MASD_STYLES), MASD_STYLES,
                                 n_boot=n_boot, seed=seed)
    return out


def jsonable_report(rep: Mapping[str, Any]) -> dict[str, Any]:
    """A :func:`report` as plain JSON values (confusion as nested lists, no per-item predictions)."""
    out: dict[str, Any] = {}
    for k, v in rep.items():
        if k == "pred":
            continue
        if isinstance(v, pd.DataFrame):
            out[k] = {"labels": [str(c) for c in v.columns], "rows": [str(i) for i in v.index], "counts": v.to_numpy().tolist()}
        elif isinstance(v, (np.floating, np.integer)):
            out[k] = v.item()
        elif isinstance(v, tuple):
            out[k] = [float(x) for x in v]
        else:
            out[k] = v
    return out


@dataclass
class CVResult:
    """Cross-validated reference model on human MIDI.

    Attributes:
        files: file ids (RollSet ``table.file``), one per row of ``scores``.
        truth: true label per file.
        scores: out-of-fold probabilities per file ``(n_files, k)`` (mean over its windows).
        folds: fold of each file.
        results: the trained model of each fold.
        labels: the classes.
    """

    files: np.ndarray
    truth: list[str]
    scores: np.ndarray
    folds: np.ndarray
    results: list[TrainResult]
    labels: list[str]

    def predict(self, rolls: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Mean probabilities of the fold models (an ensemble) on new rolls: ``(n, k)``."""
        task = next(iter(self.results[0].heads))
        return np.mean([predict(r.model, rolls, r.config.mode, batch_size, threads=r.config.threads)[task]
                        for r in self.results], axis=0)


def cross_validate(rs: RollSet, label_column: str, labels: Sequence[str], k: int = 5,
                   config: TrainConfig = TrainConfig(), val_fraction: float = 0.15,
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> CVResult:
    """k-fold cross-validation of a one-head :class:`RollCNN` over the files of ``rs``.

    Folds are stratified over files (all windows of a file stay together). In each fold a
    stratified ``val_fraction`` of the training files is held out for early stopping; the test
    fold's windows are scored and averaged per file.

    Args:
        rs: a :func:`human_rollset` (table with ``file`` and ``label_column``).
        label_column: the label of each file (e.g. ``folder_genre``).
        labels: the classes.
        k: folds.
        config: training settings (``seed`` also seeds the folds).
        val_fraction: share of training files used for early stopping.
        on_epoch: progress callback (gets the history row plus ``fold``).
    Returns:
        CVResult.
    """
    from sklearn.model_selection import train_test_split

    table = rs.table
    file_table = table.drop_duplicates("file").set_index("file")
    files = file_table.index.to_numpy()
    truth = file_table[label_column].tolist()
    folds = file_folds(truth, k, config.seed)
    fold_of = dict(zip(files, folds))
    window_fold = table["file"].map(fold_of).to_numpy()
    y_all = encode(table[label_column].tolist(), labels)
    scores = np.zeros((len(files), len(labels)))
    results = []
    for f in range(k):
        train_files = files[folds != f]
        train_truth = [t for t, fo in zip(truth, folds) if fo != f]
        fit_files, val_files = train_test_split(train_files, test_size=val_fraction, stratify=train_truth,
                                                random_state=config.seed + f)
        fit = table["file"].isin(fit_files).to_numpy()
        val = table["file"].isin(val_files).to_numpy()
        test = window_fold == f
        callback = (lambda row, f=f: on_epoch({**row, "fold": f})) if on_epoch else None
        progress.report(f"fold {f + 1}/{k}: training on {int(fit.sum())} windows")
        res = train_model(rs.rolls[fit], {"folder": y_all[fit]}, rs.rolls[val], {"folder": y_all[val]},
                          {"folder": list(labels)}, config, callback)
        results.append(res)
        ids, s = by_file(predict(res.model, rs.rolls[test], config.mode, threads=config.threads)["folder"],
                         table["file"][test].to_numpy())
        pos = {fid: i for i, fid in enumerate(files)}
        scores[[pos[i] for i in ids]] = s
    return CVResult(files, truth, scores, folds, results, list(labels))


# ============================================================================================ other results
def zeroshot_summary(folder: str | Path | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame | None:
    """The zero-shot LLM results of chapter 3 (``llmmusic zeroshot run``), summarised, if they exist:
    :func:`llmmusic.experiments.zeroshot.summarize_results` of ``<folder>/results.jsonl`` (default ``data/zeroshot``)."""
    from llmmusic.experiments import zeroshot

    return zeroshot.summarize_results((Path(folder) if folder is not None else zeroshot.DEFAULT_DIR) / "results.jsonl",
                                      n_boot=n_boot, seed=seed)


#: Published numbers quoted in the chapter: models trained on human MIDI (Lakh MIDI with the
#: TOP-MAGD / MASD labels of Ferraro & Lemstrom 2018), multi-label F1-micro. ``status`` says how
#: far the value was checked against its source here.
PUBLISHED: list[dict[str, Any]] = [
    {"model": "MusicBERT-base", "trained on": "Lakh MIDI (human)", "task": "genre", "labels": "TOP-MAGD (13)",
     "metric": "F1-micro", "value": 0.784, "source": "Zeng et al. 2021 (MusicBERT)",
     "status": "quoted; as reported by Zeng et al. 2021, not checked against the paper's table here (the "
               "paper's text was not readable offline; the same figure appears in a secondary survey)"},
    {"model": "MusicBERT-base", "trained on": "Lakh MIDI (human)", "task": "style", "labels": "MASD (25)",
     "metric": "F1-micro", "value": 0.645, "source": "Zeng et al. 2021 (MusicBERT)",
     "status": "quoted; as reported by Zeng et al. 2021, not checked against the paper's table here (the "
               "paper's text was not readable offline; the same figure appears in a secondary survey)"},
]


# ============================================================================================ plots
def plot_roll(roll: np.ndarray, axes: Sequence[Any] | None = None, title: str = "",
              pitch_margin: int = 3) -> tuple[Any, Any]:
    """The four channels of one roll as images (pitch up, 16th-note steps across, bar lines).

    Args:
        roll: ``(4, 128, steps)`` roll (uint8 velocities or binary).
        axes: four matplotlib axes; ``None`` makes a new figure.
        title: figure title.
        pitch_margin: semitones shown around the used pitch range of each channel.
    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    from llmmusic.data.piece import TRACKS

    if axes is None:
        fig, axes = plt.subplots(4, 1, figsize=(9, 6.4), sharex=True)
    else:
        fig = axes[0].figure
    steps = roll.shape[-1]
    for c, ax in enumerate(axes):
        rows = np.flatnonzero(roll[c].any(axis=1))
        lo, hi = (rows.min(), rows.max()) if len(rows) else (60, 72)
        lo, hi = max(0, lo - pitch_margin), min(roll.shape[1] - 1, hi + pitch_margin)
        ax.imshow(roll[c, lo:hi + 1], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(-0.5, steps - 0.5, lo - 0.5, hi + 0.5), vmin=0, vmax=max(1, int(roll.max())))
        for bar in range(0, steps + 1, pianoroll.STEPS_PER_BAR):
            ax.axvline(bar - 0.5, color="#1f77b4", linewidth=0.6, alpha=0.6)
        ax.set_ylabel(f"{TRACKS[c]}\npitch", fontsize=8)
    axes[-1].set_xlabel("16th-note step (bar lines in blue)")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_history(history: pd.DataFrame, axes: Sequence[Any] | None = None, label: str = "") -> tuple[Any, Any]:
    """Training curves: losses (train solid, validation dashed) and validation accuracies per epoch.

    Args:
        history: :attr:`TrainResult.history`.
        axes: two matplotlib axes; ``None`` makes a new figure.
        label: prefix of the legend entries (e.g. the roll mode).
    Returns:
        ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = axes[0].figure
    prefix = f"{label} " if label else ""
    line = axes[0].plot(history["epoch"], history["train_loss"], label=f"{prefix}train")[0]
    axes[0].plot(history["epoch"], history["val_loss"], linestyle="--", color=line.get_color(),
                 label=f"{prefix}validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy (sum over heads)")
    for column in [c for c in history.columns if c.startswith("val_acc_")]:
        axes[1].plot(history["epoch"], history[column], marker="o", markersize=3,
                     label=f"{prefix}{column.removeprefix('val_acc_')}")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation accuracy")
    for ax in axes:
        ax.legend(fontsize=7)
    return fig, axes
