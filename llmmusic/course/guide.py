"""The instructor's guide's generated part: the table of measured lab run times.

Used in: course/instructor_guide.md (quoted; a test checks it matches), tests/test_course.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmmusic.paths import ROOT


def timing_table(results_path: str | Path = ROOT / "benchmarks" / "results" / "labs.json") -> str:
    """The instructor's guide's table of lab run times, from ``benchmarks/bench_labs.py``'s results.

    Returns:
        Markdown: one row per lab (median and single runs of the student copy and of the copy with
        solutions), then one line on the machine and the data the labs read.
    """
    record = json.loads(Path(results_path).read_text(encoding="utf-8"))
    lines = ["| lab | student copy: median (runs), s | with solutions: median (runs), s |", "|---|---|---|"]
    for key, lab in record["labs"].items():
        cells = [f"{lab[form]['median_s']:.1f} ({', '.join(f'{x:.1f}' for x in lab[form]['runs_s'])})"
                 for form in ("student", "with_solutions")]
        lines.append(f"| {key}: {lab['title'].split(': ', 1)[-1]} | {cells[0]} | {cells[1]} |")
    m, d = record["machine"], record["data"]
    load = ", ".join(f"{x:.1f}" for x in m["load_average_before"])
    lines += ["", f"Measured {record['started'][:10]} on {m['cpus']} CPU cores ({m['cpu']}), Python {m['python']}, "
                  f"torch {m.get('torch', 'n/a')}; load average {load} before the runs (the cores were shared with "
                  f"other work); dataset `{d.get('dataset')}` with {d.get('valid_pieces')} valid pieces."]
    if "course_pages" in record:
        b = record["course_pages"]
        lines += ["", f"The course pages alone, built with the book's configuration: {b['first_build_s']:.1f} s the first "
                      f"time (the build executes the five labs with their default parameters and solutions), "
                      f"{b['rebuild_solutions_hidden_s']:.1f} s to rebuild them with the solutions hidden (labs from "
                      f"the execution cache)."]
    return "\n".join(lines)

