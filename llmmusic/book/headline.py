"""The book's headline table: what the book found, generated from results files at build time.

``llmmusic book`` writes :func:`headline_markdown` to ``book/executed/headline.md``, which the intro
page includes. Its rows come from

* the zero-shot results of chapter 3 (this build's run, ``book/executed/results/zeroshot.jsonl``, else
  the committed ``data/zeroshot/results.jsonl`` that ``llmmusic zeroshot run`` writes): accuracy of the paper's free-text question with its 95 % bootstrap
  interval, per question, against uniform and majority chance;
* the headline rows each executed chapter recorded with
  :meth:`llmmusic.book.provenance.Provenance.summary` (in ``book/executed/provenance/NN_topic.json``),
  marked with the parameters the chapter ran with when they are not its defaults.

No number is typed by hand: change a results file and the table changes with the next build.

Used in: llmmusic/book/build.py, book/intro.md (through ``book/executed/headline.md``), tests/test_book_build.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

ZEROSHOT_CHAPTER = "03_zero_shot"
PAGE = "headline.md"  # in the executed folder; book/intro.md includes it
QUESTIONS = {  # zero-shot question -> what the row says (free-text answers, the paper's question)
    "llm-genre": "Zero-shot: the LLM names the genre of its own pieces (13 genres)",
    "llm-style": "Zero-shot: the LLM names the style of its own pieces (25 styles)",
    "human-folder": "Zero-shot: the LLM names the genre of human MIDI (5 folder genres)",
    "human-topmagd": "Zero-shot: the LLM names the TOP-MAGD genre of Lakh files",
}


def zeroshot_rows(folder: str | Path | None = None, mode: str = "free", n_boot: int = 1000,
                  seed: int = 0) -> list[dict[str, Any]]:
    """Headline rows of the zero-shot results in ``<folder>/results.jsonl`` (``None``: the results the book reads,
    :func:`llmmusic.experiments.zeroshot.current_results`; none if absent).

    Returns:
        ``[{"finding", "measure", "value", "low", "high", "chance", "n", "source", "note"}]``, one per
        question asked in ``mode`` (``note`` names the results file and its hash, shown under the table).
    """
    from llmmusic.book.inputs import hash_input, relative_to_root
    from llmmusic.experiments.zeroshot import summarize_results

    from llmmusic.experiments.zeroshot import current_results

    results = Path(folder) / "results.jsonl" if folder is not None else current_results()
    summary = summarize_results(results, n_boot=n_boot, seed=seed)
    if summary is None:
        return []
    sha = str(hash_input(results)["sha256"])[:12]
    source = f"{{doc}}`chapter 3 </book/executed/{ZEROSHOT_CHAPTER}>`, its results file"
    note = (f"Zero-shot rows: the {mode}-text answers in `{relative_to_root(results)}` (sha256 `{sha}`), "
            f"{n_boot} bootstrap resamples.")
    rows = []
    for _, r in summary[summary["mode"] == mode].iterrows():
        rows.append({"finding": QUESTIONS.get(r["task"], r["task"]), "measure": "accuracy",
                     "value": r["accuracy"], "low": r.get("acc_low"), "high": r.get("acc_high"),
                     "chance": _chance(r.get("chance_uniform"), r.get("chance_majority")), "n": int(r["n"]),
                     "source": source, "note": note})
    return rows


def _chance(uniform: Any, majority: Any) -> str:
    parts = [f"{label} {float(v):.3f}" for label, v in (("uniform", uniform), ("majority", majority))
             if v is not None and not _nan(v)]
    return ", ".join(parts)


def _nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def chapter_rows(executed_dir: str | Path, skip: Sequence[str] = (ZEROSHOT_CHAPTER,)) -> list[dict[str, Any]]:
    """The headline rows the executed chapters recorded (:meth:`~llmmusic.book.provenance.Provenance.summary`).

    Args:
        executed_dir: the executed-notebook folder (``book/executed``).
        skip: chapters whose rows come from their results file instead.
    """
    from llmmusic.book.provenance import load_records

    executed_dir = Path(executed_dir)
    rows = []
    for rec in load_records(executed_dir):
        if rec.get("kind") != "summary" or rec["notebook"] in skip:
            continue
        ran = _injected(executed_dir / f"{rec['notebook']}.ipynb")
        params = (" with " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in ran.items())) if ran else ""
        number = int(rec["notebook"][:2]) if rec["notebook"][:2].isdigit() else rec["notebook"]
        note = (f"Chapter {number} rows: its run of {rec.get('time')} at commit "
                f"`{str(rec.get('git_commit'))[:10]}`, from its provenance records.")
        for row in (rec.get("extra") or {}).get("headline") or []:
            chance = row.get("chance")
            rows.append({**row, "chance": chance if isinstance(chance, str) else _chance(chance, None),
                         "source": f"{{doc}}`chapter {number} </book/executed/{rec['notebook']}>`{params}",
                         "note": note})
    return rows


def _injected(notebook: Path) -> dict[str, Any]:
    """The parameters papermill injected into an executed notebook (empty: its defaults)."""
    try:
        meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return {}
    return dict((meta.get("papermill") or {}).get("parameters") or {})


def _number(value: Any) -> str:
    return "" if value is None or _nan(value) else f"{float(value):.3f}"


def headline_markdown(executed_dir: str | Path, zeroshot_dir: str | Path | None = None) -> str:
    """The headline table (MyST Markdown) from the zero-shot results and the chapters' headline rows."""
    rows = zeroshot_rows(zeroshot_dir) + chapter_rows(executed_dir)
    if not rows:
        return ("No results yet: the zero-shot results file is absent and no chapter has been executed. "
                "Build the book with `llmmusic book`.\n")
    lines = ["| finding | measure | value | 95 % interval | chance | n | from |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        interval = (f"{_number(r.get('low'))}-{_number(r.get('high'))}"
                    if _number(r.get("low")) and _number(r.get("high")) else "")
        n = "" if r.get("n") is None else str(int(r["n"]))
        lines.append(f"| {_cell(r['finding'])} | {_cell(r.get('measure', 'accuracy'))} | **{_number(r['value'])}** | "
                     f"{interval} | {_cell(r.get('chance') or '')} | {n} | {r['source']} |")
    notes = list(dict.fromkeys(r["note"] for r in rows if r.get("note")))
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_headline(executed_dir: str | Path, zeroshot_dir: str | Path | None = None) -> Path:
    """Write :func:`headline_markdown` to ``<executed_dir>/headline.md`` (atomically); returns the path."""
    from llmmusic.atomic import write_text

    path = Path(executed_dir) / PAGE
    write_text(path, headline_markdown(executed_dir, zeroshot_dir))
    return path

