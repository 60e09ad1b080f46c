"""The course's Sphinx extension (``llmmusic.course`` in ``_config.yml``): the solutions switch.

It sets sphinx-exercise's ``hide_solutions`` from ``$LLMMUSIC_SOLUTIONS``, removes gated solutions
(code cells and their outputs included) when hidden, and strips solution cells from the downloadable
sources of the built pages.

Used in: llmmusic/course/__init__.py (``setup``), the book's Sphinx build.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llmmusic.book.sphinx_ext import extension_metadata
from llmmusic.course.solutions import SOLUTIONS_ENV, solutions_mode, strip_file


def _hide_solutions(app: Any, config: Any) -> None:
    """``config-inited``: ``$LLMMUSIC_SOLUTIONS`` (if set) decides sphinx-exercise's ``hide_solutions``."""
    if os.environ.get(SOLUTIONS_ENV):
        config.hide_solutions = solutions_mode() == "hide"



def _strip_downloads(app: Any, exception: Exception | None) -> None:
    """``build-finished``: with solutions hidden, the page sources and downloads hold none either."""
    if exception is not None or not app.config.hide_solutions or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for folder in ("_sources", "_downloads"):
        for path in (out / folder).rglob("*"):
            if path.suffix in (".ipynb", ".py") and path.is_file():
                strip_file(path)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension: the solutions switch for sphinx-exercise (see the module docstring of :mod:`llmmusic.course.sphinx_ext`)."""
    from docutils import nodes
    from sphinx.transforms import SphinxTransform
    from sphinx_exercise.directive import SolutionStartDirective
    from sphinx_exercise.nodes import solution_end_node

    app.setup_extension("sphinx_exercise")

    class hidden_solution(nodes.Element):
        """Where a gated solution started in a build with solutions hidden."""

    class HiddenSolutionStart(SolutionStartDirective):
        def run(self) -> list[Any]:
            made = super().run()  # keeps sphinx-exercise's bookkeeping of gated directives
            return [hidden_solution()] if self.env.app.config.hide_solutions else made

    class RemoveHiddenSolutions(SphinxTransform):
        """Drop everything from a hidden solution's start to its ``{solution-end}`` (code cells and
        outputs included: sphinx-exercise alone would leave them on the page)."""

        default_priority = 5

        def apply(self, **kwargs: Any) -> None:
            for marker in list(self.document.findall(hidden_solution)):
                parent = marker.parent
                start = parent.index(marker)
                end = start
                while end < len(parent.children) and not isinstance(parent.children[end], solution_end_node):
                    end += 1
                for child in list(parent.children[start:end + 1]):
                    parent.remove(child)

    app.add_node(hidden_solution)
    app.add_directive("solution-start", HiddenSolutionStart, override=True)
    app.add_transform(RemoveHiddenSolutions)
    app.connect("config-inited", _hide_solutions)
    app.connect("build-finished", _strip_downloads)
    return extension_metadata()
