"""Showing and replaying a dataset's requests.

* :func:`format_messages` (the one way the book prints chat messages), :func:`first_messages` (a variant's
  first call), :func:`user_message_diff` (two prompt variants' user messages compared);
* :func:`dataset_client` (a client that asks what a generation run asked, on its call cache),
  :func:`example_row` and :func:`replay_row` (one manifest row's request sent again, answered from the
  cache unless the client may call the model, with the row's cached reply as the fallback).

Used in: notebooks/01_prompt_design.py.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from llmmusic.data.dataset import CACHE, load_params, valid_rows
from llmmusic.generation.cache import CallCache
from llmmusic.generation.generate import Generator
from llmmusic.generation.llm import CacheMiss, LLMClient
from llmmusic.generation.prompts import build_generation_messages
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.variants import Variant


def format_messages(messages: Sequence[Mapping[str, str]], label: str = "") -> str:
    """Chat messages as text: a ``--- role ---`` line (``--- label: role ---`` with a label), then the content."""
    prefix = f"{label}: " if label else ""
    return "\n".join(f"--- {prefix}{m['role']} ---\n{m['content']}\n" for m in messages)


def first_messages(variant: Variant, genre: str, style: str, mood: str) -> list[dict[str, str]]:
    """The messages of a variant's first call for one song: the plan request when the variant plans first."""
    return variant.plan_messages(genre, style, mood) if variant.needs_plan else variant.messages(genre, style, mood)


def user_message_diff(genre: str, style: str, mood: str, old: str = "paper", new: str = "corrected") -> str:
    """The unified diff, without context lines, from prompt variant ``old``'s user message to ``new``'s."""
    before, after = (build_generation_messages(genre, style, mood, v)[1]["content"].splitlines() for v in (old, new))
    return "\n".join(difflib.unified_diff(before, after, old, new, lineterm="", n=0))


def dataset_client(dataset_dir: str | Path, model: str | None = None, base_url: str | None = None,
                   cache_only: bool = True) -> LLMClient:
    """A client on the dataset's call cache; with neither ``model`` nor ``base_url``, the embedded model
    that made the dataset (its ``dataset.json`` model name without the ``@...`` suffix)."""
    if model is None and base_url is None:
        model = str(load_params(dataset_dir).get("model", "")).split("@")[0] or None
    return LLMClient(base_url=base_url, model=model, cache=Path(dataset_dir) / CACHE, cache_only=cache_only)


def example_row(manifest: pd.DataFrame, genre: str | None = None, style: str | None = None,
                index: int = 0, dataset_dir: str | Path = "") -> pd.Series:
    """The manifest row of a valid piece: the one of ``genre`` x ``style`` song ``index`` when both are
    given, else the first valid piece. Raises ValueError when there is none."""
    rows = valid_rows(manifest)
    if genre and style:
        rows = rows[(rows["genre"] == genre) & (rows["style"] == style) & (rows["index"] == index)]
    if rows.empty:
        raise ValueError(f"{dataset_dir}: no valid piece for genre={genre!r} style={style!r} index={index}")
    return rows.iloc[0]


@dataclass
class Replayed:
    """One manifest row's request sent again.

    Attributes:
        text: the reply text.
        source: ``cache`` or ``model`` (the client answered), or ``manifest`` (the request was not in
            the cache; the text is the cached reply the manifest row points to).
        cache_key: the key of the request sent (``None`` when it missed the cache).
        matches_manifest: whether that key is the manifest row's.
        usage: the reply's token usage.
    """

    text: str
    source: str
    cache_key: str | None = None
    matches_manifest: bool = False
    usage: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: which request, answered from where, whether it is the manifest row's (or, for the
        fallback, why the reply is the manifest row's)."""
        if self.source == "manifest":
            return ("This request is not in the call cache (its parameters differ from the generation run's); "
                    "the reply shown is the one the manifest row points to.")
        return (f"request {(self.cache_key or '')[:16]} answered from the {self.source}; matches the manifest row: "
                f"{self.matches_manifest}; usage {self.usage}")


def row_line(row: Mapping[str, Any]) -> str:
    """One line naming a manifest row's song and sampling: genre / style / mood, temperature, seed, attempt."""
    return (f"{row['genre']} / {row['style']} / {row['mood']}, temperature {row['temperature']}, seed {row['seed']}, "
            f"attempt {row['attempt']}")


def replay_row(dataset_dir: str | Path, client: LLMClient, row: Mapping[str, Any]) -> Replayed:
    """Send a manifest row's request again exactly as the generation run made it (messages, temperature,
    ``top_p``, token budget, seed, response format); on a cache miss of a cache-only client, fall back
    to the reply the row's ``cache_key`` points to."""
    generator = Generator(GenerateConfig.from_dataset(dataset_dir), client)
    song = generator.config.song(row["genre"], row["style"], int(row["index"]))
    messages, params = generator.request(song, int(row["attempt"]))
    try:
        reply = client.chat(messages, **params)
    except CacheMiss:
        return Replayed(CallCache(Path(dataset_dir) / CACHE).get(row["cache_key"]).text, "manifest")
    return Replayed(reply.text, "cache" if reply.cached else "model", reply.cache_key,
                    reply.cache_key == row["cache_key"], reply.usage)
