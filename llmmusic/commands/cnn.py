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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmmusic.commands._options import (existing_file, existing_folder, fraction, nonnegative_float, nonnegative_int, output_file,
                       positive_float, positive_int)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cnn", help="train / evaluate the genre and style CNN on piano rolls",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("action", choices=("train", "eval"))
    p.add_argument("--model", type=output_file, help="checkpoint (default: <llmmusic home>/models/cnn-<dataset>.pt)")
    p.add_argument("--dataset", type=existing_folder, help="LLM-MIDI dataset folder (default: data/llm-midi/embedded-v1; eval: the "
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


def _summary(rep: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "micro_f1", "top3", "chance_uniform",
            "chance_majority", "majority_label")
    return {k: (list(rep[k]) if isinstance(rep.get(k), tuple) else rep.get(k)) for k in keys if k in rep}


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if out is not None:
        from llmmusic import atomic

        atomic.write_text(out, text + "\n")


def _train(args: argparse.Namespace) -> int:
    from llmmusic.experiments import cnn
    from llmmusic.data.dataset import DEFAULT_DATASET, taxonomy_of
    from llmmusic.book.provenance import sha256_file

    dataset_dir = Path(args.dataset) if args.dataset else DEFAULT_DATASET
    rs = cnn.llm_rollset(dataset_dir, bars=args.bars, limit=args.limit)
    taxonomy = taxonomy_of(dataset_dir)
    heads = {"genre": list(taxonomy.genres), "style": list(taxonomy.styles)}
    split = cnn.split_by_combination(rs.table["genre"].tolist(), rs.table["style"].tolist(), seed=args.seed)
    modes = ("velocity", "binary") if args.mode == "pick" else (args.mode,)
    results = {}
    for mode in modes:
        config = cnn.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 weight_decay=args.weight_decay, channels=args.channels, dropout=args.dropout,
                                 patience=args.patience, seed=args.seed, mode=mode, transpose=args.transpose,
                                 device=args.device, threads=args.threads or None)
        results[mode] = cnn.train_on_split(rs, heads, split, config,
                                           on_epoch=lambda row, m=mode: print(json.dumps({"mode": m, **row}),
                                                                              file=sys.stderr))
    val_loss = {m: float(r.history.loc[r.best_epoch - 1, "val_loss"]) for m, r in results.items()}
    best = min(val_loss, key=val_loss.get)
    result = results[best]
    reports = cnn.heldout_reports(result.model, best, rs, heads, split, n_boot=args.n_boot, seed=args.seed)
    extra = {"dataset": str(dataset_dir), "manifest_sha256": sha256_file(dataset_dir / "manifest.jsonl"),
             "bars": args.bars, "limit": args.limit, "split_seed": args.seed, "val_loss": val_loss,
             "test": {t: _summary(r) for t, r in reports.items()}}
    path = args.model or _default_model(dataset_dir)
    cnn.save_model(result, path, extra)
    _emit({"checkpoint": str(path), "mode": best, "val_loss": val_loss, "best_epoch": result.best_epoch,
           "seconds_per_epoch": result.epoch_seconds, "pieces_per_second": result.samples_per_s,
           "device": result.device, "parameters": cnn.n_parameters(result.model),
           "pieces": {s: int((split == s).sum()) for s in cnn.SPLITS}, "config": asdict(result.config),
           "test": extra["test"]}, args.out)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from llmmusic.experiments import cnn
    from llmmusic.data.corpora import human_midi, label_folder_by_md5, lakh_labels
    from llmmusic.data.sampling import balanced_sample
    from llmmusic.book.provenance import sha256_file

    if args.model is None and args.dataset is None:
        raise SystemExit("cnn eval: give --model (or --dataset to find its default checkpoint)")
    path = args.model or _default_model(Path(args.dataset))
    if not path.is_file():
        raise SystemExit(f"cnn eval: no checkpoint at {path}; run `llmmusic cnn train` first")
    model, info = cnn.load_model(path)
    extra, heads, mode = info["extra"], info["heads"], info["config"]["mode"]
    bars = int(extra.get("bars", 8))
    out: dict[str, Any] = {"checkpoint": str(path), "mode": mode}
    dataset_dir = Path(args.dataset or extra["dataset"])
    if (dataset_dir / "manifest.jsonl").is_file():
        rs = cnn.llm_rollset(dataset_dir, bars=bars, limit=extra.get("limit"))
        split = cnn.split_by_combination(rs.table["genre"].tolist(), rs.table["style"].tolist(),
                                         seed=int(extra.get("split_seed", 0)))
        reports = cnn.heldout_reports(model, mode, rs, heads, split, n_boot=args.n_boot)
        out["llm_test"] = {t: _summary(r) for t, r in reports.items()}
        out["llm_test_note"] = ("same split as training" if sha256_file(dataset_dir / "manifest.jsonl")
                                == extra.get("manifest_sha256") else
                                "the dataset changed since training: its test split may hold training pieces")
    if args.human:
        files = balanced_sample(human_midi(), "folder_genre", args.n_human)
        human = cnn.human_rollset(files, bars=bars, n_windows=args.windows)
        ids, scores = cnn.file_scores(model, human, mode, "genre")
        rep = cnn.folder_genre_report(scores, heads["genre"], files["folder_genre"].iloc[ids].tolist(),
                                      n_boot=args.n_boot)
        out["human_folder_genres"] = _summary(rep) if rep else "no genre of this model maps to a folder genre"
        out["human_unreadable"] = len(human.failures)
    if args.lakh_dir is not None:
        labels = lakh_labels(args.lakh_labels) if args.lakh_labels else lakh_labels()
        files = label_folder_by_md5(args.lakh_dir, labels)
        out["lakh_labelled_files"] = len(files)
        if len(files):
            lakh = cnn.human_rollset(files, bars=bars, n_windows=args.windows)
            out["lakh_unreadable"] = len(lakh.failures)
            for name, rep in cnn.lakh_reports(model, mode, heads, lakh, files, n_boot=args.n_boot).items():
                out[f"lakh_{name}"] = _summary(rep)
    _emit(out, args.out)
    return 0


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _eval(args)
