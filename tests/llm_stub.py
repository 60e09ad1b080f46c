"""A scripted, recording OpenAI-compatible endpoint on 127.0.0.1 for tests that need no model (not a test module).

``StubLLM(script)`` serves ``POST /v1/chat/completions`` in a thread (stdlib ``http.server``). Each request
takes the next behaviour of ``script`` (then ``default``); every request is kept in ``requests`` as
``{"time", "behaviour", "seed", "path", "headers" (names in lower case), "body"}``. Behaviours:

* ``ok``: a valid reply: a 4-track piece for a generation prompt (16 / 8 / 8 / 16 events, as the
  paper's schema asks), or ``Jazz`` (``{"label": "Jazz"}`` with a response format) for a zero-shot one.
* ``slow``: ``ok`` after :attr:`StubLLM.slow_s` seconds.  * ``hang``: ``ok`` once :attr:`StubLLM.release`
  is set (or after 60 s).
* ``bad``: status 200, a reply that is no piece (the generation parser records it as invalid).
* ``truncated``: a completion whose content is a piece cut mid-way (``finish_reason: length``).
* ``400``: a request error (not retried by the client).
* ``429``: rate limited, ``Retry-After: 1``.     * ``500``: server error, ``Retry-After: 0``.
* ``badjson``: status 200 with a body that is not JSON.
* ``cut``: a completion body cut short (the connection closes before ``Content-Length`` bytes).
* any other ``str``: status 200 with that text as the reply.

``StubLLM(answer=fn)`` answers every request with ``fn(body) -> (status, JSON payload)`` instead.
``GET /health`` answers 200 (a batch runner's readiness check); ``GET`` of any other path
(``/v1/models``, ``/tokenize``) answers 404, so label tokenisation falls back to matching token strings.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable


def _events(n: int, low: int, drums: bool = False) -> list[list[int]]:
    return [[(36 if drums else low) + k % 3, 480, 90, (480 * k) % 7680] for k in range(n)]


PIECE = {"melody": _events(16, 60), "chords": _events(8, 48), "bass": _events(8, 36), "rhythm": _events(16, 36, True)}
ZEROSHOT_MARK = "Here is a piece of music in JSON form"
#: Replies of the ``plan`` variant: its plan call, then its compose call (``bars`` with a drum groove).
PLAN = {"sound": "bright", "tempo": 132, "key": "D major", "progression": "D G A D", "drums": "backbeat",
        "bass": "roots", "melody": "stepwise"}
BARS = {"bars": [["D", [["F#4", 1, 4], ["A4", 5, 4]], [["D2", 1, 16]]]] * 8,
        "drums": [["kick", "x...x...x...x..."], ["snare", "....x.......x..."]]}


def completion(content: str, finish_reason: str = "stop", usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chat completion body holding ``content`` (``usage``: 10 prompt + 20 completion tokens unless given)."""
    return {"id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def ok_content(body: dict[str, Any]) -> str:
    """The ``ok`` reply to a request body."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    if ZEROSHOT_MARK in text:
        return json.dumps({"label": "Jazz"}) if body.get("response_format") else "Jazz"
    return json.dumps(PIECE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) leaves a broken pipe: expected here


class StubLLM:
    """The endpoint; use as a context manager (``with StubLLM() as stub: stub.base_url``)."""

    def __init__(self, script: Iterable[str] = (), default: str = "ok", slow_s: float = 3.0,
                 answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] | None = None) -> None:
        self.script = deque(script)
        self.answer = answer
        self.default = default
        self.slow_s = slow_s
        self.release = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []  # the JSON body of every request, in order
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "StubLLM":
        """Serve in a thread."""
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (nothing listens there after)."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "StubLLM":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def seeds(self) -> list[int | None]:
        """The ``seed`` of every chat request, in order."""
        return [r["seed"] for r in self.requests]

    def _next(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> str:
        with self._lock:
            behaviour = self.script.popleft() if self.script else self.default
            self.requests.append({"time": time.monotonic(), "behaviour": behaviour, "seed": body.get("seed"),
                                  "path": path, "headers": headers, "body": body})
            self.bodies.append(body)
            return behaviour

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                how = stub._next(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if stub.answer is not None:
                    self._send(*stub.answer(body))
                elif how in ("ok", "slow", "hang"):
                    if how == "slow":
                        time.sleep(stub.slow_s)
                    elif how == "hang":
                        stub.release.wait(60)
                    self._send(200, completion(ok_content(body)))
                elif how == "bad":
                    self._send(200, completion("I cannot write music, sorry."))
                elif how == "truncated":
                    self._send(200, completion(json.dumps(PIECE)[:300], finish_reason="length"))
                elif how == "400":
                    self._send(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
                elif how == "429":
                    self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
                elif how == "500":
                    self._send(500, {"error": {"message": "boom"}}, {"Retry-After": "0"})
                elif how == "badjson":
                    self._send_bytes(200, b"this is not json {")
                elif how == "cut":
                    data = json.dumps(completion(json.dumps(PIECE))).encode()
                    self._send_bytes(200, data[: len(data) // 2], {"Content-Length": str(len(data))})
                else:
                    self._send(200, completion(how))

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/").endswith("/health"):
                    self._send(200, {"status": "ok"})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_bytes(status, json.dumps(payload).encode(), headers)

            def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
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
