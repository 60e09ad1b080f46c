"""Melody phrases, tokens, n-grams, the next-phrase ranking protocol and the transformer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llmmusic.experiments import melody as M
from llmmusic.analysis.metrics import ranking_metrics
from llmmusic.data.piece import TICKS_PER_BAR, Note, Piece
from melody_songs import random_songs as _random_songs

Q = 480  # ticks per quarter


def notes_of(rows: list[tuple[int, int, int]]) -> list[Note]:
    """(pitch, start, duration) rows as notes."""
    return [Note(p, d, 100, s) for p, s, d in rows]


def key(notes: list[Note]) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start, n.duration) for n in notes]


@pytest.fixture(scope="module")
def tok() -> M.MelodyTokenizer:
    return M.MelodyTokenizer()


# A hand-made 3-bar melody with an empty middle bar and a note tied across the first bar line.
HAND = notes_of([(60, 0, Q), (62, Q, Q // 2), (64, 3 * Q // 2, Q // 2), (65, 2 * Q, 3 * Q),  # bar 0 (last one rings on)
                 (72, 2 * TICKS_PER_BAR, Q), (71, 2 * TICKS_PER_BAR + 3 * Q, Q // 4)])  # bar 2; bar 1 empty


# --------------------------------------------------------------------------------------------- phrases
def test_quantise_snaps_to_sixteenths_and_drops_duplicates():
    raw = notes_of([(60, 1915, 470), (60, 1920, 480), (62, 70, 10)])
    out = M.quantise(raw)
    assert key(out) == [(62, 120, 120), (60, 1920, 480)]


def test_split_phrases_one_bar_relative_onsets_and_empty_phrase():
    phrases = M.split_phrases(HAND, phrase_bars=1, song="s")
    assert [p.index for p in phrases] == [0, 1, 2]
    assert [len(p.notes) for p in phrases] == [4, 0, 2]
    assert phrases[1].is_empty
    assert key(list(phrases[2].notes)) == [(72, 0, Q), (71, 3 * Q, Q // 4)]
    assert key(list(phrases[0].notes))[-1] == (65, 2 * Q, 3 * Q)  # keeps its full length past the bar line


def test_split_phrases_two_bars_and_song_notes_round_trip():
    phrases = M.split_phrases(HAND, phrase_bars=2, song="s")
    assert [len(p.notes) for p in phrases] == [4, 2]
    assert key(list(phrases[1].notes))[0] == (72, 0, Q)
    song = M.Song("s", "hand", phrases)
    assert key(song.notes()) == key(HAND)


def test_song_from_piece_drops_intro_and_caps_bars():
    late = [Note(n.pitch, n.duration, n.velocity, n.start + 3 * TICKS_PER_BAR) for n in HAND]
    song = M.song_from_piece(Piece(melody=late, meta={"song": "x"}), "hand", phrase_bars=1)
    assert song.song == "hand:x"
    assert [len(p.notes) for p in song.phrases] == [4, 0, 2]  # the three empty intro bars are gone
    capped = M.song_from_piece(Piece(melody=late), "hand", phrase_bars=1, max_bars=2)
    assert [len(p.notes) for p in capped.phrases] == [4]  # bar 1 is empty, so the song ends at bar 0


def test_split_songs_is_disjoint_complete_and_seeded():
    songs = [M.Song(f"s{i:02d}", "c", []) for i in range(20)]
    a = M.split_songs(songs, seed=3)
    b = M.split_songs(list(reversed(songs)), seed=3)
    ids = {k: [s.song for s in v] for k, v in a.items()}
    assert ids == {k: [s.song for s in v] for k, v in b.items()}
    assert [len(ids[k]) for k in M.SPLITS] == [16, 2, 2]
    assert sorted(sum(ids.values(), [])) == sorted(s.song for s in songs)
    assert ids != {k: [s.song for s in v] for k, v in M.split_songs(songs, seed=4).items()}


# --------------------------------------------------------------------------------------------- tokens
def test_tokenizer_round_trip_hand_made(tok):
    for phrase in M.split_phrases(HAND, phrase_bars=1):
        ids = tok.encode_phrase(phrase)
        assert ids.count(tok.bar_id) == 1 and ids[0] == tok.bar_id
        assert key(tok.decode(ids)) == key(list(phrase.notes))
    names = [tok.names[i] for i in tok.encode_phrase(M.split_phrases(HAND, 1)[2])]
    assert names == ["Bar_None", "Position_0", "Pitch_72", "Duration_1.0.4",
                     "Position_12", "Pitch_71", "Duration_0.1.4"]


def test_tokenizer_pads_trailing_empty_bars_and_concatenates(tok):
    phrases = M.split_phrases(HAND, phrase_bars=2)
    ids0 = tok.encode_phrase(phrases[0])  # bar 1 of the phrase is empty
    assert ids0.count(tok.bar_id) == 2 and ids0[-1] == tok.bar_id
    song_ids = [i for p in phrases for i in tok.encode_phrase(p)]
    assert key(tok.decode([tok.bos_id] + song_ids + [tok.eos_id])) == key(HAND)
    assert tok.encode_notes([], 2) == [tok.bar_id, tok.bar_id]
    assert tok.decode([tok.bar_id]) == []


def test_tokenizer_round_trip_music21_melodies(tok):
    from llmmusic.data.corpora import music21_folk

    pieces = music21_folk(limit=3)
    assert len(pieces) == 3
    for piece in pieces:
        song = M.song_from_piece(piece, "folk", phrase_bars=2, max_bars=16)
        assert song.n_nonempty > 0
        for phrase in song.phrases:
            kept = [n for n in phrase.notes if n.duration <= 8 * Q]  # longer notes are cut to 8 beats
            decoded = tok.decode(tok.encode_phrase(phrase))
            assert {(p, s) for p, s, _ in key(decoded)} == {(n.pitch, n.start) for n in phrase.notes}
            assert set(key(kept)) <= set(key(decoded))


# --------------------------------------------------------------------------------------------- n-grams
def test_bigram_add_k_probabilities_by_hand(tok):
    a, b = tok.vocab["Pitch_60"], tok.vocab["Pitch_62"]
    seqs = [[tok.bos_id, a, b, a, b, tok.eos_id]]
    k = 0.5
    model = M.NGramModel(2, tok, k=k).fit(seqs)
    v = tok.n_targets
    # after a: b twice, nothing else -> p(b|a) = (2 + k) / (2 + k V')
    lp, pred = model.token_scores([[tok.bos_id, a, b]])[0]
    assert lp[1] == pytest.approx(math.log((2 + k) / (2 + k * v)))
    assert lp[0] == pytest.approx(math.log((1 + k) / (1 + k * v)))  # p(a | BOS)
    assert pred.tolist() == [a, b]
    # never predicts PAD or BOS
    assert np.isneginf(model._logp[a, tok.pad_id]) and np.isneginf(model._logp[a, tok.bos_id])
    uni = M.NGramModel(1, tok, k=0).fit(seqs)
    assert math.exp(uni.token_scores([[tok.bos_id, b]])[0][0][0]) == pytest.approx(2 / 5)


def test_fit_ngram_picks_k_on_validation(tok):
    a, b = tok.vocab["Pitch_60"], tok.vocab["Pitch_62"]
    train = [[tok.bos_id, a, b] * 1 + [a, b] * 20]
    model = M.fit_ngram(2, tok, train, validation=[[tok.bos_id, a, b, a, b]])
    assert model.k == 0.001  # validation follows the training pattern exactly: least smoothing wins


def test_next_token_metrics_and_chance(tok):
    a, b = tok.vocab["Pitch_60"], tok.vocab["Pitch_62"]
    seqs = [[tok.bos_id, a, b, a, b]]
    model = M.NGramModel(2, tok, k=0.001).fit(seqs)
    m = M.next_token_metrics(model, seqs, tok)
    assert m["n_tokens"] == 4 and m["accuracy"] == 1.0 and m["accuracy_Pitch"] == 1.0
    assert m["perplexity"] == pytest.approx(math.exp(m["nll"]))
    assert M.chance_next_token(tok)["perplexity"] == tok.vocab_size - 2


# --------------------------------------------------------------------------------------------- ranking
def test_chance_ranking_by_hand():
    ch = M.chance_ranking(50)
    assert ch["MAP"] == pytest.approx(sum(1 / r for r in range(1, 51)) / 50)
    assert ch["MAP"] == pytest.approx(0.0899841, abs=1e-6)
    assert (ch["HITS@1"], ch["HITS@5"], ch["HITS@10"], ch["HITS@25"]) == (0.02, 0.1, 0.2, 0.5)
    assert M.chance_ranking(4)["MAP"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_query_ranks_sum_and_mean_by_hand():
    q = [M.Query("s", 1, [], [[1], [1], [1]], true_index=1, candidate_songs=["a", "s", "b"]),
         M.Query("t", 1, [], [[1], [1], [1]], true_index=0, candidate_songs=["t", "a", "b"])]
    sums = np.array([[-1.0, -3.0, -5.0], [-4.0, -2.0, -9.0]])
    lens = np.array([[1.0, 6.0, 2.0], [8.0, 1.0, 3.0]])
    # sum: query 1 true (-3) is 2nd; query 2 true (-4) is 2nd
    assert M.query_ranks(q, sums, lens, normalise=False).tolist() == [2, 2]
    # mean: query 1: -1, -0.5, -2.5 -> true 1st; query 2: -0.5, -2, -3 -> true 1st
    assert M.query_ranks(q, sums, lens, normalise=True).tolist() == [1, 1]
    ranks = np.array([1, 2, 4, 50])
    r = ranking_metrics(ranks)
    assert r["MAP"] == pytest.approx((1 + 0.5 + 0.25 + 0.02) / 4)
    assert (r["HITS@1"], r["HITS@5"], r["HITS@10"], r["HITS@25"]) == (0.25, 0.75, 0.75, 0.75)
    table = M.ranking_table({"m": ranks}, n_boot=0)
    assert table.loc["m", "MAP"] == pytest.approx(0.4425)
    assert table.loc["chance", "HITS@1"] == 0.02


def test_candidates_never_come_from_the_query_song(tok):
    songs = _random_songs(30, 4, seed=1)
    # a phrase copied from song 0 into song 1 must not appear as a negative of song 0's queries
    songs[1].phrases[2] = M.Phrase(songs[1].song, 2, 1, songs[0].phrases[2].notes)
    queries = M.make_queries(songs, tok, n_candidates=50, seed=0)
    assert len(queries) == sum(1 for s in songs for k in range(1, 4)
                               if not s.phrases[k].is_empty and not s.phrases[k - 1].is_empty)
    for q in queries:
        assert len(q.candidates) == 50 and q.candidate_songs[q.true_index] == q.song
        others = [c for i, c in enumerate(q.candidates) if i != q.true_index]
        assert q.song not in [s for i, s in enumerate(q.candidate_songs) if i != q.true_index]
        assert q.candidates[q.true_index] not in others
        song = next(s for s in songs if s.song == q.song)
        assert q.candidates[q.true_index] == tok.encode_phrase(song.phrases[q.index])
        assert q.context == tok.encode_phrase(song.phrases[q.index - 1])
    assert len({q.true_index for q in queries}) > 5  # the true phrase's position varies
    assert [q.true_index for q in queries] == [q.true_index for q in M.make_queries(songs, tok, seed=0)]


def test_small_split_falls_back_to_the_corpus_or_raises(tok):
    songs = _random_songs(30, 4, seed=2)
    small = songs[:3]
    with pytest.raises(ValueError, match="candidate phrases from other songs"):
        M.make_queries(small, tok)
    queries = M.make_queries(small, tok, fallback=songs, max_queries=4)
    assert len(queries) == 4 and {q.pool for q in queries} == {"corpus"}
    for q in queries:
        assert q.song not in [s for i, s in enumerate(q.candidate_songs) if i != q.true_index]


# --------------------------------------------------------------------------------------------- transformer
@pytest.fixture(scope="module")
def real_windows(tok):
    from llmmusic.data.dataset import pick_dataset

    folder = pick_dataset()
    if folder is None:
        pytest.skip("no generated LLM-MIDI dataset under data/llm-midi")
    songs = M.load_corpus("llm-midi", dataset=folder, limit=8)
    return M.training_windows(songs, tok)


def test_training_windows_start_with_bos_and_end_songs_with_eos(tok):
    songs = _random_songs(2, 4, seed=3)
    w = M.training_windows(songs, tok, max_phrases=4, stride=1)
    assert len(w) == 8 and all(s[0] == tok.bos_id for s in w)
    assert all(s[-1] == tok.eos_id for s in w)  # every window reaches its song's end here
    assert [s.count(tok.bar_id) for s in w[:4]] == [4, 3, 2, 1]
    chunks = M.evaluation_sequences(songs, tok, max_phrases=2)
    assert [c.count(tok.bar_id) for c in chunks] == [2, 2, 2, 2] and chunks[0][-1] != tok.eos_id


def test_a_few_training_steps_reduce_loss_on_real_melodies(tok, real_windows):
    from llmmusic.experiments.melody.model import build_model
    from llmmusic.experiments.melody.train import TrainConfig, evaluate_loss, train_model

    batch = real_windows[:16]
    model = build_model(tok, d_model=32, n_layers=1, n_heads=2, dropout=0.0, max_len=128, seed=0)
    before = evaluate_loss(model, batch)
    result = train_model(model, batch, batch, TrainConfig(epochs=6, batch_size=8, lr=3e-3, device="cpu"))
    after = evaluate_loss(model, batch)
    assert after < before - 0.5
    assert len(result.history) == 6 and result.best_epoch >= 1 and result.seconds_per_epoch > 0
    assert before == pytest.approx(math.log(tok.n_targets), rel=0.05)  # starts near uniform


def test_transformer_scores_agree_with_its_logits_and_sampling_respects_bars(tok, real_windows, tmp_path):
    from llmmusic.experiments.melody.model import (TransformerScorer, build_model, load_checkpoint, sample_continuation,
                                       save_checkpoint)

    model = build_model(tok, d_model=32, n_layers=1, n_heads=2, max_len=128, seed=1).eval()
    scorer = TransformerScorer(model)
    seq = real_windows[0]
    (lp, pred), = scorer.token_scores([seq])
    logits = torch.log_softmax(model(torch.tensor([seq[:-1]])), -1)[0]
    assert lp == pytest.approx(logits[torch.arange(len(seq) - 1), torch.tensor(seq[1:])].detach().numpy(), abs=1e-5)
    cut = seq.index(tok.bar_id, 2)  # the first phrase as prefix, the rest as a candidate
    sums, lens = scorer.continuation_log_probs(seq[:cut], [seq[cut:], seq[cut:cut + 4]])
    assert sums[0] == pytest.approx(lp[cut - 1:].sum(), abs=1e-4)
    assert lens.tolist() == [len(seq) - cut, 4]
    gen = sample_continuation(model, tok, seq[:cut], bars=2, seed=0, max_new_tokens=40)
    assert gen.count(tok.bar_id) <= 2 and tok.bos_id not in gen and tok.pad_id not in gen
    path = save_checkpoint(tmp_path / "m.pt", model, {"tokenizer": tok.describe()})
    again, tok2, info = load_checkpoint(path, device="cpu")
    assert tok2.vocab == tok.vocab and info["tokenizer"]["vocab_size"] == tok.vocab_size
    assert torch.equal(again.eval()(torch.tensor([seq])), model(torch.tensor([seq])))
