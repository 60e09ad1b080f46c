"""Mutation testing of the core modules with mutmut (run by hand, not in CI: hours on 2 cores).

    make mutation                                   # every core module (nice -n 19)
    make mutation MODULES="cache midi"              # some of them
    .venv/bin/python benchmarks/mutation.py cache --max-children 1 --keep

Each module is mutated in its own copy of the working tree (tracked and untracked, not ignored files)
in a temporary folder, so the checkout is never touched. mutmut runs the module's tests (below, always
with ``-m "not server and not slow"``) once to learn which test reaches which function, then, for every
mutant, the tests that reach the mutated function. A mutant is *killed* when a test fails, *survived*
when all pass; timeouts count as killed. Results (killed / total per module, every survivor with its
diff) are merged into ``benchmarks/results/mutation.json``; survivors accepted as equivalent or not
worth a test are listed with their reason in ``ACCEPTED``.

Where a module holds more than the core logic, ``functions`` limits the mutants to the functions that
matter here (mutmut names them ``x_<function>`` and ``xǁ<Class>ǁ<method>``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "mutation.json"
MARKERS = "not server and not slow"
#: Folders and files the tests read, copied beside the mutated package.
ALSO_COPY = ("data", "course", "notebooks", "book", "benchmarks", "_config.yml", "_toc.yml", "jupytext.toml")

MODULES: dict[str, dict] = {
    "parse": {"path": "llmmusic/generation/parse.py", "tests": ["tests/test_parse.py", "tests/test_variants.py"]},
    "metrics": {"path": "llmmusic/analysis/metrics.py", "tests": ["tests/test_metrics.py", "tests/test_zeroshot.py"]},
    "splits": {"path": "llmmusic/data/splits.py", "tests": ["tests/test_splits.py", "tests/test_cnn.py"]},
    "songs": {"path": "llmmusic/generation/songs.py",
              "tests": ["tests/test_songs.py", "tests/test_generate.py", "tests/test_generate_resume.py"]},
    "generate": {"path": "llmmusic/generation/generate.py",
                 "tests": ["tests/test_generate_rows.py", "tests/test_generate.py", "tests/test_generate_resume.py",
                           "tests/test_plan_compose.py"],
                 "functions": ["xǁGeneratorǁ_check_params", "xǁGeneratorǁ_progress_state", "xǁGeneratorǁ_song",
                               "xǁGeneratorǁpending", "xǁGeneratorǁ_attempt"]},
    "cache": {"path": "llmmusic/generation/cache.py", "tests": ["tests/test_cache.py", "tests/test_llm_wire.py"]},
    "midi": {"path": "llmmusic/data/midi.py", "tests": ["tests/test_midi.py", "tests/test_midi_fuzz.py"]},
    "roles": {"path": "llmmusic/data/roles.py", "tests": ["tests/test_midi.py", "tests/test_midi_fuzz.py"]},
}

#: Survivors looked at and accepted: mutant name -> why no test should kill it. Names follow the code:
#: after a change to a function, rerun and look at its survivors again.
_SQL_CASE = "SQL keywords, PRAGMA names and unquoted identifiers are case-insensitive in SQLite (equivalent)"
ACCEPTED: dict[str, str] = {
    **{f"llmmusic.generation.cache.{name}": _SQL_CASE for name in (
        "xǁCallCacheǁ__init____mutmut_20", "xǁCallCacheǁ__init____mutmut_21", "xǁCallCacheǁ__init____mutmut_23",
        "xǁCallCacheǁ__init____mutmut_24", "xǁCallCacheǁput__mutmut_6", "xǁCallCacheǁput__mutmut_7",
        "xǁCallCacheǁput__mutmut_21", "xǁCallCacheǁput__mutmut_22", "xǁCallCacheǁ__len____mutmut_3",
        "xǁCallCacheǁ__len____mutmut_4", "xǁCallCacheǁ_conn__mutmut_35", "xǁCallCacheǁ_conn__mutmut_36",
        "xǁCallCacheǁ_conn__mutmut_39", "xǁCallCacheǁ_conn__mutmut_40", "xǁCallCacheǁcheckpoint__mutmut_3",
        "xǁCallCacheǁcheckpoint__mutmut_4", "xǁCallCacheǁget__mutmut_7", "xǁCallCacheǁget__mutmut_8")},
    "llmmusic.generation.cache.x_cache_key__mutmut_17": "codec names are case-insensitive: 'UTF-8' is 'utf-8' (equivalent)",
    "llmmusic.generation.cache.x_cache_key__mutmut_5": "ensure_ascii=None is falsy, as False (equivalent)",
    "llmmusic.generation.cache.xǁCallCacheǁ__init____mutmut_4": "for ':memory:' the changed test makes the folder '.', "
                                                    "which exists: no effect (equivalent)",
    "llmmusic.generation.cache.xǁCallCacheǁ__init____mutmut_5": "as __init__ 4 (equivalent)",
    "llmmusic.generation.cache.xǁCallCacheǁ_conn__mutmut_27": "the busy timeout (60 s, sqlite's default 5 s) only matters while "
                                                  "another writer holds the lock for seconds; no unit test waits so",
    "llmmusic.generation.cache.xǁCallCacheǁ_conn__mutmut_29": "busy timeout 61 s instead of 60 s (equivalent in effect)",
    **{f"llmmusic.generation.generate.xǁGeneratorǁ_attempt__mutmut_{n}": "the 'no_piece' default is defensive: every "
       "variant's parser names its failure whenever it returns no piece, so the branch is never reached"
       for n in (95, 98, 101, 102, 103)},
    "llmmusic.generation.songs.x_song_seed__mutmut_7": "int.from_bytes defaults to byteorder='big' since Python 3.11 "
                                                       "(equivalent on the supported Pythons >= 3.11; 3.10 would fail loudly)",
    **{f"llmmusic.data.splits.{name}": "numpy's Generator.integers(0, n) and integers(n) draw the same numbers (equivalent)"
       for name in ("x__fill_empty_splits__mutmut_23", "x_split_by_combination__mutmut_62")},
    **{f"llmmusic.data.splits.{name}": "an integer fill value makes an integer array without dtype=int (equivalent)"
       for name in ("x_file_folds__mutmut_8", "x_file_folds__mutmut_11")},
    **{f"llmmusic.data.splits.{name}": "the fill value is overwritten: StratifiedKFold puts every file in exactly one "
                                       "test fold (equivalent)" for name in ("x_file_folds__mutmut_12", "x_file_folds__mutmut_13")},
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "caught by type check", None: "not checked"}


def working_tree_files() -> list[str]:
    """The files git would commit now (tracked plus untracked, not ignored), relative to the repository."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                         capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (REPO / p).is_file()]


def make_copy(dest: Path) -> None:
    for rel in working_tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)


def write_config(copy: Path, spec: dict) -> list[str]:
    """The ``[mutmut]`` section for one module (in setup.cfg: the copy's pyproject has no [tool.mutmut])."""
    tests = [t for t in spec["tests"] if (copy / t).is_file()]
    if not tests:
        raise SystemExit(f"{spec['path']}: none of its tests {spec['tests']} exist")
    also = [a for a in ALSO_COPY if (copy / a).exists()]
    lines = ["[mutmut]", "source_paths = llmmusic", f"only_mutate = {spec['path']}",
             "pytest_add_cli_args_test_selection =", *[f"    {t}" for t in tests],
             "pytest_add_cli_args =", "    -m", f"    {MARKERS}", "    -p", "    no:cacheprovider", "    -q",
             "also_copy =", *[f"    {a}" for a in also], "timeout_multiplier = 10.0", ""]
    (copy / "setup.cfg").write_text("\n".join(lines))
    return tests


def read_results(copy: Path, spec: dict) -> dict[str, str]:
    """Mutant name -> status, from mutmut's record of the mutated file."""
    meta = copy / "mutants" / (spec["path"] + ".meta")
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    wanted = [f"{spec['path'][:-3].replace('/', '.')}.{f}__mutmut_" for f in spec.get("functions", [])]
    return {name: STATUS.get(code, "suspicious") for name, code in sorted(codes.items())
            if not wanted or any(name.startswith(w) for w in wanted)}


def run_module(name: str, max_children: int, keep: bool) -> dict:
    spec = MODULES[name]
    copy = Path(tempfile.mkdtemp(prefix=f"llmmusic-mutation-{name}-"))
    try:
        make_copy(copy)
        tests = write_config(copy, spec)
        env = {**os.environ, "LLMMUSIC_HOME": str(copy / ".home"), "MPLBACKEND": "Agg",
               "LLMMUSIC_SHARED_DATA": os.environ.get("LLMMUSIC_SHARED_DATA", str(REPO.parent / "shared" / "data"))}
        module = spec["path"][:-3].replace("/", ".")
        names = [f"{module}.{f}__mutmut_*" for f in spec.get("functions", [])]
        mutmut = [sys.executable, "-m", "mutmut"]
        start = time.monotonic()
        done = subprocess.run([*mutmut, "run", "--max-children", str(max_children), *names], cwd=copy, env=env,
                              capture_output=True, text=True)
        seconds = time.monotonic() - start
        if not (copy / "mutants" / (spec["path"] + ".meta")).is_file():
            raise SystemExit(f"mutmut run failed for {name} (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
                             f"{done.stderr[-4000:]}")
        status = read_results(copy, spec)
        survivors = {}
        for mutant, state in status.items():
            if state in ("survived", "no tests", "suspicious", "not checked"):
                diff = subprocess.run([*mutmut, "show", mutant], cwd=copy, env=env, capture_output=True, text=True)
                survivors[mutant] = {"status": state, "diff": diff.stdout.split("\n", 1)[-1].strip(),
                                     "accepted": ACCEPTED.get(mutant)}
        killed = sum(s in ("killed", "timeout", "caught by type check") for s in status.values())
        total = len(status)
        accepted = sum(1 for s in survivors.values() if s["accepted"])
        return {"module": spec["path"], "functions": spec.get("functions"), "tests": tests, "markers": MARKERS,
                "mutants": total, "killed": killed, "survived": total - killed, "accepted_survivors": accepted,
                "score": round(killed / total, 4) if total else None,
                "score_with_accepted": round((killed + accepted) / total, 4) if total else None,
                "seconds": round(seconds, 1), "max_children": max_children, "cpu_count": os.cpu_count(),
                "mutmut_exit": done.returncode, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "survivors": survivors}
    finally:
        if keep:
            print(f"kept {copy}", file=sys.stderr)
        else:
            shutil.rmtree(copy, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate, among {', '.join(MODULES)} (default: all)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1,
                        help="mutants tested at once (default: one per core)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (its mutants/ folder) for `mutmut browse`")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; expected some of {', '.join(MODULES)}")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.modules or list(MODULES):
        print(f"[{name}] mutating {MODULES[name]['path']} ...", flush=True)
        res = run_module(name, args.max_children, args.keep)
        results[name] = res
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        print(f"[{name}] {res['killed']} of {res['mutants']} killed ({100 * (res['score'] or 0):.1f} %), "
              f"{res['survived']} survived ({res['accepted_survivors']} accepted), {res['seconds']:.0f} s", flush=True)
        for mutant, info in res["survivors"].items():
            print(f"  {info['status']}: {mutant}" + (f"  (accepted: {info['accepted']})" if info["accepted"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
