"""What chapter 4 shows, in numbers: the summary lines and the book's headline rows of an :class:`Experiment`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmmusic.experiments.cnn.experiment import Experiment


def findings(exp: "Experiment") -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines (data, held-out LLM-MIDI, human MIDI, Lakh, the reference CNN) and headline rows."""
    from llmmusic.data.taxonomy import FOLDER_GENRES

    heads, reports, human, lakh, transfer = exp.heads, exp.reports, exp.human_eval, exp.lakh, exp.transfer
    train_per_genre = exp.split_counts().drop(index="all")["train"]
    lines = [f"* Data: {len(exp.llm)} LLM pieces ({int(exp.test.sum())} held out for testing; "
             f"{int(train_per_genre.min())}-{int(train_per_genre.max())} training pieces per genre), "
             f"{exp.mode} rolls chosen on validation."]
    for task, rep in reports.items():
        lines.append(f"* Held-out LLM-MIDI {task}: CNN accuracy {rep['accuracy']:.3f} (95 % CI {rep['accuracy_ci'][0]:.3f}-"
                     f"{rep['accuracy_ci'][1]:.3f}), macro-F1 {rep['macro_f1']:.3f}, top-3 {rep['top3']:.3f}; uniform "
                     f"chance {1 / len(heads[task]):.3f}.")
    if human is not None:
        rep = human.report
        lines.append(f"* Human MIDI, 5 folder genres: LLM-trained CNN accuracy {rep['accuracy']:.3f}, macro-F1 "
                     f"{rep['macro_f1']:.3f} ({rep['n']} files; uniform chance 0.200, majority {rep['chance_majority']:.3f}).")
    if lakh is not None:
        rep = lakh.reports["topmagd"]
        lines.append(f"* Lakh TOP-MAGD: F1-micro {rep['micro_f1']:.3f} on {rep['n']} files (always "
                     f"answering {rep['majority_label']}: {rep['chance_majority']:.3f}; MusicBERT-base, "
                     f"trained on Lakh, reports 0.784 on its own multi-label test set).")
    if transfer is not None:
        lines.append(f"* Reference CNN trained on human MIDI: {transfer.reports['human->human']['accuracy']:.3f} accuracy "
                     f"on held-out human files, {transfer.reports['human->llm']['accuracy']:.3f} on LLM pieces mapped "
                     "to folder genres.")
    dataset = exp.sources.dataset_dir.name
    headline = [{"finding": f"CNN trained on LLM-MIDI names the {task} of held-out LLM pieces", "value": rep["accuracy"],
                 "low": rep["accuracy_ci"][0], "high": rep["accuracy_ci"][1], "chance": 1 / len(heads[task]),
                 "n": rep["n"], "id": f"cnn:llm-{task}", "dataset": dataset} for task, rep in reports.items()]
    if human is not None:
        headline.append(_row("The same CNN names the genre of human MIDI (5 folder genres)", human.report,
                             1 / len(FOLDER_GENRES), "cnn:human-transfer", dataset))
    if transfer is not None:
        headline.append(_row("A CNN trained on human MIDI names the genre of held-out human files (5 folder genres)",
                             transfer.reports["human->human"], 1 / len(FOLDER_GENRES), "cnn:human-trained", dataset))
    return lines, headline


def _row(finding: str, rep: dict[str, Any], chance: float, ident: str, dataset: str) -> dict[str, Any]:
    """A headline row of one accuracy report (its interval when the report has one), with the claims page's id."""
    low, high = rep.get("accuracy_ci", (None, None))
    return {"finding": finding, "value": rep["accuracy"], "low": low, "high": high, "chance": chance, "n": rep["n"],
            "id": ident, "dataset": dataset}
