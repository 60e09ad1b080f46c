"""The book's Sphinx extension (``sphinx: extra_extensions: [llmmusic.book]`` in ``_config.yml``).

It copies ``book/executed/media`` next to the built chapter pages, so the pages' relative links to
audio and figure files resolve; points the Binder/Colab launch buttons at the source notebooks
``notebooks/NN_topic.ipynb``; serves each lab page from its executed copy in ``book/executed/labs/``
when there is one (else myst-nb executes the lab, as a plain ``jupyter-book build`` does); and lists
each script of a page once.

Used in: llmmusic/book/__init__.py (``setup``), the book's Sphinx build.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from llmmusic.book.chapters import EXECUTED, LABS


def extension_metadata() -> dict[str, Any]:
    """What a project extension's ``setup`` returns: parallel-safe, the package version."""
    from llmmusic import __version__

    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": __version__}


def _copy_media(app: Any, exception: Exception | None) -> None:
    """``build-finished``: mirror ``book/executed/media`` into the HTML output at the same place."""
    if exception is not None or app.builder.format != "html":
        return
    media = Path(app.srcdir) / EXECUTED / "media"
    if media.is_dir():
        target = Path(app.outdir) / EXECUTED / "media"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(media, target)


def _launch_to_sources(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """``html-page-context`` (after the theme): Binder/Colab buttons open ``notebooks/NN_topic.ipynb``."""
    prefix = EXECUTED.as_posix() + "/"
    if not pagename.startswith(prefix):
        return

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (v.replace(prefix, "notebooks/") if k == "url" and isinstance(v, str)
                        and v.startswith("http") else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    if "header_buttons" in context:
        context["header_buttons"] = rewrite(context["header_buttons"])


def _executed_lab(app: Any, docname: str, source: list[str]) -> None:
    """``source-read``: a lab page is read from its executed copy (``book/executed/labs``) when there
    is one, with execution off, so the HTML build does not run the lab again."""
    if not docname.startswith("course/labs/") or not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    executed = Path(app.srcdir) / EXECUTED / LABS / f"{Path(docname).name}.ipynb"
    if not executed.is_file():
        return
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    notebook.setdefault("metadata", {}).setdefault("mystnb", {})["execution_mode"] = "off"
    source[0] = json.dumps(notebook)


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """``html-page-context`` (last): each script once. Inline scripts registered both before and after the
    builder starts come twice (filename ``None`` and ``""``), and sphinx-thebe's second
    ``const THEBE_JS_URL = ...`` stops with a SyntaxError in the browser on every page (found by
    tests/test_browser.py)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),  # an inline script's filename is None or ""
               json.dumps(getattr(js, "attributes", {}), sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (see the module docstring of :mod:`llmmusic.book.sphinx_ext`)."""
    app.connect("build-finished", _copy_media)
    app.connect("html-page-context", _launch_to_sources, priority=900)
    app.connect("html-page-context", _unique_scripts, priority=950)
    app.connect("source-read", _executed_lab)
    return extension_metadata()
