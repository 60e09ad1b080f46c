"""Wall time of every course lab with its default parameters, as a student runs it.

Each lab runs through :func:`llmmusic.course.run_lab` (the book's notebook runner: papermill, a fresh
kernel, kernel start included) ``--repeats`` times in two forms: the student's copy (``llmmusic lab N``:
no solution cells) and the instructor's copy with the solutions (what the book shows: a few more cells,
e.g. a second training run in lab 4). The median of the runs is reported, with the machine, the load average before
and after, and the size of the dataset the labs read (the labs' run time grows with it up to their
``n_pieces`` / ``llm_limit`` parameters).

It also times the Sphinx build of the course pages alone (``--no-book`` skips it): once with the labs
executed by the build (as ``llmmusic book`` does on a fresh checkout), once more with the solutions
hidden (the labs then come from the build's execution cache).

Run by hand (about 5-10 minutes on 2 cores):

    .venv/bin/python benchmarks/bench_labs.py --repeats 3

Writes benchmarks/results/labs.json; course/instructor_guide.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from llmmusic import course

RESULTS = Path(__file__).parent / "results" / "labs.json"


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def dataset_facts() -> dict:
    """Which dataset the labs read and how many valid pieces it holds."""
    from llmmusic.data.dataset import load_manifest, pick_dataset, valid_rows

    folder = pick_dataset()
    if folder is None:
        return {"dataset": None}
    manifest = load_manifest(folder)
    return {"dataset": str(folder.relative_to(course.ROOT)), "attempts": len(manifest),
            "valid_pieces": len(valid_rows(manifest))}


def time_lab(lab: course.Lab, solutions: bool, repeats: int, folder: Path) -> dict:
    """``repeats`` runs of one lab; raises if a run fails."""
    walls = []
    for k in range(repeats):
        run = course.run_lab(lab, out=folder / f"{lab.name}-{'solutions' if solutions else 'student'}-{k}.ipynb",
                             solutions=solutions)
        if run.error:
            raise RuntimeError(f"{lab.name} failed: {run.error}")
        walls.append(run.wall_s)
        print(f"  {lab.key} {'with solutions' if solutions else 'student copy'} run {k + 1}: {run.wall_s:.1f} s",
              flush=True)
    return {"runs_s": walls, "median_s": round(statistics.median(walls), 2),
            "figures": course.image_outputs(run.output)}


def time_course_pages(folder: Path) -> dict:
    """Build the course pages alone with the project's ``_config.yml`` (the labs executed by the build,
    as in the book), then rebuild them with solutions hidden (the labs come from the execution cache)."""
    import shutil

    from llmmusic.book import ROOT, build_html

    src = folder / "book-src"
    (src / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    for name in ("_static", "references.bib"):
        (shutil.copytree if (ROOT / "book" / name).is_dir() else shutil.copy)(ROOT / "book" / name, src / "book" / name)
    shutil.copytree(ROOT / "course", src / "course", ignore=shutil.ignore_patterns("__pycache__"))
    pages = [f"course/labs/{lab.name}" for lab in course.discover_labs()] + ["course/instructor_guide"]
    (src / "_toc.yml").write_text("format: jb-book\nroot: course/intro\nchapters:\n"
                                  + "".join(f"  - file: {p}\n" for p in pages))
    times = {}
    for label, mode in (("first_build_s", "show"), ("rebuild_solutions_hidden_s", "hide")):
        os.environ[course.SOLUTIONS_ENV] = mode
        start = time.monotonic()
        build_html(src, src / "book" / "_build" / "html", quiet=True)
        times[label] = round(time.monotonic() - start, 1)
        print(f"  course pages, solutions {mode}: {times[label]:.1f} s", flush=True)
    os.environ.pop(course.SOLUTIONS_ENV, None)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per lab and form (default 3)")
    parser.add_argument("--labs", nargs="*", help="only these labs (e.g. lab1 lab4); default all")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result file (default {RESULTS})")
    parser.add_argument("--no-book", action="store_true", help="skip timing the Sphinx build of the course pages")
    args = parser.parse_args(argv)
    labs = [course.get_lab(k) for k in args.labs] if args.labs else course.discover_labs()
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "load_average_before": list(os.getloadavg())},
        "data": dataset_facts(), "repeats": args.repeats, "labs": {},
    }
    try:
        import torch

        record["machine"]["torch"] = torch.__version__
        record["machine"]["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for lab in labs:
            print(f"{lab.key} ({lab.title})", flush=True)
            record["labs"][lab.key] = {
                "name": lab.name, "title": lab.title,
                "parameters": course.declared_parameters(lab),
                "student": time_lab(lab, False, args.repeats, Path(tmp)),
                "with_solutions": time_lab(lab, True, args.repeats, Path(tmp)),
            }
        if not args.no_book:
            print("course pages (Sphinx build, labs executed by myst-nb)", flush=True)
            record["course_pages"] = time_course_pages(Path(tmp))
    record["machine"]["load_average_after"] = list(os.getloadavg())
    record["total_s"] = round(time.monotonic() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for key, lab in record["labs"].items():
        print(f"{key}: student {lab['student']['median_s']:.1f} s, with solutions {lab['with_solutions']['median_s']:.1f} s "
              f"(median of {args.repeats})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
