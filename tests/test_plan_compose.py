"""Plan then compose through the real generator and client, against a local OpenAI-compatible endpoint
on 127.0.0.1 that answers plan and compose requests and fails the first plan call."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmmusic.dataset import read_manifest_rows
from llmmusic.generate import GenerateConfig, Generator
from llmmusic.llm import LLMClient
from llmmusic.midi import midi_to_piece

PLAN = {"sound": "bright", "tempo": 132, "key": "D major", "progression": "D G A D", "drums": "backbeat",
        "bass": "roots", "melody": "stepwise"}
BARS = {"bars": [["D", [["F#4", 1, 4], ["A4", 5, 4]], [["D2", 1, 16]]]] * 8,
        "drums": [["kick", "x...x...x...x..."], ["snare", "....x.......x..."]]}


@pytest.fixture
def endpoint():
    log: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            kind = "plan" if "Before writing" in body["messages"][0]["content"] else "compose"
            log.append(kind)
            if kind == "plan" and log.count("plan") == 1:
                data, status = json.dumps({"error": {"message": "bad request"}}).encode(), 400
            else:
                content = json.dumps(PLAN if kind == "plan" else BARS)
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
                data, status = json.dumps(reply).encode(), 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", log
    server.shutdown()


def _run(url, out):
    client = LLMClient(base_url=url, model="m", cache=out / "cache.sqlite", max_retries=0)
    config = GenerateConfig(out=out, variant="plan", genres=["Jazz"], styles=["Swing"])
    summary = Generator(config, client).run(concurrency=1, progress=False)
    return summary, client


def test_failed_plan_is_recorded_then_retried_and_both_calls_are_cached(endpoint, tmp_path):
    url, log = endpoint
    out = tmp_path / "ds"
    summary, _ = _run(url, out)  # the plan call fails: recorded with its reason, no compose call
    rows = read_manifest_rows(out / "manifest.jsonl")
    assert [r["status"] for r in rows] == ["error"] and rows[0]["failure"] == "plan_call_error:BadRequestError"
    assert log == ["plan"] and summary.songs_valid == 0

    summary, _ = _run(url, out)  # the next run retries the song: plan, then compose
    rows = read_manifest_rows(out / "manifest.jsonl")
    assert log == ["plan", "plan", "compose"] and summary.songs_valid == 1
    valid = rows[-1]
    assert valid["status"] == "valid" and valid["plan_cache_key"] and valid["plan_cache_key"] != valid["cache_key"]
    assert json.loads((out / valid["plan_path"]).read_text()) == PLAN
    piece = midi_to_piece(out / valid["path"])
    assert piece.meta["tempo_bpm"] == 132 and piece.meta["key"] == "D major"  # from the plan

    # a fresh dataset from the same cache makes zero calls and identical files
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "cache.sqlite").write_bytes((out / "cache.sqlite").read_bytes())
    summary, client = _run(url, copy)
    assert log == ["plan", "plan", "compose"] and client.stats.calls == 0 and client.stats.cache_hits == 2
    again = read_manifest_rows(copy / "manifest.jsonl")[-1]
    assert again["midi_sha256"] == valid["midi_sha256"]
    assert (copy / again["plan_path"]).read_bytes() == (out / valid["plan_path"]).read_bytes()
