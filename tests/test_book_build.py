"""Build the book with tiny parameters and check the HTML: pages, provenance stamps, audio, errors,
the folded set-up cells, the chapter summaries and rerun boxes, the headline table, the progress lines.

The build (the session's ``small_book``, see conftest.py: ``llmmusic book --small``, shared with
tests/test_browser.py) runs in a temporary copy of the book's sources, so the project's own ``book/executed``
and ``book/_build`` are left alone. The other tests build single chapters in copies of their own.
"""

from __future__ import annotations

import io
import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from conftest import copy_book_sources
from llmmusic.book import (FOLD_TAG, ROOT, BookError, build_book, chapter_summary, discover_chapters, error_outputs,
                           execute_chapter, fill_toc_gaps, present_notebook, records_page)
from llmmusic.book.headline import headline_markdown

CHAPTERS = ("01_prompt_design", "02_dataset_statistics")


@pytest.fixture(scope="module")
def built(small_book: tuple[Path, dict]) -> tuple[Path, dict]:
    return small_book


def page(src: Path, name: str) -> str:
    return (src / "book" / "_build" / "html" / "book" / "executed" / f"{name}.html").read_text(encoding="utf-8")


def test_pages_exist(built: tuple[Path, dict]) -> None:
    src, info = built
    html = src / "book" / "_build" / "html"
    for rel in ("index.html", "book/intro.html", "book/provenance.html", "book/bibliography.html",
                *(f"book/executed/{c}.html" for c in CHAPTERS)):
        assert (html / rel).is_file(), rel
    assert "Shin" in (html / "book" / "bibliography.html").read_text(encoding="utf-8")


def test_run_info_records_parameters_and_times(built: tuple[Path, dict]) -> None:
    src, info = built
    stored = json.loads((src / "book" / "_build" / "run-info.json").read_text())
    assert stored["small"] is True and stored["sphinx_s"] > 0
    runs = {c["notebook"]: c for c in stored["chapters"]}
    for name in CHAPTERS:
        assert runs[name]["status"] == "executed"
        assert runs[name]["wall_s"] > 0
    assert runs["02_dataset_statistics"]["parameters"]["n_pieces"] == 40  # the chapter's small value


@pytest.mark.parametrize("name", CHAPTERS)
def test_executed_notebooks_have_no_errors(built: tuple[Path, dict], name: str) -> None:
    src, _ = built
    assert error_outputs(src / "book" / "executed" / f"{name}.ipynb") == []


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_has_a_provenance_stamp(built: tuple[Path, dict], name: str) -> None:
    src, _ = built
    html = page(src, name)
    tokens = re.findall(r'<img[^>]*src="[^"]*_images/[^"]*"|<div class="provenance"', html)
    images = [t for t in tokens if t.startswith("<img")]
    assert images, f"{name}: no figures"
    for here, after in zip(tokens, tokens[1:] + [""]):
        if here.startswith("<img"):
            assert after.startswith('<div class="provenance"'), f"{name}: a figure without a stamp: {here}"
    records = json.loads((src / "book" / "executed" / "provenance" / f"{name}.json").read_text())
    figures = [r for r in records if r["kind"] == "figure"]
    assert len(figures) == len(images)
    for record in records:
        assert f'data-name="{record["name"]}"' in html


@pytest.mark.parametrize("name", CHAPTERS)
def test_audio_files_referenced_by_pages_exist(built: tuple[Path, dict], name: str) -> None:
    src, _ = built
    html_path = src / "book" / "_build" / "html" / "book" / "executed" / f"{name}.html"
    sources = re.findall(r'<audio[^>]*src="([^"]+)"', html_path.read_text(encoding="utf-8"))
    assert sources, f"{name}: no audio player"
    for rel in sources:
        target = (html_path.parent / rel).resolve()
        assert target.is_file() and target.stat().st_size > 1000, rel
        assert target.suffix in (".mp3", ".ogg")


def test_provenance_page_lists_every_record(built: tuple[Path, dict]) -> None:
    src, _ = built
    html = (src / "book" / "_build" / "html" / "book" / "provenance.html").read_text(encoding="utf-8")
    for name in CHAPTERS:
        for record in json.loads((src / "book" / "executed" / "provenance" / f"{name}.json").read_text()):
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{record['name']}</span></code>" in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "papermill notebooks/02_dataset_statistics.ipynb out.ipynb -p dataset None -p n_pieces 40" in text


def test_placeholder_for_a_listed_chapter_that_never_ran(tmp_path: Path) -> None:
    src = copy_book_sources(tmp_path)
    toc = (src / "_toc.yml").read_text()
    (src / "_toc.yml").write_text(toc.replace("      - file: book/executed/01_prompt_design\n",
                                              "      - file: book/executed/01_prompt_design\n"
                                              "      - file: book/executed/09_not_written\n"))
    runs: dict = {}
    fill_toc_gaps(src, [], runs)
    placeholder = src / "book" / "executed" / "09_not_written.ipynb"
    assert placeholder.is_file()
    assert runs["09_not_written"].status == "placeholder"
    assert "llmmusic book --chapter 09" in placeholder.read_text()
    assert records_page([], {"chapters": [], "git": {}}).count("No provenance records yet") == 1


def test_failing_chapter_stops_the_build_and_shows_its_cell(tmp_path: Path) -> None:
    src = copy_book_sources(tmp_path / "src")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "98_broken.py").write_text(textwrap.dedent('''\
        # %% [markdown]
        # # Broken

        # %% tags=["parameters"]
        divisor = 0

        # %%
        ratio = 1 / divisor
        '''))
    with pytest.raises(BookError) as caught:
        build_book(chapters=["98"], src=src, notebooks=notebooks, quiet=True, command="pytest")
    message = str(caught.value)
    assert "98_broken" in message and "ratio = 1 / divisor" in message and "ZeroDivisionError" in message
    assert not (src / "book" / "_build" / "html" / "index.html").exists()  # no HTML after a failure
    executed = src / "book" / "executed"
    assert (executed / "98_broken.failed.ipynb").is_file() and not (executed / "98_broken.ipynb").exists()
    errors = error_outputs(executed / "98_broken.failed.ipynb")
    assert len(errors) == 1 and errors[0].endswith("ZeroDivisionError: division by zero")
    info = json.loads((src / "book" / "_build" / "run-info.json").read_text())
    assert [c["status"] for c in info["chapters"] if c["notebook"] == "98_broken"] == ["failed"]


def test_unknown_parameter_is_refused_before_running(tmp_path: Path) -> None:
    src = copy_book_sources(tmp_path)
    with pytest.raises(BookError, match=r"\['n_epochs'\] are declared by none of the chapters"):
        build_book(chapters=["01"], params={"n_epochs": 3}, src=src, quiet=True, command="pytest")
    assert not (src / "book" / "executed" / "01_prompt_design.ipynb").exists()


@pytest.mark.parametrize("name", CHAPTERS)
def test_setup_cells_carry_the_folding_tag(built: tuple[Path, dict], name: str) -> None:
    src, _ = built
    nb = nbformat.read(str(src / "book" / "executed" / f"{name}.ipynb"), as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    params = next(i for i, t in enumerate(tags) if "parameters" in t)
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "Provenance(" in c.source)
    assert FOLD_TAG in tags[params] and FOLD_TAG in tags[setup], (tags[params], tags[setup])
    assert all(FOLD_TAG in t for t in tags[params:setup + 1])  # injected parameters and imports too
    assert not any(FOLD_TAG in t for t in tags[setup + 1:])  # results stay in view
    html = page(src, name)
    folded = re.findall(r'class="cell [^"]*tag_hide-input[^"]*"', html)
    assert len(folded) == setup - params + 1 and html.count('<details class="admonition hide above-input"') >= len(folded)
    lines, _ = chapter_summary(json.loads((src / "book" / "executed" / "provenance" / f"{name}.json").read_text()))
    if lines:  # a chapter without a summary of its own or captions quoting numbers has no box
        assert html.index("What this chapter shows") < html.index("Rerun this chapter")
    assert html.index("Rerun this chapter") < html.index('class="cell tag_parameters') < html.index("Provenance ·")


@pytest.mark.parametrize("name", CHAPTERS)
def test_rerun_box_gives_the_commands_and_downloads_of_the_page(built: tuple[Path, dict], name: str) -> None:
    src, _ = built
    html_dir = src / "book" / "_build" / "html" / "book" / "executed"
    html = page(src, name)
    ran = nbformat.read(str(src / "book" / "executed" / f"{name}.ipynb"), as_version=4).metadata.papermill.parameters
    text = re.sub(r"<[^>]+>", "", html)
    assert f"llmmusic book --chapter {name[:2]}" in text and f"papermill notebooks/{name}.ipynb out.ipynb" in text
    for key, value in ran.items():
        assert f"-p {key} {value}" in text.replace("&#39;", "'")
    downloads = re.findall(r'href="([^"]*_downloads/[^"]+)"', html)
    assert {Path(d).name for d in downloads} >= {f"{name}.ipynb", f"{name}.py"}, downloads
    for rel in downloads:
        assert (html_dir / rel).resolve().is_file(), rel


def test_run_info_has_slowest_cells_and_the_provenance_page_shows_them(built: tuple[Path, dict]) -> None:
    src, _ = built
    info = json.loads((src / "book" / "_build" / "run-info.json").read_text())
    runs = {c["notebook"]: c for c in info["chapters"]}
    for name in CHAPTERS:
        assert runs[name]["slowest_cells"] and runs[name]["slowest_cells"][0]["seconds"] > 0
    assert {lab["lab"][:4] for lab in info["labs"]} >= {"lab1", "lab2"}
    assert all(lab["status"] == "executed" and lab["wall_s"] > 0 for lab in info["labs"])
    text = re.sub(r"<[^>]+>", "", (src / "book" / "_build" / "html" / "book" / "provenance.html").read_text())
    assert "slowest cells (s)" in text and f"cell {runs[CHAPTERS[0]]['slowest_cells'][0]['cell']}:" in text


def test_intro_opens_with_the_generated_headline_table(built: tuple[Path, dict]) -> None:
    src, _ = built
    html = (src / "book" / "_build" / "html" / "book" / "intro.html").read_text(encoding="utf-8")
    article = html[html.index('id="main-content"'):]
    assert article.index('id="what-the-book-found"') < article.index("95 % interval") < article.index('id="chapters"')
    text = re.sub(r"<[^>]+>", "", article)
    assert "Zero-shot: the LLM names the genre of its own pieces" in text


def test_claims_page_and_the_intros_short_verdicts_are_built(built: tuple[Path, dict]) -> None:
    src, _ = built
    html_dir = src / "book" / "_build" / "html" / "book"
    claims = re.sub(r"<[^>]+>", "", (html_dir / "claims.html").read_text(encoding="utf-8"))
    assert "Verdict rule" in claims and "Zero-shot, the LLM names the genre of a piece better than chance." in claims
    assert "llmmusic zeroshot run --base-url https://api.openai.com/v1 --model gpt-4o" in claims
    # each claim links the tables and figures it comes from, at their place in the chapter
    links = re.findall(r'href="(executed/[0-9a-z_]+\.html)#(prov-[0-9A-Za-z_.-]+)"',
                       (html_dir / "claims.html").read_text(encoding="utf-8"))
    assert len({target for _, target in links}) >= 5, links
    for target, anchor in links:
        assert f'id="{anchor}"' in (html_dir / target).read_text(encoding="utf-8"), (target, anchor)
    intro = (html_dir / "intro.html").read_text(encoding="utf-8")
    article = intro[intro.index('id="main-content"'):]
    assert article.index("the-paper-s-claims-in-short") < article.index('id="what-the-book-found"')
    assert "A CNN trained only on LLM-MIDI classifies genre" in re.sub(r"<[^>]+>", "", article)


def _write_results(rows: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_headline_table_changes_with_its_results_file(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (ROOT / "data" / "zeroshot" / "results.jsonl").read_text().splitlines()]
    executed = tmp_path / "executed"
    _write_results(rows, tmp_path / "before")
    before = headline_markdown(executed, tmp_path / "before")
    genre = next(line for line in before.splitlines() if "genre of its own pieces" in line)
    assert "**1.000**" not in genre
    for r in rows:  # every free-text genre answer about an LLM piece made right
        if r["task"] == "llm-genre" and r["mode"] == "free":
            r["pred"] = r["raw"] = r["reply"] = r["truth"]
            r["correct"] = True
    _write_results(rows, tmp_path / "after")
    after = headline_markdown(executed, tmp_path / "after")
    assert after != before
    changed = next(line for line in after.splitlines() if "genre of its own pieces" in line)
    assert "**1.000**" in changed and "1.000-1.000" in changed
    unchanged = [line.rsplit("|", 2)[0] for line in after.splitlines() if "style" in line]  # all but the file named
    assert unchanged == [line.rsplit("|", 2)[0] for line in before.splitlines() if "style" in line]


def test_headline_rows_of_a_chapter_name_its_parameters(tmp_path: Path) -> None:
    executed = tmp_path / "executed"
    (executed / "provenance").mkdir(parents=True)
    record = {"notebook": "07_demo", "kind": "summary", "name": "chapter_summary", "caption": "",
              "extra": {"lines": ["one"], "headline": [{"finding": "demo accuracy", "value": 0.25, "low": 0.1,
                                                        "high": 0.4, "chance": 0.2, "n": 12}]}}
    (executed / "provenance" / "07_demo.json").write_text(json.dumps([record]))
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"epochs": 2}}
    nbformat.write(nb, str(executed / "07_demo.ipynb"))
    table = headline_markdown(executed, tmp_path / "no-zeroshot")
    row = next(line for line in table.splitlines() if "demo accuracy" in line)
    assert "**0.250**" in row and "0.100-0.400" in row and "uniform 0.200" in row and "`epochs=2`" in row


def test_present_notebook_folds_plumbing_and_is_idempotent(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo\n\nWhy this chapter."),
                nbformat.v4.new_code_cell("n = 3", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("# Parameters\nn = 2", metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("import os\nprov = Provenance('07_demo', {})"),
                nbformat.v4.new_markdown_cell("## Results"),
                nbformat.v4.new_code_cell("print(n)")]
    nb.metadata["papermill"] = {"parameters": {"n": 2}}
    path = tmp_path / "07_demo.ipynb"
    nbformat.write(nb, str(path))
    records = [{"notebook": "07_demo", "kind": "figure", "caption": "Rows sum to 1."},
               {"notebook": "07_demo", "kind": "table", "caption": "12 of 13 genres."}]
    present_notebook(path, records, "https://github.com/org/repo")
    once = path.read_text()
    present_notebook(path, records, "https://github.com/org/repo")
    assert path.read_text() == once
    cells = nbformat.read(str(path), as_version=4).cells
    kinds = [(c.get("metadata", {}).get("llmmusic") or {}).get("inserted") for c in cells]
    assert cells[0].source == "# Demo" and kinds[1] == "summary" and cells[2].source == "Why this chapter."
    assert kinds[3] == "rerun" and "parameters" in cells[4].metadata["tags"]
    assert "12 of 13 genres." in cells[1].source and "Rows sum" not in cells[1].source
    assert "llmmusic book --chapter 07 -p n 2" in cells[3].source and "https://github.com/org/repo" in cells[3].source
    assert [FOLD_TAG in c.metadata.get("tags", []) for c in cells if c.cell_type == "code"] == [True, True, True, False]


def test_execution_reports_each_cell_and_the_loops_progress(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "96_loops.py").write_text(textwrap.dedent('''\
        # %% [markdown]
        # # Loops

        # %% tags=["parameters"]
        steps = 2

        # %%
        from llmmusic import progress
        for i in range(steps):
            progress.report(f"step {i + 1}/{steps}")
        print("done")
        '''))
    out = io.StringIO()
    chapter = discover_chapters(notebooks)[0]
    run = execute_chapter(chapter, {"steps": 3}, tmp_path / "executed", stream=out)
    lines = out.getvalue().splitlines()
    assert any(re.match(r"\[book\] 96_loops cell 1/3 +\d+\.\d s", line) for line in lines), lines
    assert [line.split("| ")[1] for line in lines if "| " in line] == ["step 1/3", "step 2/3", "step 3/3"]
    assert run.slowest_cells and {c["cell"] for c in run.slowest_cells} <= {1, 2, 3}
    assert "step" not in json.dumps(nbformat.read(run.output, as_version=4).cells[-1].outputs)  # not on the page
