"""Resume and give-up logic of the grid run, with no model: a local recording endpoint and the committed cache.

A song is asked until it has a valid piece or ``max_attempts`` replies; a request that got no reply
(an ``error`` row) does not count and leaves the song for the next run, which resumes at the next
attempt (its own seed). A song with a valid row, or given up, is never asked again.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from llmmusic.data.dataset import FREE_DATASET, load_manifest, read_manifest_rows, valid_rows
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig, plan_songs
from llmmusic.generation.llm import LLMClient
from llm_stub import StubLLM


def _run(endpoint, out, **config):
    client = LLMClient(base_url=endpoint.base_url, model="stub", cache=out / "cache.sqlite", max_retries=0)
    cfg = GenerateConfig(out=out, **{"genres": ["Jazz"], "styles": ["Swing"], **config})
    return Generator(cfg, client).run(concurrency=1, progress=False), cfg


def _rows(out):
    return [(r["genre"], r["style"], r["index"], r["attempt"], r["status"])
            for r in read_manifest_rows(out / "manifest.jsonl")]


def test_a_song_is_given_up_after_max_attempts_replies_and_never_asked_again(tmp_path):
    out = tmp_path / "ds"
    with StubLLM(default="bad") as ep:
        summary, cfg = _run(ep, out, max_attempts=3)
        song = plan_songs(cfg)[0]
        assert _rows(out) == [("Jazz", "Swing", 0, a, "invalid") for a in range(3)]
        assert ep.seeds == [song.attempt_seed(a) for a in range(3)]  # each attempt its own seed
        assert (summary.songs_valid, summary.songs_given_up, summary.attempts) == (0, 1, 3)
        again, _ = _run(ep, out, max_attempts=3)
        assert len(ep.requests) == 3, "a given-up song was asked again"
        assert (again.songs_planned, again.songs_done_before, again.attempts) == (0, 1, 0)


def test_a_request_with_no_reply_does_not_count_and_the_next_run_resumes_at_that_attempt(tmp_path):
    out = tmp_path / "ds"
    with StubLLM(script=["bad", "400"], default="ok") as ep:
        summary, cfg = _run(ep, out, max_attempts=2)
        song = plan_songs(cfg)[0]
        # the error ends this run's tries at the song: it is neither valid nor given up
        assert _rows(out) == [("Jazz", "Swing", 0, 0, "invalid"), ("Jazz", "Swing", 0, 1, "error")]
        assert (summary.songs_valid, summary.songs_given_up) == (0, 0)
        assert read_manifest_rows(out / "manifest.jsonl")[1]["failure"] == "call_error:BadRequestError"
        resumed, _ = _run(ep, out, max_attempts=2)
        assert _rows(out)[-1] == ("Jazz", "Swing", 0, 1, "valid")
        assert ep.seeds == [song.attempt_seed(0), song.attempt_seed(1), song.attempt_seed(1)]
        assert (resumed.songs_planned, resumed.songs_valid, resumed.llm_calls, resumed.cache_hits) == (1, 1, 1, 0)
        last, _ = _run(ep, out, max_attempts=2)
        assert len(ep.requests) == 3 and last.songs_planned == 0 and last.songs_done_before == 1


def test_invalid_replies_are_resumed_from_their_count_not_from_zero(tmp_path):
    """A run stopped after one invalid reply (here: ``limit`` songs, then the same song again) asks attempt 1
    next, and a song is given up at ``max_attempts`` replies over all runs together."""
    out = tmp_path / "ds"
    with StubLLM(script=["bad", "400", "bad", "400", "bad"]) as ep:
        for _ in range(3):
            _run(ep, out, max_attempts=3)
        song = plan_songs(GenerateConfig(out=out, genres=["Jazz"], styles=["Swing"]))[0]
        assert [r[3:] for r in _rows(out)] == [(0, "invalid"), (1, "error"), (1, "invalid"), (2, "error"),
                                              (2, "invalid")]
        assert ep.seeds == [song.attempt_seed(a) for a in (0, 1, 1, 2, 2)]
        done, _ = _run(ep, out, max_attempts=3)
        assert len(ep.requests) == 5 and done.songs_planned == 0  # three replies: given up


def test_limit_takes_pending_songs_in_plan_order_and_a_valid_song_is_never_asked_again(tmp_path):
    out = tmp_path / "ds"
    styles = ["Swing", "Waltz", "Dark"]
    with StubLLM() as ep:
        first, cfg = _run(ep, out, styles=styles, limit=2)
        plan = [(s.genre, s.style, s.index) for s in plan_songs(cfg)]
        assert [r[:3] for r in _rows(out)] == plan[:2] and first.songs_valid == 2
        rest, _ = _run(ep, out, styles=styles)
        assert [r[:3] for r in _rows(out)] == plan and len(ep.requests) == 3
        assert (rest.songs_done_before, rest.songs_planned, rest.songs_valid) == (2, 1, 1)
        grown, _ = _run(ep, out, styles=styles, per_combination=2)  # growing the grid asks only the new index
        assert [r[2] for r in _rows(out)[3:]] == [1, 1, 1] and grown.songs_done_before == 3
        assert len(ep.requests) == 6


def test_a_valid_row_anywhere_marks_the_song_done(tmp_path):
    """A song whose valid row is followed by another of its rows (an older writer, a hand-merged manifest)
    is still done; the replies of every run add up toward ``max_attempts``."""
    out = tmp_path / "ds"
    with StubLLM() as ep:
        _, cfg = _run(ep, out, styles=["Swing", "Waltz"], max_attempts=2)
        first, second = plan_songs(cfg)
        base = {"genre": first.genre, "style": first.style, "index": 0, "status": "error", "failure": "interrupted"}
        rows = [{**base, "attempt": 1}, {**base, "style": second.style, "status": "invalid", "attempt": 1}]
        with open(out / "manifest.jsonl", "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        again, _ = _run(ep, out, styles=["Swing", "Waltz"], max_attempts=2)
        assert len(ep.requests) == 2 and again.songs_planned == 0 and again.songs_done_before == 2


def test_a_changed_parameter_is_refused_before_any_request(tmp_path):
    out = tmp_path / "ds"
    with StubLLM() as ep:
        _run(ep, out)
        with pytest.raises(ValueError, match="other parameters"):
            _run(ep, out, seed=1)
        assert len(ep.requests) == 1


# ------------------------------------------------------------------ the committed cache
def _committed_songs():
    """The free-form dataset (its replies include invalid ones), a genre and two of its styles whose songs
    needed several attempts, and the dataset's rows that got a reply."""
    if not (FREE_DATASET / "manifest.jsonl").exists():
        pytest.skip(f"committed dataset {FREE_DATASET} absent")
    manifest = load_manifest(FREE_DATASET)
    replied = manifest[(manifest["status"] != "error") & (manifest["index"] == 0)]  # errors replay nothing
    invalid = (replied["status"] == "invalid").groupby([replied["genre"], replied["style"]]).sum()
    genre = invalid.idxmax()[0]
    styles = invalid[genre].sort_values(ascending=False, kind="stable").index[:2].tolist()
    if invalid[genre].max() < 2 or len(styles) < 2:
        pytest.skip(f"{FREE_DATASET} has no song that needed several attempts")
    return genre, styles, replied


def test_a_run_stopped_after_any_row_resumes_from_the_committed_cache_to_the_same_files(tmp_path):
    """Stop a run after each of its manifest rows in turn (the row's files written, a torn half line after
    it, as ``kill -9`` during an append leaves it), run again: no LLM call, and the rows and MIDI bytes of
    the uninterrupted run, which are the committed dataset's."""
    genre, styles, replied = _committed_songs()
    params = json.loads((FREE_DATASET / "dataset.json").read_text())
    defining = {k: params[k] for k in ("variant", "decoding", "max_attempts", "max_tokens", "top_p", "seed", "writer")}
    cache = tmp_path / "cache.sqlite"
    shutil.copy(FREE_DATASET / "cache.sqlite", cache)
    config = dict(genres=[genre], styles=styles, **defining)

    def run(out):
        client = LLMClient(cache=cache, cache_only=True)
        summary = Generator(GenerateConfig(out=out, **config), client).run(concurrency=1, progress=False)
        assert client.stats.calls == 0
        return summary

    def outcome(root):
        rows = [(r["style"], r["attempt"], r["status"], r.get("cache_key"))
                for r in read_manifest_rows(root / "manifest.jsonl")]
        files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (root / "midi").rglob("*.mid")}
        return rows, files

    clean = tmp_path / "clean"
    run(clean)
    lines = (clean / "manifest.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) >= 4
    for k in range(len(lines)):
        stopped = tmp_path / f"stopped-{k}"
        stopped.mkdir()
        shutil.copy(clean / "dataset.json", stopped / "dataset.json")
        for line in lines[:k]:
            row = json.loads(line)
            if row["status"] == "valid":
                (stopped / row["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(clean / row["path"], stopped / row["path"])
        (stopped / "manifest.jsonl").write_text("".join(lines[:k]) + lines[k][: len(lines[k]) // 2])
        summary = run(stopped)
        assert outcome(stopped) == outcome(clean), f"stopped after row {k}"
        assert summary.songs_done_before == sum(json.loads(x)["status"] == "valid" for x in lines[:k])

    committed = replied[(replied["genre"] == genre) & replied["style"].isin(styles)]
    order = {(s.genre, s.style): k for k, s in enumerate(plan_songs(GenerateConfig(out=clean, **config)))}
    committed = committed.assign(song=[order[(g, st)] for g, st in zip(committed["genre"], committed["style"])])
    committed = committed.sort_values(["song", "attempt"], kind="stable")
    assert outcome(clean)[0] == [(r.style, int(r.attempt), r.status, r.cache_key) for r in committed.itertuples()]
    assert sum(r[2] == "invalid" for r in outcome(clean)[0]) >= 2  # resumed past invalid replies
    ours = valid_rows(load_manifest(clean)).set_index("style")["midi_sha256"].to_dict()
    assert ours == valid_rows(committed).set_index("style")["midi_sha256"].to_dict()
