"""Training time per epoch of the melody-completion transformer (chapter 05's default model).

Trains the chapter's default model (d_model 128, 2 layers, 4 heads, batch 16) on the training
windows of a corpus for a few epochs and reports the median wall time of an epoch's training pass
(validation excluded) for each torch thread count asked for, with tokens per second, the device and
the machine's 1-minute load average at the start (other busy processes on a shared CPU slow training
down, and oversubscribed threads slow it further).

Run from the repository root:

    .venv/bin/python benchmarks/bench_melody.py --epochs 3

Writes benchmarks/results/melody.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from llmmusic.experiments.melody import MelodyTokenizer
from llmmusic.experiments.melody.experiment import DataConfig, prepare, sequences
from llmmusic.experiments.melody.model import build_model
from llmmusic.experiments.melody.train import TrainConfig, train_model

RESULTS = Path(__file__).parent / "results" / "melody.json"


def run(seqs: dict, tokenizer: MelodyTokenizer, args: argparse.Namespace, threads: int | None) -> dict:
    """Train a fresh model for ``args.epochs`` epochs with ``threads`` torch threads; its timings."""
    model = build_model(tokenizer, d_model=args.d_model, n_layers=args.layers)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = train_model(model, seqs["train"], seqs["validation"],
                         TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                                     threads=threads),
                         progress=lambda row: print(json.dumps(row), flush=True))
    return {"torch_threads": threads or torch.get_num_threads(), "load_average_1min_at_start": load,
            "seconds_per_epoch_median": round(result.seconds_per_epoch, 3),
            "seconds_per_epoch": [round(x, 3) for x in result.history["seconds"]],
            "tokens_per_second": round(result.n_tokens / result.seconds_per_epoch, 1),
            "device": result.device, "parameters": result.n_parameters, "train_windows": result.n_sequences,
            "tokens_per_epoch": result.n_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="llm-midi", choices=("llm-midi", "pop909", "folk"))
    parser.add_argument("--dataset", help="LLM-MIDI dataset folder (default: llmmusic.data.dataset.DEFAULT_DATASET)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch CPU thread counts to compare (default: 1 2)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = DataConfig(dataset=args.dataset)
    corpus = prepare(config, [args.corpus])[args.corpus]
    if corpus.missing:
        raise SystemExit(f"corpus {args.corpus}: {corpus.missing}")
    tokenizer = MelodyTokenizer()
    seqs = sequences(corpus, tokenizer, config)
    runs = [run(seqs, tokenizer, args, threads) for threads in args.threads]
    summary = {
        "corpus": args.corpus, "dataset": config.dataset or "default", "train_songs": len(corpus.splits["train"]),
        "d_model": args.d_model, "layers": args.layers, "batch_size": args.batch_size, "epochs": args.epochs,
        "runs": runs, "best_seconds_per_epoch_median": min(r["seconds_per_epoch_median"] for r in runs),
        "torch": torch.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
