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
    "metrics": {"path": "llmmusic/analysis/metrics.py",
                "tests": ["tests/test_metrics.py", "tests/test_metrics_edges.py", "tests/test_zeroshot.py"]},
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
    "roles": {"path": "llmmusic/data/roles.py",
              "tests": ["tests/test_roles.py", "tests/test_midi.py", "tests/test_midi_fuzz.py"]},
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
    # roles
    **{f"llmmusic.data.roles.x__times_to_ticks__mutmut_{n}": "without dtype=float numpy still computes the ticks in "
       "float64 (the per-tick scales and change times are floats; integer ticks or times convert exactly) (equivalent)"
       for n in (9, 11, 14, 16, 27, 29)},
    "llmmusic.data.roles.x__times_to_ticks__mutmut_32": "the change times start at 0.0, so searchsorted(side='right') is "
                                                        ">= 1 for every time >= 0 (all times in a MIDI file): the index "
                                                        "is never below 0 (equivalent)",
    **{f"llmmusic.data.roles.x__times_to_ticks__mutmut_{n}": "searchsorted returns at most len(change_times) = "
       "len(scales), so the index never exceeds len(scales) - 1 and the upper clip never acts (equivalent)"
       for n in (33, 48)},
    "llmmusic.data.roles.x__times_to_ticks__mutmut_43": "side='left' differs only for a time exactly at a tempo change, "
                                                        "where both segments give the same tick (the map is continuous) "
                                                        "up to float rounding that the 16th-note grid absorbs (equivalent)",
    "llmmusic.data.roles.x_grid_notes__mutmut_15": "astype(None) leaves float64 multiples of the grid; every value goes "
                                                   "through int() when the Note is made (equivalent)",
    "llmmusic.data.roles.x_grid_notes__mutmut_22": "numpy takes any negative size in reshape as the unknown one: "
                                                   "reshape(-2, 2) is reshape(-1, 2) (equivalent)",
    "llmmusic.data.roles.x__mean_pitch__mutmut_7": "float() reads 'nan' case-insensitively: float('NAN') is nan (equivalent)",
    "llmmusic.data.roles.x_dedupe_notes__mutmut_5": "on a tie in (duration, velocity) the later note has the same start "
                                                    "and pitch too: it is an equal Note (equivalent)",
    **{f"llmmusic.data.roles.x__assign_roles__mutmut_{n}": "= instead of += on a track or role list that is still empty "
       "there (each is filled once on that path) (equivalent)" for n in (41, 82, 91, 96, 102, 106, 110, 114)},
    "llmmusic.data.roles.x_read_midi__mutmut_7": "repairs is only tested for truth, and set to a list whenever a file is "
                                                 "read: None is falsy as [] (equivalent)",
    # parse
    **{f"llmmusic.generation.parse.x__map_code__mutmut_{n}": "_join reads only the text of a segment, not its kind or "
       "closed flag (equivalent)" for n in (4, 6, 9)},
    **{f"llmmusic.generation.parse.x__single_quotes__mutmut_{n}": "_join reads only the text of a segment, not its kind "
       "or closed flag (equivalent)" for n in (30, 32, 35, 36, 37)},
    "llmmusic.generation.parse.x__single_quotes__mutmut_28": "only the text of a string holding an apostrophe changes; "
                                                             "such a string is neither a track name nor a number, so "
                                                             "only ignored values differ (equivalent)",
    **{f"llmmusic.generation.parse.{name}": "only an unterminated single-quoted string is affected; converted, every "
       "double quote in it is escaped, so it still runs to the end of the text: the changed end is after every cut the "
       "truncated repair can make, and a text ending in a string is no JSON object either way (equivalent)"
       for name in ("x__segments__mutmut_32", "x__segments__mutmut_39", "x__single_quotes__mutmut_8",
                    "x__single_quotes__mutmut_12", "x__single_quotes__mutmut_42", "x__single_quotes__mutmut_44")},
    "llmmusic.generation.parse.x__event_fields__mutmut_27": "got holds a pitch or pitches entry whenever pitch is not "
                                                            "None, so the other three fields are then a proper subset "
                                                            "of its keys exactly when they are a subset (equivalent)",
    **{f"llmmusic.generation.parse.x__truncated__mutmut_{n}": "text[:cut] ends with the bracket just closed and the text "
       "starts at its '{', so these strips never remove anything (equivalent)" for n in (46, 47, 48, 49)},
    **{f"llmmusic.generation.parse.xǁ_Notesǁ__init____mutmut_{n}": "the flag is only tested for truth: None is falsy as "
       "False (equivalent)" for n in (1, 3)},
    "llmmusic.generation.parse.x__number__mutmut_10": "a whole-number string comes back as a float; _to_int turns it into "
                                                     "the same int without counting a rounding (equivalent)",
    "llmmusic.generation.parse.x__clamp__mutmut_52": "keep is only tested for truth: None is falsy as False (equivalent)",
    "llmmusic.generation.parse.x__segments__mutmut_3": "every caller passes text that starts at the object's '{', which "
                                                       "opens no string or comment, so skipping it changes no segment "
                                                       "(equivalent)",
    **{f"llmmusic.generation.parse.x__segments__mutmut_{n}": "an empty code segment adds nothing to any consumer "
       "(equivalent)" for n in (23, 107, 127)},
    **{f"llmmusic.generation.parse.x__segments__mutmut_{n}": "a double-quoted segment's kind is never compared (consumers "
       "test 'code', 'comment' and 'sq') (equivalent)" for n in (42, 43)},
    **{f"llmmusic.generation.parse.x__segments__mutmut_{n}": "find returns -1 or an index >= 1 here (a comment never "
       "starts at 0: the text starts with '{'), so end <= 0 and end < 1 are end < 0 (equivalent)"
       for n in (91, 92, 105, 106)},
    "llmmusic.generation.parse.x__lenient__mutmut_3": "for start 0 the prefix is empty, so start >= 0 adds no case "
                                                      "(equivalent)",
    **{f"llmmusic.generation.parse.x__build__mutmut_{n}": "keys.get(name) runs only for a name in keys: the default is "
       "never used (equivalent)" for n in (30, 31, 32)},
    "llmmusic.generation.parse.x__build__mutmut_133": "ParseResult's failure defaults to None (equivalent)",
    "llmmusic.generation.parse.x__decode__mutmut_30": "the pattern is matched with re.I: upper-case names match the "
                                                      "same (equivalent)",
    "llmmusic.generation.parse.x__decode__mutmut_33": "str.rfind with start None searches from 0 (equivalent)",
    "llmmusic.generation.parse.x__decode__mutmut_40": "a '{' at index 0 is then the first one, which alt > first "
                                                      "excludes anyway (equivalent)",
    "llmmusic.generation.parse.x__decode__mutmut_42": "alt == first tries the same start twice, with the same outcome "
                                                      "(equivalent)",
    # midi
    **{f"llmmusic.data.midi.x__official_midi_file__mutmut_{n}": "mido's defaults are these values: time=0 for every "
       "message, numerator=4 and denominator=4 for time_signature (equivalent)" for n in (20, 21, 30, 42, 64, 115)},
    "llmmusic.data.midi.x__official_midi_file__mutmut_63": "program_change goes to pitched tracks only, whose channel "
                                                           "is 0, mido's default (equivalent)",
    "llmmusic.data.midi.x_midi_to_piece__mutmut_2": "path is set again from _as_pretty_midi (None for an object) before "
                                                    "anything reads it (equivalent)",
    "llmmusic.data.midi.x_midi_to_piece__mutmut_6": "found is only tested for truth: None is falsy as False (equivalent)",
    # metrics
    **{f"llmmusic.analysis.metrics.{name}": "float() reads 'nan' case-insensitively: float('NAN') is nan (equivalent)"
       for name in ("x_accuracy__mutmut_7", "x_f1__mutmut_13", "x_top_k_accuracy__mutmut_5", "x_bootstrap_ci__mutmut_36",
                    "x_bootstrap_ci__mutmut_39", "x_chance_levels__mutmut_22", "x_chance_levels__mutmut_25",
                    "x_chance_levels__mutmut_28", "x_classification_report__mutmut_103",
                    "x_classification_report__mutmut_115", "x_ranking_metrics__mutmut_11")},
    "llmmusic.analysis.metrics.x_bootstrap_ci__mutmut_15": "f1's default average is 'macro' (equivalent)",
    "llmmusic.analysis.metrics.x_bootstrap_ci__mutmut_52": "numpy's Generator.integers(0, m) and integers(m) draw the "
                                                           "same numbers (equivalent)",
    "llmmusic.analysis.metrics.x_classification_report__mutmut_139": "pandas' DataFrame.to_dict lowercases orient: "
                                                                     "'INDEX' is 'index' (equivalent)",
    **{f"llmmusic.analysis.metrics.{name}": "ranks are numbers: 1.0 / r, r < 1 and r <= k give the same for an int, "
       "bool or float array, so the float conversion changes nothing (equivalent)"
       for name in ("x_ranking_metrics__mutmut_3", "x_ranking_metrics__mutmut_5")},
    **{f"llmmusic.analysis.metrics.x_plot_confusion__mutmut_{n}": "matplotlib colour names are case-insensitive: "
       "'WHITE' is 'white', 'BLACK' is 'black' (equivalent)" for n in (141, 149)},
    **{f"llmmusic.analysis.metrics.x_plot_confusion__mutmut_{n}": "without ax, Figure.colorbar takes its space from "
       "the image's own axes, which is ax (equivalent)" for n in (151, 156)},
    **{f"llmmusic.analysis.metrics.x_plot_confusion__mutmut_{n}": "typography and layout of the heatmap (font sizes, "
       "tick-label rotation and alignment, cell-text alignment, cell aspect, colour-bar fraction and pad): cosmetic, "
       "no test should pin them" for n in (59, 64, 78, 80, 83, 84, 85, 89, 92, 95, 98, 102, 123, 128, 129, 130, 137,
                                           157, 158, 160, 161)},
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
                              capture_output=True, text=True, check=False)
        seconds = time.monotonic() - start
        if not (copy / "mutants" / (spec["path"] + ".meta")).is_file():
            raise SystemExit(f"mutmut run failed for {name} (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
                             f"{done.stderr[-4000:]}")
        status = read_results(copy, spec)
        survivors = {}
        for mutant, state in status.items():
            if state in ("survived", "no tests", "suspicious", "not checked"):
                diff = subprocess.run([*mutmut, "show", mutant], cwd=copy, env=env, capture_output=True, text=True,
                                      check=False)
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
