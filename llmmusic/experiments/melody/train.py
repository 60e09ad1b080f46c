"""Training the melody transformer: next-token cross-entropy, AdamW, warm-up + cosine schedule, best epoch kept.

Used in: :mod:`llmmusic.experiments.melody.experiment` (and ``llmmusic melody train``).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import torch
from torch import nn

from llmmusic.experiments.melody.model import MelodyTransformer, pad_batch
from llmmusic.experiments.torch_setup import resolve_device, torch_threads
from llmmusic.progress import report as progress_report


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training sequences.
        batch_size: sequences per step.
        lr: peak learning rate of AdamW (linear warm-up over the first 5 % of steps, cosine decay to 10 %).
        weight_decay: AdamW weight decay.
        grad_clip: gradient-norm clip.
        seed: seed of batch order and dropout.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads for torch while training (:func:`llmmusic.experiments.torch_setup.torch_threads`:
            the count is restored afterwards; ``None`` leaves torch's own). On a small CPU shared with other
            busy processes, 1 thread can be several times faster than oversubscribed cores.
    """

    epochs: int = 15
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None


@dataclass
class TrainResult:
    """What :func:`train_model` did.

    Attributes:
        history: one row per epoch: epoch, train_loss, val_loss (nats per token), seconds.
        best_epoch: the epoch whose weights were kept (lowest validation loss).
        seconds_per_epoch: median wall time of an epoch (training pass only).
        device: where it ran.
        n_parameters: trainable parameters.
        n_sequences, n_tokens: training sequences and predicted tokens per epoch.
    """

    history: pd.DataFrame
    best_epoch: int
    seconds_per_epoch: float
    device: str
    n_parameters: int
    n_sequences: int
    n_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (history as a list of rows)."""
        out = {k: v for k, v in asdict(self).items() if k != "history"}
        out["history"] = self.history.to_dict(orient="records")
        return out


def _loss(model: MelodyTransformer, ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over non-PAD targets, and the number of targets."""
    logits = model(ids[:, :-1])
    target = ids[:, 1:]
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                       ignore_index=model.pad_id)
    return loss, int((target != model.pad_id).sum())


@torch.no_grad()
def evaluate_loss(model: MelodyTransformer, seqs: Sequence[Sequence[int]], batch_size: int = 64,
                  device: torch.device | None = None) -> float:
    """Mean next-token cross-entropy (nats per token) of ``seqs``; ``nan`` for none."""
    if not seqs:
        return float("nan")
    device = device or next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        loss, n = _loss(model, pad_batch(seqs[i:i + batch_size], model.pad_id, device))
        total += float(loss) * n
        count += n
    return total / max(count, 1)


def train_model(model: MelodyTransformer, train: Sequence[Sequence[int]], validation: Sequence[Sequence[int]],
                config: TrainConfig = TrainConfig(), keep_best: bool = True,
                progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``model`` in place with next-token cross-entropy.

    Args:
        model: the transformer (moved to ``config.device``).
        train: training sequences (each starting with BOS).
        validation: held-out sequences for the per-epoch validation loss.
        config: optimisation settings.
        keep_best: restore the weights of the epoch with the lowest validation loss at the end.
        progress: called with each epoch's history row.
    Returns:
        :class:`TrainResult`.
    """
    if not train:
        raise ValueError("no training sequences")
    with torch_threads(config.threads):
        return _train_model(model, train, validation, config, keep_best, progress)


def _train_model(model: MelodyTransformer, train: Sequence[Sequence[int]], validation: Sequence[Sequence[int]],
                 config: TrainConfig, keep_best: bool,
                 progress: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    device = resolve_device(config.device)
    model.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, int(0.05 * total))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    rows, best, best_state = [], math.inf, None
    n_tokens = sum(len(s) - 1 for s in train)
    for epoch in range(1, config.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(train), generator=gen).tolist()
        total_loss, count = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            ids = pad_batch([train[j] for j in order[i:i + config.batch_size]], model.pad_id, device)
            loss, n = _loss(model, ids)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            total_loss += loss.item() * n
            count += n
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        val = evaluate_loss(model, validation, device=device)
        row = {"epoch": epoch, "train_loss": total_loss / max(count, 1), "val_loss": val, "seconds": seconds}
        rows.append(row)
        progress_report(f"epoch {epoch}/{config.epochs}: val loss {val:.3f} ({seconds:.1f} s)")
        if progress is not None:
            progress(row)
        if keep_best and (val < best or best_state is None):
            best = val if not math.isnan(val) else best
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_epoch = epoch
    history = pd.DataFrame(rows)
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = config.epochs
    return TrainResult(history, int(best_epoch), float(statistics.median(history["seconds"])), str(device),
                       model.n_parameters, len(train), n_tokens)
