"""Shared pytest fixtures.

``shared_data`` gives the folder of human-made MIDI kept beside the project
(``../shared/data`` from the repository root, or ``$LLMMUSIC_SHARED_DATA``) and skips the test
with a reason when it is absent, as it is in a fresh clone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """Where the shared data folder is expected (it may not exist)."""
    env = os.environ.get("LLMMUSIC_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set LLMMUSIC_SHARED_DATA to use another)")
    return path


def require_shared(shared_data: Path, *parts: str) -> Path:
    """``shared_data / parts``; skips the test with a reason when that path is absent."""
    path = shared_data.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path
