"""CNN checkpoints: :func:`save_model` and :func:`load_model` over :mod:`llmmusic.checkpoint` (weights plus
JSON facts: heads, config, history, best epoch, caller's extras; nothing is unpickled)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

import torch

from llmmusic.data import pianoroll
from llmmusic.experiments.cnn.model import build_model
from llmmusic.experiments.cnn.train import TrainResult


def save_model(result: TrainResult, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Save weights, heads, config and history to ``path`` (a ``.pt`` file, written atomically; the
    facts other than weights are JSON, see :mod:`llmmusic.checkpoint`)."""
    from llmmusic import checkpoint

    meta = {"heads": result.heads, "config": asdict(result.config), "history": result.history.to_dict(orient="list"),
            "best_epoch": result.best_epoch, "torch": torch.__version__, "extra": dict(extra or {})}
    return checkpoint.save(path, result.model.state_dict(), meta)


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by :func:`save_model` (never unpickles Python objects).

    Returns:
        ``(model in eval mode on CPU, info)`` where info has heads, config, history, best_epoch, extra.
    Raises:
        DataError: the file is not such a checkpoint.
    """
    from llmmusic import checkpoint
    from llmmusic.errors import DataError

    state, info = checkpoint.load(path)
    try:
        cfg = info["config"]
        in_channels = state["features.0.weight"].shape[1]
        model = build_model({k: len(v) for k, v in info["heads"].items()}, cfg["channels"], cfg["dropout"],
                            in_channels=in_channels, pitches=int(info.get("extra", {}).get("pitches", pianoroll.N_PITCHES)))
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise DataError(f"{path}: not a CNN checkpoint of llmmusic ({type(exc).__name__}: {str(exc)[:200]})") from None
    model.eval()
    return model, info
