"""A recording OpenAI-compatible endpoint on 127.0.0.1 for tests that need no model (not a test module).

``Endpoint(script)`` serves ``POST /v1/chat/completions`` in a thread. Each request takes the next
behaviour of ``script`` (then ``default``); every request's headers (names in lower case) and JSON
body are kept in ``requests``. Behaviours:

* ``ok``: a valid reply: a 4-track piece for a generation prompt (16 / 8 / 8 / 16 events, as the
  paper's schema asks), or ``Jazz`` (``{"label": "Jazz"}`` with a response format) for a zero-shot one.
* ``bad``: status 200, a reply that is no piece (the generation parser records it as invalid).
* ``400``: a request error (not retried by the client; the attempt becomes an ``error`` row).
* any other ``str``: status 200 with that text as the reply.

``GET`` of any path (``/v1/models``, ``/tokenize``) answers 404, so label tokenisation falls back to
matching token strings.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable


def _events(n: int, low: int, drums: bool = False) -> list[list[int]]:
    return [[(36 if drums else low) + k % 3, 480, 90, (480 * k) % 7680] for k in range(n)]


PIECE = {"melody": _events(16, 60), "chords": _events(8, 48), "bass": _events(8, 36), "rhythm": _events(16, 36, True)}
ZEROSHOT_MARK = "Here is a piece of music in JSON form"


def completion(content: str, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion body holding ``content``."""
    return {"id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def ok_content(body: dict[str, Any]) -> str:
    """The ``ok`` reply to a request body."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    if ZEROSHOT_MARK in text:
        return json.dumps({"label": "Jazz"}) if body.get("response_format") else "Jazz"
    return json.dumps(PIECE)


class Endpoint:
    """The endpoint; use as a context manager (``with Endpoint() as ep: ep.base_url``)."""

    def __init__(self, script: Iterable[str] = (), default: str = "ok") -> None:
        self.script = deque(script)
        self.default = default
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"} per chat request
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with endpoint._lock:
                    endpoint.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    how = endpoint.script.popleft() if endpoint.script else endpoint.default
                if how == "400":
                    self._send(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
                elif how == "ok":
                    self._send(200, completion(ok_content(body)))
                elif how == "bad":
                    self._send(200, completion("I cannot write music, sorry."))
                else:
                    self._send(200, completion(how))

            def do_GET(self) -> None:  # noqa: N802
                self._send(404, {"error": {"message": "not found"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "Endpoint":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def seeds(self) -> list[int | None]:
        """The ``seed`` of every chat request, in order."""
        return [r["body"].get("seed") for r in self.requests]
