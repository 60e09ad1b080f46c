"""``llmmusic dataset card|summary|fixture DIR``: describe a generated dataset, or build a scale fixture from it."""

from __future__ import annotations

import argparse
import json

from llmmusic.commands._options import existing_folder, folder, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="describe a generated dataset (card, summary), or build a scale fixture from it")
    p.add_argument("action", choices=("card", "summary", "fixture"),
                   help="card: write DATASET.md; summary: print counts; fixture: write a paper-size scale fixture "
                        "(transposed, re-timed copies of the dataset's pieces) into --out")
    p.add_argument("path", type=existing_folder, help="dataset folder, e.g. data/llm-midi/embedded-v1")
    p.add_argument("--out", type=folder, help="fixture: the folder to write (e.g. /tmp/scale-fixture)")
    p.add_argument("--per-combination", type=positive_int, default=50,
                   help="fixture: songs per genre x style (default 50: the paper's 16,250 pieces)")
    p.add_argument("--seed", type=int, default=0, help="fixture: seed of the transpositions and rotations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmmusic.errors import UserError
    from llmmusic.generation.card import dataset_summary, write_card

    if args.action == "card":
        print(write_card(args.path))
    elif args.action == "summary":
        print(json.dumps(dataset_summary(args.path), indent=2, default=str))
    else:
        from llmmusic.data.fixture import make_scale_fixture

        if args.out is None:
            raise UserError("llmmusic dataset fixture: --out FOLDER is required (where to write the fixture)")
        print(json.dumps(make_scale_fixture(args.path, args.out, args.per_combination, args.seed), indent=2))
    return 0
