"""``llmmusic probe DATASET [DATASET ...]``: musicality and genre-legibility probe of generated datasets."""

from __future__ import annotations

import argparse
import json

from llmmusic.commands._options import existing_folder, nonnegative_int, output_file, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="musicality and genre-legibility probe of generated datasets",
                       description="Per-piece metrics with 95 %% intervals, tokens per piece, pieces per hour and "
                                   "5-fold cross-validated genre accuracy of the feature baseline.")
    p.add_argument("datasets", type=existing_folder, nargs="+", help="dataset folders, e.g. data/llm-midi/pilot-plan")
    p.add_argument("--pilot", type=positive_int, metavar="N",
                   help="probe only the pilot selection (N songs per genre; see generate --pilot)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the CV folds and bootstrap")
    p.add_argument("--json", type=output_file, help="also write the results as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmmusic import atomic
    from llmmusic.analysis.probe import probe_dataset, probe_table

    results = [probe_dataset(d, pilot=args.pilot, seed=args.seed) for d in args.datasets]
    print(probe_table(results).T.to_string())
    if args.json:
        atomic.write_text(args.json, json.dumps(results, indent=2, default=float) + "\n")
    return 0
