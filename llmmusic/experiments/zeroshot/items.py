"""What is asked about: items (pieces with their true labels), the questions (:class:`Task`), and the
evaluation sets (:func:`build_sets`: a pinned LLM-MIDI sample, human MIDI by folder genre and by
TOP-MAGD label, a user's labelled folder)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from llmmusic.data.midi_folder import read_each
from llmmusic.data.piece import Piece
from llmmusic.data.sampling import balanced_order, balanced_prefix
from llmmusic.experiments.zeroshot.answers import UNPARSED

#: The evaluation sets :func:`build_sets` knows, in the order the chapter and the command run them.
SET_NAMES: tuple[str, ...] = ("llm-midi", "human-folder", "human-topmagd", "user")


@dataclass
class Item:
    """One piece to classify.

    Attributes:
        id: a stable identifier (relative path or md5).
        piece: the music.
        truth: the true label (str) or a list of acceptable labels.
        source: the evaluation set's name.
        path: the MIDI file.
        dataset: the generated dataset an LLM-MIDI piece comes from (its folder, relative to the
            repository when inside it); recorded on every result row, so results are told apart by dataset.
    """

    id: str
    piece: Piece
    truth: Any
    source: str
    path: str = ""
    dataset: str | None = None


def llm_midi_items(dataset_dir: str | Path, n: int | None, seed: int = 0, pin: str | Path | None = None,
                   split: str | Sequence[str] | None = None, split_seed: int = 0) -> list[Item]:
    """A genre- and style-balanced sample of a generated dataset (``truth`` = genre; style in meta).

    A dataset that is still growing changes the balanced order, so the sample can be pinned: when
    ``pin`` (a JSON file) exists and names this dataset and seed, its ids come first (then the rest
    of the balanced order); a missing ``pin`` file, or one holding fewer ids than asked for, is
    (re)written with the ids chosen now (an extension keeps the pinned ids first). A pin of the splits
    ``test`` also serves a sample of ``test,val``, whose order starts with the test pieces.

    Args:
        dataset_dir: a dataset folder (``llmmusic.data.dataset``).
        n: sample size (``None``: all valid pieces).
        seed: sampling seed.
        pin: JSON file ``{"dataset", "seed", "ids"}`` fixing the sample (``None``: no pin).
        split: only the pieces of this split (``train``/``val``/``test``) of the CNN's split of the dataset
            (:func:`llmmusic.data.splits.split_by_combination` with ``split_seed``), so the zero-shot LLM and
            the CNN are scored on the same held-out pieces (``None``: every valid piece); several splits
            (``"test,val"`` or a sequence) follow each other, each in its own balanced order.
        split_seed: the CNN split's seed (chapter 4's ``seed``).
    Returns:
        Items with ``piece.meta`` holding genre and style; ``id`` is the MIDI path in the dataset.
    """
    from llmmusic.atomic import read_json
    from llmmusic.data.dataset import load_manifest, load_pieces, valid_rows
    from llmmusic.book.provenance import relative_to_root

    root = Path(dataset_dir)
    rows = valid_rows(load_manifest(root)).reset_index(drop=True)
    splits = split_names(split)
    order = _split_order(rows, splits, seed, split_seed)
    pin = Path(pin) if pin else None
    ident = {"dataset": relative_to_root(root), "seed": seed,
             **({"split": ",".join(splits), "split_seed": split_seed} if splits else {})}
    pinned = read_json(pin, "the pinned sample {dataset, seed, ids}") if pin is not None and pin.is_file() else None
    matches = pinned is not None and _pin_serves(pinned, ident)
    if matches:
        where = {rows.at[i, "path"]: i for i in order}  # only pieces of the splits asked
        first = [where[p] for p in pinned["ids"] if p in where]
        taken = set(first)
        order = first + [i for i in order if i not in taken]
    chosen = order[: n if n is not None else len(order)]
    grows = matches and not {rows.at[i, "path"] for i in chosen} <= set(pinned["ids"])
    if pin is not None and chosen and (pinned is None or grows):
        # first use, or a larger sample than the pin holds: pin the (extended) sample
        from llmmusic import atomic

        pin.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(pin, json.dumps({**ident, "ids": [rows.at[i, "path"] for i in chosen]}, indent=1) + "\n")
    items = []
    cell: dict[tuple[str, str], list[Piece]] = {}
    for i in chosen:
        g, st, path = rows.at[i, "genre"], rows.at[i, "style"], rows.at[i, "path"]
        if (g, st) not in cell:
            cell[(g, st)] = load_pieces(root, genres=[g], styles=[st])
        piece = next(p for p in cell[(g, st)] if _rel(p.meta.get("path", ""), root) == path)
        items.append(Item(id=path, piece=piece, truth=g, source="llm-midi", path=str(root / path),
                          dataset=ident["dataset"]))
    return items


def split_names(split: str | Sequence[str] | None) -> tuple[str, ...]:
    """The splits named by ``split`` (``"test"``, ``"test,val"`` or a sequence), checked; ``()`` for ``None``."""
    from llmmusic.data.splits import SPLITS

    names = tuple(n.strip() for n in split.split(",")) if isinstance(split, str) else tuple(split or ())
    unknown = [n for n in names if n not in SPLITS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"split must name distinct splits among {', '.join(SPLITS)}, got {split!r}")
    return names


def _split_order(rows: pd.DataFrame, splits: tuple[str, ...], seed: int, split_seed: int) -> list[int]:
    """Row positions in sampling order: the balanced order of all rows, or of each split's rows in turn."""
    keys = list(zip(rows["genre"], rows["style"]))
    if not splits:
        return balanced_order(keys, seed)
    from llmmusic.data.splits import split_by_combination

    assigned = split_by_combination(rows["genre"].tolist(), rows["style"].tolist(), seed=split_seed)
    order: list[int] = []
    for name in splits:
        where = [i for i, s in enumerate(assigned) if s == name]
        order += [where[j] for j in balanced_order([keys[i] for i in where], seed)]
    return order


def _pin_serves(pinned: Mapping[str, Any], ident: Mapping[str, Any]) -> bool:
    """Whether a pin's sample starts the one asked for: same dataset and seeds, and its splits a prefix of
    those asked (a pin of ``test`` serves ``test,val``)."""
    same = all(pinned.get(k) == v for k, v in ident.items() if k != "split")
    had, want = split_names(pinned.get("split")), split_names(ident.get("split"))
    return same and ("split" in pinned) == ("split" in ident) and want[: len(had)] == had


def _rel(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_items(paths: Iterable[tuple[str, Any, str]], source: str, bars: int = 4,
               errors: list[dict[str, str]] | None = None) -> list[Item]:
    """Read any MIDI files with :func:`llmmusic.data.roles.read_midi`; unreadable files are recorded, not raised.

    Args:
        paths: ``(path, truth, id)`` triples.
        source: the evaluation set's name.
        bars: window length in bars (4 bars = the paper's 0-7680 tick range).
        errors: a list that receives ``{"path", "reason"}`` per skipped file.
    Returns:
        the readable items.
    """
    from llmmusic.data.midi import MidiReadError
    from llmmusic.data.roles import read_midi

    def read(entry: tuple[str, Any, str]) -> Piece:
        piece = read_midi(entry[0], bars=bars)
        if piece.n_notes == 0:
            raise MidiReadError(entry[0], "no notes in the window")
        return piece

    return [Item(id=ident, piece=piece, truth=truth, source=source, path=str(path))
            for (path, truth, ident), piece in read_each(paths, read, errors, path=lambda entry: entry[0])]


def user_folder_items(folder: str | Path, labels_csv: str | Path | None = None, bars: int = 4,
                      errors: list[dict[str, str]] | None = None) -> list[Item]:
    """A user's labelled MIDI: a CSV ``path,label`` (paths relative to the CSV), or subfolders as labels.

    Args:
        folder: the folder (subfolder names are the labels when no CSV is given).
        labels_csv: optional CSV with columns ``path`` and ``label``.
        bars: window length in bars.
        errors: receives unreadable files.
    Returns:
        items with ``source="user"``.
    """
    folder = Path(folder)
    triples = []
    if labels_csv is not None:
        table = pd.read_csv(labels_csv)
        if not {"path", "label"} <= set(table.columns):
            raise ValueError(f"{labels_csv}: expected columns 'path' and 'label', got {list(table.columns)}")
        base = Path(labels_csv).parent
        for row in table.itertuples(index=False):
            p = Path(row.path)
            triples.append((str(p if p.is_absolute() else base / p), str(row.label), str(row.path)))
    else:
        for p in sorted(folder.rglob("*")):
            if p.suffix.lower() in (".mid", ".midi") and p.parent != folder:
                triples.append((str(p), p.relative_to(folder).parts[0], p.relative_to(folder).as_posix()))
    if not triples:
        raise FileNotFoundError(f"{folder}: no labelled MIDI files (give a CSV path,label or label subfolders)")
    return read_items(triples, "user", bars=bars, errors=errors)


@dataclass
class Task:
    """One question asked of every item.

    Attributes:
        name: result name, e.g. ``llm-genre``.
        word: the label word in the prompt (``genre`` / ``style``).
        labels: the candidates shown.
        truth: item -> truth (label or list of labels); default ``item.truth``.
        mapping: predicted label -> evaluated label (e.g. paper genre -> folder genre; ``None`` = wrong).
        eval_labels: the label set metrics are computed over (default ``labels``).
    """

    name: str
    word: str
    labels: list[str]
    truth: Callable[[Item], Any] | None = None
    mapping: Mapping[str, str | None] | None = None
    eval_labels: list[str] | None = None

    def true_of(self, item: Item) -> Any:
        return self.truth(item) if self.truth else item.truth

    def evaluated(self, label: str) -> str:
        """The label a prediction counts as (mapped; ``other`` when the mapping says none)."""
        if self.mapping is None or label == UNPARSED:
            return label
        mapped = self.mapping.get(label)
        return mapped if mapped is not None else "other"


@dataclass
class EvalSet:
    """An evaluation set: items, the questions asked of them, and what was skipped.

    Attributes:
        name: ``llm-midi``, ``human-folder``, ``human-topmagd`` or ``user``.
        items: the readable pieces.
        tasks: the questions.
        note: why the set is empty or reduced (shown in the chapter), else ``""``.
        errors: unreadable files (``{"path", "reason"}``).
    """

    name: str
    items: list[Item]
    tasks: list[Task]
    note: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)


def standard_tasks() -> dict[str, Task]:
    """The questions of the chapter, by name.

    ``llm-genre`` / ``llm-style``: the paper's 13 genres / 25 styles on LLM-MIDI; ``human-folder``:
    the paper's 13 genres asked of human files, scored against their folder genre through
    :data:`llmmusic.data.taxonomy.PAPER_TO_FOLDER`; ``human-topmagd``: the 13 TOP-MAGD genres, right if
    the answer is one of the file's labels.
    """
    from llmmusic.data.taxonomy import FOLDER_GENRES, PAPER_GENRES, PAPER_STYLES, PAPER_TO_FOLDER, TOPMAGD_GENRES

    return {
        "llm-genre": Task("llm-genre", "genre", list(PAPER_GENRES)),
        "llm-style": Task("llm-style", "style", list(PAPER_STYLES), truth=lambda it: it.piece.meta["style"]),
        "human-folder": Task("human-folder", "genre", list(PAPER_GENRES), mapping=PAPER_TO_FOLDER,
                             eval_labels=list(FOLDER_GENRES)),
        "human-topmagd": Task("human-topmagd", "genre", list(TOPMAGD_GENRES)),
    }


def build_sets(names: Sequence[str], *, dataset_dir: str | Path | None = None, n_llm_midi: int | None = 26,
               n_human: int | None = 20, n_topmagd: int | None = 12, seed: int = 0, bars: int = 4,
               user_folder: str | Path | None = None, user_labels_csv: str | Path | None = None,
               pin: str | Path | None = None, split: str | Sequence[str] | None = None,
               split_seed: int = 0) -> list[EvalSet]:
    """The evaluation sets named in ``names``; a set whose data is absent comes back empty with a note.

    Args:
        names: any of ``llm-midi``, ``human-folder``, ``human-topmagd``, ``user``.
        dataset_dir: generated dataset (default: :func:`llmmusic.data.dataset.pick_dataset`).
        n_llm_midi: LLM-MIDI pieces (genre- and style-balanced sample).
        n_human: human files for the folder-genre question (balanced over the 5 folders).
        n_topmagd: human files with TOP-MAGD labels (balanced over label sets).
        seed: sampling seed (samples are prefix-stable: a smaller n takes the first items).
        bars: window read from each human file, in bars (4 bars = the paper's 0-7680 ticks).
        user_folder: a user's labelled MIDI folder (``user`` set).
        user_labels_csv: CSV ``path,label`` for it (else subfolders are labels).
        pin: JSON file pinning the LLM-MIDI sample (see :func:`llm_midi_items`).
        split, split_seed: LLM-MIDI from these splits of the CNN's split only (see :func:`llm_midi_items`).
    Returns:
        one :class:`EvalSet` per name, in order.
    """
    tasks = standard_tasks()
    out = []
    for name in names:
        if name == "llm-midi":
            from llmmusic.data.dataset import pick_dataset

            ds = pick_dataset(dataset_dir)
            if ds is None:
                out.append(EvalSet(name, [], [], note="no generated dataset under data/llm-midi: LLM-MIDI skipped"))
                continue
            items = llm_midi_items(ds, n_llm_midi, seed, pin, split=split, split_seed=split_seed)
            out.append(EvalSet(name, items, [tasks["llm-genre"], tasks["llm-style"]],
                               note="" if items else f"{ds}: no valid pieces"))
        elif name in ("human-folder", "human-topmagd"):
            from llmmusic.data.corpora import human_midi

            try:
                df = human_midi()
            except FileNotFoundError as exc:
                out.append(EvalSet(name, [], [], note=f"human MIDI absent ({exc}): {name} skipped"))
                continue
            errors: list[dict[str, str]] = []
            if name == "human-folder":
                rows = balanced_prefix(df, "folder_genre", None, seed)
                items = _first_readable(rows, "folder_genre", name, n_human, bars, errors)
                out.append(EvalSet(name, items, [tasks["human-folder"]], errors=errors))
            else:
                lab = df[df["topmagd"].map(len) > 0].copy()
                lab["key"] = lab["topmagd"].map("|".join)
                rows = balanced_prefix(lab, "key", None, seed)
                items = _first_readable(rows, "topmagd", name, n_topmagd, bars, errors)
                out.append(EvalSet(name, items, [tasks["human-topmagd"]], errors=errors))
        elif name == "user":
            if user_folder is None:
                out.append(EvalSet(name, [], [], note="no user folder given: user set skipped"))
                continue
            errors = []
            items = user_folder_items(user_folder, user_labels_csv, bars, errors)
            labels = sorted({str(it.truth) for it in items})
            out.append(EvalSet(name, items, [Task("user", "genre", labels)], errors=errors))
        else:
            raise ValueError(f"unknown evaluation set {name!r}; expected llm-midi, human-folder, human-topmagd, user")
    return out


def _first_readable(rows: pd.DataFrame, column: str, source: str, n: int | None, bars: int,
                    errors: list[dict[str, str]]) -> list[Item]:
    """Read rows in order until ``n`` items are readable (unreadable files are recorded and skipped)."""
    items: list[Item] = []
    for row in rows.itertuples(index=False):
        if n is not None and len(items) >= n:
            break
        truth = getattr(row, column)
        items += read_items([(row.path, list(truth) if isinstance(truth, list) else truth, row.md5)], source,
                            bars=bars, errors=errors)
    return items
