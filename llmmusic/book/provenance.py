"""Provenance of every figure, table and audio clip in the book.

A chapter makes one :class:`Provenance` from its inputs (``Provenance("NN_topic", inputs={...})``):
the parameters it records are those of the notebook's cell tagged ``parameters``, with the values
they have in the running notebook (papermill's injected ones included; :func:`notebook_parameters`).
Every result goes through :meth:`Provenance.figure`, :meth:`Provenance.table` or :meth:`Provenance.audio`, which

* writes the result's files (PNG + SVG, CSV, MP3/OGG + MIDI) to ``book/executed/media/<notebook>/``,
  where the executed notebook and the built HTML page reference them by a relative link;
* shows the result with a stamp under it (``<div class="provenance">``): notebook, parameters,
  input data hashes, model and endpoint, package version, git commit (+ dirty flag), time, and
  the exact command that regenerates it;
* appends the same record as JSON to ``book/executed/provenance/<notebook>.json``, which the
  book's provenance page lists.

:meth:`Provenance.summary` records what the chapter shows in a few lines quoting its measured numbers
(and optional rows for the book's headline table); ``llmmusic book`` puts those lines at the top of
the chapter's page and the rows on the intro page (:mod:`llmmusic.book.headline`).

``LLMMUSIC_BOOK_EXECUTED`` overrides the folder ``book/executed``.

Used in: every notebook (notebooks/01_prompt_design.py, notebooks/02_dataset_statistics.py, ...).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmmusic import __version__, atomic
from llmmusic.book.inputs import git_state, hash_input, relative_to_root, sha256_file
from llmmusic.book.parameters import (notebook_parameters, param_args, parse_param_value, regenerate_commands,
                                      running_notebook)
from llmmusic.paths import ROOT

MEDIA = "media"
RECORDS = "provenance"


def executed_dir() -> Path:
    """Folder of the executed chapter notebooks (``book/executed`` unless ``LLMMUSIC_BOOK_EXECUTED`` is set)."""
    return Path(os.environ.get("LLMMUSIC_BOOK_EXECUTED", ROOT / "book" / "executed"))


# ---------------------------------------------------------------------------------------------- records
@dataclass
class ProvenanceRecord:
    """Everything needed to trace one figure, table or audio clip back to its source.

    Attributes:
        notebook: chapter id, e.g. ``01_prompt_design``.
        kind: ``figure``, ``table`` or ``audio``.
        name: the item's name (unique within its notebook).
        caption: one sentence of what it shows.
        files: files written for it, relative to the executed-notebook folder.
        params: every parameter of the notebook run.
        inputs: input name -> :func:`hash_input` record.
        llm: model and endpoint facts (``LLMClient.describe()``) or ``None``.
        package_version: ``llmmusic.__version__``.
        git_commit, git_dirty: the checkout the run came from.
        time: UTC time of the record (ISO 8601).
        commands: :func:`regenerate_commands`.
        extra: kind-specific facts (e.g. which synthesizer rendered an audio clip).
    """

    notebook: str
    kind: str
    name: str
    caption: str
    files: list[str]
    params: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    llm: dict[str, Any] | None
    package_version: str
    git_commit: str | None
    git_dirty: bool | None
    time: str
    commands: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _ipython_display_(self) -> None:
        """Shown as nothing: a chapter cell ending in ``prov.figure(...)`` shows the item and its stamp once."""


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values (paths as strings relative to the repository)."""
    if isinstance(value, Path):
        return relative_to_root(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def anchor(name: str) -> str:
    """The HTML id of a chapter item (``prov-<name>``), so other pages can link to it (the claims page does)."""
    return f"prov-{name}"


def _anchor_html(name: str) -> str:
    return f'<span class="prov-anchor" id="{html.escape(anchor(name))}"></span>'


def stamp_html(record: ProvenanceRecord) -> str:
    """The stamp shown under an item: a one-line summary that opens onto the full record."""
    e = html.escape
    commit = (record.git_commit or "no git")[:10] + (" (dirty)" if record.git_dirty else "")
    model = record.llm.get("model") if record.llm else None
    links = " ".join(f'<a href="{e(f)}">{e(Path(f).suffix.lstrip(".") or f)}</a>' for f in record.files)
    summary = (f'Provenance · {e(record.kind)} <code>{e(record.name)}</code> · {e(record.notebook)} · '
               f'llmmusic {e(record.package_version)} · commit {e(commit)} · {e(record.time)}'
               + (f" · model {e(str(model))}" if model else "")
               + (f" · {e(str(record.extra['synth']))}" if "synth" in record.extra else ""))
    inputs = "".join(f"<li><code>{e(name)}</code>: {e(str(info.get('path')))} "
                     f"({e(info.get('method', ''))} sha256 <code>{e(str(info.get('sha256'))[:16])}</code>)</li>"
                     for name, info in record.inputs.items()) or "<li>none</li>"
    rows = [
        ("Files", links or "none"),
        ("Parameters", f"<code>{e(json.dumps(record.params, sort_keys=True))}</code>"),
        ("Inputs", f"<ul>{inputs}</ul>"),
        ("Model", f"<code>{e(json.dumps(record.llm, sort_keys=True))}</code>" if record.llm else "no LLM call"),
        ("Git", f"<code>{e(str(record.git_commit))}</code>" + (" with uncommitted changes" if record.git_dirty else "")),
        ("Regenerate", f"<code>{e(record.commands['papermill'])}</code><br>or <code>{e(record.commands['book'])}</code>"),
    ]
    if record.extra:
        rows.append(("Details", f"<code>{e(json.dumps(record.extra, sort_keys=True, default=str))}</code>"))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<div class="provenance" data-notebook="{e(record.notebook)}" data-name="{e(record.name)}">'
            f"<details><summary>{summary}</summary><dl>{body}</dl></details></div>")


def _display(*objs: Any) -> None:
    from IPython.display import display

    display(*objs)


def _without_credentials(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every URL's credentials redacted (:func:`llmmusic.generation.llm.redact_url`)."""
    from llmmusic.generation.llm import redact_url

    return {k: redact_url(v) if isinstance(v, str) and "://" in v else v for k, v in values.items()}


class Provenance:
    """Saves, shows and records a chapter's figures, tables and audio with their provenance.

    Args:
        notebook: chapter id (``NN_topic``, the notebook's file stem).
        params: every parameter of the run; ``None`` (the usual): read from the running notebook
            (:func:`notebook_parameters`).
        inputs: input name -> file or folder (hashed once, here).
        llm: ``LLMClient.describe()`` when the chapter talks to a model, else ``None``.
        out_dir: the executed-notebook folder (default :func:`executed_dir`).
        show: display items (off in tests that only need the files and records).

    Starting a Provenance clears the chapter's previous records and media files (a run regenerates
    all of them).
    """

    def __init__(self, notebook: str, params: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, Any] | None = None, llm: Mapping[str, Any] | None = None,
                 out_dir: str | Path | None = None, show: bool = True) -> None:
        if not notebook or "/" in notebook:
            raise ValueError(f"notebook must be a chapter id like '01_prompt_design', got {notebook!r}")
        self.notebook = notebook
        params = params if params is not None else notebook_parameters(notebook)
        self.params = _jsonable(_without_credentials(params))
        self.inputs = {name: hash_input(path) for name, path in (inputs or {}).items()}
        self.llm = _jsonable(_without_credentials(llm)) if llm else None
        self.out_dir = Path(out_dir) if out_dir is not None else executed_dir()
        self.show = show
        self.git = git_state()
        self.commands = regenerate_commands(notebook, self.params)
        self.records: list[ProvenanceRecord] = []
        if self.media_dir.is_dir():
            shutil.rmtree(self.media_dir)  # files of a previous run of this chapter
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self._write_records()

    @property
    def media_dir(self) -> Path:
        """Where this chapter's files go: ``<out_dir>/media/<notebook>``."""
        return self.out_dir / MEDIA / self.notebook

    @property
    def records_path(self) -> Path:
        """The chapter's JSON records: ``<out_dir>/provenance/<notebook>.json``."""
        return self.out_dir / RECORDS / f"{self.notebook}.json"

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()

    def _check_name(self, name: str) -> str:
        if not name or any(c in name for c in '/\\ <>:"|?*'):
            raise ValueError(f"item name must be a plain file-name stem (no spaces or slashes), got {name!r}")
        if any(r.name == name for r in self.records):
            raise ValueError(f"{self.notebook}: item name {name!r} is used twice")
        return name

    def _record(self, kind: str, name: str, caption: str, files: list[Path],
                extra: dict[str, Any] | None = None) -> ProvenanceRecord:
        record = ProvenanceRecord(
            notebook=self.notebook, kind=kind, name=name, caption=caption, files=[self._rel(f) for f in files],
            params=self.params, inputs=self.inputs, llm=self.llm, package_version=__version__,
            git_commit=self.git["commit"], git_dirty=self.git["dirty"],
            time=datetime.now(timezone.utc).isoformat(timespec="seconds"), commands=self.commands,
            extra=_jsonable(extra or {}))
        self.records.append(record)
        self._write_records()
        return record

    def _write_records(self) -> None:
        atomic.write_text(self.records_path, json.dumps([r.as_dict() for r in self.records], indent=1) + "\n")

    def _caption_html(self, kind: str, record: ProvenanceRecord) -> str:
        if not record.caption:
            return ""
        return f'<p class="prov-caption"><b>{kind.capitalize()} {html.escape(record.name)}.</b> {html.escape(record.caption)}</p>'

    # ------------------------------------------------------------------------------------ items
    def figure(self, fig: Any, name: str, caption: str = "", dpi: int = 110) -> ProvenanceRecord:
        """Save a matplotlib figure as PNG and SVG, show it with its stamp, record it.

        Args:
            fig: a ``matplotlib.figure.Figure`` (closed afterwards, so it is shown once).
            name: file stem, unique in the notebook.
            caption: one sentence of what it shows.
            dpi: resolution of the PNG.
        """
        import matplotlib.pyplot as plt

        self._check_name(name)
        png, svg = self.media_dir / f"{name}.png", self.media_dir / f"{name}.svg"
        fig.savefig(png, dpi=dpi, bbox_inches="tight")
        fig.savefig(svg, bbox_inches="tight")
        plt.close(fig)
        record = self._record("figure", name, caption, [png, svg])
        if self.show:
            from IPython.display import HTML, Image

            _display(HTML(_anchor_html(name)), Image(filename=str(png)),
                     HTML(self._caption_html("figure", record) + stamp_html(record)))
        return record

    def table(self, df: Any, name: str, caption: str = "", max_rows: int = 60) -> ProvenanceRecord:
        """Save a DataFrame as CSV, show it (at most ``max_rows`` rows) with its stamp, record it."""
        self._check_name(name)
        csv = self.media_dir / f"{name}.csv"
        atomic.write_text(csv, df.to_csv())
        record = self._record("table", name, caption, [csv], {"rows": int(len(df)), "columns": [str(c) for c in df.columns]})
        if self.show:
            from IPython.display import HTML

            shown = df if len(df) <= max_rows else df.head(max_rows)
            note = "" if len(df) <= max_rows else f"<p>First {max_rows} of {len(df)} rows; all rows in the CSV.</p>"
            _display(HTML(_anchor_html(name) + self._caption_html("table", record)
                          + shown.to_html(classes="prov-table") + note + stamp_html(record)))
        return record

    def audio(self, piece_or_midi_path: Any, name: str, caption: str = "", **render: Any) -> ProvenanceRecord:
        """Render a Piece or MIDI file to compressed audio, show a player with its stamp, record it.

        The MIDI file is kept beside the audio. ``render`` is passed to
        :func:`llmmusic.book.audio.render_audio` (e.g. ``synth="numpy"``).
        """
        from llmmusic.book.audio import render_audio
        from llmmusic.data.midi import piece_to_midi

        self._check_name(name)
        source = piece_or_midi_path
        midi_path = self.media_dir / f"{name}.mid"
        if isinstance(source, (str, Path)):
            atomic.write_bytes(midi_path, Path(source).read_bytes())
        else:
            piece_to_midi(source, midi_path)
        info = render_audio(midi_path, self.media_dir / name, **render)
        extra = {"synth": info.synth, "soundfont": info.soundfont, "duration_s": round(info.duration_s, 2),
                 "sample_rate": info.sample_rate, "format": info.format}
        if not isinstance(source, (str, Path)) and getattr(source, "meta", None):
            extra["piece"] = {k: v for k, v in source.meta.items() if k in ("genre", "style", "mood", "index", "path",
                                                                           "source", "folder_genre")}
        record = self._record("audio", name, caption, [info.path, midi_path], extra)
        if self.show:
            from IPython.display import HTML

            src = html.escape(self._rel(info.path))
            player = (f'<audio class="prov-audio" controls preload="none" src="{src}">'
                      f'<a href="{src}">{src}</a></audio>')
            _display(HTML(_anchor_html(name) + self._caption_html("audio", record) + player + stamp_html(record)))
        return record

    def summary(self, lines: Sequence[str], headline: Sequence[Mapping[str, Any]] = ()) -> ProvenanceRecord:
        """Record and show what the chapter shows: 3-5 Markdown lines that quote its measured numbers.

        ``llmmusic book`` repeats the lines at the top of the chapter's page ("What this chapter shows").

        Args:
            lines: one finding per line (Markdown; a leading bullet, ``* `` or ``- ``, is dropped).
            headline: rows for the book's headline table on the intro page, each
                ``{"finding": str, "value": float}`` plus optional ``"measure"`` (default accuracy),
                ``"low"``, ``"high"`` (95 % interval), ``"chance"`` and ``"n"``.
        Raises:
            ValueError: no line, or a headline row without a finding or a value.
        """
        shown = [re.sub(r"^[*-]\s+", "", str(line).strip()) for line in lines if str(line).strip()]
        if not shown:
            raise ValueError(f"{self.notebook}: a summary needs at least one line")
        rows = []
        for row in headline:
            if not row.get("finding") or row.get("value") is None:
                raise ValueError(f"{self.notebook}: a headline row needs a finding and a value, got {dict(row)!r}")
            rows.append({k: None if isinstance(v, float) and v != v else v for k, v in _jsonable(dict(row)).items()})
        record = self._record("summary", "chapter_summary", "What this chapter shows.", [],
                              {"lines": shown, "headline": rows})
        if self.show:
            from IPython.display import HTML, Markdown

            _display(Markdown("\n".join(f"* {line}" for line in shown)), HTML(stamp_html(record)))
        return record


def load_records(out_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every record of every chapter, in chapter order (for the book's provenance page)."""
    folder = (Path(out_dir) if out_dir is not None else executed_dir()) / RECORDS
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            records += json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return records


def notice(text: str, kind: str = "note") -> None:
    """Show a visible note in a chapter (e.g. that an input is missing and a section is skipped).

    Args:
        text: Markdown text.
        kind: ``note`` or ``warning`` (the book's admonition styles).
    """
    from IPython.display import Markdown

    _display(Markdown(f":::{{{'warning' if kind == 'warning' else 'note'}}}\n{text}\n:::"))


__all__ = [
    "MEDIA", "RECORDS", "ROOT", "Provenance", "ProvenanceRecord", "executed_dir", "git_state", "hash_input",
    "load_records", "notebook_parameters", "notice", "param_args", "parse_param_value", "regenerate_commands",
    "relative_to_root", "running_notebook", "sha256_file", "stamp_html",
]
