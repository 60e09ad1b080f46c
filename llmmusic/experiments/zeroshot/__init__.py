"""Zero-shot genre / style classification of symbolic music by an LLM (the paper's first experiment).

A piece is shown to the model in the same JSON form the generation prompt asks for
(``Piece.to_dict()``: four tracks of ``[pitch, duration, velocity, start]``) together with the
candidate labels, and the model is asked which label fits. Four modes:

* ``free`` — the paper's setting: free text, parsed by :func:`parse_answer` (exact match,
  case-insensitive match, else the first candidate mentioned; anything else is ``unparsed``).
* ``score`` — log-probability scoring of the same reply (no extra prompt): the server reports the
  model's distribution over the reply's first token, before any sampling; every candidate scores the
  log-probability of its first token, and candidates that share a first token are split by a short
  follow-up request (:func:`score_reply`). A full ranking (top-k accuracy), never ``unparsed``.
* ``json`` — constrained decoding: a ``response_format`` JSON schema whose ``label`` is an ``enum``
  of the candidates, so every answer is a candidate.
* ``explain`` — the model first describes the melody, chords, bass and rhythm track by track (as the
  paper reports it does), then ends with ``Answer: <label>``.

Every call goes through :class:`llmmusic.generation.llm.LLMClient` (cached). :data:`PROMPT_VERSION` names the
prompt templates and is recorded with every result.

Used in: notebooks/03_zero_shot.py, ``llmmusic zeroshot``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmmusic.generation.llm import LLMClient, Reply
from llmmusic.data.piece import TRACKS, Piece
from llmmusic.progress import report as progress_report
from llmmusic.data.midi_folder import read_each
from llmmusic.data.sampling import balanced_order, balanced_prefix
from llmmusic.paths import ROOT

log = logging.getLogger(__name__)

#: Version of the prompt templates below; bump on any change of wording or format.
PROMPT_VERSION = "zs-v1"
MODES: tuple[str, ...] = ("free", "json", "explain", "score")
UNPARSED = "unparsed"
DEFAULT_DIR = ROOT / "data" / "zeroshot"
DEFAULT_CACHE = DEFAULT_DIR / "cache.sqlite"
DEFAULT_PIN = DEFAULT_DIR / "llm-midi-sample.json"

SYSTEM = (
    "You are an expert musicologist. You read music written as JSON with four tracks: melody, chords, "
    "bass and rhythm. Each track is a list of note events [pitch, duration, velocity, start_time]. Pitch is a "
    "MIDI note number (60 = middle C); on the rhythm track it is a General MIDI drum key (35/36 kick, "
    "38/40 snare, 42 closed hi-hat, 46 open hi-hat, 49 crash). Duration and start_time are in ticks, 480 "
    "ticks per quarter note, in 4/4 time at 120 BPM."
)
#: Answer instructions per mode; ``{task}`` is ``genre`` or ``style``, ``{labels}`` the candidate list.
QUESTIONS: dict[str, str] = {
    "free": "Which {task} is this piece? Choose exactly one of: {labels}.\nAnswer with the {task} name only.",
    "json": "Which {task} is this piece? Choose exactly one of: {labels}.\n"
            "Answer in JSON as {{\"label\": \"<{task}>\"}}.",
    "explain": "Which {task} is this piece? Choose exactly one of: {labels}.\n"
               "First describe the melody, chords, bass and rhythm tracks one by one and what each suggests "
               "about the {task}. Then give your final answer on the last line as `Answer: <{task}>`.",
}
QUESTIONS["score"] = QUESTIONS["free"]  # scoring reads the log-probabilities of the free-text reply
#: Decoding per mode (temperature 0: the model's most likely answer; max_tokens: reply budget).
DECODING: dict[str, dict[str, Any]] = {
    "free": dict(temperature=0.0, top_p=None, max_tokens=24, seed=0),
    "json": dict(temperature=0.0, top_p=None, max_tokens=40, seed=0),
    "explain": dict(temperature=0.0, top_p=None, max_tokens=400, seed=0),
}
DECODING["score"] = DECODING["free"]


# ---------------------------------------------------------------------------------------------- prompts
def piece_json(piece: Piece, max_events: int | None = None) -> tuple[str, int]:
    """The piece in the paper's JSON form, compact, each track sorted by start.

    Args:
        piece: the piece.
        max_events: keep at most this many events per track (the earliest); ``None`` keeps all.
    Returns:
        ``(json_text, n_dropped)`` with ``n_dropped`` the number of events cut.
    """
    data = piece.sorted().to_dict()
    dropped = 0
    if max_events is not None:
        for name in TRACKS:
            dropped += max(0, len(data[name]) - max_events)
            data[name] = data[name][:max_events]
    return json.dumps(data, separators=(",", ":")), dropped


def build_messages(piece: Piece, labels: Sequence[str], task: str = "genre", mode: str = "free",
                   max_events: int | None = None) -> list[dict[str, str]]:
    """Chat messages asking for the ``task`` label of ``piece`` among ``labels``.

    The piece comes before the question, so all modes and tasks of one piece share a prompt prefix
    (the server reuses its cache for it).

    Args:
        piece: the piece to classify.
        labels: the candidate labels, in the order shown.
        task: the word used for the label (``genre`` or ``style``).
        mode: one of :data:`MODES`.
        max_events: per-track event cap (see :func:`piece_json`).
    Returns:
        ``[system, user]`` messages.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    text, _ = piece_json(piece, max_events)
    question = QUESTIONS[mode].format(task=task, labels=", ".join(labels))
    user = f"Here is a piece of music in JSON form:\n{text}\n\n{question}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def label_schema(labels: Sequence[str]) -> dict[str, Any]:
    """OpenAI ``response_format`` of a JSON object ``{"label": <one of labels>}``."""
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": list(labels)}},
              "required": ["label"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}


# ---------------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Answer:
    """A parsed reply: the label (or :data:`UNPARSED`) and how it was found.

    ``how``: ``json``, ``exact``, ``case`` (case/separator-insensitive match), ``mention`` (first
    candidate named in the text), ``last-mention`` (explain mode without an answer line: the last
    candidate named), ``none``.
    """

    label: str
    how: str


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip()


_STRIP = " \t\r\n.,;:!?'\"`*()[]{}<>"


def _mentions(text: str, labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """(position, -length, label) of every whole-word mention of a candidate (separator-insensitive)."""
    norm_text = _norm(text)
    found = []
    for lab in labels:
        pattern = r"(?<![a-z0-9])" + re.escape(_norm(lab)).replace(r"\ ", r"[\s_\-]?") + r"(?![a-z0-9])"
        for m in re.finditer(pattern, norm_text):
            found.append((m.start(), -(m.end() - m.start()), lab))
    return sorted(found)


def parse_answer(text: str, labels: Sequence[str], mode: str = "free") -> Answer:
    """The candidate a reply names, robustly; never raises.

    Order: a JSON object with a ``label`` field; in ``explain`` mode the text after the last
    ``Answer:``; the whole (stripped) text equal to a candidate; equal ignoring case and ``_``/``-``/space;
    the first candidate mentioned as a whole word (the longest one at the same place). An ``explain``
    reply without an answer line takes its last mention. Anything else is :data:`UNPARSED`.

    Args:
        text: the reply.
        labels: the candidate labels.
        mode: the mode that produced the reply.
    Returns:
        an :class:`Answer`.
    """
    text = text or ""
    by_norm = {_norm(lab): lab for lab in labels}
    m = re.search(r"\{[^{}]*\"label\"\s*:\s*\"([^\"]*)\"[^{}]*\}", text)
    if m:
        value = m.group(1)
        if value in labels:
            return Answer(value, "json")
        if _norm(value) in by_norm:
            return Answer(by_norm[_norm(value)], "json")
    segment, last = text, False
    if mode == "explain":
        hits = list(re.finditer(r"answer\s*[:：]", text, flags=re.IGNORECASE))
        if hits:
            segment = text[hits[-1].end():]
            segment = segment.strip().splitlines()[0] if segment.strip() else ""
        else:
            last = True
    stripped = segment.strip(_STRIP)
    if stripped in labels:
        return Answer(stripped, "exact")
    if _norm(stripped) in by_norm:
        return Answer(by_norm[_norm(stripped)], "case")
    found = _mentions(segment, labels)
    if not found:
        return Answer(UNPARSED, "none")
    if last:
        end = max(found, key=lambda f: (f[0], -f[1]))
        return Answer(end[2], "last-mention")
    return Answer(found[0][2], "mention")


# ---------------------------------------------------------------------------------------------- scoring
#: Alternatives requested per answer position for scoring (llama-server takes any number; OpenAI at most 20).
TOP_LOGPROBS = 50


class LabelTokens:
    """How the model's tokenizer splits each candidate label, memoised in a JSON file beside the cache.

    The split comes from the server's ``/tokenize`` (llama-server: the embedded engine, or a
    ``base_url`` that is one) and is the canonical tokenisation of the label written at the start
    of a reply or inside a JSON string (the pre-tokenizer starts a new word there). The memo lets a
    rebuild from the cache run with no server. An endpoint without ``/tokenize`` (e.g. OpenAI) gives
    ``None``, and scoring falls back to matching token strings (see :func:`score_reply`).

    Args:
        client: the LLM client.
        memo: JSON file ``{model_id: {label: {"ids": [...], "pieces": [...]}}}`` (``None``: no memo).
    """

    def __init__(self, client: LLMClient, memo: str | Path | None = None) -> None:
        self.client = client
        self.memo = Path(memo) if memo else None
        self._data: dict[str, dict[str, dict[str, list[Any]]]] = {}
        if self.memo and self.memo.is_file():
            from llmmusic.atomic import read_json

            self._data = read_json(self.memo, "the label tokenisations {model: {label: ...}}")
        self._unavailable = False

    def _root(self) -> str:
        if self.client.endpoint_kind == "embedded":
            self.client._openai()  # starts or reuses the embedded server
            assert self.client.server_info is not None
            base = self.client.server_info.base_url
        else:
            base = str(self.client.base_url)
        return re.sub(r"/v1/?$", "", base.rstrip("/"))

    def _tokenize(self, label: str) -> dict[str, list[Any]] | None:
        if self._unavailable or self.client.cache_only:
            return None
        try:
            body = json.dumps({"content": label, "add_special": False, "with_pieces": True}).encode()
            req = urllib.request.Request(f"{self._root()}/tokenize", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=120) as resp:
                toks = json.load(resp)["tokens"]
            return {"ids": [int(t["id"]) for t in toks], "pieces": [str(t["piece"]) for t in toks]}
        except Exception as exc:  # an endpoint without /tokenize
            log.warning("no /tokenize at the endpoint (%s): scoring matches token strings instead", exc)
            self._unavailable = True
            return None

    def get(self, label: str) -> dict[str, list[Any]] | None:
        """``{"ids": [...], "pieces": [...]}`` of ``label``; ``None`` if unknown."""
        known = self._data.get(self.client.model_id, {})
        if label in known:
            return known[label]
        toks = self._tokenize(label)
        if toks is not None:
            self._data.setdefault(self.client.model_id, {})[label] = toks
            if self.memo:
                from llmmusic import atomic

                self.memo.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_text(self.memo, json.dumps(self._data, indent=1, sort_keys=True, ensure_ascii=False))
        return toks


def alternatives(logprobs: Mapping[str, Any] | None, position: int) -> dict[str, float]:
    """``{token: logprob}`` of the model's top alternatives at reply position ``position`` (with the
    token generated there); empty when the reply is shorter."""
    content = (logprobs or {}).get("content") or []
    if position >= len(content):
        return {}
    entry = content[position]
    alts = {str(a["token"]): float(a["logprob"]) for a in entry.get("top_logprobs") or []}
    alts.setdefault(str(entry.get("token", "")), float(entry.get("logprob", 0.0)))
    return alts


@dataclass
class Scores:
    """Log-probability scores of every candidate label for one prompt.

    Attributes:
        labels: the candidates.
        logprob: score per candidate (log-probability of the reply starting with it, see :func:`score_reply`).
        censored: per candidate, True when a needed token was not among the reported alternatives and
            the lowest reported log-probability stands in for it (an upper bound).
        replies: the follow-up replies that split candidates sharing their first tokens.
        method: ``branch`` (tokenizer known) or ``prefix-match`` (token strings only).
    """

    labels: list[str]
    logprob: np.ndarray
    censored: list[bool]
    replies: list[Reply]
    method: str

    @property
    def best(self) -> str:
        """The top-scored candidate (first in label order on ties)."""
        return self.labels[int(np.argmax(self.logprob))]

    def probabilities(self) -> np.ndarray:
        """Scores renormalised over the candidates (softmax of the log-probabilities)."""
        x = self.logprob - np.max(self.logprob)
        p = np.exp(x)
        return p / p.sum()


def label_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar (llama.cpp) whose only sentences are the given labels."""
    return "root ::= " + " | ".join(json.dumps(lab) for lab in labels)


def score_reply(client: LLMClient, messages: list[dict[str, str]], labels: Sequence[str], first: Reply,
                tokens: LabelTokens | None = None, resolve_top: int = 3) -> Scores:
    """Score every candidate from the log-probabilities of one free-text reply (plus rare follow-ups).

    The reply's first position holds the model's distribution over how its answer begins (reported
    before any sampling). A candidate scores the log-probability of its first token. Candidates that
    share a first token (``F``-unky / ``F``-olky) are split by one more request that forces the shared
    token (grammar of the group's labels + ``logit_bias`` on the shared tokens; the reported values
    stay the model's own) and reads the next position, and so on; only groups ranked within the
    ``resolve_top`` best are split (a tie below that changes no top-k accuracy for k <= resolve_top).
    Without a tokenizer, a candidate scores the alternative that is the longest prefix of it.

    Args:
        client: the LLM client (cached).
        messages: the prompt of ``first``.
        labels: the candidates.
        first: the free-mode reply, requested with ``logprobs=True`` and ``top_logprobs``.
        tokens: label tokenisation (``None``: token-string matching).
        resolve_top: split shared-prefix groups ranked within this many best.
    Returns:
        :class:`Scores`.
    """
    labels = list(labels)
    alts0 = alternatives(first.logprobs, 0)
    floor0 = min(alts0.values()) if alts0 else -1e9
    splits = {lab: tokens.get(lab) for lab in labels} if tokens is not None else {}
    if tokens is None or any(v is None for v in splits.values()):
        lp, cens = [], []
        for lab in labels:
            hits = [(len(t), v) for t, v in alts0.items() if t and lab.startswith(t)]
            lp.append(max(hits)[1] if hits else floor0)
            cens.append(not hits)
        return Scores(labels, np.asarray(lp, dtype=float), cens, [], "prefix-match")

    pieces = {lab: splits[lab]["pieces"] for lab in labels}  # type: ignore[index]
    ids = {lab: splits[lab]["ids"] for lab in labels}  # type: ignore[index]
    score = {lab: 0.0 for lab in labels}
    censored = {lab: False for lab in labels}
    followups: list[Reply] = []
    # a group: labels sharing pieces[:depth+1]; its members' scores so far are equal
    pending: list[tuple[list[str], int]] = []

    def assign(group: list[str], depth: int, alts: dict[str, float], base: float) -> None:
        floor = min(alts.values()) if alts else -1e9
        by_tok: dict[str, list[str]] = {}
        for lab in group:
            tok = pieces[lab][depth] if depth < len(pieces[lab]) else ""  # "": the label ended here
            by_tok.setdefault(tok, []).append(lab)
        for tok, members in by_tok.items():
            value = alts.get(tok) if tok else None
            for lab in members:
                score[lab] = base + (value if value is not None else floor)
                censored[lab] = censored[lab] or value is None
            if len(members) > 1 and tok and value is not None:
                pending.append((members, depth))

    assign(labels, 0, alts0, 0.0)
    while pending:
        def rank(group: list[str]) -> int:
            return 1 + sum(v > score[group[0]] for v in score.values())
        pending.sort(key=lambda g: rank(g[0]))
        group, depth = pending[0]
        if rank(group) > resolve_top:
            break
        pending.pop(0)
        prefix = ids[group[0]][: depth + 1]
        extra = {"grammar": label_grammar(group), "logit_bias": {str(i): 100 for i in prefix}}
        params = dict(DECODING["free"], max_tokens=depth + 2)
        reply = client.chat(messages, **params, logprobs=True, top_logprobs=_top_n(client), extra_body=extra)
        followups.append(reply)
        got = [str(c.get("token", "")) for c in ((reply.logprobs or {}).get("content") or [])][: depth + 1]
        if got != pieces[group[0]][: depth + 1]:  # the forced prefix did not come back: leave the tie
            log.warning("forced prefix %r came back as %r; candidates %s stay tied", pieces[group[0]][: depth + 1],
                        got, group)
            continue
        assign(group, depth + 1, alternatives(reply.logprobs, depth + 1), score[group[0]])
    return Scores(labels, np.asarray([score[lab] for lab in labels], dtype=float),
                  [censored[lab] for lab in labels], followups, "branch")


def _top_n(client: LLMClient) -> int:
    return min(TOP_LOGPROBS, 20) if client.endpoint_kind == "openai" else TOP_LOGPROBS


def forced_score(client: LLMClient, messages: list[dict[str, str]], label: str,
                 tokens: LabelTokens | None = None) -> tuple[float, list[str], Reply]:
    """The alternative scoring method, for comparison: force ``{"label": "<label>"}`` as the whole
    answer (a one-value ``enum``) and sum the reported log-probabilities of the label's tokens and
    its closing quote. With ``tokens`` the label's own tokens get ``logit_bias`` +100, so the grammar
    follows the model's tokenisation (the reported values are the model's, before bias and grammar).

    Args:
        client: the LLM client.
        messages: a ``json``-mode prompt.
        label: the label to force.
        tokens: label tokenisation (``None``: no bias; the grammar then picks tokens greedily).
    Returns:
        ``(logprob, label_tokens, reply)``; ``-inf`` and ``[]`` when the label is not found in the reply.
    """
    split = tokens.get(label) if tokens is not None else None
    extra = {"logit_bias": {str(i): 100 for i in split["ids"]}} if split else None
    reply = client.chat(messages, **DECODING["json"], response_format=label_schema([label]), logprobs=True,
                        top_logprobs=3, extra_body=extra)
    total, used = forced_logprob(reply.logprobs, label)
    return total, used, reply


def forced_logprob(logprobs: Mapping[str, Any] | None, label: str) -> tuple[float, list[str]]:
    """Sum of the log-probabilities of ``label``'s tokens and its closing quote in a reply that
    contains ``"label": "<label>"``; ``(-inf, [])`` when it does not.

    Returns:
        ``(logprob, tokens)``: the sum and the tokens summed.
    """
    content = (logprobs or {}).get("content") or []
    pieces = [str(c.get("token", "")) for c in content]
    text = "".join(pieces)
    m = re.search(r"\"label\"\s*:\s*\"", text)
    encoded = json.dumps(label)[1:-1]
    if not m or text[m.end():m.end() + len(encoded)] != encoded:
        return float("-inf"), []
    start, close = m.end(), m.end() + len(encoded)  # close: index of the closing quote
    total, used, pos = 0.0, [], 0
    for c, piece in zip(content, pieces):
        lo, hi = pos, pos + len(piece)
        pos = hi
        if hi > start and lo <= close:  # overlaps the label or holds its closing quote
            total += float(c.get("logprob", 0.0))
            used.append(piece)
        if lo > close:
            break
    return total, used


# ---------------------------------------------------------------------------------------------- items
@dataclass
class Item:
    """One piece to classify.

    Attributes:
        id: a stable identifier (relative path or md5).
        piece: the music.
        truth: the true label (str) or a list of acceptable labels.
        source: the evaluation set's name.
        path: the MIDI file.
    """

    id: str
    piece: Piece
    truth: Any
    source: str
    path: str = ""


def llm_midi_items(dataset_dir: str | Path, n: int | None, seed: int = 0,
                   pin: str | Path | None = None) -> list[Item]:
    """A genre- and style-balanced sample of a generated dataset (``truth`` = genre; style in meta).

    A dataset that is still growing changes the balanced order, so the sample can be pinned: when
    ``pin`` (a JSON file) exists and names this dataset and seed, its ids come first (then the rest
    of the balanced order); a missing ``pin`` file, or one holding fewer ids than asked for, is
    (re)written with the ids chosen now (an extension keeps the pinned ids first).

    Args:
        dataset_dir: a dataset folder (``llmmusic.data.dataset``).
        n: sample size (``None``: all valid pieces).
        seed: sampling seed.
        pin: JSON file ``{"dataset", "seed", "ids"}`` fixing the sample (``None``: no pin).
    Returns:
        Items with ``piece.meta`` holding genre and style; ``id`` is the MIDI path in the dataset.
    """
    from llmmusic.atomic import read_json
    from llmmusic.data.dataset import load_manifest, load_pieces, valid_rows
    from llmmusic.book.provenance import relative_to_root

    root = Path(dataset_dir)
    rows = valid_rows(load_manifest(root)).reset_index(drop=True)
    order = balanced_order(list(zip(rows["genre"], rows["style"])), seed)
    pin = Path(pin) if pin else None
    ident = {"dataset": relative_to_root(root), "seed": seed}
    pinned = read_json(pin, "the pinned sample {dataset, seed, ids}") if pin is not None and pin.is_file() else None
    matches = pinned is not None and {k: pinned.get(k) for k in ident} == ident
    if matches:
        where = {p: i for i, p in enumerate(rows["path"])}
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
        items.append(Item(id=path, piece=piece, truth=g, source="llm-midi", path=str(root / path)))
    return items


def _rel(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_items(paths: Iterable[tuple[str, Any, str]], source: str, bars: int = 4,
               errors: list[dict[str, str]] | None = None) -> list[Item]:
    """Read any MIDI files with :func:`llmmusic.data.midi.read_midi`; unreadable files are recorded, not raised.

    Args:
        paths: ``(path, truth, id)`` triples.
        source: the evaluation set's name.
        bars: window length in bars (4 bars = the paper's 0-7680 tick range).
        errors: a list that receives ``{"path", "reason"}`` per skipped file.
    Returns:
        the readable items.
    """
    from llmmusic.data.midi import MidiReadError, read_midi

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


# ---------------------------------------------------------------------------------------------- running
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
               pin: str | Path | None = None) -> list[EvalSet]:
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
            items = llm_midi_items(ds, n_llm_midi, seed, pin)
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


def classify(client: LLMClient, item: Item, task: Task, mode: str, max_events: int | None = None,
             tokens: LabelTokens | None = None) -> dict[str, Any]:
    """Ask one question of one item in one mode; one result row (never raises on a bad reply).

    Returns:
        dict with id, source, task, mode, truth, raw (the model's label), how, pred (evaluated
        label), correct, scores (score mode: list of log-probabilities over ``task.labels``), reply,
        calls, fresh_calls, prompt_tokens, completion_tokens, latency_s, prompt_version; score mode
        also censored (candidates scored by the lowest reported alternative).
    """
    messages = build_messages(item.piece, task.labels, task.word, mode, max_events)
    row: dict[str, Any] = dict(id=item.id, source=item.source, task=task.name, mode=mode,
                               truth=task.true_of(item), prompt_version=PROMPT_VERSION)
    if mode in ("free", "score"):  # one request serves both: the reply and its log-probabilities
        reply = client.chat(messages, **DECODING["free"], logprobs=True, top_logprobs=_top_n(client))
    else:
        fmt = label_schema(task.labels) if mode == "json" else None
        reply = client.chat(messages, **DECODING[mode], response_format=fmt)
    replies = [reply]
    if mode == "score":
        sc = score_reply(client, messages, task.labels, reply, tokens)
        raw, how = sc.best, sc.method
        replies += sc.replies
        row["scores"] = [float(x) for x in sc.logprob]
        row["censored"] = int(sum(sc.censored))
        row["reply"] = reply.text
    else:
        ans = parse_answer(reply.text, task.labels, mode)
        raw, how = ans.label, ans.how
        row["reply"] = reply.text
    pred = task.evaluated(raw)
    truth = row["truth"]
    ok = pred in (set(truth) if isinstance(truth, (list, tuple, set)) else {truth})
    row.update(raw=raw, how=how, pred=pred, correct=bool(ok), calls=len(replies),
               fresh_calls=sum(not r.cached for r in replies),
               prompt_tokens=sum(r.usage.get("prompt_tokens", 0) for r in replies),
               completion_tokens=sum(r.usage.get("completion_tokens", 0) for r in replies),
               latency_s=sum(r.latency_s for r in replies),
               fresh_latency_s=sum(r.latency_s for r in replies if not r.cached))
    return row


def run_items(client: LLMClient, items: Sequence[Item], tasks: Sequence[Task], modes: Sequence[str],
              max_events: int | None = None, tokens: LabelTokens | None = None,
              mode_limits: Mapping[str, int] | None = None, progress: bool = False,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> pd.DataFrame:
    """Classify every item for every task and mode, piece by piece (so the server reuses the piece prefix).

    Args:
        client: the LLM client.
        items: the pieces.
        tasks: the questions.
        modes: subset of :data:`MODES`.
        max_events: per-track event cap in the prompt.
        tokens: label tokenisation for score mode.
        mode_limits: ``{mode: n}`` runs that mode on the first ``n`` items only (e.g. explain).
        progress: show a progress bar.
        on_row: called with every finished row (e.g. to append it to a file).
    Returns:
        one row per (item, task, mode), see :func:`classify`.
    """
    for m in modes:
        if m not in MODES:
            raise ValueError(f"mode {m!r}: expected one of {MODES}")
    rows = []
    iterator: Iterable[tuple[int, Item]] = enumerate(items)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(list(iterator), desc="pieces")
    for k, item in iterator:
        progress_report(f"piece {k + 1}/{len(items)}", every_s=10)
        for task in tasks:
            for mode in modes:
                if mode_limits and mode in mode_limits and k >= mode_limits[mode]:
                    continue
                row = classify(client, item, task, mode, max_events, tokens)
                rows.append(row)
                if on_row:
                    on_row(row)
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame, tasks: Sequence[Task], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (task, mode): n, accuracy and macro-F1 with 95 % bootstrap intervals, chance
    levels, top-3 (score mode), unparsed answers, calls and tokens.

    Macro-F1 averages over the classes that occur in the sample as a true label or an answer (as
    sklearn does by default), not over every candidate. ``chance_uniform`` is the accuracy of a
    uniform guess among the *asked* labels after the task's mapping (e.g. 3 of the 13 paper genres
    count as Rock for a Rock file); ``chance_majority`` always answers the most frequent true label.

    Args:
        results: output of :func:`run_items` (several calls concatenated is fine).
        tasks: the tasks (for their label sets).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
    Returns:
        the summary table.
    """
    from llmmusic.analysis import metrics

    out = []
    by_name = {t.name: t for t in tasks}
    for (tname, mode), g in results.groupby(["task", "mode"], sort=False):
        task = by_name[tname]
        labels = task.eval_labels or task.labels
        truth = [tuple(t) if isinstance(t, (list, tuple)) else t for t in g["truth"]]
        scores = None
        if mode == "score" and "scores" in g:
            scores = eval_scores(np.vstack(g["scores"].to_numpy()), task)
        preds = list(g["pred"])
        rep = metrics.classification_report(truth, preds, labels, scores=scores, n_boot=n_boot, seed=seed,
                                            f1_labels=metrics.present_labels(truth, preds, labels))
        if task.mapping is not None:
            share = {lab: sum(task.mapping.get(c) == lab for c in task.labels) / len(task.labels) for lab in labels}
            rep["chance_uniform"] = float(np.mean([sum(share.get(v, 0.0) for v in metrics._as_set(t)) for t in truth]))
        out.append(dict(
            task=tname, mode=mode, n=rep["n"], accuracy=rep["accuracy"],
            acc_low=rep.get("accuracy_ci", (np.nan, np.nan))[0], acc_high=rep.get("accuracy_ci", (np.nan, np.nan))[1],
            macro_f1=rep["macro_f1"], f1_low=rep.get("macro_f1_ci", (np.nan, np.nan))[0],
            f1_high=rep.get("macro_f1_ci", (np.nan, np.nan))[1],
            top3=rep.get("top3", np.nan), chance_uniform=rep["chance_uniform"], chance_majority=rep["chance_majority"],
            unparsed=rep["unparsed"], calls=int(g["calls"].sum()), fresh_calls=int(g["fresh_calls"].sum()),
            prompt_tokens=int(g["prompt_tokens"].sum()), completion_tokens=int(g["completion_tokens"].sum()),
            seconds=float(g["latency_s"].sum()),
        ))
    return pd.DataFrame(out)


def eval_scores(scores: np.ndarray, task: Task) -> np.ndarray:
    """Scores over ``task.labels`` carried to the evaluated label set: each evaluated label gets the
    best score of the candidates mapped to it (``-inf`` if none)."""
    if task.mapping is None:
        return scores
    labels = task.eval_labels or sorted({v for v in task.mapping.values() if v})
    out = np.full((scores.shape[0], len(labels)), -np.inf)
    for j, lab in enumerate(task.labels):
        target = task.mapping.get(lab)
        if target in labels:
            k = labels.index(target)
            out[:, k] = np.maximum(out[:, k], scores[:, j])
    return out


def throughput(results: pd.DataFrame) -> dict[str, float]:
    """Fresh (non-cached) calls, their seconds, calls per second and tokens per call."""
    fresh = int(results["fresh_calls"].sum()) if len(results) else 0
    secs = float(results["fresh_latency_s"].sum()) if len(results) else 0.0
    calls = int(results["calls"].sum()) if len(results) else 0
    return dict(calls=calls, fresh_calls=fresh, fresh_seconds=secs,
                calls_per_second=fresh / secs if secs else float("nan"),
                prompt_tokens=int(results["prompt_tokens"].sum()) if len(results) else 0,
                completion_tokens=int(results["completion_tokens"].sum()) if len(results) else 0)


def write_results(results: pd.DataFrame | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write result rows (a frame, or row dicts as they are) as JSON lines, atomically."""
    from llmmusic import atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = results.to_dict(orient="records") if isinstance(results, pd.DataFrame) else list(results)
    text = "".join(json.dumps(r, default=_jsonable, sort_keys=True) + "\n" for r in records)
    atomic.write_text(path, text)
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, float) and math.isnan(v):
        return None
    return str(v)


def read_result_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows written by :func:`write_results`, as dicts.

    Raises:
        FileNotFoundError: no results file at ``path``.
        DataError: a line is not a JSON object.
    """
    from llmmusic.data.dataset import read_manifest_rows

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no results file (`llmmusic zeroshot run` writes it)", str(path))
    return read_manifest_rows(path)


def read_results(path: str | Path) -> pd.DataFrame:
    """The rows written by :func:`write_results`, as a frame (raises as :func:`read_result_rows`)."""
    return pd.DataFrame(read_result_rows(path))



def summarize_results(path: str | Path, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame | None:
    """:func:`summarize` of a results file over the standard questions (``llm-genre``, ``llm-style``,
    ``human-folder``, ``human-topmagd``), if it exists.

    Returns:
        One row per question and mode (n, accuracy and macro-F1 with intervals, top-3, chance),
        or ``None`` when there is no results file (or no row of a standard question).
    """
    path = Path(path)
    if not path.is_file():
        return None
    results = read_results(path)
    if results.empty:
        return None
    tasks = standard_tasks()
    results = results[results["task"].isin(list(tasks))]
    if results.empty:
        return None
    summary = summarize(results, list(tasks.values()), n_boot=n_boot, seed=seed)
    columns = ["task", "mode", "n", "accuracy", "acc_low", "acc_high", "macro_f1", "top3", "chance_uniform",
               "chance_majority", "unparsed"]
    return summary[[c for c in columns if c in summary.columns]]

# ---------------------------------------------------------------------------------------------- chapter helpers
def run_sets(client: LLMClient, sets: Sequence[EvalSet], modes: Sequence[str], *, max_events: int | None = 32,
             tokens: LabelTokens | None = None, mode_limits: Mapping[str, int] | None = None,
             progress: bool = False) -> pd.DataFrame:
    """:func:`run_items` over several evaluation sets, concatenated (empty sets contribute nothing)."""
    frames = [run_items(client, es.items, es.tasks, modes, max_events=max_events, tokens=tokens,
                        mode_limits=mode_limits, progress=progress) for es in sets if es.items]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def agreement(results: pd.DataFrame, a: str = "free", b: str = "score") -> pd.DataFrame:
    """Per task: how often modes ``a`` and ``b`` give the same answer on the same piece, and their accuracies.

    Returns:
        DataFrame with task, n (pieces with both modes), same (fraction of identical raw answers),
        acc_<a>, acc_<b>.
    """
    out = []
    for task, g in results.groupby("task", sort=False):
        pa = g[g["mode"] == a].set_index("id")
        pb = g[g["mode"] == b].set_index("id")
        common = pa.index.intersection(pb.index)
        if len(common) == 0:
            continue
        out.append({"task": task, "n": len(common),
                    "same": float((pa.loc[common, "raw"] == pb.loc[common, "raw"]).mean()),
                    f"acc_{a}": float(pa.loc[common, "correct"].mean()),
                    f"acc_{b}": float(pb.loc[common, "correct"].mean())})
    return pd.DataFrame(out)


def plot_accuracy(summary: pd.DataFrame, ax: Any = None, title: str = "") -> tuple[Any, Any]:
    """Accuracy with 95 % intervals per (task, mode), against the uniform and majority chance levels.

    Args:
        summary: output of :func:`summarize`.
        ax: matplotlib axes (``None``: a new figure).
        title: axes title.
    Returns:
        ``(fig, ax)``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(summary) + 2), 3.8))
    else:
        fig = ax.figure
    x = np.arange(len(summary))
    acc = summary["accuracy"].to_numpy(dtype=float)
    low = np.nan_to_num(acc - summary["acc_low"].to_numpy(dtype=float))
    high = np.nan_to_num(summary["acc_high"].to_numpy(dtype=float) - acc)
    colours = {"free": "#1f77b4", "score": "#d62728", "json": "#2ca02c", "explain": "#9467bd"}
    ax.bar(x, acc, color=[colours.get(m, "#7f7f7f") for m in summary["mode"]], alpha=0.85)
    ax.errorbar(x, acc, yerr=[low, high], fmt="none", ecolor="black", capsize=3, lw=1)
    for i, row in enumerate(summary.itertuples(index=False)):
        ax.hlines(row.chance_uniform, i - 0.4, i + 0.4, colors="black", linestyles="dotted", lw=1.2)
        ax.hlines(row.chance_majority, i - 0.4, i + 0.4, colors="grey", linestyles="dashed", lw=1.2)
    ax.set_xticks(x, [f"{t}\n{m} (n={n})" for t, m, n in zip(summary["task"], summary["mode"], summary["n"])],
                  rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="black", ls="dotted", label="uniform chance"),
                       Line2D([], [], color="grey", ls="dashed", label="majority class")], fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    return fig, ax
