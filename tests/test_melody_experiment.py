"""The melody driver (training, evaluation, continuation demo), its report tables and its figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from llmmusic.experiments import melody as M
from llmmusic.experiments.melody import experiment as X
from llmmusic.experiments.melody import plots as P
from llmmusic.experiments.melody import report as R
from llmmusic.experiments.melody.train import TrainConfig
from melody_songs import random_songs

Q = 480


@pytest.fixture(scope="module")
def tok() -> M.MelodyTokenizer:
    return M.MelodyTokenizer()


@pytest.fixture(scope="module")
def corpus() -> X.CorpusData:
    songs = random_songs(60, 4, seed=5)
    return X.CorpusData("rand", songs, M.split_songs(songs, seed=0))


@pytest.fixture(scope="module")
def trained(tok, corpus) -> X.Trained:
    config = X.DataConfig(max_len=128)
    return X.train(corpus, tok, config, TrainConfig(epochs=1, batch_size=16, device="cpu", threads=1),
                   d_model=16, n_layers=1, n_heads=2, seed=0)


def test_missing_and_training_corpus():
    data = {"a": X.CorpusData("a", missing="no folder"), "b": X.CorpusData("b")}
    assert X.missing_corpora(data) == {"a": "no folder"}
    assert X.training_corpus(data, "b") is data["b"]
    with pytest.raises(FileNotFoundError, match="the training corpus a is unavailable: no folder"):
        X.training_corpus(data, "a")


def test_train_restores_the_thread_count_and_keeps_what_it_used(trained):
    before = torch.get_num_threads()
    assert trained.config.threads == 1 and trained.model.config.max_len == 128
    assert len(trained.result.history) == 1 and set(trained.sequences) == {"train", "validation", "test"}
    assert torch.get_num_threads() == before


def test_evaluate_gives_both_tables_with_the_same_queries_as_ranking_results(tok, corpus, trained):
    data = {"rand": corpus}
    config = X.DataConfig(max_len=128)
    scorers = X.all_scorers(trained.model, tok, trained.sequences)
    assert list(scorers) == ["transformer", "unigram", "bigram", "trigram"]
    before = torch.get_num_threads()
    ev = X.evaluate(scorers, data, tok, config, n_queries=5, seed=0, n_boot=0, threads=1)
    assert torch.get_num_threads() == before
    assert set(ev.next_token.index.get_level_values("model")) == {*scorers, "chance"}
    direct = X.ranking_results(scorers, data, tok, n_queries=5, seed=0, n_boot=0)
    pd.testing.assert_frame_equal(ev.ranking.table, direct.table)
    assert X.evaluate(scorers, data, tok, config, n_queries=5, n_boot=0, next_token=False).next_token is None


def test_continue_melody_splits_context_and_truth_on_the_bar(tok, corpus, trained):
    demo = X.continue_melody(trained.model, tok, corpus.splits["test"], phrase_bars=1, context_bars=2, bars=2, seed=0)
    cut = 2 * TICKS_PER_BAR
    assert demo.total_bars == 4 and demo.context and all(n.start < cut for n in demo.context)
    assert demo.truth and all(cut <= n.start < 4 * TICKS_PER_BAR for n in demo.truth)
    assert all(isinstance(n, Note) for n in demo.sampled)
    assert demo.truth_piece().melody == demo.context + demo.truth
    assert demo.sampled_piece().meta == {"source": demo.song.song}


def _ranking_table() -> pd.DataFrame:
    rows = []
    for corpus, t_map, g_map in (("llm-midi", 0.30, 0.20), ("folk", 0.12, 0.10)):
        for scoring in ("sum", "mean"):
            rows.append({"corpus": corpus, "model": "transformer", "scoring": scoring, "n_queries": 10,
                         "MAP": t_map, "MAP_low": t_map - 0.05, "MAP_high": t_map + 0.05, "HITS@1": 0.1, "HITS@10": 0.5})
            rows.append({"corpus": corpus, "model": "trigram", "scoring": scoring, "n_queries": 10,
                         "MAP": g_map, "MAP_low": g_map - 0.05, "MAP_high": g_map + 0.05, "HITS@1": 0.0, "HITS@10": 0.4})
        rows.append({"corpus": corpus, "model": "chance", "scoring": "-", **M.chance_ranking()})
    return pd.DataFrame(rows).set_index(["corpus", "model", "scoring"])


def test_gap_table_and_its_sentences():
    gaps = R.gap_tables(_ranking_table(), "llm-midi")
    g = gaps["mean"]
    chance = M.chance_ranking()["MAP"]
    assert g.loc["llm-midi", "vs training corpus"] == 0 and g.loc["folk", "vs training corpus"] == pytest.approx(-0.18)
    assert g.loc["llm-midi", "x chance"] == pytest.approx(round(0.30 / chance, 4))
    assert g.loc["folk", "trigram MAP"] == 0.10
    sentence = R.gap_sentence(g)
    assert "**llm-midi** MAP 0.300 (95 % CI 0.250-0.350; 3.3× chance, above chance; trigram 0.200)" in sentence
    assert "**folk** MAP 0.120" in sentence and "not clearly above chance" in sentence
    lines = R.summary_lines(g, "llm-midi")
    assert len(lines) == 2 and lines[1].startswith("Next-phrase ranking on **folk** test songs")
    rows = R.headline_rows(g, "llm-midi")
    assert [r["value"] for r in rows] == [0.30, 0.12] and rows[0]["chance"] == pytest.approx(round(chance, 4))


def test_token_example_training_table_and_published(tok, trained):
    song = M.song_from_piece(Piece(melody=[Note(60, Q, 90, 0), Note(64, Q, 90, Q)]), "hand", 1, song="s")
    phrase, table, round_trip = R.token_example(song, tok)
    assert phrase.index == 0 and round_trip and list(table.index) == ["token", "id"]
    facts = R.training_table("rand", trained, X.all_scorers(trained.model, tok, trained.sequences))["value"]
    assert facts["epochs"] == 1 and facts["parameters"] == trained.result.n_parameters
    assert {"k of unigram", "k of bigram", "k of trigram"} <= set(facts.index)
    assert list(R.published_table().index) == ["MusicBERT-base", "PiRhDy"]


def test_figures_draw_headless():
    table = _ranking_table()
    assert len(P.ranking_panels(table).axes) == 2
    ranks = {("llm-midi", "transformer", s): np.array([1, 3, 50]) for s in ("sum", "mean")}
    assert len(P.rank_histograms(ranks, ["llm-midi", "folk"]).axes) == 2
    notes = [Note(60, Q, 90, 0)]
    fig = P.continuation_rolls("s", notes, [Note(62, Q, 90, TICKS_PER_BAR)], [], bars=2)
    assert [ax.get_title() for ax in fig.axes] == ["s: context + truth", "context + model continuation"]
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5], "val_loss": [2.1, 1.8]})
    fig, ax = P.plot_history(history, title="t")
    assert ax.get_title() == "t"
