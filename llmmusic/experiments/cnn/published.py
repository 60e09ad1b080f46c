"""Results measured elsewhere that the chapter sets beside the CNN: published human-MIDI models
(:data:`PUBLISHED`, :func:`published_table`) and chapter 3's zero-shot LLM results file (:func:`zeroshot_summary`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd


#: Published numbers quoted in the chapter: models trained on human MIDI (Lakh MIDI with the
#: TOP-MAGD / MASD labels of Ferraro & Lemstrom 2018), multi-label F1-micro. ``status`` says how
#: far the value was checked against its source here.
PUBLISHED: list[dict[str, Any]] = [
    {"model": "MusicBERT-base", "trained on": "Lakh MIDI (human)", "task": "genre", "labels": "TOP-MAGD (13)",
     "metric": "F1-micro", "value": 0.784, "source": "Zeng et al. 2021 (MusicBERT)",
     "status": "quoted; as reported by Zeng et al. 2021, not checked against the paper's table here (the "
               "paper's text was not readable offline; the same figure appears in a secondary survey)"},
    {"model": "MusicBERT-base", "trained on": "Lakh MIDI (human)", "task": "style", "labels": "MASD (25)",
     "metric": "F1-micro", "value": 0.645, "source": "Zeng et al. 2021 (MusicBERT)",
     "status": "quoted; as reported by Zeng et al. 2021, not checked against the paper's table here (the "
               "paper's text was not readable offline; the same figure appears in a secondary survey)"},
]


def zeroshot_summary(folder: str | Path | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame | None:
    """The zero-shot LLM results of chapter 3, summarised, if they exist: :func:`llmmusic.experiments.zeroshot.summarize_results`
    of ``<folder>/results.jsonl`` (default: :func:`~llmmusic.experiments.zeroshot.current_results`, this build's
    chapter 3 run, else the committed ``data/zeroshot/results.jsonl``)."""
    from llmmusic.experiments import zeroshot

    results = Path(folder) / "results.jsonl" if folder is not None else zeroshot.current_results()
    return zeroshot.summarize_results(results, n_boot=n_boot, seed=seed)


def published_table(reports: Mapping[str, Mapping[str, Any]], heads: Mapping[str, Sequence[str]], mode: str,
                    lakh_report: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """:data:`PUBLISHED` followed by our F1-micro rows: each task on the LLM-MIDI test split
    (``reports``: :func:`~llmmusic.experiments.cnn.evaluate.heldout_reports`) and TOP-MAGD on Lakh when scored."""
    model = f"CNN trained on LLM-MIDI ({mode})"
    ours = [{"model": model, "trained on": "LLM-MIDI (this book)", "task": task,
             "labels": f"prompt {task}s ({len(heads[task])}), LLM-MIDI test split", "metric": "F1-micro",
             "value": reports[task]["micro_f1"], "source": "this chapter", "status": "measured here"} for task in heads]
    if lakh_report is not None:
        ours.append({"model": model, "trained on": "LLM-MIDI (this book)", "task": "genre",
                     "labels": f"TOP-MAGD (13), {lakh_report['n']} Lakh files, one label per file",
                     "metric": "F1-micro", "value": lakh_report["micro_f1"], "source": "this chapter",
                     "status": "measured here"})
    return pd.concat([pd.DataFrame(PUBLISHED), pd.DataFrame(ours)], ignore_index=True)
