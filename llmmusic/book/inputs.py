"""What a result came from: its inputs' content hashes, the checkout's git state.

:func:`hash_input` identifies a file or folder by content; :func:`git_state` names the commit and
whether the checkout differs from it; :func:`relative_to_root` writes paths as the repository sees them.

Used in: llmmusic/book/provenance.py, llmmusic/book/headline.py, llmmusic/book/parameters.py, the experiments.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from llmmusic.paths import ROOT


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_input(path: str | Path | None) -> dict[str, Any]:
    """Identify one input by content.

    A file is hashed by its bytes; a dataset folder by its ``manifest.jsonl`` (which names every
    MIDI file with its sha256); any other folder by the listing of its files with their sizes.

    Args:
        path: a file or folder (``None`` or a missing path is recorded as missing).
    Returns:
        ``{"path", "method" ("file" | "manifest" | "listing" | "missing"), "sha256", "bytes"}``.
    """
    if path is None:
        return {"path": None, "method": "missing", "sha256": None, "bytes": None}
    path = Path(path)
    shown = relative_to_root(path)
    if path.is_file():
        return {"path": shown, "method": "file", "sha256": sha256_file(path), "bytes": path.stat().st_size}
    if path.is_dir():
        manifest = path / "manifest.jsonl"
        if manifest.is_file():
            return {"path": shown, "method": "manifest", "sha256": sha256_file(manifest),
                    "bytes": manifest.stat().st_size}
        files = sorted(p for p in path.rglob("*") if p.is_file())
        listing = "".join(f"{p.relative_to(path).as_posix()}\t{p.stat().st_size}\n" for p in files)
        return {"path": shown, "method": "listing", "sha256": hashlib.sha256(listing.encode()).hexdigest(),
                "bytes": sum(p.stat().st_size for p in files)}
    return {"path": shown, "method": "missing", "sha256": None, "bytes": None}


def relative_to_root(path: str | Path) -> str:
    """``path`` relative to the repository root when inside it, else absolute (POSIX form)."""
    path = Path(path)
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.resolve().as_posix() if path.exists() else path.as_posix()


# ---------------------------------------------------------------------------------------------- git
def git_state(root: str | Path = ROOT) -> dict[str, Any]:
    """The repository's commit and whether tracked files differ from it.

    Returns:
        ``{"commit": sha or None, "dirty": bool or None}`` (``None`` outside a git checkout).
    """
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


