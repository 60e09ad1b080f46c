"""``llmmusic cnn train|eval``: the genre / style CNN from the command line.

``train`` fits the CNN on an LLM-MIDI dataset (split by genre x style combination, early stopping
on the validation split), prints one JSON line per epoch and the held-out test metrics, and saves a
checkpoint. ``eval`` loads a checkpoint and evaluates it on the held-out LLM-MIDI test split, on the
human MIDI collection's five folder genres (``--human``), and on a Lakh MIDI folder joined by md5 to
the TOP-MAGD / MASD labels (``--lakh-dir PATH``: lmd_full or lmd_matched, or any folder of MIDI files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmmusic.commands._options import (existing_file, existing_folder, fraction, nonnegative_float, nonnegative_int, output_file,
                       positive_float, positive_int)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cnn", help="train / evaluate the genre and style CNN on piano rolls",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("action", choices=("train", "eval"))
    p.add_argument("--model", type=output_file, help="checkpoint (default: <llmmusic home>/models/cnn-<dataset>.pt)")
    p.add_argument("--dataset", type=existing_folder, help="LLM-MIDI dataset folder (default: the default dataset, llmmusic.data.dataset.DEFAULT_DATASET; eval: the "
                                     "checkpoint's)")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples for 95%% intervals (default 1000)")
    p.add_argument("--out", type=output_file, help="also write the results as JSON here")
    tr = p.add_argument_group("training (train)")
    tr.add_argument("--bars", type=positive_int, default=8, help="roll length in bars (default 8)")
    tr.add_argument("--limit", type=positive_int, help="at most this many LLM pieces")
    tr.add_argument("--mode", choices=("velocity", "binary", "pick"), default="pick",
                    help="roll input; pick: train both, keep the lower validation loss (default)")
    tr.add_argument("--epochs", type=positive_int, default=20)
    tr.add_argument("--patience", type=positive_int, default=4)
    tr.add_argument("--batch-size", type=positive_int, default=32)
    tr.add_argument("--lr", type=positive_float, default=1e-3)
    tr.add_argument("--weight-decay", type=nonnegative_float, default=1e-4)
    tr.add_argument("--channels", type=positive_int, default=16)
    tr.add_argument("--dropout", type=fraction, default=0.3)
    tr.add_argument("--transpose", type=nonnegative_int, default=0, help="random transposition augmentation (semitones)")
    tr.add_argument("--seed", type=nonnegative_int, default=0, help="seeds the split, weights and batch order")
    tr.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    tr.add_argument("--threads", type=nonnegative_int, default=1, help="torch CPU threads (default 1; 0: torch's default)")
    ev = p.add_argument_group("evaluation (eval)")
    ev.add_argument("--human", action="store_true", help="also evaluate on the shared human MIDI folder genres")
    ev.add_argument("--n-human", type=positive_int, help="human files (balanced over the 5 genres; default all)")
    ev.add_argument("--lakh-dir", type=existing_folder, help="a Lakh MIDI folder (lmd_full / lmd_matched) to label by md5")
    ev.add_argument("--lakh-labels", type=existing_file, help="midi_genre_map.json (default: the shared copy)")
    ev.add_argument("--windows", type=positive_int, default=2, help="8-bar windows per human / Lakh file (default 2)")
    p.set_defaults(func=run)


def _default_model(dataset_dir: Path) -> Path:
    from llmmusic.paths import home

    return home() / "models" / f"cnn-{dataset_dir.name}.pt"


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if out is not None:
        from llmmusic import atomic

        atomic.write_text(out, text + "\n")


def _train(args: argparse.Namespace) -> int:
    from llmmusic.data.dataset import DEFAULT_DATASET
    from llmmusic.experiments.cnn import Settings, train_checkpoint

    dataset_dir = Path(args.dataset) if args.dataset else DEFAULT_DATASET
    settings = Settings(limit=args.limit, bars=args.bars, epochs=args.epochs, patience=args.patience,
                        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, channels=args.channels,
                        dropout=args.dropout, transpose=args.transpose,
                        modes=("velocity", "binary") if args.mode == "pick" else (args.mode,), seed=args.seed,
                        n_boot=args.n_boot, device=args.device, threads=args.threads or None)
    result = train_checkpoint(settings, dataset_dir, args.model or _default_model(dataset_dir),
                              on_epoch=lambda row: print(json.dumps(row), file=sys.stderr))
    _emit(result, args.out)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from llmmusic.experiments.cnn import evaluate_checkpoint

    if args.model is None and args.dataset is None:
        raise SystemExit("cnn eval: give --model (or --dataset to find its default checkpoint)")
    path = args.model or _default_model(Path(args.dataset))
    if not path.is_file():
        raise SystemExit(f"cnn eval: no checkpoint at {path}; run `llmmusic cnn train` first")
    _emit(evaluate_checkpoint(path, args.dataset, human=args.human, n_human=args.n_human, lakh_dir=args.lakh_dir,
                              lakh_labels=args.lakh_labels, windows=args.windows, n_boot=args.n_boot), args.out)
    return 0


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _eval(args)
