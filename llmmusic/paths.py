"""Where things live: the repository root (``ROOT``) and the package's machine-local caches
(built server binary, assembled model) under :func:`home`.

``LLMMUSIC_HOME`` overrides the default ``~/.cache/llmmusic``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root: the folder holding ``llmmusic/``, ``data/``, ``notebooks/`` and ``book/``.
ROOT = Path(__file__).resolve().parents[1]


def home() -> Path:
    """The package's cache root (created on demand)."""
    root = Path(os.environ.get("LLMMUSIC_HOME", Path.home() / ".cache" / "llmmusic"))
    root.mkdir(parents=True, exist_ok=True)
    return root
