"""Generation pipeline: planning, resumability, cache replay, and real runs on the embedded server."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llmmusic.data.dataset import DEFAULT_DATASET, load_manifest, read_manifest_rows, repair_torn_tail, valid_rows
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig, diagonal_order, plan_songs
from llmmusic.generation.llm import CacheMiss, LLMClient
from llmmusic.data.midi import midi_to_piece
from llmmusic.data.piece import PAPER_BOUNDS
from llmmusic.data.taxonomy import MOODS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n_genres,n_styles", [(13, 25), (3, 7), (7, 3), (4, 4), (1, 5)])
def test_diagonal_order_covers_the_grid_and_every_prefix_is_balanced(n_genres, n_styles):
    genres, styles = [f"g{i}" for i in range(n_genres)], [f"s{i}" for i in range(n_styles)]
    order = diagonal_order(genres, styles)
    assert sorted(order) == sorted((g, s) for g in genres for s in styles)
    short, long_ = (genres, styles) if n_genres <= n_styles else (styles, genres)
    for k in range(1, len(order) + 1):
        counts = Counter(pair[0] if short is genres else pair[1] for pair in order[:k])
        values = [counts.get(x, 0) for x in short]
        assert max(values) - min(values) <= 1, k
        if k % len(short) == 0:  # a completed pass uses distinct items of the longer axis
            tail = order[k - len(short):k]
            assert len({pair[1] if short is genres else pair[0] for pair in tail}) == len(short)


def test_plan_is_index_major_deterministic_and_uses_paper_schedule():
    cfg = GenerateConfig(out="x", genres=["Jazz", "Rock"], styles=["Swing", "Dark"], per_combination=3)
    songs = plan_songs(cfg)
    assert len(songs) == 12
    assert [s.index for s in songs[:4]] == [0, 0, 0, 0]
    assert songs == plan_songs(cfg)
    assert {s.temperature for s in songs} == {0.6, 0.64, 0.68}
    assert all(s.mood in MOODS for s in songs)
    assert len({s.seed for s in songs}) == 12
    assert songs[0].attempt_seed(0) != songs[0].attempt_seed(1)


def test_config_rejects_unknown_labels_by_name():
    with pytest.raises(ValueError, match="Polka"):
        GenerateConfig(out="x", genres=["Polka"])


def test_torn_manifest_tail_is_repaired(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert len(read_manifest_rows(path)) == 2
    assert repair_torn_tail(path) is True
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert repair_torn_tail(path) is False


def _committed_slice():
    if not (DEFAULT_DATASET / "manifest.jsonl").exists():
        pytest.skip(f"committed dataset {DEFAULT_DATASET} absent")
    rows = valid_rows(load_manifest(DEFAULT_DATASET))
    first = rows.iloc[0]
    return first["genre"], first["style"]


def test_rerun_from_committed_cache_makes_zero_calls_and_identical_files(tmp_path):
    """Regenerating a slice of the committed dataset replays its cache: no LLM call, same bytes."""
    genre, style = _committed_slice()
    params = json.loads((DEFAULT_DATASET / "dataset.json").read_text())
    out = tmp_path / "replay"
    cfg = GenerateConfig(out=out, genres=[genre], styles=[style], per_combination=1,
                         **{k: params[k] for k in ("variant", "decoding", "max_attempts", "max_tokens", "top_p",
                                                   "seed", "writer")})
    client = LLMClient(cache=DEFAULT_DATASET / "cache.sqlite", cache_only=True)
    summary = Generator(cfg, client).run(concurrency=2, progress=False)
    assert client.stats.calls == 0 and summary.llm_calls == 0
    assert summary.songs_valid == 1
    ours = valid_rows(load_manifest(out)).iloc[0]
    theirs = valid_rows(load_manifest(DEFAULT_DATASET)).set_index(["genre", "style", "index"]).loc[(genre, style, 0)]
    assert ours["midi_sha256"] == theirs["midi_sha256"]
    assert hashlib.sha256((out / ours["path"]).read_bytes()).hexdigest() == theirs["midi_sha256"]
    # and a second run over the same folder does nothing at all
    again = Generator(cfg, client).run(concurrency=2, progress=False)
    assert again.songs_planned == 0 and again.attempts == 0


def test_generate_command_writes_the_dataset_card(tmp_path):
    """The command line run (cache-only, from a copy of the committed cache) leaves a card that counts it."""
    genre, style = _committed_slice()
    params = json.loads((DEFAULT_DATASET / "dataset.json").read_text())
    cache = tmp_path / "cache.sqlite"
    shutil.copy(DEFAULT_DATASET / "cache.sqlite", cache)
    out = tmp_path / "replay"
    cmd = [sys.executable, "-m", "llmmusic.cli", "generate", "--out", str(out), "--genres", genre, "--styles", style,
           "--per-combination", "1", "--variant", params["variant"], "--seed", str(params["seed"]),
           "--cache", str(cache), "--cache-only", "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    card = (out / "DATASET.md").read_text()
    assert "| valid pieces | 1 |" in card and "| LLM attempts (manifest rows) | 1 |" in card
    assert f"{genre} 1" in card
    from llmmusic.generation.server import machine_description

    logged = read_manifest_rows(out / "runs.jsonl")[-1]["machine"]  # the CPU is named with every run
    assert logged == machine_description() and logged["cores"] == os.cpu_count()


def test_cache_only_client_refuses_a_miss(tmp_path):
    client = LLMClient(cache=tmp_path / "c.sqlite", cache_only=True)
    with pytest.raises(CacheMiss):
        client.chat([{"role": "user", "content": "never asked"}])


# ---------------------------------------------------------------- real embedded server

@pytest.fixture(scope="module")
def server():
    from llmmusic.generation.server import EmbeddedServer

    srv = EmbeddedServer(parallel=4)
    info = srv.start(timeout=900)
    yield info
    srv.stop()


def _assert_in_bounds(piece):
    b = PAPER_BOUNDS
    for track, notes in piece.tracks().items():
        assert notes, f"empty {track}"
        for n in notes:
            lo, hi = (b.drum_min, b.drum_max) if track == "rhythm" else (b.pitch_min, b.pitch_max)
            assert lo <= n.pitch <= hi
            assert b.velocity_min <= n.velocity <= b.velocity_max
            assert b.start_min <= n.start <= b.start_max


@pytest.mark.server
def test_generate_on_real_server_schema_decoding(server, tmp_path):
    out = tmp_path / "ds"
    cfg = GenerateConfig(out=out, genres=["Jazz"], styles=["Swing", "Waltz"], per_combination=1, max_attempts=2)
    client = LLMClient(cache=out / "cache.sqlite")
    summary = Generator(cfg, client).run(concurrency=2, progress=False)
    manifest = load_manifest(out)
    assert summary.songs_valid == 2, manifest[["status", "failure"]]
    # schema decoding: strict JSON, nothing clamped, exact counts
    for row in manifest[manifest.status == "valid"].itertuples():
        assert not any(r.startswith("clamped") for r in row.repairs), row.repairs
        assert row.n_notes == {"melody": 16, "chords": 8, "bass": 8, "rhythm": 16}
        piece = midi_to_piece(out / row.path)
        _assert_in_bounds(piece)
        assert piece.rhythm and all(n.pitch <= 50 for n in piece.rhythm)
    raw = client.cache.get(manifest.iloc[0].cache_key).text
    values = json.loads(raw)
    for track, events in values.items():
        for pitch, duration, velocity, start in events:
            assert PAPER_BOUNDS.duration_min <= duration <= PAPER_BOUNDS.duration_max
            assert 0 <= start <= 7680


@pytest.mark.server
def test_api_key_never_written(server, tmp_path, monkeypatch):
    """Through the openai-compatible path (the key is sent), the key lands in no file."""
    secret = "sk-test-DO-NOT-STORE-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:16]
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    out = tmp_path / "ds"
    cfg = GenerateConfig(out=out, genres=["Blues"], styles=["Dark"], per_combination=1, max_attempts=1)
    client = LLMClient(base_url=server.base_url, model="qwen2.5-coder-1.5b", cache=out / "cache.sqlite")
    Generator(cfg, client).run(concurrency=1, progress=False)
    assert client.stats.calls == 1
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.jsonl" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path


def _start_until_first_row(cmd: list[str], manifest: Path, **popen) -> subprocess.Popen:
    """Start a generate command and return once its manifest holds a row (the run still going)."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + 600
    while not (manifest.exists() and manifest.read_text().count("\n") >= 1):
        assert proc.poll() is None, "generation ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    return proc


@pytest.mark.server
def test_kill_and_resume_gives_the_same_files(server, tmp_path):
    """kill -9 a run midway, resume it; compare with an uninterrupted run over the same cache."""
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "llmmusic.cli", "generate", "--out", str(out), "--genres", "Folk",
           "--styles", "Waltz,March", "--per-combination", "1", "--concurrency", "1", "--no-progress"]
    manifest = out / "manifest.jsonl"
    proc = _start_until_first_row(cmd, manifest, start_new_session=True)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_manifest_rows(manifest))
    assert done_before == 1, "the kill should land midway"
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # an uninterrupted run with the same cache
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(out / "cache.sqlite", clean / "cache.sqlite")
    cmd_clean = [c if c != str(out) else str(clean) for c in cmd] + ["--cache-only"]
    subprocess.run(cmd_clean, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def files(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in (root / "midi").rglob("*") if p.is_file()}

    assert files(out) == files(clean) and len(files(out)) >= 1
    assert not list(out.rglob("*.tmp"))
    rows = valid_rows(load_manifest(out))
    assert not rows.duplicated(["genre", "style", "index"]).any()
    keys = [r["cache_key"] for r in read_manifest_rows(out / "manifest.jsonl") if r["status"] != "error"]
    assert len(keys) == len(set(keys)), "a request was answered twice"


@pytest.mark.server
def test_stopped_run_is_logged_and_its_card_counts_every_row(server, tmp_path):
    """SIGTERM with requests in flight: the run logs itself as interrupted and, once its workers are done,
    writes a card whose row count is the manifest's."""
    out = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "llmmusic.cli", "generate", "--out", str(out), "--genres", "Folk",
           "--styles", "Waltz,March,Ballad", "--per-combination", "1", "--concurrency", "2", "--no-progress"]
    manifest = out / "manifest.jsonl"
    proc = _start_until_first_row(cmd, manifest)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    rows = read_manifest_rows(manifest)
    runs = read_manifest_rows(out / "runs.jsonl")
    assert runs[-1]["interrupted"] is True
    assert f"| LLM attempts (manifest rows) | {len(rows)} |" in (out / "DATASET.md").read_text()


@pytest.mark.server
def test_client_finds_a_restarted_server(tmp_path):
    """A client whose embedded server died reaches the one started after it (a new port)."""
    from llmmusic.generation.server import EmbeddedServer

    client = LLMClient(parallel=1, max_retries=3)
    ask = [{"role": "user", "content": "Say OK."}]
    assert client.chat(ask, max_tokens=2, seed=1).text
    first = client.server_info.base_url
    client._server.process.kill()
    client._server.process.wait()
    with EmbeddedServer(parallel=1) as second:
        assert second.base_url != first
        assert client.chat(ask, max_tokens=3, seed=2).text
        assert client.server_info.base_url == second.base_url
    assert client.stats.retries >= 1
