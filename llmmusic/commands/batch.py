"""``llmmusic batch run``, and the batch options of ``llmmusic generate`` (``--export-batch``,
``--import-batch``, ``--estimate``): see :mod:`llmmusic.generation.batch`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmmusic.errors import UserError
from llmmusic.generation.generate import Generator, default_cache_path
from llmmusic.generation.songs import GenerateConfig
from llmmusic.commands._options import client_from_args, existing_file, existing_folder, http_url, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="run a batch file against an OpenAI-compatible server (as vllm run-batch)",
                       description="Send every request of a batch file (llmmusic generate --export-batch) to an "
                                   "OpenAI-compatible server and write the results file that llmmusic generate "
                                   "--import-batch reads. Requests already in the results file are skipped.")
    p.add_argument("action", choices=("run",), help="run: send the requests, write the results")
    p.add_argument("file", type=existing_file, help="batch file (OpenAI Batch API JSONL)")
    p.add_argument("--out", type=Path, required=True, help="results file (JSONL, appended)")
    p.add_argument("--base-url", type=http_url, default=None,
                   help="the server's OpenAI root, e.g. http://localhost:8000/v1 (default: the embedded llama-server)")
    p.add_argument("--concurrency", type=positive_int, default=4, help="requests in flight (default 4)")
    p.add_argument("--parallel", type=positive_int, default=4, help="slots of an embedded server started here")
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds per request (default 900)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmmusic.generation.batch import run_batch

    summary = run_batch(args.file, args.out, base_url=args.base_url, concurrency=args.concurrency,
                        timeout=args.timeout, parallel=args.parallel)
    print(json.dumps(summary.as_dict(), indent=2))
    return 1 if summary.failed else 0


def add_generate_options(p: argparse.ArgumentParser) -> None:
    """The batch and estimate options of ``llmmusic generate``."""
    group = p.add_argument_group("batch files and estimate (nothing is generated)")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--export-batch", type=Path, metavar="FILE",
                      help="write every pending request as OpenAI Batch API JSONL (custom_id = cache key)")
    mode.add_argument("--import-batch", type=existing_file, metavar="FILE",
                      help="read a Batch API / vLLM run-batch results file into the call cache")
    mode.add_argument("--estimate", action="store_true",
                      help="print requests, expected tokens, hours and cost of the run")
    group.add_argument("--pieces-per-hour", type=positive_float,
                       help="throughput for --estimate (default: measured in runs.jsonl)")
    group.add_argument("--price-in", type=positive_float, metavar="PRICE",
                       help="price per million prompt tokens, for --estimate (none is assumed)")
    group.add_argument("--price-out", type=positive_float, metavar="PRICE",
                       help="price per million completion tokens, for --estimate")
    group.add_argument("--tokens-from", type=existing_folder, metavar="DIR",
                       help="dataset whose measured usage gives tokens per request (default: --out, else one "
                            "under data/llm-midi with the same prompt)")


def requested(args: argparse.Namespace) -> bool:
    """Whether ``generate`` was asked for a batch file or an estimate instead of a run."""
    return bool(getattr(args, "export_batch", None) or getattr(args, "import_batch", None)
                or getattr(args, "estimate", False))


def run_generate(args: argparse.Namespace, config: GenerateConfig) -> int:
    """``generate --export-batch/--import-batch/--estimate``: the run's requests, without generating."""
    from llmmusic.generation.batch import estimate, export_batch, import_batch

    if (args.price_in is None) != (args.price_out is None):
        raise UserError("--price-in and --price-out go together")
    cache = args.cache or default_cache_path(args.out)
    # only an import writes the cache; an export or estimate reads it when it exists and creates nothing
    client = client_from_args(args, cache if args.import_batch or Path(cache).exists() else None)
    generator = Generator(config, client)
    try:
        if args.estimate:
            result = estimate(generator, pieces_per_hour=args.pieces_per_hour, price_in=args.price_in,
                              price_out=args.price_out, tokens_from=args.tokens_from)
            print(f"estimate for {args.out} (variant {config.variant}, decoding {config.decoding}, "
                  f"model {client.model_id} at {client.endpoint_kind})")
            print(result.text())
            return 0
        if args.export_batch:
            exported = export_batch(generator, args.export_batch)
            print(json.dumps(exported.as_dict(), indent=2))
            if exported.requests:
                print(f"next: run {args.export_batch} (OpenAI Batch API, vllm run-batch, or llmmusic batch run), "
                      "then rerun this command with --import-batch RESULTS instead of --export-batch",
                      file=sys.stderr)
            else:
                print("nothing to export: no pending request"
                      + (f" ({exported.awaiting_run} cached, for a normal run to record)" if exported.awaiting_run
                         else ""), file=sys.stderr)
            return 0
        imported = import_batch(generator, args.import_batch)
        print(json.dumps(imported.as_dict(), indent=2))
        print("next: the same command without --import-batch (add --cache-only to send nothing) writes the "
              "pieces; then --export-batch again for the songs still pending", file=sys.stderr)
        return 0
    finally:
        client.close()
