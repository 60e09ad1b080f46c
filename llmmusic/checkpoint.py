"""Model checkpoints that cannot run code when loaded: tensors plus JSON metadata.

A checkpoint is a ``torch.save`` file holding ``{"format", "state_dict", "meta"}``: the weights as
tensors and every other fact (heads, configuration, history, data splits) as one JSON string. It is
read with ``torch.load(weights_only=True)``, whose unpickler rebuilds tensors and plain containers
only, so a crafted file raises an error instead of running code.

Used in: ``llmmusic.experiments.cnn`` and ``llmmusic.experiments.melody.model`` (``llmmusic cnn|melody train|eval``).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Mapping

from llmmusic.errors import DataError

FORMAT = "llmmusic-checkpoint-v1"


def _plain(value: Any) -> Any:
    """JSON for the numpy scalars, arrays and paths that metadata may hold."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays, tensors
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def save(path: str | os.PathLike, state_dict: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write ``state_dict`` (tensors) and ``meta`` (JSON-able facts) to ``path`` atomically."""
    import torch

    from llmmusic import atomic

    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "state_dict": dict(state_dict),
                "meta": json.dumps(dict(meta), default=_plain, sort_keys=True)}, buffer)
    return atomic.write_bytes(path, buffer.getvalue())


def load(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, meta)`` of a checkpoint written by :func:`save`, on the CPU.

    Checkpoints written before this format (the metadata as plain Python containers) load as well
    when they hold nothing but tensors and containers.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataError: not a checkpoint, corrupt, or holding Python objects (which are never unpickled).
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such checkpoint", str(path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable llmmusic checkpoint ({first[:200]}); expected weights and "
                        "JSON metadata (retrain with `llmmusic cnn|melody train`)") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise DataError(f"{path}: not an llmmusic checkpoint (expected a dict with a state_dict)")
    if payload.get("format") == FORMAT:
        try:
            meta = json.loads(payload["meta"])
        except (TypeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: its metadata is not valid JSON ({exc})") from None
    else:  # an older checkpoint: the metadata sits beside the weights
        meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return payload["state_dict"], meta
