"""Build the book with tiny parameters and check the HTML: pages, provenance stamps, audio, errors.

The build runs in a temporary copy of the book's sources (``_config.yml``, ``_toc.yml``, ``book/``), so the
project's own ``book/executed`` and ``book/_build`` are left alone. Chapters 01 and 02 run with their small
parameters (``llmmusic book --chapter 01 --chapter 02 --small``); chapters listed in the toc but not run
become placeholder pages.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from llmmusic.book import ROOT, BookError, build_book, error_outputs, fill_toc_gaps, records_page
from llmmusic.dataset import pick_dataset

CHAPTERS = ("01_prompt_design", "02_dataset_statistics")


def copy_book_sources(dest: Path) -> Path:
    """The book's source files (not its executed or built parts) copied under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "book", dest / "book", ignore=shutil.ignore_patterns("_build", "executed"))
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if pick_dataset() is None:
        pytest.skip("no generated dataset under data/llm-midi (the book's chapters read one)")
    src = copy_book_sources(tmp_path_factory.mktemp("book"))
    info = build_book(chapters=[c[:2] for c in CHAPTERS], small=True, src=src, quiet=True,
                      command="pytest tests/test_book_build.py")
    return src, info


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
