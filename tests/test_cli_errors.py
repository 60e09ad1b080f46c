"""Bad input through the real command line: each row is an input, the exit code and a phrase of the one-line
message; no traceback, and no file that existed before is changed (or a new one left behind)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_stub import StubLLM
from llmmusic.generation.generate import Generator
from llmmusic.generation.songs import GenerateConfig
from llmmusic.generation.llm import LLMClient

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "data" / "zeroshot" / "results.jsonl"
NOWHERE = ["--base-url", "http://127.0.0.1:9/v1", "--model", "stub", "--cache-only"]  # never answered


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch ran-code",))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A folder of good and broken inputs: a small dataset and broken copies of it, results files,
    checkpoints that are garbage or crafted to run code, a plain file and an empty folder."""
    import torch

    root = tmp_path_factory.mktemp("sandbox")
    with StubLLM() as stub:
        config = GenerateConfig(out=root / "ds", genres=["Jazz"], styles=["Swing", "Waltz"], max_attempts=2)
        client = LLMClient(base_url=stub.base_url, model="stub", cache=root / "ds" / "cache.sqlite")
        Generator(config, client).run(concurrency=1, progress=False)
        client.close()
    for name in ("bad-manifest", "bad-cache", "bad-params", "bad-midi"):
        shutil.copytree(root / "ds", root / name)
    lines = (root / "bad-manifest" / "manifest.jsonl").read_text().splitlines(keepends=True)
    (root / "bad-manifest" / "manifest.jsonl").write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    (root / "bad-cache" / "cache.sqlite").write_bytes(b"this is no database " * 20)
    (root / "bad-params" / "dataset.json").write_text('{"taxonomy": "paper",')
    midi = next((root / "bad-midi" / "midi").rglob("*.mid"))
    midi.write_bytes(midi.read_bytes()[:30])
    if RESULTS.is_file():
        shutil.copy(RESULTS, root / "results.jsonl")
    else:
        (root / "results.jsonl").write_text(json.dumps({"source": "llm-midi", "task": "llm-genre"}) + "\n")
    (root / "broken.jsonl").write_text("[1, 2]\n{")
    (root / "afile").write_text("a file, not a folder\n")
    (root / "empty").mkdir()
    (root / "garbage.pt").write_bytes(b"\x80\x04 not a checkpoint")
    torch.save({"state_dict": {}, "heads": _Payload()}, root / "crafted.pt")
    return root


def _zeroshot(*args: str) -> list[str]:
    return ["zeroshot", *args, "--cache", "zs.sqlite", "--pin", "pin.json"]


# argv (run in the sandbox), exit code, a phrase of the message
CASES = [
    (["generate", "--out", "new", "--per-combination", "0"], 2, "--per-combination: expected a positive integer, got '0'"),
    (["generate", "--out", "new", "--per-combination", "-3"], 2, "--per-combination: expected a positive integer"),
    (["generate", "--out", "new", "--limit", "-1"], 2, "--limit: expected a positive integer, got '-1'"),
    (["generate", "--out", "new", "--concurrency", "0"], 2, "--concurrency: expected a positive integer"),
    (["generate", "--out", "new", "--concurrency", "-5"], 2, "--concurrency: expected a positive integer"),
    (["generate", "--out", "new", "--max-attempts", "0"], 2, "--max-attempts: expected a positive integer"),
    (["generate", "--out", "new", "--genres", ""], 2, "--genres: expected a comma-separated list of names"),
    (["generate", "--out", "new", "--genres", " , "], 2, "--genres: expected a comma-separated list of names"),
    (["generate", "--out", "new", "--genres", "Jazz,Polka", *NOWHERE], 1, "unknown genre(s) ['Polka']"),
    (["generate", "--out", "new", "--styles", "Swingy", *NOWHERE], 1, "unknown style(s) ['Swingy']"),
    (["generate", "--out", "afile"], 2, "--out: afile is a file; expected a folder"),
    (["generate", "--out", "new", "--timeout", "0"], 2, "--timeout: expected a positive number"),
    (["generate", "--out", "new", "--top-p", "1.5"], 2, "--top-p: expected a number in (0, 1]"),
    (["generate", "--out", "new", "--base-url", "localhost:8000"], 2, "--base-url: expected an http(s) URL"),
    (["generate", "--out", "new", "--base-url", "ftp://u:secret@h/v1", "--model", "m"], 2, "'ftp://REDACTED@h/v1'"),
    (["generate", "--out", "new", "--taxonomy", "nope"], 2, "--taxonomy: invalid choice: 'nope'"),
    (["generate", "--out", "ds", "--max-attempts", "3", *NOWHERE], 1, "made with other parameters"),
    (["generate", "--out", "bad-manifest", "--max-attempts", "2", *NOWHERE], 1,
     "manifest.jsonl: line 2 is not a JSON object"),
    (["generate", "--out", "bad-cache", "--max-attempts", "2", *NOWHERE], 1, "cache.sqlite: not a call cache"),
    (["generate", "--out", "bad-params", "--max-attempts", "2", *NOWHERE], 1, "dataset.json: not valid JSON"),
    (_zeroshot("run", "--modes", "fre", "--out", "results.jsonl"), 2, "--modes: unknown 'fre'; expected some of free"),
    (_zeroshot("run", "--sets", "llm,user", "--out", "results.jsonl"), 2, "--sets: unknown 'llm'"),
    (_zeroshot("run", "--sets", "user", "--out", "results.jsonl"), 1, "--sets user needs --user-folder"),
    (_zeroshot("run", "--sets", "user", "--user-folder", "missing", "--out", "results.jsonl"), 2,
     "--user-folder: missing: no such folder"),
    (_zeroshot("run", "--sets", "user", "--user-folder", "empty", "--out", "results.jsonl"), 1,
     "no labelled MIDI files"),
    (_zeroshot("run", "--sets", "user", "--user-folder", "empty", "--out", "broken.jsonl"), 1,
     "broken.jsonl: line 1 is not a JSON object"),
    (_zeroshot("run", "--n-human", "-2", "--out", "results.jsonl"), 2, "--n-human: expected an integer >= 0"),
    (_zeroshot("summary", "--out", "missing.jsonl"), 1, "missing.jsonl: no results file"),
    (_zeroshot("summary", "--out", "broken.jsonl"), 1, "broken.jsonl: line 1 is not a JSON object"),
    (["cnn", "eval", "--model", "garbage.pt"], 1, "garbage.pt: not a readable llmmusic checkpoint"),
    (["cnn", "eval", "--model", "crafted.pt"], 1, "crafted.pt: not a readable llmmusic checkpoint"),
    (["melody", "eval", "--model", "crafted.pt"], 1, "crafted.pt: not a readable llmmusic checkpoint"),
    (["cnn", "eval", "--model", "missing.pt"], 1, "no checkpoint at missing.pt"),
    (["cnn", "train", "--dataset", "bad-midi", "--epochs", "1", "--model", "m.pt"], 1,
     "its content differs from the sha256"),
    (["cnn", "train", "--dataset", "missing"], 2, "--dataset: missing: no such folder"),
    (["cnn", "train", "--epochs", "0"], 2, "--epochs: expected a positive integer"),
    (["melody", "train", "--dropout", "1.5"], 2, "--dropout: expected a number in [0, 1)"),
    (["dataset", "summary", "bad-manifest"], 1, "manifest.jsonl: line 2 is not a JSON object"),
    (["dataset", "card", "missing"], 2, "missing: no such folder"),
    (["probe", "afile"], 2, "afile is a file; expected a folder"),
    (["serve", "--port", "70000"], 2, "--port: expected a port 1-65535"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMMUSIC_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "llmmusic.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("argv,code,phrase", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_no_file(sandbox, argv, code, phrase):
    before = _snapshot(sandbox)
    done = _cli(argv, sandbox)
    assert done.returncode == code, done.stderr
    assert phrase in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert _snapshot(sandbox) == before  # nothing changed, nothing added (a refused run's lock file is gone)
    assert not (sandbox / "ran-code").exists()


def test_debug_shows_the_traceback(sandbox):
    for argv in (["--debug", "generate"], ["generate", "--debug"]):
        done = _cli([*argv, "--out", "new", "--genres", "Polka", *NOWHERE], sandbox)
        assert done.returncode == 1 and "Traceback" in done.stderr and "UserError: unknown genre(s)" in done.stderr


def test_zeroshot_run_keeps_the_rows_of_other_sets_and_replaces_its_own(sandbox, tmp_path):
    from llmmusic.data.midi import piece_to_midi
    from llmmusic.data.piece import Note, Piece

    work = tmp_path / "work"
    shutil.copytree(sandbox, work, ignore=shutil.ignore_patterns("bad-*", "*.pt"))
    before = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
    for label in ("Jazz", "Rock"):
        piece = Piece(melody=[Note(60 + k, 480, 90, 480 * k) for k in range(8)], chords=[Note(48, 1920, 70, 0)])
        piece_to_midi(piece, work / "user" / label / f"{label.lower()}.mid")
    with StubLLM() as stub:
        argv = _zeroshot("run", "--sets", "user", "--user-folder", "user", "--modes", "free", "--out",
                         "results.jsonl", "--base-url", stub.base_url, "--model", "stub")
        done = _cli(argv, work)
    assert done.returncode == 0, done.stderr
    after = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
    assert [r for r in after if r["source"] != "user"] == [r for r in before if r["source"] != "user"]
    assert sorted(r["truth"] for r in after if r["source"] == "user") == ["Jazz", "Rock"]
