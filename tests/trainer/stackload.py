"""Where the record stack's quantisation/evaluation code lives (train_gpt.py), plus a tiny causal LM, byte
tables and settings for its tests."""

from __future__ import annotations

from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tests.trainer.tiny import load_trainer


def load_stack() -> ModuleType:
    """The module under test: trainer/train_gpt.py, imported once by path."""
    return load_trainer()


def runtime(rank: int = 0, world_size: int = 1, distributed: bool | None = None):  # -> train_gpt.Runtime
    """An fp32 CPU process; distributed (default: world_size > 1) means the caller initialised a gloo group."""
    return load_stack().Runtime(
        rank=rank,
        world_size=world_size,
        device=torch.device("cpu"),
        compute_dtype=torch.float32,
        compile=False,
        distributed=world_size > 1 if distributed is None else distributed,
    )


def hparams(**overrides: object):  # -> train_gpt.Hyperparameters
    return load_stack().Hyperparameters(**overrides)


def validation_set(tokens: Tensor, seq_len: int, luts):  # -> train_gpt.ValidationSet
    return load_stack().ValidationSet(tokens=tokens, luts=luts, seq_len=seq_len)


class TinyBlock(nn.Module):
    """Causal attention + MLP with the record model's parameter names (attn.c_q, mlp.fc, attn_scale, ...)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn = nn.ModuleDict({k: nn.Linear(dim, dim, bias=False) for k in ("c_q", "c_k", "c_v", "proj")})
        self.mlp = nn.ModuleDict(
            {"fc": nn.Linear(dim, 2 * dim, bias=False), "proj": nn.Linear(2 * dim, dim, bias=False)}
        )
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        h = F.rms_norm(x, (d,))
        q, k, v = (self.attn[n](h).view(b, t, self.heads, -1).transpose(1, 2) for n in ("c_q", "c_k", "c_v"))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.attn_scale * self.attn["proj"](y)
        return x + self.mlp_scale * self.mlp["proj"](F.relu(self.mlp["fc"](F.rms_norm(x, (d,)))).square())


class TinyLM(nn.Module):
    """A tied-embedding causal LM with the stack's interface: forward_logits(ids) and forward(x, y) -> loss."""

    def __init__(
        self, vocab: int = 64, dim: int = 16, n_blocks: int = 3, heads: int = 2, seed: int = 0
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.tok_emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(TinyBlock(dim, heads) for _ in range(n_blocks))

    def forward_logits(self, ids: Tensor) -> Tensor:
        x = self.tok_emb(ids)
        for block in self.blocks:
            x = block(x)
        return F.rms_norm(x, (x.shape[-1],)) @ self.tok_emb.weight.T

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        logits = self.forward_logits(x)
        return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def byte_luts(vocab: int, seed: int = 0):  # -> train_gpt.ByteLuts
    """Random but valid byte tables: id 0 is a zero-byte boundary token (BOS-like), the rest 1-4 bytes."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(1, 5, (vocab,), generator=g).to(torch.int16)
    space = torch.rand(vocab, generator=g) < 0.4
    boundary = torch.zeros(vocab, dtype=torch.bool)
    base[0], space[0], boundary[0] = 0, False, True
    return load_stack().ByteLuts(base, space, boundary)
