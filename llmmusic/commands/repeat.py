"""``llmmusic repeat cnn|melody|summary``: the CNN or the melody experiment over seeds, and their summary.

``cnn`` / ``melody`` run the chapter's experiment once per seed (each seed: another split and
initialisation) and append one row per finished seed to the results file (default
``data/repeats/<dataset>/<kind>.jsonl``); seeds already there with the same parameters are skipped.
``summary FILE`` prints, per metric, each seed's value, the mean, sd and range across seeds and the
pooled 95 % interval.
"""

from __future__ import annotations

import argparse
import json
import sys

from llmmusic.commands._options import existing_file, folder, output_file


def seed_list(text: str) -> list[int]:
    """Comma-separated distinct integers >= 0 (``0,1,2,3,4``)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated integers >= 0 such as 0,1,2,3,4, "
                                         f"got {text!r}")
    return seeds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repeat", help="run the CNN or melody experiment over seeds; summarise a results file",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("kind", choices=("cnn", "melody", "summary"), help="what to run, or summary of a results FILE")
    p.add_argument("file", nargs="?", type=existing_file, help="summary: the results file")
    p.add_argument("--dataset", type=folder, help="cnn / melody: the LLM-MIDI dataset folder")
    p.add_argument("--seeds", type=seed_list, default=[0, 1, 2, 3, 4], help="seeds (default 0,1,2,3,4)")
    p.add_argument("--out", type=output_file, help="results file (default data/repeats/<dataset>/<kind>.jsonl)")
    p.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a chapter parameter other than its default (e.g. --param epochs 5; none for an optional "
                        "value, a,b for a list); repeatable")
    p.add_argument("--json", action="store_true", help="summary: print JSON instead of a table")
    p.set_defaults(func=run)


def _summary(args: argparse.Namespace) -> int:
    import pandas as pd

    from llmmusic.errors import UserError
    from llmmusic.experiments import repeats

    if args.file is None:
        raise UserError("repeat summary: give the results FILE, e.g. data/repeats/embedded-v1/cnn.jsonl")
    found = repeats.groups(repeats.load_rows(args.file))
    if not found:
        raise UserError(f"{args.file}: no results rows")
    out = []
    for rows in found:
        table = repeats.spread_table(rows)
        if args.json:
            out.append({"kind": rows[0]["kind"], "params": rows[0]["params"], "seeds": [r["seed"] for r in rows],
                        "seconds": [r.get("seconds") for r in rows],
                        "metrics": json.loads(table.to_json(orient="index"))})
            continue
        print(f"{rows[0]['kind']} on {rows[0]['params'].get('dataset')}, seeds "
              f"{','.join(str(r['seed']) for r in rows)}; seconds per seed "
              f"{', '.join(str(r.get('seconds')) for r in rows)}")
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.round(3).to_string())
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


def run(args: argparse.Namespace) -> int:
    from llmmusic.book.inputs import relative_to_root
    from llmmusic.errors import UserError
    from llmmusic.experiments import repeats

    if args.kind == "summary":
        return _summary(args)
    if args.file is not None:
        raise UserError(f"repeat {args.kind}: unexpected FILE {args.file}; --out names the results file")
    overrides = repeats.parse_params(args.kind, args.param)
    dataset = repeats.check_dataset(args.dataset)
    path, rows = repeats.run(args.kind, dataset, args.seeds, args.out, overrides,
                             progress=lambda line: print(line, file=sys.stderr, flush=True))
    shown = relative_to_root(path)
    print(f"{len(rows)} seeds of {args.kind} on {dataset.name} in {shown}; `llmmusic repeat summary {shown}` "
          "summarises them")
    return 0
