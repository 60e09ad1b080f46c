"""Embedded-server helpers that need no model: health probing of real HTTP servers, CPU flags."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmmusic.generation.server import cmake_isa_options, free_port, is_healthy


def _serve(routes: dict[str, int]) -> ThreadingHTTPServer:
    """A real local HTTP server answering each path with the given status (404 elsewhere)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(routes.get(self.path, 404))
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("routes,healthy", [
    ({"/health": 200}, True),                       # llama-server, ready
    ({"/health": 503, "/v1/models": 200}, False),   # llama-server, still loading the model
    ({"/v1/models": 200}, True),                    # llama-cpp-python's server: no /health route
    ({}, False),                                    # something else on the port
])
def test_health_probe(routes, healthy):
    server = _serve(routes)
    try:
        assert is_healthy(f"http://127.0.0.1:{server.server_address[1]}") is healthy
    finally:
        server.shutdown()


def test_nothing_listening_is_not_healthy():
    assert is_healthy(f"http://127.0.0.1:{free_port()}", timeout=0.5) is False


def test_isa_options_switch_on_only_reported_flags():
    assert all(o.endswith("=OFF") for o in cmake_isa_options(set()))
    opts = cmake_isa_options({"avx2", "fma"})
    assert {o for o in opts if o.endswith("=ON")} == {"-DGGML_AVX2=ON", "-DGGML_FMA=ON"}
    assert "-DGGML_AVX512=OFF" in opts
