"""The book: execute every chapter notebook, then build Jupyter Book 1.x HTML, offline.

``llmmusic book`` (``make book``) runs :func:`~llmmusic.book.build.build_book`:

1. **discover** the chapters ``notebooks/NN_topic.py`` (Jupytext percent format);
2. **pair** each with ``notebooks/NN_topic.ipynb`` (rewritten only when the ``.py`` changed);
3. **execute** it with papermill into ``book/executed/NN_topic.ipynb``, injecting parameters
   (``-p name value``; ``--small`` applies the chapter's small parameters, see below), with a line
   per executed cell and its time on the terminal, and the progress of long loops
   (:mod:`llmmusic.progress`) in between; the notebook's figures, tables and audio go to
   ``book/executed/media/NN_topic/`` and their provenance records to
   ``book/executed/provenance/NN_topic.json``. A failing cell stops the build and is shown with its
   error;
4. **execute the course labs** of the selected chapters once (lab N for chapter 0N, with their tiny
   parameters under ``--small``) into ``book/executed/labs/``, by the same runner; the HTML build
   reads those copies instead of executing the labs again;
5. **present** every executed chapter: the parameters and set-up cells are folded (tag
   ``hide-input``), and the title is followed by "What this chapter shows" (its
   :meth:`~llmmusic.book.provenance.Provenance.summary`, else the captions of its results that quote
   numbers) and a "Rerun this chapter" box with the commands and downloads for that page (the
   chapter sources are copied to ``book/executed/sources/`` for them, whatever the source folder);
6. **record** the parameters, wall time and slowest cells of every chapter and lab in
   ``book/_build/run-info.json``, and write the generated parts of the provenance page
   (``book/executed/provenance_records.md``) and of the intro page (the headline table,
   ``book/executed/headline.md``);
7. **build** the HTML from ``_config.yml`` / ``_toc.yml`` with execution off into
   ``book/_build/html``.

Chapters listed in ``_toc.yml`` that were not executed in this run keep their previous executed
copy; a chapter never executed gets a placeholder page saying so, so the book always builds.

**Small parameters.** A chapter declares the parameters of its quick mode in its notebook metadata
(the Jupytext header of ``notebooks/NN_topic.py``)::

    # ---
    # jupyter:
    #   llmmusic:
    #     small: {n_pieces: 8, n_human: 10}
    # ---

``--small`` injects them; ``-p`` values given on the command line win over them.

Modules:

- :mod:`~llmmusic.book.notebook` -- a notebook's files, declared parameters and executed outputs;
- :mod:`~llmmusic.book.runner` -- the notebook runner (papermill), shared by chapters and labs;
- :mod:`~llmmusic.book.cell_progress` -- the terminal lines of a running notebook;
- :mod:`~llmmusic.book.chapters` -- the chapters, executed into ``book/executed`` (and the labs' copies);
- :mod:`~llmmusic.book.toc` -- ``_toc.yml`` entries and placeholder pages;
- :mod:`~llmmusic.book.pages` -- the summary box, the rerun box, the provenance records page;
- :mod:`~llmmusic.book.build` -- :func:`build_book` and the HTML build, run-info;
- :mod:`~llmmusic.book.sphinx_ext` -- the Sphinx extension;
- :mod:`~llmmusic.book.provenance` -- stamps and records of every figure, table and clip;
- :mod:`~llmmusic.book.headline` -- the intro's headline table;
- :mod:`~llmmusic.book.audio`, :mod:`~llmmusic.book.plots` -- audio rendering and the book's figures.

This package is also the book's Sphinx extension (``sphinx: extra_extensions: [llmmusic.book]``
in ``_config.yml``; :mod:`~llmmusic.book.sphinx_ext`). The launch buttons, the repository button
and the rerun boxes all follow one setting, ``repository.url`` in ``_config.yml``.

Used in: ``llmmusic book``, ``make book``, tests/test_book_build.py.
"""

from __future__ import annotations

from llmmusic.book.build import RECORDS_PAGE, RUN_INFO, build_book, build_html
from llmmusic.book.cell_progress import ENGINE, CellProgress
from llmmusic.book.chapters import (EXECUTED, LABS, NOTEBOOKS, BookError, Chapter, ChapterRun, discover_chapters,
                                    execute_chapter, execute_labs, kept_run, select_chapters)
from llmmusic.book.notebook import (FOLD_TAG, Notebook, declared_parameters, error_outputs, fold_plumbing,
                                    plumbing_cells, slowest_cells, sync_pair)
from llmmusic.book.pages import SOURCES, chapter_summary, present_notebook, records_page, repository_url
from llmmusic.book.runner import Execution, NotebookError, choose_parameters, execute
from llmmusic.book.sphinx_ext import setup
from llmmusic.book.toc import fill_toc_gaps, toc_files, write_placeholder
from llmmusic.paths import ROOT

__all__ = [
    "BookError", "CellProgress", "Chapter", "ChapterRun", "ENGINE", "EXECUTED", "Execution", "FOLD_TAG", "LABS",
    "NOTEBOOKS", "Notebook", "NotebookError", "RECORDS_PAGE", "ROOT", "RUN_INFO", "SOURCES", "build_book",
    "build_html", "chapter_summary", "choose_parameters", "declared_parameters", "discover_chapters",
    "error_outputs", "execute", "execute_chapter", "execute_labs", "fill_toc_gaps", "fold_plumbing", "kept_run",
    "plumbing_cells", "present_notebook", "records_page", "repository_url", "select_chapters", "setup",
    "slowest_cells", "sync_pair", "toc_files", "write_placeholder",
]
