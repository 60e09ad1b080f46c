"""``llmmusic dataset card|summary DIR``: describe a generated dataset."""

from __future__ import annotations

import argparse
import json

from llmmusic.commands._options import existing_folder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="describe a generated dataset (card, summary)")
    p.add_argument("action", choices=("card", "summary"), help="card: write DATASET.md; summary: print counts")
    p.add_argument("path", type=existing_folder, help="dataset folder, e.g. data/llm-midi/embedded-v1")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmmusic.generation.card import dataset_summary, write_card

    if args.action == "card":
        print(write_card(args.path))
    else:
        print(json.dumps(dataset_summary(args.path), indent=2, default=str))
    return 0
