"""Throughput of `llmmusic generate` on the embedded server, beside llama-batched-bench's limit.

The runs do real dataset work: each level generates the next ``--pieces`` pending songs of a
dataset (default: the paper-prompt ``data/llm-midi/embedded-v1``, with its recorded parameters)
with ``--concurrency`` set to the level, on a fresh llama-server with ``--slots`` slots (default twice
the highest level: an idle slot that still holds a request's prompt prefix is there to take it, so the
shared system prompt is not processed again; the rows record how many prompt tokens the server reused).
Tokens per second count only the requests sent (a call answered from the cache, e.g. a plan asked in an
earlier interrupted run, adds none). Then ``llama-batched-bench`` measures the engine's aggregate
generation speed for the same model and parallelism.
Also the peak resident memory of the generating process and of the server.

With ``--baseline-pieces N`` (and llama-cpp-python installed, e.g. ``CMAKE_ARGS="-DGGML_NATIVE=OFF
-DGGML_AVX2=ON ..." pip install llama-cpp-python[server]==0.3.36``), the same first N songs are also
generated through llama-cpp-python's own server (one request at a time) into a scratch folder: the
single-stream baseline the pipeline is compared with.

Run by hand on a quiet machine (about 1 minute per piece at concurrency 1 on 2 cores):

    .venv/bin/python benchmarks/bench_generate.py --levels 1 2 4 --pieces 12 --baseline-pieces 4

Writes benchmarks/results/generate.json (``--results`` elsewhere, e.g. one file per dataset:
``--dataset data/llm-midi/embedded-v2 --results benchmarks/results/generate-embedded-v2.json``).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmmusic.data.dataset import PAPER_DATASET
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.llm import LLMClient
from llmmusic.generation.server import EmbeddedServer, assemble_model, build_dir

RESULTS = Path(__file__).parent / "results" / "generate.json"


def batched_bench(model: Path, parallel: int, threads: int, prompt: int = 400, gen: int = 256) -> float:
    """Aggregate generation tokens/s of llama-batched-bench with ``parallel`` sequences."""
    binary = build_dir() / "bin" / "llama-batched-bench"
    out = subprocess.run([str(binary), "-m", str(model), "-c", str((prompt + gen) * parallel + 256),
                          "-npp", str(prompt), "-ntg", str(gen), "-npl", str(parallel), "-t", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    # table row: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    rows = [line for line in out.splitlines() if re.match(r"^\|\s+\d+", line)]
    cells = [c.strip() for c in rows[-1].strip("|").split("|")]
    return float(cells[7])


def run_level(dataset: Path, level: int, pieces: int, slots: int, client: LLMClient | None = None,
              out: Path | None = None) -> dict:
    """Generate ``pieces`` pending songs of ``dataset`` (or into ``out``) at concurrency ``level``."""
    config = GenerateConfig.from_dataset(dataset, per_combination=50, limit=pieces)
    if out is not None:
        config.out = out
    client = client or LLMClient(cache=dataset / "cache.sqlite", parallel=slots)
    start = time.monotonic()
    summary = Generator(config, client).run(concurrency=level, progress=False)
    wall = time.monotonic() - start
    return {"concurrency": level, "songs": summary.songs_planned, "attempts": summary.attempts,
            "valid": summary.valid_attempts, "llm_calls": summary.llm_calls,
            "valid_rate": round(summary.valid_attempts / max(1, summary.attempts), 3),
            "seconds": round(wall, 1), "pieces_per_hour": round(3600 * summary.songs_valid / wall, 1),
            "tokens_per_second": round(summary.completion_tokens / wall, 2),
            "prompt_tokens": summary.prompt_tokens, "cached_prompt_tokens": summary.cached_prompt_tokens,
            "prompt_reused": summary.as_dict()["prompt_reused"]}


def llama_cpp_python_baseline(dataset: Path, pieces: int, threads: int) -> dict | None:
    """The first ``pieces`` songs of ``dataset`` through ``python -m llama_cpp.server`` (scratch output)."""
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed: no single-stream baseline", file=sys.stderr)
        return None
    server = EmbeddedServer(parallel=1, threads=threads, reuse=False, engine="llama_cpp.server")
    info = server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = LLMClient(base_url=info.base_url, model="qwen2.5-coder-1.5b",
                               cache=Path(tmp) / "cache.sqlite", json_object_schemas=True)
            row = run_level(dataset, 1, pieces, 1, client=client, out=Path(tmp))
    finally:
        server.stop()
    return {**row, "engine": f"llama-cpp-python {llama_cpp.__version__} server"}


def measure_levels(args: argparse.Namespace) -> dict:
    """Generate at each concurrency level on a fresh llama-server, then its batched-bench limits."""
    model = assemble_model()
    slots = args.slots or 2 * max(args.levels)
    results = []
    server = EmbeddedServer(parallel=slots, threads=args.threads, reuse=False)
    server.start()
    try:
        for level in args.levels:
            results.append(run_level(args.dataset, level, args.pieces, slots))
            print(json.dumps(results[-1]), flush=True)
        server_peak = server.peak_memory_mb()
    finally:
        server.stop()
    for row in results:  # the engine's limit, measured with the server stopped
        row["batched_bench_tokens_per_second"] = batched_bench(model, row["concurrency"], args.threads)
        row["ratio_to_engine_limit"] = round(row["tokens_per_second"] / row["batched_bench_tokens_per_second"], 3)
        print(json.dumps(row), flush=True)
    return {"dataset": str(args.dataset), "threads": args.threads, "slots": slots, "levels": results,
            "llama_cpp_python_baseline": None,
            "peak_rss_generator_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_server_mb": round(server_peak or 0.0, 1),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=PAPER_DATASET)
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 2, 4],
                        help="concurrency levels; none: keep the levels already in the results file")
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=None,
                        help="server slots (default: twice the highest level, so that a request finds an idle "
                             "slot that still holds its prompt prefix)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON file written")
    parser.add_argument("--baseline-pieces", type=int, default=0,
                        help="songs for the llama-cpp-python single-stream baseline (0 = skip)")
    args = parser.parse_args()
    if args.levels:
        summary = measure_levels(args)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(summary, indent=2) + "\n")  # kept if the baseline fails
    else:
        summary = json.loads(args.results.read_text())
    baseline = llama_cpp_python_baseline(args.dataset, args.baseline_pieces, args.threads) \
        if args.baseline_pieces else None
    if baseline is not None:
        summary["llama_cpp_python_baseline"] = baseline
        for row in summary["levels"]:
            row["ratio_to_llama_cpp_python"] = round(row["pieces_per_hour"] / max(baseline["pieces_per_hour"], 1e-9), 2)
        args.results.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
