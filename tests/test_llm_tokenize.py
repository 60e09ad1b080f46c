"""LLMClient.tokenize: what it sends (to ``/tokenize`` at the endpoint's root, with the client's own headers),
its cache, and the fall-back of the zero-shot label tokenisations when an endpoint has no ``/tokenize``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmmusic.generation.llm import LLMClient


@pytest.fixture
def tokenizer():
    """An endpoint whose ``/tokenize`` (at the root, as llama-server's) splits any text in two; other paths 404."""
    seen: list[tuple[str, str | None, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization"), body))
            text = body.get("content", "")
            ok = self.path == "/tokenize"
            payload = ({"tokens": [{"id": 100, "piece": text[:3]}, {"id": 101, "piece": text[3:]}]} if ok
                       else {"error": {"message": "not found"}})
            data = json.dumps(payload).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_tokenize_asks_the_endpoint_root_once_then_reads_the_cache(tokenizer, tmp_path, monkeypatch):
    from llmmusic.generation.llm import CacheMiss

    root, seen = tokenizer
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    client = LLMClient(base_url=root + "/v1", model="m", cache=tmp_path / "c.sqlite")
    assert client.tokenize_pieces("Funky") == [(100, "Fun"), (101, "ky")]
    assert client.tokenize("Funky") == [100, 101]  # from the cache
    assert seen == [("/tokenize", "Bearer sk-test", {"content": "Funky", "add_special": False, "with_pieces": True})]
    assert client.stats.calls == 0 and client.stats.cache_hits == 0  # the stats count chat completions only
    again = LLMClient(base_url=root + "/v1", model="m", cache=tmp_path / "c.sqlite", cache_only=True)
    assert again.tokenize("Funky") == [100, 101] and len(seen) == 1
    with pytest.raises(CacheMiss):
        again.tokenize("Folky")


def test_an_endpoint_without_tokenize_raises_and_label_tokens_fall_back(tokenizer, tmp_path):
    import openai

    from llmmusic.experiments.zeroshot import LabelTokens

    root, seen = tokenizer
    client = LLMClient(base_url=root + "/elsewhere/v1", model="m", cache=tmp_path / "c.sqlite")
    with pytest.raises(openai.NotFoundError):
        client.tokenize("Funky")
    assert seen[0][0] == "/elsewhere/tokenize"
    tokens = LabelTokens(client, tmp_path / "tokens.json")
    assert tokens.get("Funky") is None and tokens.get("Folky") is None
    assert len(seen) == 2 and not (tmp_path / "tokens.json").exists()  # unavailable: asked once
