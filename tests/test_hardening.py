"""Runs that cannot corrupt a dataset or lose results: faults of the endpoint, two writers, stopping a run,
credentials in URLs, checkpoints that cannot run code, caches that see a changed file.

The endpoint is :class:`llm_stub.StubLLM` on 127.0.0.1; no model is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_stub import StubLLM
from llmmusic.data.dataset import load_pieces, read_manifest_rows, repair_torn_tail
from llmmusic.errors import DataError, DatasetLocked
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig, plan_songs
from llmmusic.generation.llm import LLMClient, redact_url, retry_after
from llmmusic.lock import LOCK_FILE, FolderLock

REPO = Path(__file__).resolve().parents[1]
SLICE = dict(genres=["Jazz", "Rock"], styles=["Swing", "Waltz"])  # 4 songs


def _run(url: str, out: Path, **client: object):
    config = GenerateConfig(out=out, max_attempts=2, **SLICE)
    llm = LLMClient(base_url=url, model="stub", cache=out / "cache.sqlite", **client)
    summary = Generator(config, llm).run(concurrency=1, progress=False)
    llm.close()
    return summary


def _assert_consistent(out: Path) -> list[dict]:
    """Nothing partial: no temporary files, whole manifest lines, every valid row's file matches its hash,
    and no MIDI file without a valid row."""
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert (out / "manifest.jsonl").read_bytes().endswith(b"\n")
    rows = read_manifest_rows(out / "manifest.jsonl")
    valid = {r["path"]: r["midi_sha256"] for r in rows if r["status"] == "valid"}
    on_disk = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in (out / "midi").rglob("*.mid")} if (out / "midi").exists() else {}
    assert on_disk == valid
    assert not (out / LOCK_FILE).exists()
    return rows


# --------------------------------------------------------------------------------------------- faults
def test_every_fault_is_accounted_for_and_a_rerun_asks_only_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr("llmmusic.generation.llm.random.random", lambda: 0.0)  # backoff 0.5 s, 1 s: a short test
    out = tmp_path / "ds"
    # in song order (concurrency 1): song 1 is rate limited once; song 2 gets a 500 then a body that is not
    # JSON; song 3 a reply cut by the token budget, then a good one; song 4 a slow reply (timeout), a cut
    # body and a 500: its retries run out
    script = ["429", "ok", "500", "badjson", "truncated", "ok", "slow", "cut", "500"]
    with StubLLM(script, slow_s=3.0) as stub:
        summary = _run(stub.base_url, out, max_retries=2, timeout=1.0)
        sent = list(stub.requests)
    assert [r["behaviour"] for r in sent] == script
    assert len(sent) == summary.llm_calls + summary.retries + summary.failed_requests
    assert (summary.llm_calls, summary.retries, summary.failed_requests) == (3, 4, 2)
    assert summary.retry_reasons == {"RateLimitError": 1, "InternalServerError": 1, "APITimeoutError": 1,
                                     "APIConnectionError": 1}
    assert sent[1]["time"] - sent[0]["time"] >= 1.0  # Retry-After: 1 honoured
    run = read_manifest_rows(out / "runs.jsonl")[-1]
    assert (run["retries"], run["failed_requests"], run["interrupted"]) == (4, 2, False)
    assert run["retry_reasons"] == summary.retry_reasons
    rows = _assert_consistent(out)
    assert [(r["status"], r["failure"]) for r in rows] == [
        ("valid", None), ("error", "call_error:MalformedReply"), ("invalid", rows[2]["failure"]), ("valid", None),
        ("error", "call_error:InternalServerError")]
    assert rows[2]["failure"] and rows[2]["finish_reason"] == "length"  # the cut reply is a reply: recorded
    assert summary.songs_valid == 2 and summary.songs_planned == 4

    songs = plan_songs(GenerateConfig(out=out, max_attempts=2, **SLICE))
    with StubLLM() as stub:  # everything answers now: only the two songs without a reply are asked
        again = _run(stub.base_url, out)
        asked = [r["seed"] for r in stub.requests]
    assert asked == [songs[1].attempt_seed(0), songs[3].attempt_seed(0)]
    assert again.songs_valid == 2 and again.llm_calls == 2 and again.retries == 0
    rows = _assert_consistent(out)
    assert sum(r["status"] == "valid" for r in rows) == 4


def test_retry_after_forms():
    class Failed(Exception):
        def __init__(self, headers):
            self.response = type("R", (), {"headers": headers})()

    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert retry_after(Failed({"retry-after": "2"})) == 2.0
    assert retry_after(Failed({"retry-after-ms": "1500"})) == 1.5
    assert 25 <= retry_after(Failed({"retry-after": later})) <= 31
    assert retry_after(Failed({"retry-after": "soon"})) is None
    assert retry_after(Failed({})) is None and retry_after(ValueError()) is None


# --------------------------------------------------------------------------------------------- two writers
def _generate(url: str, out: Path, *extra: str, **popen: object) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "llmmusic.cli", "generate", "--out", str(out), "--genres", "Jazz,Rock",
           "--styles", "Swing,Waltz", "--base-url", url, "--model", "stub", "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_second_writer_is_refused_and_the_first_one_finishes_cleanly(tmp_path):
    out = tmp_path / "ds"
    with StubLLM(default="hang") as stub:
        first = _generate(stub.base_url, out, "--concurrency", "2")
        _wait_for(lambda: len(stub.requests) >= 2, "the first writer's requests")
        second = _generate(stub.base_url, out, "--concurrency", "2")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and f"pid {first.pid}" in err and "Traceback" not in err
        assert len(stub.requests) == 2  # the refused writer asked nothing
        stub.release.set()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    rows = _assert_consistent(out)
    assert len(rows) == 4 and len({(r["genre"], r["style"], r["index"]) for r in rows}) == 4


def test_lock_names_its_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    with FolderLock(tmp_path, "test"):
        with pytest.raises(DatasetLocked, match=f"pid {os.getpid()}") as err:
            FolderLock(tmp_path).acquire()
        assert err.value.holder == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": int(dead.stdout)}))  # left by a process now gone
    with FolderLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


# --------------------------------------------------------------------------------------------- stopping
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_ends_at_once_and_writes_nothing_after_its_log(tmp_path, sig, code):
    out = tmp_path / "ds"
    with StubLLM(["ok"], default="hang") as stub:
        proc = _generate(stub.base_url, out, "--concurrency", "2")
        _wait_for(lambda: len(stub.requests) >= 3, "requests in flight")  # one answered, two hanging
        _wait_for(lambda: (out / "manifest.jsonl").exists(), "the first row")
        start = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - start
        stub.release.set()  # the abandoned requests get their replies now: nothing may be written
        time.sleep(1.0)
    assert proc.returncode == code and "Traceback" not in err and "interrupted" in err
    assert stopped_in < 10
    rows = _assert_consistent(out)
    run = read_manifest_rows(out / "runs.jsonl")[-1]
    assert run["interrupted"] is True and run["interrupted_attempts"] == 2
    assert len(rows) == run["attempts"] == 3
    assert [r["failure"] for r in rows[1:]] == ["interrupted", "interrupted"]


def test_a_run_without_any_valid_piece_exits_non_zero(tmp_path):
    with StubLLM(default="badjson") as stub:
        proc = _generate(stub.base_url, tmp_path / "ds", "--limit", "1")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "no valid piece" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------- credentials
def test_credentials_in_the_base_url_are_never_written(tmp_path):
    out = tmp_path / "ds"
    with StubLLM() as stub:
        host = stub.base_url.removeprefix("http://")
        proc = _generate(f"http://alice:pa55word@{host}?api-key=T0PSECRET&api-version=1", out, "--limit", "1")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    run = read_manifest_rows(out / "runs.jsonl")[-1]
    assert run["llm"]["base_url"] == f"http://REDACTED@{host}?api-key=REDACTED&api-version=1"
    for path in (p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert b"pa55word" not in data and b"T0PSECRET" not in data and b"alice" not in data, path


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("https://u:p@h.io/v1", "https://REDACTED@h.io/v1"),
    ("https://h.io/v1?key=s&api-version=2024", "https://h.io/v1?key=REDACTED&api-version=2024"),
    ("https://tok@h.io/v1#x", "https://REDACTED@h.io/v1"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


# --------------------------------------------------------------------------------------------- files
def test_a_complete_last_row_missing_its_newline_is_kept(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"a": 1}\n{"b": 2, "usage": {"completion_tokens": 5}}')
    assert read_manifest_rows(path)[-1]["usage"] == {"completion_tokens": 5}
    assert repair_torn_tail(path) is True
    assert path.read_text() == '{"a": 1}\n{"b": 2, "usage": {"completion_tokens": 5}}\n'
    assert repair_torn_tail(path) is False


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A 4-piece dataset made through the stub endpoint."""
    out = tmp_path_factory.mktemp("stubbed") / "ds"
    with StubLLM() as stub:
        _run(stub.base_url, out)
    return out


def test_a_changed_midi_file_is_named_even_with_a_warm_roll_cache(dataset, tmp_path):
    import shutil

    from llmmusic.experiments import cnn

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    cache = tmp_path / "rolls"
    assert len(cnn.llm_rollset(copy, cache_folder=cache)) == 4  # the cache is warm now
    victim = next((copy / "midi").rglob("*.mid"))
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.raises(DataError, match=victim.name):
        cnn.llm_rollset(copy, cache_folder=cache)


def test_a_corrupt_midi_with_a_matching_hash_is_named_by_the_reader(dataset, tmp_path):
    import shutil

    from llmmusic.data.midi import MidiReadError

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    rows = read_manifest_rows(copy / "manifest.jsonl")
    victim = next(r for r in rows if r["status"] == "valid")
    (copy / victim["path"]).write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    victim["midi_sha256"] = hashlib.sha256(b"MThd\x00\x00\x00\x06\x00\x01").hexdigest()
    (copy / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(MidiReadError, match=Path(victim["path"]).name):
        load_pieces(copy)


def test_human_roll_cache_follows_file_content(dataset, tmp_path):
    import shutil

    import pandas as pd

    from llmmusic.experiments import cnn

    files = tmp_path / "human"
    shutil.copytree(dataset / "midi", files)
    table = pd.DataFrame({"path": [str(p) for p in sorted(files.rglob("*.mid"))]})
    key = cnn.human_rollset(table, cache_folder=tmp_path / "rolls").key
    assert cnn.human_rollset(table, cache_folder=tmp_path / "rolls").key == key
    first = Path(table["path"][0])
    first.write_bytes(b"garbage")
    changed = cnn.human_rollset(table, cache_folder=tmp_path / "rolls")
    assert changed.key != key and list(changed.failures["path"]) == [str(first)]


def test_a_torn_roll_cache_file_is_rebuilt(tmp_path):
    import numpy as np

    from llmmusic.data.pianoroll import cached_arrays

    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04 torn")
    arrays = cached_arrays("x.npz", lambda: {"a": np.arange(3)}, folder=tmp_path)
    assert arrays["a"].tolist() == [0, 1, 2]
    assert cached_arrays("x.npz", lambda: {"a": np.arange(0)}, folder=tmp_path)["a"].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------------- checkpoints
def test_checkpoints_round_trip_their_metadata_as_json(tmp_path):
    import numpy as np
    import torch

    from llmmusic import checkpoint

    state = {"w": torch.arange(4.0)}
    path = checkpoint.save(tmp_path / "m.pt", state, {"heads": {"genre": ["A"]}, "best": np.int64(3),
                                                      "fractions": (0.8, 0.2), "where": tmp_path})
    loaded, meta = checkpoint.load(path)
    assert torch.equal(loaded["w"], state["w"])
    assert meta == {"heads": {"genre": ["A"]}, "best": 3, "fractions": [0.8, 0.2], "where": str(tmp_path)}
    legacy = tmp_path / "old.pt"  # the earlier layout: metadata as plain containers beside the weights
    torch.save({"state_dict": state, "heads": {"genre": ["A"]}, "extra": {"bars": 8}}, legacy)
    assert checkpoint.load(legacy)[1] == {"heads": {"genre": ["A"]}, "extra": {"bars": 8}}


class _Payload:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_runs_no_code(tmp_path):
    import torch

    from llmmusic import checkpoint
    from llmmusic.experiments.cnn import load_model
    from llmmusic.experiments.melody.model import load_checkpoint

    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "heads": _Payload(marker)}, path)
    for load in (checkpoint.load, load_model, load_checkpoint):
        with pytest.raises(DataError, match="not a readable llmmusic checkpoint"):
            load(path)
    assert not marker.exists()
