"""Tables and sentences the chapter derives from a run: token example, training facts, gaps to chance, summary.

Used in: notebooks/05_melody_completion.py.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from llmmusic.experiments.melody.corpus import Phrase, Song
from llmmusic.experiments.melody.evaluate import chance_ranking
from llmmusic.experiments.melody.experiment import Trained
from llmmusic.experiments.melody.ngram import NGramModel
from llmmusic.experiments.melody.tokenizer import MelodyTokenizer

#: Published melody-completion MAP of models pre-trained on human data (quoted, not reproduced).
PUBLISHED: tuple[dict[str, Any], ...] = (
    {"model": "MusicBERT-base", "source": "Zeng et al. 2021 (zeng2021musicbert)", "data": "Lakh MIDI (PiRhDy split)",
     "MAP": 0.985, "status": "quoted, not re-checked"},
    {"model": "PiRhDy", "source": "Liang et al. 2020 (liang2020pirhdy), as reported by MusicBERT",
     "data": "Lakh MIDI (PiRhDy split)", "MAP": 0.971, "status": "quoted, not re-checked"},
)


def token_example(song: Song, tokenizer: MelodyTokenizer) -> tuple[Phrase, pd.DataFrame, bool]:
    """The first non-empty phrase of ``song``, its tokens (rows ``token`` and ``id``) and whether they decode back exactly."""
    phrase = next(p for p in song.phrases if not p.is_empty)
    ids = tokenizer.encode_phrase(phrase)
    round_trip = ({(n.pitch, n.start, n.duration) for n in tokenizer.decode(ids)}
                  == {(n.pitch, n.start, n.duration) for n in phrase.notes})
    return phrase, pd.DataFrame({"token": [tokenizer.names[i] for i in ids], "id": ids}).T, round_trip


def training_table(train_corpus: str, trained: Trained, scorers: Mapping[str, Any]) -> pd.DataFrame:
    """The training run in one column: size, device, time per epoch and the n-gram baselines' k."""
    r = trained.result
    facts = {"train corpus": train_corpus, "device": r.device, "parameters": r.n_parameters,
             "training windows": r.n_sequences, "tokens per epoch": r.n_tokens, "epochs": trained.config.epochs,
             "best epoch": r.best_epoch, "seconds per epoch (median)": round(r.seconds_per_epoch, 2),
             **{f"k of {n}": m.k for n, m in scorers.items() if isinstance(m, NGramModel)}}
    return pd.Series(facts, name="value").to_frame()


def gap_table(table: pd.DataFrame, train_corpus: str, scoring: str) -> pd.DataFrame:
    """Per corpus, the transformer's MAP beside chance, the trigram and its MAP on the training corpus.

    Args:
        table: :attr:`llmmusic.experiments.melody.experiment.RankingResult.table`.
        train_corpus: the corpus the model learnt from (column ``vs training corpus``).
        scoring: ``sum`` or ``mean``.
    """
    t = table.reset_index()
    rows = t[(t.model == "transformer") & (t.scoring == scoring)].set_index("corpus")
    tri = t[(t.model == "trigram") & (t.scoring == scoring)].set_index("corpus")["MAP"]
    chance = chance_ranking()["MAP"]
    base = rows["MAP"].get(train_corpus, np.nan)
    return pd.DataFrame({"MAP": rows["MAP"], "MAP_low": rows["MAP_low"], "MAP_high": rows["MAP_high"],
                         "chance MAP": chance, "x chance": rows["MAP"] / chance, "trigram MAP": tri,
                         "vs training corpus": rows["MAP"] - base, "HITS@1": rows["HITS@1"],
                         "HITS@10": rows["HITS@10"]}).round(4)


def gap_tables(table: pd.DataFrame, train_corpus: str) -> dict[str, pd.DataFrame]:
    """:func:`gap_table` for ``sum`` and ``mean`` scoring."""
    return {s: gap_table(table, train_corpus, s) for s in ("sum", "mean")}


def gap_sentence(gap: pd.DataFrame) -> str:
    """One clause per corpus of a :func:`gap_table`: MAP, interval, times chance, above chance or not, trigram."""
    parts = []
    for corpus, row in gap.iterrows():
        above = row["MAP_low"] > row["chance MAP"]
        parts.append(f"**{corpus}** MAP {row['MAP']:.3f} (95 % CI {row['MAP_low']:.3f}-{row['MAP_high']:.3f}; "
                     f"{row['x chance']:.1f}× chance, {'above' if above else 'not clearly above'} chance; "
                     f"trigram {row['trigram MAP']:.3f})")
    return "; ".join(parts)


def summary_lines(gap: pd.DataFrame, train_corpus: str) -> list[str]:
    """The chapter's summary: one line per corpus of a :func:`gap_table` (mean scoring)."""
    return [f"Next-phrase ranking on **{corpus}** test songs (model trained on {train_corpus}, mean log-probability): "
            f"MAP {row['MAP']:.3f} (95 % CI {row['MAP_low']:.3f}-{row['MAP_high']:.3f}), {row['x chance']:.1f}x the "
            f"chance MAP {row['chance MAP']:.3f}; trigram {row['trigram MAP']:.3f}." for corpus, row in gap.iterrows()]


def headline_rows(gap: pd.DataFrame, train_corpus: str, dataset: str | None = None) -> list[dict[str, Any]]:
    """The book's headline rows: the transformer's MAP per test corpus with its interval and chance.

    With ``dataset`` (the generated dataset's name), each row also carries the ``id``
    (``melody:map-<corpus>``) and ``dataset`` that the claims page looks figures up by, when the model
    learnt from LLM-MIDI.
    """
    rows = []
    for corpus, row in gap.iterrows():
        rows.append({"finding": f"Melody completion: a transformer trained on {train_corpus} ranks the true next "
                                f"phrase of {corpus} test songs", "measure": "MAP", "value": row["MAP"],
                     "low": row["MAP_low"], "high": row["MAP_high"], "chance": row["chance MAP"]})
        if dataset and train_corpus == "llm-midi":
            rows[-1].update(id=f"melody:map-{corpus}", dataset=dataset)
    return rows


def published_table() -> pd.DataFrame:
    """:data:`PUBLISHED` indexed by model."""
    return pd.DataFrame(list(PUBLISHED)).set_index("model")
