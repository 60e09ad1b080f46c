"""Zero-shot classification: prompts, answer parsing, scoring arithmetic, evaluation sets, and the real server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from llmmusic.experiments import zeroshot as Z
from llmmusic.generation.llm import LLMClient, Reply
from llmmusic.data.piece import Note, Piece
from llmmusic.data.taxonomy import PAPER_GENRES, PAPER_STYLES, PAPER_TO_FOLDER, TOPMAGD_GENRES

SHARED = Path(os.environ.get("LLMMUSIC_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def tiny_piece() -> Piece:
    return Piece(melody=[Note(60, 480, 90, 0), Note(64, 480, 90, 480), Note(67, 960, 90, 960)],
                 chords=[Note(48, 1920, 70, 0)], bass=[Note(36, 960, 80, 0)],
                 rhythm=[Note(36, 240, 100, 0), Note(38, 240, 100, 480), Note(42, 240, 60, 240)])


# ------------------------------------------------------------------------------------------- prompts
@pytest.mark.parametrize("mode", Z.MODES)
def test_prompt_holds_every_candidate_and_the_piece_json(mode):
    piece = tiny_piece()
    msgs = Z.build_messages(piece, PAPER_STYLES, "style", mode)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert json.dumps(piece.sorted().to_dict(), separators=(",", ":")) in user
    for label in PAPER_STYLES:
        assert label in user
    assert "style" in user
    # the piece comes first so every mode and task of a piece shares the prompt prefix
    assert user.index("[[60,480,90,0]") < user.index("Baroque")


def test_piece_json_caps_events_per_track():
    piece = Piece(melody=[Note(60 + i % 12, 240, 80, 240 * i) for i in range(50)])
    text, dropped = Z.piece_json(piece, max_events=32)
    data = json.loads(text)
    assert len(data["melody"]) == 32 and dropped == 18
    assert data["melody"][-1][3] == 240 * 31  # the earliest events are kept
    assert set(data) == {"melody", "chords", "bass", "rhythm"}


def test_label_schema_is_an_enum_of_the_candidates():
    fmt = Z.label_schema(["Pop", "Rock"])
    assert fmt["json_schema"]["schema"]["properties"]["label"]["enum"] == ["Pop", "Rock"]
    assert Z.label_grammar(["Bossa Nova", "Pop"]) == 'root ::= "Bossa Nova" | "Pop"'


# ------------------------------------------------------------------------------------------- parsing
G = list(PAPER_GENRES)
PARSE_TABLE = [
    ("Rock", G, "free", "Rock", "exact"),
    ("Rock.", G, "free", "Rock", "exact"),
    ("**Jazz**", G, "free", "Jazz", "exact"),
    ("rock", G, "free", "Rock", "case"),
    ("hip hop", G, "free", "Hip-Hop", "case"),
    ("HIP-HOP", G, "free", "Hip-Hop", "case"),
    ("The genre of this piece is Jazz, with some Blues.", G, "free", "Jazz", "mention"),
    ("I would say it is classical music", G, "free", "Classical", "mention"),
    ("Poprock", G, "free", Z.UNPARSED, "none"),  # no whole-word candidate
    ("", G, "free", Z.UNPARSED, "none"),
    ("Polka", G, "free", Z.UNPARSED, "none"),
    ('{"label": "Metal"}', G, "json", "Metal", "json"),
    ('```json\n{\n  "label": "Reggae"\n}\n```', G, "json", "Reggae", "json"),
    ('{"label": "metal"}', G, "json", "Metal", "json"),
    ("pop rock", list(TOPMAGD_GENRES), "free", "Pop_Rock", "case"),
    ("It sounds like Pop_Rock or Country.", list(TOPMAGD_GENRES), "free", "Pop_Rock", "mention"),
    ("Bluesy", list(PAPER_STYLES), "free", "Bluesy", "exact"),
    ("It is bossa nova", list(PAPER_STYLES), "free", "Bossa Nova", "mention"),
    ("The melody is Jazz-like, the drums are Rock.\nAnswer: Rock", G, "explain", "Rock", "exact"),
    ("Melody: pop-ish.\nFinal answer: country music", G, "explain", "Country", "mention"),
    ("Melody suggests Jazz. Bass suggests Blues. Overall Blues.", G, "explain", "Blues", "last-mention"),
    ("Melody: calm. Answer: none of these", G, "explain", Z.UNPARSED, "none"),
]


@pytest.mark.parametrize("text,labels,mode,label,how", PARSE_TABLE)
def test_parse_answer_table(text, labels, mode, label, how):
    assert Z.parse_answer(text, labels, mode) == Z.Answer(label, how)


def test_parse_prefers_the_longer_label_at_the_same_place():
    # "Bluesy" must not be read as the genre "Blues" plus junk, and vice versa
    assert Z.parse_answer("bluesy", ["Blues", "Bluesy"]).label == "Bluesy"
    assert Z.parse_answer("blues, mostly", ["Blues", "Bluesy"]).label == "Blues"


# ------------------------------------------------------------------------------------------- scoring
def reply_with(first_alts: dict[str, float], text: str = "Rock") -> Reply:
    tok = max(first_alts, key=first_alts.get)
    lp = {"content": [{"token": tok, "logprob": first_alts[tok],
                       "top_logprobs": [{"token": t, "logprob": v} for t, v in first_alts.items()]}]}
    return Reply(text, "stop", {}, 0.0, True, "k", lp)


def test_prefix_match_scoring_without_a_tokenizer():
    client = LLMClient(cache=":memory:", cache_only=True)
    alts = {"Rock": -0.5, "J": -1.5, "Class": -2.0, "Pop": -3.0, "The": -0.9}
    sc = Z.score_reply(client, [], ["Pop", "Rock", "Jazz", "Classical", "Ambient"], reply_with(alts), tokens=None)
    assert sc.method == "prefix-match"
    assert list(sc.logprob) == [-3.0, -0.5, -1.5, -2.0, -3.0]  # Ambient: not reported -> the floor
    assert sc.censored == [False, False, False, False, True]
    assert sc.best == "Rock"
    assert sc.probabilities().sum() == pytest.approx(1.0)


def test_mapped_task_counts_unmapped_genres_wrong():
    task = Z.standard_tasks()["human-folder"]
    assert task.evaluated("Metal") == "Rock" and task.evaluated("Ambient") == "other"
    scores = np.array([[0.0] * len(PAPER_GENRES)])
    scores[0, PAPER_GENRES.index("Metal")] = 5.0
    folded = Z.eval_scores(scores, task)
    assert folded.shape == (1, 5) and folded[0, list(task.eval_labels).index("Rock")] == 5.0
    assert set(PAPER_TO_FOLDER) == set(PAPER_GENRES)


def test_summary_and_results_roundtrip(tmp_path):
    tasks = [Z.standard_tasks()["llm-genre"]]
    rows = []
    for i, (truth, pred) in enumerate([("Pop", "Pop"), ("Rock", "Pop"), ("Jazz", "Jazz"), ("Pop", Z.UNPARSED)]):
        rows.append(dict(id=str(i), source="llm-midi", task="llm-genre", mode="free", truth=truth, raw=pred,
                         pred=pred, how="exact", correct=truth == pred, calls=1, fresh_calls=1, prompt_tokens=100,
                         completion_tokens=2, latency_s=2.0, fresh_latency_s=2.0, reply=pred))
    import pandas as pd

    df = pd.DataFrame(rows)
    Z.write_results(df, tmp_path / "r.jsonl")
    back = Z.read_results(tmp_path / "r.jsonl")
    summary = Z.summarize(back, tasks, n_boot=100)
    row = summary.iloc[0]
    assert row["n"] == 4 and row["accuracy"] == pytest.approx(0.5) and row["unparsed"] == 1
    assert row["chance_uniform"] == pytest.approx(1 / 13) and row["chance_majority"] == pytest.approx(0.5)
    assert row["acc_low"] <= 0.5 <= row["acc_high"]
    tp = Z.throughput(back)
    assert tp["fresh_calls"] == 4 and tp["calls_per_second"] == pytest.approx(0.5)


def _at_size_rows(n: int, right: int) -> list[dict]:
    """Free and score rows of ``n`` items sharing one request (12 s odd items, 3 s even), as classify writes them."""
    return [dict(id=str(i), source="llm-midi", task="llm-genre", mode=mode, truth="Pop",
                 pred="Pop" if i < right else "Rock", raw="", how="branch", correct=i < right, calls=1,
                 fresh_calls=i % 2, prompt_tokens=900, completion_tokens=2, latency_s=12.0 if i % 2 else 3.0,
                 fresh_latency_s=0.0, reply="") for i in range(n) for mode in ("free", "score")]


def test_the_at_size_table_reads_each_run_that_exists_with_half_widths_and_throughput(tmp_path):
    Z.write_results(_at_size_rows(120, 30), Z.at_size_results("run-a", tmp_path))
    table = Z.at_size_table(["run-a", "not-run"], n_boot=200, root=tmp_path)
    assert list(table["run"]) == ["run-a", "run-a"] and set(table["mode"]) == {"free", "score"}
    row = table.iloc[0]  # a run not made yet has no row
    assert row["n"] == 120 and row["accuracy"] == pytest.approx(0.25)
    assert row["half_width"] == pytest.approx((row["acc_high"] - row["acc_low"]) / 2) and 0.03 < row["half_width"] < 0.12
    # 120 items over 60 x 12 s + 60 x 3 s: the free and score rows of an item are one request, counted once
    assert row["items_per_hour"] == pytest.approx(3600 * 120 / 900)
    assert row["prompt_tokens_per_s"] == pytest.approx(120 * 900 / 900)
    assert Z.at_size_table(["not-run"], root=tmp_path).empty


def test_request_throughput_adds_the_requests_of_other_modes():
    import pandas as pd

    rows = _at_size_rows(2, 1) + [dict(id="0", task="llm-genre", mode="explain", latency_s=30.0, prompt_tokens=950)]
    tp = Z.request_throughput(pd.DataFrame(rows))
    assert tp["items_per_hour"] == pytest.approx(3600 * 2 / (3 + 12 + 30))
    assert tp["prompt_tokens_per_s"] == pytest.approx((900 + 900 + 950) / 45)


def test_missing_values_are_written_as_null_and_read_back(tmp_path):
    import pandas as pd

    summary = pd.DataFrame([{"task": "llm-genre", "mode": "free", "n": 4, "accuracy": 0.5, "top3": float("nan")},
                            {"task": "llm-genre", "mode": "json", "n": 0, "accuracy": np.nan, "top3": np.float64("nan"),
                             "scores": [np.float32(-1.5), float("-inf")]}])
    path = Z.write_results(summary, tmp_path / "summary.jsonl")
    lines = path.read_text().splitlines()
    rows = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON")) for line in lines]
    assert rows[1]["accuracy"] is None and rows[0]["top3"] is None and rows[1]["scores"] == [-1.5, None]
    back = Z.read_results(path)
    assert back["accuracy"].iloc[0] == 0.5 and np.isnan(back["accuracy"].iloc[1])
    assert back["n"].tolist() == [4, 0]


# ------------------------------------------------------------------------------------------- data
def test_user_folder_with_subfolders_as_labels(tmp_path):
    from llmmusic.data.midi import piece_to_midi

    for label in ("Jazz", "Rock"):
        (tmp_path / label).mkdir()
        piece_to_midi(tiny_piece(), tmp_path / label / "a.mid")
    (tmp_path / "Rock" / "broken.mid").write_bytes(b"not midi")
    errors: list = []
    items = Z.user_folder_items(tmp_path, errors=errors)
    assert sorted(it.truth for it in items) == ["Jazz", "Rock"]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.mid")
    assert items[0].piece.n_notes > 0


def test_user_csv_labels(tmp_path):
    from llmmusic.data.midi import piece_to_midi

    piece_to_midi(tiny_piece(), tmp_path / "x.mid")
    (tmp_path / "labels.csv").write_text("path,label\nx.mid,Pop\nmissing.mid,Rock\n")
    errors: list = []
    items = Z.user_folder_items(tmp_path, tmp_path / "labels.csv", errors=errors)
    assert [it.truth for it in items] == ["Pop"] and len(errors) == 1
    with pytest.raises(ValueError, match="path"):
        (tmp_path / "bad.csv").write_text("file,genre\nx.mid,Pop\n")
        Z.user_folder_items(tmp_path, tmp_path / "bad.csv")


@pytest.mark.skipif(not (SHARED / "human-midi" / "labels.csv").is_file(), reason=f"no human MIDI at {SHARED}")
def test_human_sets_read_a_few_files():
    sets = Z.build_sets(["human-folder", "human-topmagd"], n_human=5, n_topmagd=2)
    folder, topmagd = sets
    assert len(folder.items) == 5 and {it.truth for it in folder.items} == {"Classical", "Country", "Jazz", "Pop", "Rock"}
    assert all(isinstance(it.truth, list) and it.truth for it in topmagd.items)
    assert all(it.piece.end_tick <= 4 * 1920 + 1920 for it in folder.items)  # a 4-bar window


def test_missing_sets_come_back_empty_with_a_note():
    (user,) = Z.build_sets(["user"])
    assert user.items == [] and "skipped" in user.note


# ------------------------------------------------------------------------------------------- server
@pytest.mark.server
def test_scoring_against_the_embedded_server_gives_a_full_ranking(tmp_path):
    """One free reply + one follow-up (Funky and Folky share their first token ``F``)."""
    client = LLMClient(cache=tmp_path / "c.sqlite")
    tokens = Z.LabelTokens(client, tmp_path / "tokens.json")
    labels = ["Funky", "Folky", "Pop"]
    assert tokens.get("Funky")["pieces"][0] == tokens.get("Folky")["pieces"][0]
    task = Z.Task("t", "style", labels)
    item = Z.Item("tiny", tiny_piece(), "Pop", "test")
    row = Z.classify(client, item, task, "score", tokens=tokens)
    scores = np.asarray(row["scores"])
    assert scores.shape == (3,) and np.all(np.isfinite(scores)) and np.all(scores <= 0)
    assert row["raw"] in labels and row["how"] == "branch"
    # the follow-up split the shared token when that group was in the top 3 (always, with 3 labels)
    assert row["calls"] == 2 and scores[0] != scores[1]
    free = Z.classify(client, item, task, "free", tokens=tokens)
    assert free["fresh_calls"] == 0  # the free answer is the same (cached) request
    assert json.loads((tmp_path / "tokens.json").read_text())[client.model_id]["Pop"]["pieces"] == ["Pop"]


def test_forced_logprob_sums_the_label_and_its_closing_quote():
    # token layout as llama-server returned it for a forced {"label": "Classical"}
    toks = [("```", -0.7), ("json", 0.0), ("\n", 0.0), ("{\n", -0.2), (" ", 0.0), (' "', 0.0), ("label", 0.0),
            ('":', 0.0), (' "', -0.01), ("Class", -9.29), ("ical", -0.001), ('"\n', -0.007), ("}\n", 0.0)]
    lp = {"content": [{"token": t, "logprob": v} for t, v in toks]}
    total, used = Z.forced_logprob(lp, "Classical")
    assert used == ["Class", "ical", '"\n'] and total == pytest.approx(-9.298)
    assert Z.forced_logprob(lp, "Rock") == (float("-inf"), [])
    # a token that carries the closing quote together with the label's end is counted once
    lp2 = {"content": [{"token": t, "logprob": v} for t, v in [('{"label": "', -0.1), ("Ro", -1.0), ('ck"}', -0.5)]]}
    assert Z.forced_logprob(lp2, "Rock") == (pytest.approx(-1.5), ["Ro", 'ck"}'])


def test_summary_uniform_chance_follows_the_mapping():
    import pandas as pd

    task = Z.standard_tasks()["human-folder"]
    rows = [dict(id=str(i), source="human-folder", task="human-folder", mode="free", truth=t, raw=r, pred=task.evaluated(r),
                 how="exact", correct=task.evaluated(r) == t, calls=1, fresh_calls=0, prompt_tokens=0,
                 completion_tokens=0, latency_s=0.0, fresh_latency_s=0.0, reply=r)
            for i, (t, r) in enumerate([("Rock", "Metal"), ("Jazz", "Rock"), ("Pop", "Ambient")])]
    row = Z.summarize(pd.DataFrame(rows), [task], n_boot=0).iloc[0]
    # Rock <- Rock, Metal, Punk (3 of 13); Jazz <- Jazz, Blues (2); Pop <- Pop (1)
    assert row["chance_uniform"] == pytest.approx((3 + 2 + 1) / 13 / 3)
    assert row["accuracy"] == pytest.approx(1 / 3)
    # macro-F1 over the classes seen (Rock, Jazz, Pop, and 'other' is not a class): Rock F=2/3, Jazz 0, Pop 0
    assert row["macro_f1"] == pytest.approx((2 / 3) / 3)


DATASET = Path(__file__).resolve().parents[1] / "data" / "llm-midi" / "embedded-v1"


@pytest.mark.skipif(not (DATASET / "manifest.jsonl").is_file(), reason="no committed LLM-MIDI dataset")
def test_llm_midi_sample_is_pinned_and_extends(tmp_path):
    pin = tmp_path / "pin.json"
    three = Z.llm_midi_items(DATASET, 3, seed=0, pin=pin)
    assert len(json.loads(pin.read_text())["ids"]) == 3
    five = Z.llm_midi_items(DATASET, 5, seed=0, pin=pin)
    assert [it.id for it in five[:3]] == [it.id for it in three]
    assert json.loads(pin.read_text())["ids"] == [it.id for it in five]
    assert all(it.truth == it.piece.meta["genre"] and it.piece.n_notes > 0 for it in five)
    other = Z.llm_midi_items(DATASET, 2, seed=1, pin=pin)  # another seed ignores, and keeps, the pin
    assert json.loads(pin.read_text())["ids"] == [it.id for it in five] and len(other) == 2


def test_llm_midi_items_of_the_cnn_test_split_are_exactly_its_test_pieces():
    from llmmusic.data.dataset import load_manifest, pick_dataset, valid_rows
    from llmmusic.data.splits import split_by_combination

    ds = pick_dataset()
    if ds is None:
        pytest.skip("no committed dataset")
    rows = valid_rows(load_manifest(ds)).reset_index(drop=True)
    split = split_by_combination(rows["genre"].tolist(), rows["style"].tolist(), seed=3)
    want = set(rows["path"][split == "test"])
    items = Z.llm_midi_items(ds, None, seed=0, split="test", split_seed=3)
    assert {it.id for it in items} == want and len(items) == len(want) > 0
    first = Z.llm_midi_items(ds, 10, seed=0, split="test", split_seed=3)
    assert [it.id for it in first] == [it.id for it in items[:10]]  # prefix-stable within the split


def test_a_test_pin_serves_a_sample_of_test_and_val_which_starts_with_it(tmp_path):
    from llmmusic.data.dataset import load_manifest, pick_dataset, valid_rows
    from llmmusic.data.splits import split_by_combination

    ds = pick_dataset()
    if ds is None:
        pytest.skip("no committed dataset")
    rows = valid_rows(load_manifest(ds)).reset_index(drop=True)
    split = split_by_combination(rows["genre"].tolist(), rows["style"].tolist(), seed=0)
    pin = tmp_path / "pin.json"
    test = [it.id for it in Z.llm_midi_items(ds, 12, seed=0, pin=pin, split="test")]
    both = Z.llm_midi_items(ds, None, seed=0, pin=pin, split="test,val")
    ids = [it.id for it in both]
    assert ids[:12] == test  # the pinned test pieces keep their places
    assert set(ids) == set(rows["path"][(split == "test") | (split == "val")]) and len(ids) == len(set(ids))
    n_test = int((split == "test").sum())
    assert set(ids[:n_test]) == set(rows["path"][split == "test"])  # every test piece before any val piece
    pinned = json.loads(pin.read_text())
    assert pinned["split"] == "test,val" and pinned["ids"] == ids
    # the extended pin no longer serves the test split alone, nor an unsplit sample: those keep their own order
    again = [it.id for it in Z.llm_midi_items(ds, 12, seed=0, pin=pin, split="test")]
    assert again == test and json.loads(pin.read_text())["ids"] == ids
    with pytest.raises(ValueError, match="distinct splits"):
        Z.llm_midi_items(ds, 3, seed=0, split="test,exam")


@pytest.mark.server
def test_a_resumed_run_at_size_asks_only_the_items_not_asked_yet(tmp_path, capsys):
    """The README's chunked runs at size: the same command again asks nothing; a larger --n-llm-midi asks only the
    new piece (counted against the real embedded server, with a fresh cache)."""
    from llmmusic.cli import main
    from llmmusic.data.dataset import pick_dataset

    out = tmp_path / "results.jsonl"
    args = ["zeroshot", "run", "--sets", "llm-midi", "--dataset", str(pick_dataset()), "--llm-split", "test,val",
            "--modes", "score", "--cache", str(tmp_path / "c.sqlite"), "--pin", str(tmp_path / "pin.json"),
            "--out", str(out)]

    def run(n: int) -> tuple[int, list[dict]]:
        assert main([*args, "--n-llm-midi", str(n)]) == 0
        printed = capsys.readouterr().out
        return json.loads(printed[printed.index("{", printed.index("new rows")):])["calls"], Z.read_result_rows(out)

    calls, rows = run(2)
    assert calls == sum(r["fresh_calls"] for r in rows) and len(rows) == 4 and calls >= 4  # 2 pieces x genre, style
    assert run(2)[0] == 0
    calls, grown = run(3)
    old = {r["id"] for r in rows}
    assert [r for r in grown if r["id"] in old] == [{**r, "fresh_calls": 0, "fresh_latency_s": 0.0} for r in rows]
    new = [r for r in grown if r["id"] not in old]
    assert len(new) == 2 and calls == sum(r["fresh_calls"] for r in new) > 0
