"""A scripted OpenAI-compatible endpoint on 127.0.0.1 for tests (stdlib ``http.server``; not a test module).

``StubLLM(script)`` answers ``POST /v1/chat/completions`` with one behaviour per request, taken in order
from ``script`` (then ``default``), and records every request it received:

* ``ok``: a valid 4-track piece for the paper prompt (schema counts 16/8/8/16).
* ``429``: rate limited, ``Retry-After: 1``.     * ``500``: server error, ``Retry-After: 0``.
* ``badjson``: status 200 with a body that is not JSON.
* ``cut``: a completion body cut short (the connection closes before ``Content-Length`` bytes).
* ``truncated``: a completion whose content is a piece cut mid-way (``finish_reason: length``).
* ``slow``: ``ok`` after :attr:`StubLLM.slow_s` seconds.
* ``hang``: ``ok`` once :attr:`StubLLM.release` is set (or after 60 s).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _events(n: int, low: int, drums: bool = False) -> list[list[int]]:
    return [[(36 if drums else low) + k % 3, 480, 90, (480 * k) % 7680] for k in range(n)]


PIECE = {"melody": _events(16, 60), "chords": _events(8, 48), "bass": _events(8, 36), "rhythm": _events(16, 36, True)}


def completion(content: str, finish_reason: str = "stop") -> bytes:
    """A chat completion body holding ``content``."""
    return json.dumps({"id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
                       "choices": [{"index": 0, "finish_reason": finish_reason,
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) leaves a broken pipe: expected here


class StubLLM:
    """The endpoint; use as a context manager. ``requests`` holds one dict per request received
    (``time``, ``behaviour``, ``seed``, ``body``)."""

    def __init__(self, script: list[str] | None = None, default: str = "ok", slow_s: float = 3.0) -> None:
        self.script = deque(script or [])
        self.default = default
        self.slow_s = slow_s
        self.release = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "StubLLM":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any]) -> str:
        with self._lock:
            behaviour = self.script.popleft() if self.script else self.default
            self.requests.append({"time": time.monotonic(), "behaviour": behaviour, "seed": body.get("seed"),
                                  "body": body})
            return behaviour

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                behaviour = stub._next(body)
                if behaviour == "429":
                    self._send(429, json.dumps({"error": {"message": "slow down"}}).encode(), {"Retry-After": "1"})
                elif behaviour == "500":
                    self._send(500, json.dumps({"error": {"message": "boom"}}).encode(), {"Retry-After": "0"})
                elif behaviour == "badjson":
                    self._send(200, b"this is not json {")
                elif behaviour == "cut":
                    data = completion(json.dumps(PIECE))
                    self._send(200, data[: len(data) // 2], {"Content-Length": str(len(data))})
                elif behaviour == "truncated":
                    self._send(200, completion(json.dumps(PIECE)[:300], finish_reason="length"))
                else:
                    if behaviour == "slow":
                        time.sleep(stub.slow_s)
                    elif behaviour == "hang":
                        stub.release.wait(60)
                    self._send(200, completion(json.dumps(PIECE)))

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def log_message(self, *args: object) -> None:
                pass

        return Handler
