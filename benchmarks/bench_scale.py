"""Every chapter at the paper's size: wall time and peak memory on the 16,250-piece scale fixture.

Builds the scale fixture (:mod:`llmmusic.data.fixture`: 13 genres x 25 styles x 50 transposed, re-timed
copies of the committed dataset's pieces; ``dataset.json`` marks it a fixture) unless it is there, then
executes chapters 2-5 one at a time with ``-p dataset <fixture>`` (and any ``--param NAME VALUE``) through
the book's notebook runner, each in a fresh process with its own kernel, and reads the kernel's peak resident
memory (``ru_maxrss`` of that process's children) and the CPU seconds of both (on a busy machine the wall time
grows with the load; the CPU time does not, and the chapters compute on one thread, so on a quiet machine
the wall time is about the CPU time); executed copies go beside the fixture, not into the book. Chapter 1 reads the paper-prompt dataset and its pilots,
not the fixture, and is left out. Targets (the issue): peak <= 4 GB per chapter, chapter 4 <= 30 minutes
with its defaults or a documented ``limit``, the others <= 10 minutes.

Run by hand (an hour or more on 2 cores; nothing else should run beside it):

    .venv/bin/python benchmarks/bench_scale.py                       # fixture in ~/.cache/llmmusic/scale-fixture
    .venv/bin/python benchmarks/bench_scale.py --chapter 04 --param limit 5000

Merges its rows into benchmarks/results/scale.json (a chapter measured again replaces its row; each row
keeps its parameters, the load average when it started and its time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from llmmusic.data.dataset import PAPER_DATASET
from llmmusic.data.fixture import make_scale_fixture
from llmmusic.paths import ROOT, home

RESULTS = Path(__file__).parent / "results" / "scale.json"
CHAPTERS = ("02", "03", "04", "05")


#: Runs in a child process: one chapter through the book's runner; prints its time, status and peak memory
#: (the kernel is this child's child, so RUSAGE_CHILDREN holds the kernel's peak resident size).
CHILD = """
import json, resource, sys, time
from pathlib import Path
from llmmusic.book.chapters import discover_chapters, execute_chapter, select_chapters
from llmmusic.book.parameters import parse_param_value
number, out, given = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
params = {**{k: parse_param_value(v) for k, v in given["params"].items()}, **given["raw"]}
chapter = select_chapters(discover_chapters(), [number])[0]
start, status = time.perf_counter(), "ok"
try:
    execute_chapter(chapter, params, out)
except Exception as exc:  # the failure is the measurement's result
    status = f"{type(exc).__name__}: {str(exc)[-800:]}"
kids, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
peak = max(kids.ru_maxrss, me.ru_maxrss)
cpu = kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime
print(json.dumps({"wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(cpu, 1),
                  "peak_rss_mb": round(peak / 1024, 1), "status": status}))
"""


def scratch_cache(out: Path) -> Path:
    """A copy of the committed zero-shot call cache beside the executed copies: chapter 3 on the fixture asks
    the model about fixture pieces, and those calls must not land in the committed cache."""
    from llmmusic.experiments.zeroshot import DEFAULT_CACHE

    out.mkdir(parents=True, exist_ok=True)
    for src in (DEFAULT_CACHE, DEFAULT_CACHE.with_suffix(".tokens.json")):  # the calls, the label tokens
        if src.is_file():
            shutil.copy2(src, out / src.name)
    return out / DEFAULT_CACHE.name


def run_chapter(number: str, fixture: Path, params: list[tuple[str, str]], out: Path) -> dict:
    """One chapter in a fresh child process on the fixture: its wall time, status and peak memory."""
    raw = {"dataset": str(fixture)}
    if number == "03" and not any(name == "cache" for name, _ in params):
        raw["cache"] = str(scratch_cache(out))
    values = {"raw": raw, "params": dict(params)}
    env = {**os.environ, "LLMMUSIC_BOOK_EXECUTED": str(out)}  # records, media and results beside the fixture
    proc = subprocess.run([sys.executable, "-c", CHILD, number, str(out), json.dumps(values)], check=False, cwd=ROOT,
                          capture_output=True, text=True, env=env)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    try:
        measured = json.loads(last)
    except ValueError:
        measured = {"status": f"exit {proc.returncode}: {proc.stderr[-800:]}"}
    return {"chapter": number, **measured}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", type=Path, default=home() / "scale-fixture", help="the fixture's folder")
    ap.add_argument("--source", type=Path, default=PAPER_DATASET, help="the committed dataset it is made from")
    ap.add_argument("--chapter", action="append", choices=CHAPTERS, help="only these chapters (repeatable)")
    ap.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a chapter parameter, as papermill -p (repeatable)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    built = make_scale_fixture(args.source, args.fixture)
    built["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(built), flush=True)
    rows = []
    for number in args.chapter or CHAPTERS:  # one process each, so a chapter's peak is its own maximum
        load = os.getloadavg()[0]
        row = run_chapter(number, args.fixture, args.param, args.fixture.parent / "scale-executed")
        rows.append({**row, "params": dict(args.param), "load_average_1min_at_start": round(load, 2),
                     "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        print(json.dumps(rows[-1]), flush=True)
    write_results(rows, built)
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


def write_results(rows: list[dict], fixture: dict) -> None:
    """Merge this run's chapter rows into ``RESULTS`` (a chapter measured again replaces its row), atomically."""
    from llmmusic.atomic import read_json, write_text

    old = read_json(RESULTS, "the scale results") if RESULTS.is_file() else {}
    chapters = {r["chapter"]: r for r in old.get("chapters", [])} | {r["chapter"]: r for r in rows}
    result = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "fixture": fixture, "chapters": [chapters[c] for c in sorted(chapters)]}
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
