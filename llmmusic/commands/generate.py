"""``llmmusic generate``: the LLM-MIDI grid run."""

from __future__ import annotations

import argparse
import json
import sys

from llmmusic.generation.card import write_card
from llmmusic.data.dataset import MANIFEST
from llmmusic.generation.generate import Generator, default_cache_path
from llmmusic.generation.songs import DECODINGS, GenerateConfig
from llmmusic.generation.variants import VARIANTS
from llmmusic.commands import batch
from llmmusic.data.taxonomy import TAXONOMIES
from llmmusic.commands._options import (add_llm_options, client_from_args, folder, name_list, nonnegative_int, output_file,
                       positive_float, positive_int, probability)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate LLM-MIDI pieces over the genre x style grid",
                       description="Generate 4-track MIDI pieces for each genre x style combination. "
                                   "Resumable: rerun the same command to continue. Exit status: 0 done, 1 error or "
                                   "no valid piece although songs were pending, 130/143 stopped by Ctrl-C/kill.")
    p.add_argument("--out", type=folder, required=True, help="dataset folder, e.g. data/llm-midi/demo")
    p.add_argument("--per-combination", type=positive_int, default=1, help="songs per genre x style (paper: 50)")
    p.add_argument("--taxonomy", choices=sorted(TAXONOMIES), default="paper")
    p.add_argument("--genres", type=name_list, help="comma-separated genres (default: all)")
    p.add_argument("--styles", type=name_list, help="comma-separated styles (default: all)")
    p.add_argument("--limit", type=positive_int, help="at most this many songs in this run")
    p.add_argument("--pilot", type=positive_int, metavar="N",
                   help="the pilot selection: N songs per genre (index 0), styles spread evenly")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="paper",
                   help="prompt/representation variant (see llmmusic.generation.variants)")
    p.add_argument("--decoding", choices=DECODINGS, default="schema",
                   help="schema: structured outputs with bounds (default); free: the paper's free-form reply")
    p.add_argument("--max-attempts", type=positive_int, default=5, help="attempts per song (paper: 5)")
    p.add_argument("--max-tokens", type=positive_int, help="reply budget (paper: 1200)")
    p.add_argument("--top-p", type=probability, default=0.9)
    p.add_argument("--repeat-penalty", type=positive_float, help="llama.cpp repeat penalty (a deviation from the paper)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="base seed")
    p.add_argument("--writer", choices=("exact", "official"), default="exact", help="MIDI writer")
    p.add_argument("--concurrency", type=positive_int,
                   help="requests in flight (default: the embedded server's slots, 4; 8 for --base-url)")
    p.add_argument("--cache", type=output_file, help="call cache (default: <out>/cache.sqlite)")
    p.add_argument("--no-progress", action="store_true")
    add_llm_options(p)
    batch.add_generate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = GenerateConfig(out=args.out, taxonomy=args.taxonomy, genres=args.genres, styles=args.styles,
                            per_combination=args.per_combination, limit=args.limit, pilot=args.pilot,
                            variant=args.variant, decoding=args.decoding, max_attempts=args.max_attempts,
                            max_tokens=args.max_tokens, top_p=args.top_p, repeat_penalty=args.repeat_penalty,
                            seed=args.seed, writer=args.writer)
    if batch.requested(args):  # --export-batch, --import-batch or --estimate: nothing is generated
        return batch.run_generate(args, config)
    client = client_from_args(args, args.cache or default_cache_path(args.out))
    concurrency = args.concurrency or (args.parallel if args.base_url is None else 8)
    generator = Generator(config, client)
    try:
        summary = generator.run(concurrency=concurrency, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"stopped: {generator.summary.interrupted_attempts} request(s) in flight recorded as interrupted; "
              "rerun the same command to continue", file=sys.stderr)
        raise
    finally:
        client.close()
        if generator.started and (args.out / MANIFEST).exists():  # the card follows every run, even a stopped one
            print(f"dataset card: {write_card(args.out)}", file=sys.stderr)
    print(json.dumps(summary.as_dict(), indent=2))
    if summary.songs_planned and not summary.songs_valid:
        failures = ", ".join(f"{k} {n}" for k, n in sorted(summary.failures.items())) or "none recorded"
        print(f"llmmusic generate: error: no valid piece from {summary.songs_planned} pending song(s) "
              f"(failures: {failures}); see {args.out / 'manifest.jsonl'}", file=sys.stderr)
        return 1
    return 0
