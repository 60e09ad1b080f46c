"""``llmmusic zeroshot run|summary``: zero-shot genre / style classification by an LLM.

``run`` asks the LLM about LLM-MIDI pieces, human MIDI and/or a user's labelled folder through the
experiment's driver (:func:`llmmusic.experiments.zeroshot.run_experiment`, as chapter 3 does) and writes one
JSON line per (piece, question, mode) to ``--out`` (every call cached in ``--cache``); ``summary`` prints accuracy, macro-F1 (95 % bootstrap intervals), chance levels and calls of a results file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmmusic.errors import UserError
from llmmusic.commands._options import (add_llm_options, choice_list, client_from_args, existing_file, existing_folder,
                       nonnegative_int, output_file, positive_int)

if TYPE_CHECKING:
    from llmmusic.experiments.zeroshot import EvalSet


def register(sub: argparse._SubParsersAction) -> None:
    from llmmusic.data.splits import SPLITS
    from llmmusic.experiments.zeroshot import DEFAULT_CACHE, DEFAULT_RESULTS, MODES, SET_NAMES as SETS

    p = sub.add_parser("zeroshot", help="zero-shot genre/style classification of MIDI by an LLM")
    p.add_argument("action", choices=("run", "summary"),
                   help="run: classify and write results; summary: metrics of a results file")
    p.add_argument("--sets", type=choice_list(SETS), default=["llm-midi", "human-folder", "human-topmagd"],
                   help=f"comma-separated evaluation sets among {', '.join(SETS)} (default: all but user)")
    p.add_argument("--modes", type=choice_list(MODES), default=["free", "score"],
                   help=f"comma-separated modes among {', '.join(MODES)} (default: free,score)")
    p.add_argument("--dataset", type=existing_folder, default=None,
                   help="generated dataset folder (default: the committed one)")
    p.add_argument("--n-llm-midi", type=nonnegative_int, default=26, help="LLM-MIDI pieces (genre/style-balanced)")
    p.add_argument("--n-human", type=nonnegative_int, default=20, help="human files for the 5 folder genres")
    p.add_argument("--n-topmagd", type=nonnegative_int, default=12, help="human files with TOP-MAGD labels")
    p.add_argument("--n-json", type=nonnegative_int, default=None,
                   help="run json mode on the first N pieces of each set only")
    p.add_argument("--n-explain", type=nonnegative_int, default=None, help="run explain mode on the first N pieces only")
    p.add_argument("--n-free", type=nonnegative_int, default=None,
                   help="run free mode on the first N pieces of each set only (score mode still asks every piece)")
    p.add_argument("--llm-split", type=choice_list(SPLITS), default=None,
                   help="LLM-MIDI pieces of these splits of chapter 4's CNN split only, comma-separated (test,val: "
                        "the test pieces first; a --n-llm-midi above their number takes all)")
    p.add_argument("--split-seed", type=nonnegative_int, default=0, help="the CNN split's seed (chapter 4's seed)")
    p.add_argument("--user-folder", type=existing_folder, default=None,
                   help="labelled MIDI folder (subfolders = labels); needed by --sets user")
    p.add_argument("--user-labels", type=existing_file, default=None, help="CSV path,label for --user-folder")
    p.add_argument("--bars", type=positive_int, default=4,
                   help="bars read from each human file (4 = the paper's 7680 ticks)")
    p.add_argument("--max-events", type=positive_int, default=32, help="events per track shown to the LLM")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="sampling seed")
    p.add_argument("--pin", type=output_file, default=None,
                   help="JSON file pinning the LLM-MIDI sample (written on first use; a growing dataset keeps it; "
                        "default: data/zeroshot/samples/<dataset folder name>.json)")
    p.add_argument("--cache", type=output_file, default=DEFAULT_CACHE, help="SQLite call cache")
    p.add_argument("--out", type=output_file, default=DEFAULT_RESULTS,
                   help="results (JSON lines; rewritten once, when the run ends: rows of the sets not run are kept)")
    add_llm_options(p)
    p.set_defaults(func=run)


def _summary(args: argparse.Namespace) -> int:
    from llmmusic.experiments import zeroshot as Z

    results = Z.read_results(args.out)
    print(Z.summarize(results, list(Z.standard_tasks().values()) + _user_tasks(results)).to_string(index=False))
    print(json.dumps(Z.throughput(results), indent=2))
    return 0


def _print_row(row: dict) -> None:
    print(f"  {row['task']:<14} {row['mode']:<8} {str(row['truth'])[:24]:<24} -> {row['raw']:<12} "
          f"{'ok' if row['correct'] else '--'} ({row['fresh_calls']} new calls, {row['latency_s']:.1f} s)", flush=True)


def _print_set(es: EvalSet, modes: list[str]) -> None:
    """A set's note, its unreadable files, and (when it has items) what is asked of it."""
    if es.note:
        print(f"[{es.name}] {es.note}")
    for err in es.errors:
        print(f"[{es.name}] skipped {err['path']}: {err['reason']}")
    if es.items:
        print(f"[{es.name}] {len(es.items)} pieces, tasks {[t.name for t in es.tasks]}, modes {modes}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Check every input, ask the questions, then replace the rows of the sets that ran in one atomic write."""
    from llmmusic.data.dataset import pick_dataset
    from llmmusic.experiments import zeroshot as Z

    if args.action == "summary":
        return _summary(args)
    if "user" in args.sets and args.user_folder is None:
        raise UserError("--sets user needs --user-folder (a folder of labelled MIDI files)")
    if args.user_labels is not None and args.user_folder is None:
        raise UserError("--user-labels needs --user-folder")
    earlier = Z.read_result_rows(args.out) if args.out.exists() else []  # a corrupt file stops us here
    sets = Z.build_sets(args.sets, dataset_dir=args.dataset, n_llm_midi=args.n_llm_midi, n_human=args.n_human,
                        n_topmagd=args.n_topmagd, seed=args.seed, bars=args.bars, user_folder=args.user_folder,
                        user_labels_csv=args.user_labels, pin=args.pin or Z.sample_pin(pick_dataset(args.dataset)),
                        split=args.llm_split, split_seed=args.split_seed)
    client = client_from_args(args, args.cache)
    tokens = Z.LabelTokens(client, Path(args.cache).with_suffix(".tokens.json"))
    start = time.monotonic()
    try:
        done = Z.run_experiment(client, sets, args.modes, n_json=args.n_json, n_explain=args.n_explain, n_free=args.n_free,
                                max_events=args.max_events, tokens=tokens, out=args.out, earlier=earlier,
                                on_set=lambda es: _print_set(es, args.modes), on_row=_print_row)
    except KeyboardInterrupt:
        print(f"stopped: {args.out} is unchanged; rerun to continue (answered calls come from {args.cache})",
              file=sys.stderr)
        raise
    finally:
        client.close()
    print(f"{args.out}: {len(done.rows)} new rows for {done.ran or 'no set'}, {done.kept} kept")
    stats = client.stats.as_dict()
    stats["wall_s"] = time.monotonic() - start
    print(json.dumps(stats, indent=2))
    return 0


def _user_tasks(results: "object") -> list:
    """A task over the labels seen in a results file's ``user`` rows (for ``summary``)."""
    from llmmusic.experiments.zeroshot import Task

    rows = results[results["task"] == "user"] if len(results) else results  # type: ignore[index]
    if not len(rows):
        return []
    return [Task("user", "genre", sorted({str(t) for t in rows["truth"]}))]
