"""Log-probability scoring of the candidates: label tokenisations, first-token scores with forced
follow-ups at shared prefixes (:func:`score_reply`), and forcing a whole answer (:func:`forced_score`)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from llmmusic.experiments.zeroshot.prompts import DECODING, label_grammar, label_schema
from llmmusic.generation.llm import CacheMiss, LLMClient, Reply

log = logging.getLogger(__name__)

#: Alternatives requested per answer position for scoring (llama-server takes any number; OpenAI at most 20).
TOP_LOGPROBS = 50


class LabelTokens:
    """How the model's tokenizer splits each candidate label, memoised in a JSON file beside the cache.

    The split comes from :meth:`LLMClient.tokenize_pieces` (the server's ``/tokenize``; llama-server:
    the embedded engine, or a ``base_url`` that is one) and is the canonical tokenisation of the label written at the start
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

    def _tokenize(self, label: str) -> dict[str, list[Any]] | None:
        if self._unavailable:
            return None
        try:
            toks = self.client.tokenize_pieces(label)
        except CacheMiss:  # cache only, and never tokenised
            return None
        except Exception as exc:  # an endpoint without /tokenize
            log.warning("no /tokenize at the endpoint (%s): scoring matches token strings instead", exc)
            self._unavailable = True
            return None
        return {"ids": [token for token, _ in toks], "pieces": [piece for _, piece in toks]}

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
        reply = client.chat(messages, **params, logprobs=True, top_logprobs=top_n(client), extra_body=extra)
        followups.append(reply)
        got = [str(c.get("token", "")) for c in ((reply.logprobs or {}).get("content") or [])][: depth + 1]
        if got != pieces[group[0]][: depth + 1]:  # the forced prefix did not come back: leave the tie
            log.warning("forced prefix %r came back as %r; candidates %s stay tied", pieces[group[0]][: depth + 1],
                        got, group)
            continue
        assign(group, depth + 1, alternatives(reply.logprobs, depth + 1), score[group[0]])
    return Scores(labels, np.asarray([score[lab] for lab in labels], dtype=float),
                  [censored[lab] for lab in labels], followups, "branch")


def top_n(client: LLMClient) -> int:
    """Alternatives to request per reply position from ``client`` (:data:`TOP_LOGPROBS`; OpenAI takes at most 20)."""
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


