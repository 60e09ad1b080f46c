"""How an executed chapter is shown: its folded set-up, "What this chapter shows", the rerun box, the records page.

:func:`present_notebook` arranges an executed notebook for the reader (idempotent);
:func:`chapter_summary` picks the lines of its summary box; :func:`records_page` writes the
generated part of the book's provenance page; :func:`repository_url` reads the one setting that the
launch buttons, the repository button and the rerun boxes follow.

Used in: llmmusic/book/build.py, llmmusic/book/chapters.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmmusic.book.notebook import fold_plumbing, plumbing_cells
from llmmusic.paths import ROOT

SOURCES = "sources"  # copies of the chapter sources (.py and paired .ipynb) offered for download, under executed/


def chapter_summary(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], bool]:
    """The lines of "What this chapter shows" and whether the chapter wrote them itself.

    The chapter's :meth:`~llmmusic.book.provenance.Provenance.summary`, else (at most four) captions of its
    figures, tables and clips that quote a measured number (two digits or more, or a percentage).
    """
    for rec in records:
        if rec.get("kind") == "summary":
            return list((rec.get("extra") or {}).get("lines") or []), True
    captions: list[str] = []
    for rec in records:
        caption = str(rec.get("caption") or "").strip()
        quotes = re.search(r"\d[.,]?\d|\d\s?%", caption)  # a measured number, not "rows sum to 1"
        if rec.get("kind") in ("figure", "table", "audio") and quotes and caption not in captions:
            captions.append(caption)
    return captions[:4], False


def _summary_markdown(lines: Sequence[str], own: bool) -> str:
    body = "\n".join(f"- {line}" for line in lines)
    note = "" if own else "\n\n<small>From the captions of this chapter's results (it records no summary of its own).</small>"
    return f":::{{admonition}} What this chapter shows\n:class: important chapter-summary\n\n{body}{note}\n:::"


def _rerun_markdown(name: str, parameters: Mapping[str, Any], repository: str | None) -> str:
    from llmmusic.book.parameters import regenerate_commands

    commands = regenerate_commands(name, parameters)
    ran = ("its default parameters" if not parameters else
           "the parameters " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in parameters.items()))
    where = f"the root of a clone of [the repository]({repository})" if repository else "the repository's root"
    return "\n".join([
        ":::{admonition} Rerun this chapter", ":class: tip rerun-chapter", "",
        f"This page ran with {ran}. To run it again, from {where}:", "",
        "```bash",
        f"{commands['book']}   # this page, then the book",
        f"{commands['papermill']}   # the notebook alone",
        "```", "",
        "Every parameter is in the folded cell tagged `parameters` below; `-p NAME VALUE` changes one.",
        f"Download: {{download}}`executed notebook <{name}.ipynb>` · "
        f"{{download}}`source notebook <{SOURCES}/{name}.ipynb>` · "
        f"{{download}}`Jupytext source <{SOURCES}/{name}.py>`",
        ":::"])


def present_notebook(path: str | Path, records: Sequence[Mapping[str, Any]] | None = None,
                     repository: str | None = None, chapter: bool = True) -> None:
    """Arrange an executed notebook for the reader, in place (idempotent).

    Folds the :func:`plumbing_cells`. For a chapter (``chapter=True``) also puts "What this chapter
    shows" (:func:`chapter_summary` of ``records``) right under the title, and a "Rerun this chapter"
    box with the commands for the parameters the page ran with (papermill's record of them) and its
    downloads just before the parameters cell. Cells added by an earlier call are replaced.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if not (c.get("metadata", {}).get("llmmusic") or {}).get("inserted")]
    fold_plumbing(nb)
    if chapter:
        first = nb.cells[0] if nb.cells else None
        if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
            title, _, rest = first.source.partition("\n")
            if rest.strip():  # the title alone, so the summary comes right under it
                first.source = title
                nb.cells.insert(1, nbformat.v4.new_markdown_cell(rest.strip("\n")))
        name = path.stem
        lines, own = chapter_summary(records or [])
        made = []
        if lines:
            made.append((1, _summary_markdown(lines, own), "summary"))
        parameters = (nb.metadata.get("papermill") or {}).get("parameters") or {}
        params_at = next(iter(plumbing_cells(nb)), len(nb.cells))
        made.append((params_at, _rerun_markdown(name, parameters, repository), "rerun"))
        for at, text, kind in sorted(made, key=lambda m: -m[0]):  # later positions first
            cell = nbformat.v4.new_markdown_cell(text, id=f"llmmusic-{kind}")  # a stable id: same text, same file
            cell.metadata["llmmusic"] = {"inserted": kind}
            nb.cells.insert(at, cell)
    nbformat.write(nb, str(path))


def repository_url(src: str | Path = ROOT) -> str | None:
    """``repository.url`` of ``<src>/_config.yml``: the one setting behind the launch buttons, the
    repository button and the rerun boxes (``None`` if unset)."""
    import yaml

    config = yaml.safe_load((Path(src) / "_config.yml").read_text(encoding="utf-8")) or {}
    url = (config.get("repository") or {}).get("url")
    return str(url).rstrip("/") if url else None



def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def records_page(records: Sequence[Mapping[str, Any]], run_info: Mapping[str, Any]) -> str:
    """The generated part of the provenance page (MyST Markdown)."""
    lines = ["## This build", ""]
    lines.append(f"Built {run_info.get('finished') or run_info.get('started')} with llmmusic "
                 f"{run_info.get('llmmusic')} at commit `{str(run_info.get('git', {}).get('commit'))[:12]}`"
                 + (" (with uncommitted changes)" if run_info.get("git", {}).get("dirty") else "")
                 + f"; command `{_cell(run_info.get('command'))}`.")
    lines += ["", "| notebook | status | wall time (s) | slowest cells (s) | parameters injected |",
              "|---|---|---|---|---|"]
    for ch in [*run_info.get("chapters", []), *run_info.get("labs", [])]:
        params = json.dumps(ch.get("parameters") or {}, sort_keys=True)
        wall = f"{ch['wall_s']:.1f}" if ch.get("wall_s") is not None else ""
        slow = "; ".join(f"cell {c['cell']}: {c['seconds']:.1f} (`{_cell(c['source'])}`)"
                         for c in ch.get("slowest_cells") or [])
        lines.append(f"| {ch.get('notebook') or ch.get('lab')} | {ch['status']} | {wall} | {slow} | `{_cell(params)}` |")
    total = sum(ch.get("wall_s") or 0 for ch in [*run_info.get("chapters", []), *run_info.get("labs", [])])
    lines += ["", f"Wall times add up to {total:.1f} s. A notebook marked `kept` was executed by an earlier build "
                  f"(its times and parameters are papermill's record in the notebook); the HTML build's time is "
                  f"`sphinx_s` in `book/_build/run-info.json`."]
    lines += ["", "## Records", ""]
    if not records:
        lines.append("No provenance records yet: no chapter has been executed.")
    notebook = None
    for rec in records:
        if rec["notebook"] != notebook:
            notebook = rec["notebook"]
            first = rec
            commit = str(first.get("git_commit"))[:12] + (" (dirty)" if first.get("git_dirty") else "")
            inputs = "; ".join(f"{k}: `{v.get('path')}` ({v.get('method')} sha256 `{str(v.get('sha256'))[:16]}`)"
                               for k, v in (first.get("inputs") or {}).items()) or "none"
            model = (first.get("llm") or {}).get("model", "no LLM call")
            lines += ["", f"### {notebook}", "",
                      f"- parameters: `{_cell(json.dumps(first.get('params'), sort_keys=True))}`",
                      f"- inputs: {_cell(inputs)}", f"- model: `{_cell(model)}`",
                      f"- llmmusic {first.get('package_version')}, commit `{commit}`",
                      f"- regenerate: `{_cell(first['commands']['papermill'])}`", "",
                      "| kind | name | caption | files | time | details |", "|---|---|---|---|---|---|"]
        files = " ".join(f'<a href="executed/{f}">{Path(f).suffix.lstrip(".")}</a>' for f in rec.get("files", []))
        extra = rec.get("extra") or {}
        details = ", ".join(f"{k}={extra[k]}" for k in ("synth", "duration_s", "rows") if k in extra)
        lines.append(f"| {rec['kind']} | `{rec['name']}` | {_cell(rec.get('caption', ''))} | {files} | "
                     f"{rec.get('time')} | {_cell(details)} |")
    return "\n".join(lines) + "\n"

