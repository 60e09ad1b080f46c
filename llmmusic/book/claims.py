"""The claims page: each claim of the paper, our figure for it, and a verdict by a stated rule.

Generated when the book is built (``book/executed/claims.md``, and a short form for the intro page,
``book/executed/claims-short.md``) from results files, never typed by hand:

* zero-shot figures come from the zero-shot results files (:func:`zeroshot_results`, one per generated
  dataset; written by chapter 3 or ``llmmusic zeroshot run``), scored answers when the file has them,
  else free-text answers;
* CNN and melody figures come from the headline rows the executed chapters record with
  :meth:`llmmusic.book.provenance.Provenance.summary`: a row that carries an ``id`` (e.g.
  ``cnn:llm-genre``) and a ``dataset`` is evidence for the claims that name that id;
* where a dataset has repeats over seeds (``data/repeats/<dataset>/<kind>.jsonl``, written by
  ``llmmusic repeat``; :mod:`llmmusic.experiments.repeats`), the CNN and melody figures are instead the
  value and 95 % interval pooled over every seed's items, and say how many seeds they pool.

The rule (:func:`above_chance`, :func:`exceeds`), on 95 % intervals: a claim that a figure beats chance
(or another figure) is **supported** when the intervals are apart in the claimed direction, **not
supported** when they are apart the other way, or when they overlap although each is narrow
(half-width <= :data:`DECISIVE_HALF_WIDTH`: enough items to have seen an effect of that size), and
**inconclusive at this sample size** otherwise. A quoted published number has no interval and counts as
a point. A dataset whose card marks it a fixture (``fixture: true`` in ``dataset.json``) is refused.

Used in: :mod:`llmmusic.book.build` (writes both pages), book/claims.md, book/intro.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmmusic.paths import ROOT

#: Half-width of a 95 % interval narrow enough to decide a claim (the issue's target).
DECISIVE_HALF_WIDTH = 0.05
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, MISSING = ("supported", "not supported",
                                                   "inconclusive at this sample size", "not measured yet")
#: The datasets the claims are judged on: the paper's prompt, then the prompt the study chose.
DATASETS = ("embedded-v1", "embedded-v2")


def zeroshot_results() -> dict[str, list[Path]]:
    """Dataset label -> its zero-shot results files; a later file's figures replace an earlier one's.

    In order: the small run (this build's chapter 3, else the committed one; see
    :func:`~llmmusic.experiments.zeroshot.current_results`), the dataset's run at size
    (``data/zeroshot/<label>/results.jsonl``) and the human sets' run at size
    (``data/zeroshot/human/results.jsonl``). Only LLM-MIDI rows that name the dataset count for it
    (:func:`zeroshot_figures`); human rows hold for every dataset. Files that do not exist add nothing.
    """
    from llmmusic.experiments.zeroshot import HUMAN_AT_SIZE, at_size_results, current_results

    return {label: [current_results(), at_size_results(label), at_size_results(HUMAN_AT_SIZE)] for label in DATASETS}


#: How each dataset label reads on the page.
DATASET_NAMES = {"embedded-v1": "paper prompt (embedded-v1)", "embedded-v2": "best prompt (embedded-v2)"}
PAGE, SHORT_PAGE = "claims.md", "claims-short.md"


@dataclass(frozen=True)
class Figure:
    """One measured (or quoted) number: value, 95 % interval, items, and where it comes from."""

    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None
    chance: float | None = None
    source: str = ""
    seeds: int | None = None  # pooled over this many seeds (None: one run)

    @property
    def lo(self) -> float:
        return self.value if self.low is None else float(self.low)

    @property
    def hi(self) -> float:
        return self.value if self.high is None else float(self.high)

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def text(self) -> str:
        """``0.154 [0.077, 0.244] (n=78)``; pooled over seeds: ``0.154 [0.120, 0.190] (n=390, 5 seeds)``."""
        interval = "" if self.low is None else f" [{self.lo:.3f}, {self.hi:.3f}]"
        size = [f"n={self.n}"] if self.n is not None else []
        size += [f"{self.seeds} seeds"] if self.seeds is not None else []
        return f"{self.value:.3f}{interval}" + (f" ({', '.join(size)})" if size else "")


def exceeds(a: Figure, b: Figure, max_half_width: float = DECISIVE_HALF_WIDTH) -> str:
    """The verdict on "``a`` is above ``b``" (see the module docstring for the rule)."""
    if a.lo > b.hi:
        return SUPPORTED
    if a.hi < b.lo:
        return NOT_SUPPORTED
    if a.half_width <= max_half_width and b.half_width <= max_half_width:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def above_chance(a: Figure, max_half_width: float = DECISIVE_HALF_WIDTH) -> str:
    """The verdict on "``a`` is above its chance level"."""
    if a.chance is None:
        raise ValueError(f"{a.source or 'figure'}: no chance level to compare with")
    return exceeds(a, Figure(float(a.chance)), max_half_width)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the evidence that decides it.

    ``test`` is ``above_chance`` (``evidence[0]`` beats its chance level), ``above`` (``evidence[0]``
    beats ``evidence[1]``) or ``below`` (``evidence[0]`` is below ``evidence[1]``); evidence ids name
    zero-shot tasks (``zeroshot:<task>``), chapter headline rows (their ``id``) or quoted published
    numbers (``published:<model>/<task>``, from :data:`llmmusic.experiments.cnn.published.PUBLISHED`).
    """

    id: str
    statement: str
    test: str
    evidence: tuple[str, ...]
    where: str
    command: str
    shown_in: tuple[str, ...] = ()  # the tables and figures it comes from, ``<notebook>/<record name>``


CLAIMS: tuple[Claim, ...] = (
    Claim("zs-above-chance", "Zero-shot, the LLM names the genre of a piece better than chance.",
          "above_chance", ("zeroshot:llm-genre",), "03_zero_shot",
          "llmmusic zeroshot run --base-url https://api.openai.com/v1 --model gpt-4o --dataset DATASET",
          shown_in=("03_zero_shot/at_size", "03_zero_shot/at_size_accuracy", "03_zero_shot/answer_concentration")),
    Claim("zs-human-above-chance", "Zero-shot genre naming also beats chance on human-composed MIDI.",
          "above_chance", ("zeroshot:human-folder",), "03_zero_shot",
          "llmmusic zeroshot run --sets human-folder --base-url https://api.openai.com/v1 --model gpt-4o",
          shown_in=("03_zero_shot/at_size", "03_zero_shot/at_size_accuracy", "03_zero_shot/answer_concentration")),
    Claim("zs-below-supervised", "Zero-shot genre classification is well below a supervised model.",
          "below", ("zeroshot:llm-genre", "cnn:llm-genre"), "04_cnn_classification",
          "llmmusic book --chapter 03 --chapter 04 -p base_url https://api.openai.com/v1 -p model gpt-4o",
          shown_in=("03_zero_shot/at_size", "04_cnn_classification/repeats_datasets")),
    Claim("cnn-genre-above-zs", "A CNN trained only on LLM-MIDI classifies genre well above the zero-shot LLM.",
          "above", ("cnn:llm-genre", "zeroshot:llm-genre"), "04_cnn_classification",
          "llmmusic generate --base-url https://api.openai.com/v1 --model gpt-4o --out data/llm-midi/gpt-4o && "
          "llmmusic book --chapter 04 -p dataset data/llm-midi/gpt-4o",
          shown_in=("04_cnn_classification/repeats_datasets", "03_zero_shot/at_size")),
    Claim("cnn-style-above-zs", "The same CNN classifies style well above the zero-shot LLM.",
          "above", ("cnn:llm-style", "zeroshot:llm-style"), "04_cnn_classification",
          "llmmusic book --chapter 04 -p dataset data/llm-midi/gpt-4o",
          shown_in=("04_cnn_classification/repeats_datasets", "03_zero_shot/at_size")),
    Claim("cnn-genre-above-chance", "The CNN trained on LLM-MIDI classifies held-out genre above chance.",
          "above_chance", ("cnn:llm-genre",), "04_cnn_classification",
          "llmmusic book --chapter 04 -p dataset data/llm-midi/gpt-4o",
          shown_in=("04_cnn_classification/repeats_datasets", "04_cnn_classification/repeats_strip")),
    Claim("cnn-below-human", "For genre, the LLM-MIDI CNN is below a CNN trained on human MIDI.",
          "below", ("cnn:human-transfer", "cnn:human-trained"), "04_cnn_classification",
          "llmmusic book --chapter 04 -p dataset data/llm-midi/gpt-4o",
          shown_in=("04_cnn_classification/repeats_datasets", "04_cnn_classification/transfer_matrix")),
    Claim("cnn-style-vs-published", "For style, the LLM-MIDI CNN beats a model trained on human MIDI "
          "(as published; F1-micro, which is accuracy for one label per piece; different test sets).",
          "above", ("cnn:llm-style", "published:MusicBERT-base/style"), "04_cnn_classification",
          "llmmusic book --chapter 04 -p dataset data/llm-midi/gpt-4o",
          shown_in=("04_cnn_classification/repeats_datasets", "04_cnn_classification/published_baselines")),
    Claim("melody-above-chance", "A model trained on LLM-MIDI melodies completes melodies above chance.",
          "above_chance", ("melody:map-llm-midi",), "05_melody_completion",
          "llmmusic book --chapter 05 -p dataset data/llm-midi/gpt-4o",
          shown_in=("05_melody_completion/repeats_datasets", "05_melody_completion/repeats_strip")),
)


# ------------------------------------------------------------------------------------------- evidence
def zeroshot_figures(results: Path, dataset: str) -> dict[tuple[str, str], Figure]:
    """``{("zeroshot:<task>", dataset): Figure}`` from one zero-shot results file (none if absent): its
    LLM-MIDI rows made on ``dataset`` (the folder name the rows record) and its human rows."""
    from llmmusic.experiments.zeroshot import summarize_results

    summary = summarize_results(results, dataset=Path(dataset).name) if results.is_file() else None
    if summary is None or summary.empty:
        return {}
    mode = "score" if (summary["mode"] == "score").any() else "free"
    out = {}
    for _, r in summary[summary["mode"] == mode].iterrows():
        out[(f"zeroshot:{r['task']}", dataset)] = Figure(
            float(r["accuracy"]), _num(r.get("acc_low")), _num(r.get("acc_high")), int(r["n"]),
            _label_blind(r), f"zero-shot {mode} answers, {_rel(results)}")
    return out


def _label_blind(row: Mapping[str, Any]) -> float | None:
    """The best a label-blind answer scores on a summary row: a uniform guess or always the most frequent
    true label (a model that answers Rock to every file of five balanced folders gets 0.2, not 0.123)."""
    levels = [v for v in (_num(row.get("chance_uniform")), _num(row.get("chance_majority"))) if v is not None]
    return max(levels) if levels else None


def chapter_figures(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Figure]:
    """Figures from chapters' headline rows that carry an ``id`` and a ``dataset``."""
    out = {}
    for rec in records:
        if rec.get("kind") != "summary":
            continue
        for row in (rec.get("extra") or {}).get("headline") or []:
            if "id" not in row or "dataset" not in row or _num(row.get("value")) is None:
                continue
            out[(row["id"], str(row["dataset"]))] = Figure(
                float(row["value"]), _num(row.get("low")), _num(row.get("high")),
                None if row.get("n") is None else int(row["n"]), _num(row.get("chance")),
                f"chapter {rec['notebook'][:2]}: {row.get('finding', row['id'])}")
    return out


def repeat_figures(dataset: str, repeats_dir: str | Path | None = None) -> dict[tuple[str, str], Figure]:
    """``{(metric id, dataset): Figure}`` pooled over the seeds of ``dataset``'s repeats files (none if absent)."""
    from llmmusic.experiments.repeats import KINDS, REPEATS_DIR, pooled_figures

    out = {}
    for kind in KINDS:
        path = Path(repeats_dir if repeats_dir is not None else REPEATS_DIR) / Path(dataset).name / f"{kind}.jsonl"
        for ident, f in pooled_figures(path).items():
            out[(ident, dataset)] = Figure(float(f["value"]), _num(f["low"]), _num(f["high"]), f["n"],
                                           _num(f["chance"]), f"{f['seeds']} seeds pooled, {_rel(path)}", f["seeds"])
    return out


def collect(executed_dir: str | Path, results: Mapping[str, Path | Sequence[Path]] | None = None,
            repeats_dir: str | Path | None = None) -> dict[tuple[str, str], Figure]:
    """Every figure the claims can use, keyed by (evidence id, dataset label); figures pooled over seeds
    (:func:`repeat_figures`, from ``repeats_dir``, default ``data/repeats``) replace a chapter's single run."""
    from llmmusic.book.provenance import load_records

    executed_dir = Path(executed_dir)
    figures = chapter_figures(load_records(executed_dir)) if executed_dir.is_dir() else {}
    for dataset, paths in (zeroshot_results() if results is None else results).items():
        refuse_fixture(dataset)
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            figures.update(zeroshot_figures(Path(path), dataset))
        figures.update(repeat_figures(str(dataset), repeats_dir))
    return figures


def refuse_fixture(dataset: str | Path) -> None:
    """Raise if ``dataset`` (a label under data/llm-midi or a folder) is a scale fixture, not results."""
    folder = Path(dataset) if Path(dataset).is_dir() else ROOT / "data" / "llm-midi" / str(dataset)
    params = folder / "dataset.json"
    if params.is_file() and json.loads(params.read_text(encoding="utf-8")).get("fixture"):
        raise ValueError(f"{folder}: a scale fixture (dataset.json says fixture: true), not a results dataset")


# ------------------------------------------------------------------------------------------- verdicts
@dataclass
class Finding:
    """A claim judged on one dataset."""

    claim: Claim
    dataset: str
    figures: list[Figure | None] = field(default_factory=list)  # one per evidence id, None while unmeasured
    verdict: str = MISSING


def judge(claim: Claim, dataset: str, figures: Mapping[tuple[str, str], Figure]) -> Finding:
    """The verdict on ``claim`` for ``dataset`` (``not measured yet`` while a figure is missing)."""
    found = [figures.get((e, dataset)) or _published(e) for e in claim.evidence]
    finding = Finding(claim, dataset, found)
    if any(f is None for f in found):
        return finding
    if claim.test == "above_chance":
        finding.verdict = above_chance(found[0]) if found[0].chance is not None else MISSING
    elif claim.test == "above":
        finding.verdict = exceeds(found[0], found[1])
    elif claim.test == "below":
        finding.verdict = exceeds(found[1], found[0])
    else:
        raise ValueError(f"claim {claim.id}: unknown test {claim.test!r}")
    return finding


def findings(figures: Mapping[tuple[str, str], Figure], datasets: Sequence[str] = DATASETS,
             claims: Sequence[Claim] = CLAIMS) -> list[Finding]:
    """Every claim judged on every dataset."""
    return [judge(c, d, figures) for c in claims for d in datasets]


# ------------------------------------------------------------------------------------------- pages
RULE = ("**Verdict rule** (95 % intervals): *supported* when the intervals are apart in the claimed direction; "
        "*not supported* when they are apart the other way, or overlap although both are narrow (half-width "
        f"<= {DECISIVE_HALF_WIDTH}); *inconclusive at this sample size* otherwise. Chance is what a label-blind answer "
        "scores: for the zero-shot figures the better of a uniform guess over the asked labels and always the most "
        "frequent true label, for the others a uniform guess; a quoted published number counts as a point.")


def claims_markdown(found: Sequence[Finding], items: Mapping[str, str] | None = None) -> str:
    """The full claims page body: one row per claim and dataset, with figures and verdict; then per claim the
    tables and figures it comes from (linked where ``items``, ``"<notebook>/<name>"`` -> kind, holds them: the
    build's provenance records), the files behind its figures, and the command that re-tests it."""
    pooled = sorted({fig.seeds for f in found for fig in f.figures if fig is not None and fig.seeds})
    lines = [RULE, ""]
    if pooled:
        lines += [("Figures marked *k seeds* pool the test items of k repeats of the experiment (each seed another "
                   "split and initialisation; `llmmusic repeat`): n counts the items of all seeds, and the interval "
                   "is a bootstrap over them. Unmarked figures are one run."), ""]
    lines += ["| claim (Shin & Kaneko 2025), and where it is measured | dataset | figures | chance | verdict |",
              "|---|---|---|---|---|"]
    shown: set[str] = set()
    for f in found:
        figures = "; ".join(f"{e}: {fig.text() if fig else 'not measured yet'}" for e, fig in zip(f.claim.evidence, f.figures))
        chance = next((f"{fig.chance:.3f}" for fig in f.figures if fig is not None and fig.chance is not None), "-")
        claim = "" if f.claim.id in shown else f"{_cell(f.claim.statement)} ({{doc}}`/book/executed/{f.claim.where}`)"
        shown.add(f.claim.id)
        lines.append(f"| {claim} | {DATASET_NAMES.get(f.dataset, f.dataset)} | {_cell(figures)} | {chance} | "
                     f"**{f.verdict}** |")
    lines += ["", ("Where each claim's figures are shown (each table and figure carries its provenance), the files "
                   "they are computed from, and the command that re-tests the claim on another model (an OpenAI key "
                   "in `OPENAI_API_KEY`, or any OpenAI-compatible server with `--base-url`):"), ""]
    for claim in dict.fromkeys(f.claim for f in found):
        shown = ", ".join(_item_link(item, (items or {}).get(item)) for item in claim.shown_in) or "-"
        files = dict.fromkeys(fig.source for f in found if f.claim == claim for fig in f.figures
                              if fig is not None and fig.source)
        lines.append(f"- *{claim.statement}* Shown in {shown}. Figures from {'; '.join(files) or 'nothing yet'}. "
                     f"Re-test: `{claim.command}`")
    return "\n".join(lines) + "\n"


def _item_link(item: str, kind: str | None) -> str:
    """A link from the claims page (``book/claims.html``) to a chapter's table or figure, at its provenance
    anchor; plain text when this build did not make it."""
    from llmmusic.book.provenance import anchor

    notebook, _, name = item.partition("/")
    if kind is None:
        return f"`{name}` (chapter {notebook[:2]}, not in this build)"
    return f'<a href="executed/{notebook}.html#{anchor(name)}">{kind} <code>{name}</code></a> (chapter {notebook[:2]})'


def short_markdown(found: Sequence[Finding]) -> str:
    """The intro's short form: one row per claim, one verdict column per dataset."""
    datasets = list(dict.fromkeys(f.dataset for f in found))
    lines = ["| claim | " + " | ".join(DATASET_NAMES.get(d, d) for d in datasets) + " |",
             "|---|" + "---|" * len(datasets)]
    for claim in dict.fromkeys(f.claim for f in found):
        verdicts = {f.dataset: f.verdict for f in found if f.claim == claim}
        lines.append(f"| {_cell(claim.statement)} | " + " | ".join(verdicts[d] for d in datasets) + " |")
    return "\n".join(lines) + "\n\nThe rule, every figure and its source: [the claims page](claims.md).\n"


def write_claims(executed_dir: str | Path, results: Mapping[str, Path | Sequence[Path]] | None = None,
                 repeats_dir: str | Path | None = None) -> list[Path]:
    """Write both pages into ``executed_dir`` (atomically); ``results``: dataset label -> zero-shot results
    file or files, later ones overriding (default :func:`zeroshot_results`); ``repeats_dir``: see :func:`collect`. Returns the pages' paths."""
    from llmmusic.atomic import write_text
    from llmmusic.book.provenance import load_records

    results = zeroshot_results() if results is None else results
    found = findings(collect(executed_dir, results, repeats_dir), datasets=tuple(results))
    items = ({f"{r['notebook']}/{r['name']}": r["kind"] for r in load_records(executed_dir)}
             if Path(executed_dir).is_dir() else {})
    pages = [(Path(executed_dir) / PAGE, claims_markdown(found, items)),
             (Path(executed_dir) / SHORT_PAGE, short_markdown(found))]
    for path, text in pages:
        write_text(path, text)
    return [path for path, _ in pages]


def _published(evidence: str) -> Figure | None:
    """A quoted number of :data:`llmmusic.experiments.cnn.published.PUBLISHED` (``published:<model>/<task>``)."""
    if not evidence.startswith("published:"):
        return None
    from llmmusic.experiments.cnn.published import PUBLISHED

    model, _, task = evidence.removeprefix("published:").partition("/")
    row = next((r for r in PUBLISHED if r["model"] == model and r["task"] == task), None)
    return None if row is None else Figure(float(row["value"]), source=f"{row['source']} ({row['metric']}, quoted)")


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
