"""The API key reaches the endpoint and nothing else: not the dataset, the caches, the package home, the
logs or a built artefact. Runs the commands a user runs, against a recording endpoint on 127.0.0.1."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pandas as pd

from llm_stub import StubLLM

REPO = Path(__file__).resolve().parents[1]


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "llmmusic.cli", "-v", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_the_key_is_sent_and_written_nowhere(tmp_path):
    secret = "sk-test-DO-NOT-STORE-" + secrets.token_hex(12)
    home, book = tmp_path / "home", tmp_path / "book" / "executed"
    env = {**os.environ, "OPENAI_API_KEY": secret, "LLMMUSIC_HOME": str(home), "LLMMUSIC_BOOK_EXECUTED": str(book)}
    out, calls, zs = tmp_path / "dataset", tmp_path / "calls" / "cache.sqlite", tmp_path / "zeroshot"
    logs = []
    with StubLLM() as ep:
        llm = ["--base-url", ep.base_url, "--model", "stub"]
        logs.append(_cli(["generate", *llm, "--out", str(out), "--cache", str(calls), "--genres", "Jazz",
                          "--styles", "Swing,Waltz,Dark", "--no-progress"], env))
        logs.append(_cli(["dataset", "card", str(out)], env))
        logs.append(_cli(["zeroshot", "run", *llm, "--sets", "llm-midi", "--dataset", str(out), "--modes", "free,json",
                          "--n-llm-midi", "3", "--cache", str(zs / "cache.sqlite"), "--pin", str(zs / "pin.json"),
                          "--out", str(zs / "results.jsonl")], env))
        logs.append(_cli(["cnn", "train", "--dataset", str(out), "--limit", "3", "--epochs", "1", "--channels", "4",
                          "--mode", "binary", "--n-boot", "10", "--out", str(tmp_path / "cnn.json")], env))
        # a built artefact: a chapter's table with its provenance stamp, made with the key in the environment
        artefact = subprocess.run([sys.executable, "-c", (
            "import sys, pandas as pd\n"
            "from llmmusic.generation.llm import LLMClient\n"
            "from llmmusic.book.provenance import Provenance\n"
            "client = LLMClient(base_url=sys.argv[1], model='stub')\n"
            "prov = Provenance('03_zeroshot', {'base_url': sys.argv[1], 'model': 'stub'}, "
            "inputs={'results': sys.argv[2]}, llm=client.describe(), show=False)\n"
            "prov.table(pd.read_json(sys.argv[2], lines=True), 'results', 'zero-shot answers')\n"),
            ep.base_url, str(zs / "results.jsonl")], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert artefact.returncode == 0, artefact.stderr[-3000:]
        logs.append(artefact.stdout + artefact.stderr)

    # the key went out, on every request, as the bearer token
    # three pieces, then two questions in two modes (the stub's three pieces have the same notes, so the
    # second and third piece ask the same requests again and get them from the cache)
    assert len(ep.requests) == 3 + 2 * 2
    assert {r["headers"].get("authorization") for r in ep.requests} == {f"Bearer {secret}"}

    # ... and came back nowhere: every file the runs wrote, wherever they wrote it, and every line they printed
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    places = {p.relative_to(tmp_path).parts[0] for p in written}
    assert {"dataset", "calls", "zeroshot", "home", "book", "cnn.json"} <= places, places
    assert any(p.suffix == ".pt" for p in (home / "models").iterdir())  # the checkpoint lives in the home
    assert (out / "DATASET.md").is_file() and any((home / "rolls").iterdir())
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    for text in logs:
        assert secret not in text
    results = pd.read_json(zs / "results.jsonl", lines=True)
    assert len(results) == 12 and results.query("task == 'llm-genre'")["raw"].eq("Jazz").all()
