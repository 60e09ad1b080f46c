"""``llmmusic generate``: the LLM-MIDI grid run."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..card import write_card
from ..generate import DECODINGS, GenerateConfig, Generator, default_cache_path
from ..variants import VARIANTS
from ..taxonomy import TAXONOMIES
from ._options import add_llm_options, client_from_args


def _labels(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate LLM-MIDI pieces over the genre x style grid",
                       description="Generate 4-track MIDI pieces for each genre x style combination. "
                                   "Resumable: rerun the same command to continue.")
    p.add_argument("--out", type=Path, required=True, help="dataset folder, e.g. data/llm-midi/demo")
    p.add_argument("--per-combination", type=int, default=1, help="songs per genre x style (paper: 50)")
    p.add_argument("--taxonomy", choices=sorted(TAXONOMIES), default="paper")
    p.add_argument("--genres", help="comma-separated genres (default: all)")
    p.add_argument("--styles", help="comma-separated styles (default: all)")
    p.add_argument("--limit", type=int, help="at most this many songs in this run")
    p.add_argument("--pilot", type=int, metavar="N",
                   help="the pilot selection: N songs per genre (index 0), styles spread evenly")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="paper",
                   help="prompt/representation variant (see llmmusic.variants)")
    p.add_argument("--decoding", choices=DECODINGS, default="schema",
                   help="schema: structured outputs with bounds (default); free: the paper's free-form reply")
    p.add_argument("--max-attempts", type=int, default=5, help="attempts per song (paper: 5)")
    p.add_argument("--max-tokens", type=int, help="reply budget (paper: 1200)")
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--repeat-penalty", type=float, help="llama.cpp repeat penalty (a deviation from the paper)")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--writer", choices=("exact", "official"), default="exact", help="MIDI writer")
    p.add_argument("--concurrency", type=int, help="requests in flight (default: the embedded server's slots, 4)")
    p.add_argument("--cache", type=Path, help="call cache (default: <out>/cache.sqlite)")
    p.add_argument("--no-progress", action="store_true")
    add_llm_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = GenerateConfig(out=args.out, taxonomy=args.taxonomy, genres=_labels(args.genres),
                            styles=_labels(args.styles), per_combination=args.per_combination, limit=args.limit,
                            pilot=args.pilot,
                            variant=args.variant, decoding=args.decoding, max_attempts=args.max_attempts,
                            max_tokens=args.max_tokens, top_p=args.top_p, repeat_penalty=args.repeat_penalty,
                            seed=args.seed, writer=args.writer)
    client = client_from_args(args, args.cache or default_cache_path(args.out))
    concurrency = args.concurrency or (args.parallel if args.base_url is None else 8)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # `kill` stops like Ctrl-C: the run is logged; rerun to continue

    signal.signal(signal.SIGTERM, interrupt)
    generator = Generator(config, client)
    try:
        summary = generator.run(concurrency=concurrency, progress=not args.no_progress)
    finally:
        client.close()
        generator.drain()
        if (args.out / "manifest.jsonl").exists():  # the card follows every run, finished or stopped
            print(f"dataset card: {write_card(args.out)}", file=sys.stderr)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0
