"""``llmmusic serve``: run the embedded llama-server in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from llmmusic.generation.server import DEFAULT_MODEL, MODELS, EmbeddedServer
from llmmusic.commands._options import port, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the embedded OpenAI-compatible llama-server in the foreground")
    p.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL)
    p.add_argument("--parallel", type=positive_int, default=4, help="slots (continuous batching)")
    p.add_argument("--port", type=port, help="port on 127.0.0.1 (default: a free one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    server = EmbeddedServer(model=args.model, parallel=args.parallel, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on `kill` too
    info = server.start()
    print(f"{info.engine} serving {info.model_key} at {info.base_url} (Ctrl-C to stop)", flush=True)
    try:
        while server.process is None or server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
