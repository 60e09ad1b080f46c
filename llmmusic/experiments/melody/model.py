"""A small causal transformer over melody tokens: the model, its scorer, sampling and checkpoints.

The model is a decoder-only transformer (GPT-style: token + learned position embeddings,
pre-norm self-attention blocks with a causal mask, output layer tied to the token embedding),
trained by :mod:`llmmusic.experiments.melody.train` on :func:`llmmusic.experiments.melody.training_windows`.
It runs on the CPU by default and on a GPU when torch sees one (``device="auto"``).

:class:`TransformerScorer` gives it both scoring interfaces of the experiment (``token_scores`` for
next-token metrics, ``continuation_log_probs`` for next-phrase ranking).

Used in: :mod:`llmmusic.experiments.melody.experiment` (and ``llmmusic melody``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from llmmusic.experiments.melody.tokenizer import MelodyTokenizer
from llmmusic.experiments.torch_setup import resolve_device


# --------------------------------------------------------------------------------------------- model
@dataclass
class ModelConfig:
    """Size of the transformer.

    Attributes:
        vocab_size: number of token ids.
        d_model: embedding width.
        n_layers: transformer blocks.
        n_heads: attention heads per block (must divide ``d_model``).
        dropout: dropout rate in the blocks.
        max_len: longest sequence (positions) the model accepts, in tokens.
    """

    vocab_size: int
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1
    max_len: int = 256


class MelodyTransformer(nn.Module):
    """Decoder-only transformer over token ids; PAD and BOS are never predicted (logit -inf).

    Args:
        config: sizes.
        pad_id, bos_id: ids of the padding and begin-of-sequence tokens.
    """

    def __init__(self, config: ModelConfig, pad_id: int, bos_id: int) -> None:
        super().__init__()
        if config.d_model % config.n_heads:
            raise ValueError(f"d_model ({config.d_model}) must be a multiple of n_heads ({config.n_heads})")
        self.config = config
        self.pad_id = pad_id
        self.tok = nn.Embedding(config.vocab_size, config.d_model, padding_idx=pad_id)
        self.pos = nn.Embedding(config.max_len, config.d_model)
        layer = nn.TransformerEncoderLayer(config.d_model, config.n_heads, 4 * config.d_model, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        never = torch.zeros(config.vocab_size, dtype=torch.bool)
        never[[pad_id, bos_id]] = True
        self.register_buffer("never", never, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        """GPT-style initialisation: small normal weights (std 0.02), zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position.

        Args:
            ids: (batch, length) token ids, right-padded with PAD; length <= ``max_len``.
        Returns:
            (batch, length, vocab_size) logits.
        """
        length = ids.shape[1]
        if length > self.config.max_len:
            raise ValueError(f"sequence of {length} tokens exceeds max_len {self.config.max_len}")
        positions = torch.arange(length, device=ids.device)
        x = self.tok(ids) + self.pos(positions)[None]
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device, dtype=x.dtype)
        x = self.blocks(x, mask=causal, is_causal=True)
        logits = self.head(self.norm(x))
        return logits.masked_fill(self.never, float("-inf"))

    @property
    def n_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def build_model(tokenizer: MelodyTokenizer, d_model: int = 128, n_layers: int = 2, n_heads: int = 4,
                dropout: float = 0.1, max_len: int = 256, seed: int = 0) -> MelodyTransformer:
    """A freshly initialised transformer for ``tokenizer``'s vocabulary (weights seeded by ``seed``)."""
    torch.manual_seed(seed)
    config = ModelConfig(tokenizer.vocab_size, d_model, n_layers, n_heads, dropout, max_len)
    return MelodyTransformer(config, tokenizer.pad_id, tokenizer.bos_id)


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> torch.Tensor:
    """A (len(seqs), longest) tensor of token ids on ``device``, right-padded with ``pad_id``."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out.to(device)


# --------------------------------------------------------------------------------------------- scoring
class TransformerScorer:
    """Scores sequences and continuations with a trained :class:`MelodyTransformer`.

    Args:
        model: the trained model.
        batch_size: sequences per forward pass.
    """

    def __init__(self, model: MelodyTransformer, batch_size: int = 128) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.name = "transformer"

    @torch.no_grad()
    def _log_softmax(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        self.model.eval()
        return torch.log_softmax(self.model(pad_batch(seqs, self.model.pad_id, self.device)).float(), dim=-1)

    def token_scores(self, sequences: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-token log-probabilities and arg-max predictions for tokens 1 .. len-1 of each sequence."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(0, len(sequences), self.batch_size):
            chunk = sequences[i:i + self.batch_size]
            logp = self._log_softmax([s[:-1] for s in chunk]).cpu()
            for j, s in enumerate(chunk):
                n = len(s) - 1
                target = torch.as_tensor(list(s[1:]), dtype=torch.long)
                rows = logp[j, :n]
                out.append((rows.gather(1, target[:, None])[:, 0].numpy().astype(float), rows.argmax(-1).numpy()))
        return out

    def continuation_log_probs(self, prefix: Sequence[int],
                               candidates: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Summed log-probability of each candidate's tokens after ``prefix``, and each candidate's length.

        A prefix + candidate longer than the model's ``max_len`` loses its earliest prefix tokens.
        """
        max_len = self.model.config.max_len
        seqs, starts = [], []
        for cand in candidates:
            seq = list(prefix) + list(cand)
            cut = max(0, len(seq) - max_len)
            if cut > len(prefix) - 1:
                raise ValueError(f"candidate of {len(cand)} tokens does not fit max_len {max_len}")
            seqs.append(seq[cut:])
            starts.append(len(prefix) - cut)
        sums = np.empty(len(candidates))
        for i in range(0, len(seqs), self.batch_size):
            chunk = seqs[i:i + self.batch_size]
            logp = self._log_softmax([s[:-1] for s in chunk]).cpu()
            for j, s in enumerate(chunk):
                k = i + j
                target = torch.as_tensor(s[starts[k]:], dtype=torch.long)
                rows = logp[j, starts[k] - 1: len(s) - 1]
                sums[k] = float(rows.gather(1, target[:, None]).sum())
        return sums, np.asarray([len(c) for c in candidates], dtype=float)


@torch.no_grad()
def sample_continuation(model: MelodyTransformer, tokenizer: MelodyTokenizer, prefix: Sequence[int], bars: int,
                        temperature: float = 1.0, top_k: int = 0, seed: int = 0,
                        max_new_tokens: int = 256) -> list[int]:
    """Sample ``bars`` bars of continuation after ``prefix`` (which should start with BOS).

    Sampling stops before a Bar token that would open bar ``bars + 1``, at EOS, or after
    ``max_new_tokens`` tokens.

    Args:
        model: the trained model.
        tokenizer: its tokenizer.
        prefix: BOS + context tokens.
        bars: bars to generate (the continuation starts with a Bar token).
        temperature: softmax temperature (> 0).
        top_k: sample among the ``top_k`` most likely tokens (0 = all).
        seed: sampling seed.
        max_new_tokens: hard cap on generated tokens.
    Returns:
        The generated token ids (prefix excluded, EOS excluded).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    seq, out, n_bars = list(prefix), [], 0
    for _ in range(max_new_tokens):
        window = seq[-model.config.max_len:]
        logits = model(torch.as_tensor([window], dtype=torch.long, device=device))[0, -1].float().cpu() / temperature
        if top_k:
            kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
        if token == tokenizer.eos_id:
            break
        if token == tokenizer.bar_id:
            if n_bars == bars:
                break
            n_bars += 1
        seq.append(token)
        out.append(token)
    return out


# --------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, model: MelodyTransformer, info: dict[str, Any]) -> Path:
    """Write the model weights, its config and ``info`` (data, training, tokenizer facts; stored as JSON,
    see :mod:`llmmusic.checkpoint`) to ``path``."""
    from llmmusic import checkpoint

    return checkpoint.save(path, model.state_dict(), {"model_config": asdict(model.config), "info": info})


def load_checkpoint(path: str | Path,
                    device: str = "auto") -> tuple[MelodyTransformer, MelodyTokenizer, dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles Python objects).

    Returns:
        ``(model on device, tokenizer, info)``.
    Raises:
        DataError: the file is not such a checkpoint.
    """
    from llmmusic import checkpoint
    from llmmusic.errors import DataError

    state, meta = checkpoint.load(path)
    try:
        info = meta["info"]
        tokenizer = MelodyTokenizer(tuple(info.get("tokenizer", {}).get("pitch_range", (21, 109))))
        model = MelodyTransformer(ModelConfig(**meta["model_config"]), tokenizer.pad_id, tokenizer.bos_id)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise DataError(f"{path}: not a melody checkpoint of llmmusic ({type(exc).__name__}: {str(exc)[:200]})") from None
    return model.to(resolve_device(device)), tokenizer, info
