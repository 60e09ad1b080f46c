"""Training and inference speed of the genre / style CNN on this machine.

For each setting (torch CPU threads x first-layer width x roll input): a fresh model is trained for
``--epochs`` epochs on ``--pieces`` rolls (real LLM-MIDI rolls of the default dataset, repeated to
reach that count; random sparse rolls when there is no dataset) with a validation set of a quarter
of that size, and prediction is timed ``--repeats`` times. Reported: the median seconds per training
epoch (training pass only), the median training throughput in pieces per second, and the median
prediction throughput. The machine's 1-minute load average is recorded, since these 2 cores are shared.

Run by hand:

    .venv/bin/python benchmarks/bench_cnn.py               # ~2 minutes on 2 shared cores

Writes benchmarks/results/cnn.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from llmmusic.experiments import cnn
from llmmusic.data.dataset import pick_dataset

RESULTS = Path(__file__).parent / "results" / "cnn.json"
HEADS = {"genre": [f"g{i}" for i in range(13)], "style": [f"s{i}" for i in range(25)]}


def rolls_for(n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """``n`` uint8 rolls: real LLM-MIDI rolls repeated, or random sparse ones without a dataset."""
    dataset = pick_dataset()
    if dataset is not None:
        rs = cnn.llm_rollset(dataset)
        if len(rs):
            return rs.rolls[np.arange(n) % len(rs)], f"{dataset.name} ({len(rs)} distinct pieces, repeated)"
    rng = np.random.default_rng(seed)
    rolls = np.where(rng.random((n, 4, 128, 128)) < 0.01, rng.integers(1, 128, (n, 4, 128, 128)), 0)
    return rolls.astype(np.uint8), "random sparse rolls (no dataset found)"


def run(threads: int, channels: int, mode: str, rolls: np.ndarray, epochs: int, repeats: int,
        batch_size: int) -> dict:
    n_val = max(2, len(rolls) // 4)
    rng = np.random.default_rng(0)
    y = {k: rng.integers(0, len(v), len(rolls)) for k, v in HEADS.items()}
    config = cnn.TrainConfig(epochs=epochs, patience=epochs + 1, batch_size=batch_size, channels=channels,
                             mode=mode, threads=threads, device="cpu")
    load = os.getloadavg()[0]
    result = cnn.train_model(rolls, y, rolls[:n_val], {k: v[:n_val] for k, v in y.items()}, HEADS, config)
    predict_rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        cnn.predict(result.model, rolls, mode, batch_size=128, device="cpu", threads=threads)
        predict_rates.append(len(rolls) / (time.perf_counter() - start))
    return {"torch_threads": threads, "channels": channels, "mode": mode, "batch_size": batch_size,
            "load_average_1min_at_start": round(load, 2),
            "seconds_per_epoch_median": round(result.epoch_seconds, 3),
            "seconds_per_epoch": [round(s, 3) for s in result.history["train_seconds"]],
            "train_pieces_per_second_median": round(result.samples_per_s, 1),
            "predict_pieces_per_second_median": round(statistics.median(predict_rates), 1),
            "parameters": cnn.n_parameters(result.model), "device": result.device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=256, help="training rolls per epoch (default 256)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per setting (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed prediction passes (default 3)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rolls, source = rolls_for(args.pieces)
    settings = [(1, 16, "velocity"), (2, 16, "velocity"), (1, 16, "binary"), (1, 8, "velocity")]
    runs = []
    for threads, channels, mode in settings:
        runs.append(run(threads, channels, mode, rolls, args.epochs, args.repeats, args.batch_size))
        print(json.dumps(runs[-1]))
    result = {"benchmark": "cnn", "rolls": source, "pieces_per_epoch": args.pieces, "epochs": args.epochs,
              "input_shape": list(rolls.shape[1:]), "torch": torch.__version__, "cpu_count": os.cpu_count(),
              "machine": platform.processor() or platform.machine(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
