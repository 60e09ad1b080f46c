"""Shared pytest fixtures.

``shared_data`` gives the folder of human-made MIDI kept beside the project
(``../shared/data`` from the repository root, or ``$LLMMUSIC_SHARED_DATA``) and skips the test
with a reason when it is absent, as it is in a fresh clone.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """Where the shared data folder is expected (it may not exist)."""
    env = os.environ.get("LLMMUSIC_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set LLMMUSIC_SHARED_DATA to use another)")
    return path


def require_shared(shared_data: Path, *parts: str) -> Path:
    """``shared_data / parts``; skips the test with a reason when that path is absent."""
    path = shared_data.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


def copy_book_sources(dest: Path, course: bool = False) -> Path:
    """The book's source files (``_config.yml``, ``_toc.yml``, ``book/``; ``course/`` too if asked), not their
    executed or built parts, copied under ``dest``."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO_ROOT / name, dest / name)
    shutil.copytree(REPO_ROOT / "book", dest / "book", ignore=shutil.ignore_patterns("_build", "executed"))
    if course:
        shutil.copytree(REPO_ROOT / "course", dest / "course", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


@pytest.fixture(scope="session")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``llmmusic book --small`` (every chapter and lab) built once per session in a temporary copy of the
    sources: ``(source folder, run-info)``; the HTML is in ``<source>/book/_build/html``.

    ``LLMMUSIC_BOOK_SRC`` names the source folder of a book already built that way instead (``.`` after
    ``llmmusic book --small``).
    """
    import json

    given = os.environ.get("LLMMUSIC_BOOK_SRC")
    if given:
        src = Path(given).resolve()
        return src, json.loads((src / "book" / "_build" / "run-info.json").read_text(encoding="utf-8"))
    from llmmusic.book import build_book
    from llmmusic.data.dataset import pick_dataset

    if pick_dataset() is None:
        pytest.skip("no generated dataset under data/llm-midi (the book's chapters read one)")
    src = copy_book_sources(tmp_path_factory.mktemp("small-book"), course=True)
    info = build_book(small=True, src=src, quiet=True, command="llmmusic book --small (pytest)")
    return src, info


@dataclass(frozen=True)
class ZeroShotCopy:
    """A scratch copy of the committed zero-shot run's cache, label tokenisations and pinned sample."""

    folder: Path  # holds cache.sqlite, cache.tokens.json and the pin
    dataset: Path  # the generated dataset the committed LLM-MIDI rows name
    pin: Path  # the copy of that dataset's pinned sample


@pytest.fixture
def zeroshot_copy(tmp_path: Path) -> ZeroShotCopy:
    """Copies of the committed zero-shot run's inputs (the originals stay untouched), with the dataset its
    LLM-MIDI rows were made on, so replays ask about the very pieces it asked about."""
    from llmmusic.experiments import zeroshot as Z
    from llmmusic.paths import ROOT

    results = Z.DEFAULT_DIR / "results.jsonl"
    if not results.is_file():
        pytest.skip(f"{Z.DEFAULT_DIR}: no committed zero-shot run")
    named = {r.get("dataset") for r in Z.read_result_rows(results) if r["source"] == "llm-midi"}
    assert len(named) == 1 and None not in named, f"{results}: LLM-MIDI rows name no single dataset: {named}"
    dataset = ROOT / named.pop()
    pin = Z.sample_pin(dataset)
    for src in (Z.DEFAULT_DIR / "cache.sqlite", Z.DEFAULT_DIR / "cache.tokens.json", pin):
        dest = tmp_path / src.relative_to(Z.DEFAULT_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    return ZeroShotCopy(tmp_path, dataset, tmp_path / pin.relative_to(Z.DEFAULT_DIR))
