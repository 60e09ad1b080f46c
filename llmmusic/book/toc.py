"""The book's table of contents, ``_toc.yml``: its entries, and a page for every chapter it lists.

Chapters listed in ``_toc.yml`` that were not executed in a build keep their previous executed
copy (:func:`~llmmusic.book.chapters.kept_run`); a chapter never executed gets a placeholder page
saying so (:func:`write_placeholder`), so the book always builds.

Used in: llmmusic/book/build.py, tests/test_course.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from llmmusic.book.chapters import EXECUTED, Chapter, ChapterRun, kept_run


def toc_files(src: str | Path) -> list[str]:
    """Every ``file:`` entry of ``<src>/_toc.yml`` (root first), as written there."""
    import yaml

    toc = yaml.safe_load((Path(src) / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] if "root" in toc else []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def write_placeholder(path: Path, title: str, number: str) -> None:
    """A one-cell notebook saying that a chapter was not executed."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        f"# {title}\n\n"
        f"This chapter was not executed in this build of the book. Build it with\n\n"
        f"```\nllmmusic book --chapter {number}\n```\n")]
    nb.metadata["llmmusic"] = {"placeholder": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def _title(chapter: Chapter | None, stem: str) -> str:
    heading = chapter.heading() if chapter is not None else None
    return heading or stem.replace("_", " ").title()


def fill_toc_gaps(src: Path, chapters: Sequence[Chapter], runs: dict[str, ChapterRun]) -> list[str]:
    """Make every executed-chapter entry of the toc exist: keep a previous executed copy, or write a
    placeholder. Returns warnings (e.g. chapters that the toc does not list)."""
    warnings = []
    by_name = {c.name: c for c in chapters}
    listed = set()
    for entry in toc_files(src):
        path = Path(entry)
        if path.parent != EXECUTED:
            continue
        listed.add(path.name)
        target = src / path.with_suffix(".ipynb")
        if path.name in runs:
            continue
        chapter = by_name.get(path.name)
        number = path.name[:2]
        if target.exists():
            runs[path.name] = kept_run(number, target)
        else:
            write_placeholder(target, _title(chapter, path.name), number)
            runs[path.name] = ChapterRun(number, path.name, "placeholder", output=str(target))
    for chapter in chapters:
        if chapter.name not in listed:
            warnings.append(f"notebooks/{chapter.source.name} is not in _toc.yml; add "
                            f"'- file: {EXECUTED.as_posix()}/{chapter.name}' under the Chapters part")
    return warnings


