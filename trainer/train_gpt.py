"""Parameter Golf trainer: the int5-GPTQ 33.6M record stack (PR545/#576 lineage), trained under the rules.

Configured by environment variables only, so a bare `torchrun --standalone --nproc_per_node=8 train_gpt.py`
runs the record (every piece can be switched back to the baseline by env). Runs on CPU too, writes into
OUTPUT_DIR, ends with a JSON summary and the score: the last line, `<label>_exact val_loss:.. val_bpb:..`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import glob
import importlib
import io
import json
import lzma
import math
import os
import random
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch
import torch.distributed as dist
import torch.nn.functional as F
import zstandard
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

try:  # optional: without it COMPRESSOR=auto chooses between zstd and lzma
    import brotli
except ImportError:
    brotli = None

# -----------------------------------------------------------------------------------------------
# HYPERPARAMETERS
# -----------------------------------------------------------------------------------------------
# One frozen, typed object; field NAME is read from env var NAME.upper(). The defaults are the record's
# config (stack-spec 10); bad values fail before any work, naming the variable.

# Rank 0's export on a slow host while the others wait in a collective: GPTQ, 3 codecs, then at most
# PRUNE_MAX_PROBES single-codec pruning probes, ~3 min each on one slow core (bench/quantize_bench.py).
PRUNE_MAX_PROBES = 8
EXPORT_BUDGET_S = (2 + 3 + PRUNE_MAX_PROBES) * 180.0

class ConfigError(ValueError):
    """A configuration value a user can fix; the message names the environment variable."""

def _bounded(default: Any, minimum: float | None = None, maximum: float | None = None) -> Any:
    return field(default=default, metadata={"min": minimum, "max": maximum})

def _one_of(default: str, *choices: str) -> Any:
    return field(default=default, metadata={"choices": (default, *choices)})

@dataclass(frozen=True)
class Hyperparameters:
    # Data: a directory of fineweb_{train,val}_*.bin shards and the SentencePiece model.
    data_path: str = "./data/datasets/fineweb10B_sp1024"
    tokenizer_path: str = "./data/tokenizers/fineweb_1024_bpe.model"
    run_id: str = ""  # empty: "<date>_<time>_<random>", chosen by rank 0
    seed: int = _bounded(1337, 0)
    output_dir: str = ""  # every file the run writes; empty: runs/<RUN_ID>
    summary_path: str = ""  # JSON summary; empty: <OUTPUT_DIR>/summary.json
    # Runtime: where and how to compute.
    device: str = _one_of("auto", "cpu", "cuda")  # auto: CUDA when available
    compile: bool | None = None  # torch.compile; unset: on for CUDA, off for CPU
    compute_dtype: str = _one_of("auto", "bfloat16", "float32")  # auto: bf16 on CUDA, fp32 on CPU
    # In-training validation (plain sequences). The official run scores the full fineweb_val split.
    val_batch_size: int = _bounded(524_288, 1)  # tokens per validation batch, all ranks together
    val_loss_every: int = _bounded(4000, 0)  # 0: validate only after the last step
    val_max_tokens: int = _bounded(0, 0)  # cap on scored validation tokens (tests/demos); 0: all
    train_log_every: int = _bounded(500, 0)  # steps 1-10 are always logged
    # Training length. The wall-clock cap, not ITERATIONS, ends an official run.
    iterations: int = _bounded(20_000, 0)
    warmdown_iters: int = _bounded(3500, 0)  # linear LR decay to 0 over the last N steps (time if capped)
    warmup_steps: int = _bounded(20, 0)  # compile-priming steps, undone before the timer starts
    train_batch_tokens: int = _bounded(786_432, 1)  # global tokens per optimizer step
    train_seq_len: int = _bounded(2048, 1)
    max_wallclock_seconds: float = _bounded(600.0, 0.0)  # 0: no cap, warmdown by iterations
    # Model shape (baseline: 9 layers, 4 KV heads, MLP_MULT 2, ROPE_BASE 10000).
    vocab_size: int = _bounded(1024, 2, 65_536)  # shards store uint16 token ids
    num_layers: int = _bounded(11, 1)
    model_dim: int = _bounded(512, 2)
    num_heads: int = _bounded(8, 1)
    num_kv_heads: int = _bounded(8, 1)  # GQA: NUM_HEADS must be a multiple
    mlp_mult: float = _bounded(3.5, 0.0)  # MLP hidden = int(MLP_MULT * MODEL_DIM)
    tie_embeddings: bool = True
    # The seeds NTK-rescaled base 10000 at T=2048 (stack-spec 3.6): we state their effective base plainly.
    rope_base: float = _bounded(10_000.0 * 2 ** (16 / 14), 1.0)
    logit_softcap: float = _bounded(30.0, 1e-6)  # logits = cap * tanh(logits / cap)
    qk_gain_init: float = 1.5  # per-head query gain, learned
    # Record-stack model pieces (stack-spec 3), each with its baseline value in the comment.
    rope_dims: int = _bounded(16, 0)  # RoPE on the first N dims of each head (baseline: the head dim)
    ln_scale: bool = True  # block norms scaled by 1/sqrt(layer + 1) (baseline: 0)
    xsa_last_n: int = _bounded(11, 0)  # exclusive self-attention on the last N layers (baseline: 0)
    bigram_vocab_size: int = _bounded(8192, 0)  # BigramHash buckets (baseline: 0, off)
    bigram_dim: int = _bounded(128, 1)
    smear_gate: bool = True  # blend with the previous position (baseline: 0)
    ve_dim: int = _bounded(128, 0)  # shared value embedding width (baseline: 0, off)
    ve_layers: str = "-2,-1"  # layers given value embeddings; negative counts from the end (9,10 of 11)
    mlp_negative_slope: float = _bounded(0.5, 0.0)  # LeakyReLU slope before squaring (baseline: 0, relu^2)
    ortho_init: bool = True  # orthogonal init of large matrices (baseline: 0, PyTorch default)
    # Optimizer (stack-spec 4): Muon for matrices, AdamW for tables and scalars, EMA, late QAT.
    embed_lr: float = _bounded(0.6, 0.0)  # untied input embedding
    head_lr: float = _bounded(0.008, 0.0)  # untied output head
    tied_embed_lr: float = _bounded(0.035, 0.0)  # also the bigram and value-embedding tables
    tied_embed_init_std: float = _bounded(0.005, 0.0)
    matrix_lr: float = _bounded(0.025, 0.0)
    scalar_lr: float = _bounded(0.025, 0.0)
    muon_momentum: float = _bounded(0.99, 0.0, 1.0)
    muon_backend_steps: int = _bounded(5, 1)  # Newton-Schulz iterations
    muon_momentum_warmup_start: float = _bounded(0.92, 0.0, 1.0)
    muon_momentum_warmup_steps: int = _bounded(1500, 0)
    muon_wd: float = _bounded(0.04, 0.0)  # decoupled weight decay at the scheduled LR (baseline: 0)
    adam_wd: float = _bounded(0.04, 0.0)  # AdamW decay of the embeddings and scalars (baseline: 0)
    beta1: float = _bounded(0.9, 0.0, 1.0)
    beta2: float = _bounded(0.95, 0.0, 1.0)
    adam_eps: float = _bounded(1e-8, 0.0)
    grad_clip_norm: float = _bounded(0.3, 0.0)  # 0: no clipping
    ema_decay: float = _bounded(0.997, 0.0, 1.0)  # EMA of the weights, used for export (0: off)
    late_qat_threshold: float = _bounded(0.5, 0.0, 1.0)  # export-grid fake-quant once LR scale < this (0: off)
    qat_mode: str = _one_of("late", "always")  # always: STE fake-quant from step 0 (PR128), threshold ignored
    # Export (stack-spec 5): int5 GPTQ on GPTQ_CALIB_BATCHES training batches read inside the cap's reserve.
    # intN: attention/MLP matrices at N bits per row (PR128: int6), GPTQ with _gptq; int8: baseline, all int8.
    quant: str = _one_of("int5_gptq", "int5", "int6", "int6_gptq", "int8")
    fp16_embed: bool = False  # tok_emb stored fp16, not int8 (PR128: the tied head is sensitive)
    compressor: str = _one_of("auto", "zstd", "lzma", "brotli", "zlib", "rans")  # auto: smallest but zlib
    gptq_reserve_ms: float = _bounded(14_000.0, 0.0)  # R0329 reserved 14 s and used 6.8 s on 8xH100
    gptq_calib_batches: int = _bounded(64, 1)
    prune_to_fit: bool = True  # over 16,000,000 bytes: zero the cheapest low-bit +-1 codes until it fits
    dist_timeout_s: float = _bounded(2 * EXPORT_BUDGET_S, 60.0)  # every collective, incl. waiting on export
    # Final evaluation (stack-spec 6): one scoring pass, the reported score.
    eval_stride: int = _bounded(64, 0)  # sliding-window stride; 0: TRAIN_SEQ_LEN, plain sequences
    eval_batch_seqs: int = _bounded(32, 1)  # windows per forward on each rank
    eval_temperature: float = _bounded(1.0, 0.5, 2.0)  # logits / T, fixed in advance
    eval_adaptive_temperature: bool = False  # PR606: per-token T from the entropy, around EVAL_TEMPERATURE
    ttt_enabled: bool = True  # legal score-first test-time training inside that pass (baseline: 0)
    ttt_lr: float = _bounded(1e-4, 0.0)  # AdamW, cosine-decayed over the chunks
    ttt_epochs: int = _bounded(3, 1)
    ttt_chunk_tokens: int = _bounded(131_072, 1)
    ttt_last_blocks: int = _bounded(2, 0)  # these blocks and every norm/scale parameter train
    ttt_batch_seqs: int = _bounded(32, 1)  # training sequences per rank and step
    ttt_grad_clip: float = _bounded(1.0, 0.0)  # 0: no clipping

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Hyperparameters:
        """Read every field from env (missing names keep their defaults); raise ConfigError."""
        fields = [f for f in dataclasses.fields(cls) if f.name.upper() in env]
        return cls(**{f.name: _parse_env(f, env[f.name.upper()]) for f in fields})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_range(f, getattr(self, f.name))
        head_dim, eight_seqs = self.model_dim // self.num_heads, 8 * self.train_seq_len
        checks = [
            (self.model_dim % self.num_heads == 0,
             f"MODEL_DIM={self.model_dim} must be divisible by NUM_HEADS={self.num_heads}"),
            (self.num_heads % self.num_kv_heads == 0,
             f"NUM_HEADS={self.num_heads} must be a multiple of NUM_KV_HEADS={self.num_kv_heads}"),
            (head_dim % 2 == 0, f"MODEL_DIM/NUM_HEADS={head_dim} must be even for RoPE"),
            (self.rope_dims % 2 == 0 and 2 <= self.rope_dims <= head_dim,
             f"ROPE_DIMS={self.rope_dims} must be even and between 2 and the head dim {head_dim}"),
            (int(self.mlp_mult * self.model_dim) > 0, f"MLP_MULT={self.mlp_mult} gives an empty MLP"),
            # 8 micro-batches per step (split across ranks) must each hold whole sequences.
            (self.train_batch_tokens % eight_seqs == 0,
             (f"TRAIN_BATCH_TOKENS={self.train_batch_tokens} must be a multiple of "
              f"8*TRAIN_SEQ_LEN={eight_seqs}")),
            (self.val_batch_size >= eight_seqs,
             f"VAL_BATCH_SIZE={self.val_batch_size} must be at least 8*TRAIN_SEQ_LEN={eight_seqs}"),
            (not self.uses_gptq or not 0 < self.max_wallclock_seconds <= self.gptq_reserve_ms / 1000,
             (f"GPTQ_RESERVE_MS={self.gptq_reserve_ms:.0f} leaves no training time under "
              f"MAX_WALLCLOCK_SECONDS={self.max_wallclock_seconds} (0: calibrate after the cap)")),
            (self.eval_stride <= self.train_seq_len,
             f"EVAL_STRIDE={self.eval_stride} must be at most TRAIN_SEQ_LEN={self.train_seq_len}"),
            (self.compressor != "brotli" or brotli is not None, "COMPRESSOR=brotli needs the brotli package"),
            (self.tokenizer_path.endswith(".model"),
             f"TOKENIZER_PATH={self.tokenizer_path!r} must be a SentencePiece .model file"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.ve_layer_ids  # noqa: B018 - parses VE_LAYERS now, so a bad value fails at start-up

    @property
    def ve_layer_ids(self) -> tuple[int, ...]:
        """VE_LAYERS as sorted layer indices; empty when VE_DIM=0."""
        try:
            ids = [int(part) for part in self.ve_layers.split(",") if part.strip()]
        except ValueError:
            message = f"VE_LAYERS must be comma-separated layer indices, got {self.ve_layers!r}"
            raise ConfigError(message) from None
        if any(not -self.num_layers <= i < self.num_layers for i in ids):
            layers = f"{-self.num_layers}..{self.num_layers - 1}"
            raise ConfigError(f"VE_LAYERS={self.ve_layers!r} names a layer outside {layers}")
        return tuple(sorted({i % self.num_layers for i in ids})) if self.ve_dim > 0 else ()

    @property
    def uses_gptq(self) -> bool:
        return self.quant.endswith("_gptq")

    @property
    def block_kind(self) -> str:  # how attention/MLP matrices are stored: int5, int6 or int8
        return self.quant.split("_")[0]

    @property
    def codecs(self) -> tuple[str, ...]:
        if self.compressor != "auto":
            return (self.compressor,)
        return tuple(c for c in ("zstd", "lzma", "brotli", "rans") if c in CODECS)

    @property
    def val_batch_seqs(self) -> int:  # per rank: VAL_BATCH_SIZE is split like a training step
        return self.val_batch_size // (8 * self.train_seq_len)

    def shards(self, split: str) -> str:
        return os.path.join(self.data_path, f"fineweb_{split}_*.bin")

    def check_files(self) -> None:
        """Fail before any work if the shards or the tokenizer are missing."""
        for pattern in (self.shards("train"), self.shards("val")):
            if not glob.glob(pattern):
                raise ConfigError(f"DATA_PATH={self.data_path!r} has no {os.path.basename(pattern)} shards")
        if not Path(self.tokenizer_path).is_file():
            raise ConfigError(f"TOKENIZER_PATH={self.tokenizer_path!r} does not exist")

def _parse_env(f: dataclasses.Field, raw: str) -> Any:
    name, kind, text = f.name.upper(), str(f.type), raw.strip()
    if kind == "str":
        return text
    if kind in ("bool", "bool | None"):
        if kind == "bool | None" and text.lower() in ("", "auto"):
            return None
        if text.lower() in ("0", "1", "false", "true"):
            return text.lower() in ("1", "true")
        raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        expected = "an integer" if kind == "int" else "a number"
        raise ConfigError(f"{name} must be {expected}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {raw!r}")
    return value

def _check_range(f: dataclasses.Field, value: Any) -> None:
    name, meta = f.name.upper(), f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(meta['choices'])}; got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{name} must be >= {meta['min']}, got {value}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{name} must be <= {meta['max']}, got {value}")


# -----------------------------------------------------------------------------------------------
# DATA
# -----------------------------------------------------------------------------------------------
# Shards: a 256 x int32 header (magic 20240520, version 1, token count), then uint16 token ids, read as one
# stream (no shuffling); each rank takes a disjoint span, so the global batch is the same at any world size.

SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_INTS = 20240520, 1, 256

def load_data_shard(file: Path) -> Tensor:
    header = np.fromfile(file, dtype="<i4", count=SHARD_HEADER_INTS)
    if header.size != SHARD_HEADER_INTS or int(header[0]) != SHARD_MAGIC or int(header[1]) != SHARD_VERSION:
        raise ValueError(f"{file}: not a shard (bad header)")
    num_tokens = int(header[2])
    expected = 4 * SHARD_HEADER_INTS + 2 * num_tokens
    if file.stat().st_size != expected:
        raise ValueError(f"{file}: {file.stat().st_size} bytes, header says {expected}")
    tokens = np.fromfile(file, dtype="<u2", count=num_tokens, offset=4 * SHARD_HEADER_INTS)
    return torch.from_numpy(tokens.astype(np.uint16, copy=False))

class DistributedTokenLoader:
    """Endless stream over the sorted shards; a batch is world_size spans of local tokens + 1 (targets)."""

    def __init__(self, pattern: str, rt: Runtime):
        self.rt, self.files = rt, [Path(p) for p in sorted(glob.glob(pattern))]
        if not self.files:
            raise FileNotFoundError(f"no files match {pattern}")
        self.file_idx, self.pos, self.tokens = 0, 0, load_data_shard(self.files[0])

    def take(self, n: int) -> Tensor:
        chunks: list[Tensor] = []
        while n > 0:
            if self.pos >= self.tokens.numel():
                self.file_idx = (self.file_idx + 1) % len(self.files)
                self.tokens, self.pos = load_data_shard(self.files[self.file_idx]), 0
                continue
            k = min(n, self.tokens.numel() - self.pos)
            chunks.append(self.tokens[self.pos : self.pos + k])
            self.pos, n = self.pos + k, n - k
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def next_batch(self, global_tokens: int, seq_len: int) -> tuple[Tensor, Tensor]:
        span = global_tokens // (self.rt.world_size * self.rt.grad_accum_steps) + 1
        chunk = self.take(span * self.rt.world_size)
        local = chunk[self.rt.rank * span : (self.rt.rank + 1) * span].to(torch.int64)
        x, y = local[:-1].reshape(-1, seq_len), local[1:].reshape(-1, seq_len)
        return x.to(self.rt.device, non_blocking=True), y.to(self.rt.device, non_blocking=True)

def load_validation_tokens(pattern: str, seq_len: int, max_tokens: int) -> Tensor:
    """All val shards (capped at max_tokens targets when > 0), cut to whole sequences + 1."""
    tokens = torch.cat([load_data_shard(Path(p)) for p in sorted(glob.glob(pattern))])
    targets = tokens.numel() - 1 if max_tokens <= 0 else min(tokens.numel() - 1, max_tokens)
    usable = (targets // seq_len) * seq_len
    if usable <= 0:
        cap = f" within VAL_MAX_TOKENS={max_tokens}" if max_tokens > 0 else ""
        raise ConfigError(f"the validation split ({tokens.numel()} tokens) holds no full "
                          f"TRAIN_SEQ_LEN={seq_len} sequence{cap}")
    return tokens[: usable + 1].contiguous()


# -----------------------------------------------------------------------------------------------
# MODEL
# -----------------------------------------------------------------------------------------------
# The baseline GPT (tied embeddings, weightless RMSNorm, QK-norm, learned query gain, resid_mix with the
# embedding x0, U-Net skips, soft-capped logits) plus the record pieces of stack-spec 3, each switchable.

# Small tensors that steer the residual stream: AdamW, fp32, and kept fp32 in the artifact.
CONTROL_TENSOR_PATTERNS = ("attn_scale", "attn_scales", "mlp_scale", "mlp_scales", "resid_mix", "resid_mixes",
                           "q_gain", "skip_weight", "skip_weights", "smear", "ve_layer_scales",
                           "ve_shared.scale")

class CastedLinear(nn.Linear):
    """Bias-free linear, fp32 masters cast at matmul time. Late QAT adds qat_delta = fake_quantize(w) - w
    (straight-through) as a buffer: torch.compile folded the records' flag, so their QAT never ran (R0321)."""

    qat_delta: Tensor | None

    def __init__(self, in_features: int, out_features: int, zero_init: bool = False):
        super().__init__(in_features, out_features, bias=False)
        self.zero_init = zero_init
        self.register_buffer("qat_delta", None, persistent=False)
        if zero_init:
            nn.init.zeros_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight if self.qat_delta is None or not self.training else self.weight + self.qat_delta
        return F.linear(x, w.to(x.dtype))

def rotary_tables(seq_len: int, inv_freq: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """RoPE cos/sin (1,T,1,r/2), recomputed per call: a cache made under inference_mode breaks backward."""
    freqs = torch.outer(torch.arange(seq_len, device=inv_freq.device, dtype=torch.float32), inv_freq)
    return freqs.cos()[None, :, None, :].to(dtype), freqs.sin()[None, :, None, :].to(dtype)

def apply_rotary_emb(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Partial RoPE (16/64, R0321): rotate the first 2 * cos.size(-1) dims; the rest attend by content."""
    half = cos.size(-1)
    x1, x2, rest = x[..., :half], x[..., half : 2 * half], x[..., 2 * half :]
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin, rest), dim=-1)

def exclusive_self_attention(y: Tensor, v: Tensor) -> Tensor:
    """XSA (arXiv:2603.09078, R0325): drop y's component along the token's own value v (B,T,Hkv,D)."""
    B, T, H, D = y.shape
    grouped = y.view(B, T, v.size(2), H // v.size(2), D)  # GQA heads share their kv head's v, no copy
    v_hat = F.normalize(v, dim=-1).unsqueeze(3)
    return (grouped - (grouped * v_hat).sum(-1, keepdim=True) * v_hat).view(B, T, H, D)

class CausalSelfAttention(nn.Module):
    inv_freq: Tensor

    def __init__(self, hp: Hyperparameters, xsa: bool, flash_attn: Callable[..., Any] | None):
        super().__init__()
        dim = hp.model_dim
        self.num_heads, self.num_kv_heads, self.head_dim = hp.num_heads, hp.num_kv_heads, dim // hp.num_heads
        kv_dim = hp.num_kv_heads * self.head_dim
        self.c_q = CastedLinear(dim, dim)
        self.c_k = CastedLinear(dim, kv_dim)
        self.c_v = CastedLinear(dim, kv_dim)
        self.proj = CastedLinear(dim, dim, zero_init=True)
        self.q_gain = nn.Parameter(torch.full((hp.num_heads,), hp.qk_gain_init, dtype=torch.float32))
        exponents = torch.arange(0, hp.rope_dims, 2, dtype=torch.float32) / hp.rope_dims
        self.register_buffer("inv_freq", 1.0 / hp.rope_base**exponents, persistent=False)  # RoPE frequencies
        self.xsa = xsa
        self.flash_attn = flash_attn  # flash_attn_func (layout B,T,H,D) or None for SDPA

    def forward(self, x: Tensor, ve: Tensor | None = None) -> Tensor:
        B, T, dim = x.shape
        q = self.c_q(x).view(B, T, self.num_heads, self.head_dim)
        k = self.c_k(x).view(B, T, self.num_kv_heads, self.head_dim)
        v = self.c_v(x) if ve is None else self.c_v(x) + ve  # a value embedding joins before the head split
        v = v.view(B, T, self.num_kv_heads, self.head_dim)
        q, k = F.rms_norm(q, (self.head_dim,)), F.rms_norm(k, (self.head_dim,))  # QK-norm
        cos, sin = rotary_tables(T, self.inv_freq, q.dtype)
        q, k = apply_rotary_emb(q, cos, sin), apply_rotary_emb(k, cos, sin)
        q = q * self.q_gain.to(q.dtype)[None, None, :, None]
        if self.flash_attn is not None:
            y = self.flash_attn(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True)
            y = (y[0] if isinstance(y, tuple) else y).to(x.dtype)  # FA3 may also return the LSE
        else:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               is_causal=True, enable_gqa=self.num_kv_heads != self.num_heads)
            y = y.transpose(1, 2)
        if self.xsa:
            y = exclusive_self_attention(y, v)
        return self.proj(y.reshape(B, T, dim))

class MLP(nn.Module):
    """leaky_relu(x, 0.5)^2 (PR #493 by @parinzee, -0.002 bpb in R0323); slope 0 is the baseline relu^2."""

    def __init__(self, dim: int, mlp_mult: float, negative_slope: float):
        super().__init__()
        self.fc = CastedLinear(dim, int(mlp_mult * dim))
        self.proj = CastedLinear(int(mlp_mult * dim), dim, zero_init=True)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.leaky_relu(self.fc(x), self.negative_slope).square())

class Block(nn.Module):
    def __init__(self, hp: Hyperparameters, layer: int, flash_attn: Callable[..., Any] | None):
        super().__init__()
        dim = hp.model_dim
        self.attn = CausalSelfAttention(hp, layer >= hp.num_layers - hp.xsa_last_n, flash_attn)
        self.mlp = MLP(dim, hp.mlp_mult, hp.mlp_negative_slope)
        self.attn_scale = nn.Parameter(torch.ones(dim, dtype=torch.float32))
        self.mlp_scale = nn.Parameter(torch.ones(dim, dtype=torch.float32))
        # Learned blend of the running stream and the block-0 input x0, initialized to "stream only".
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))).float())
        # LN scale (R0321): deeper blocks read a damped normalized stream, 1/sqrt(layer + 1).
        self.ln_scale = 1.0 / math.sqrt(layer + 1) if hp.ln_scale else 1.0

    def forward(self, x: Tensor, x0: Tensor, ve: Tensor | None = None) -> Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(F.rms_norm(x, (x.size(-1),)) * self.ln_scale, ve)
        return x + self.mlp_scale.to(x.dtype) * self.mlp(F.rms_norm(x, (x.size(-1),)) * self.ln_scale)

class ValueEmbedding(nn.Module):
    """scale * proj(embed[ids]), shared by the VE layers (VE128, R0323): token identity in the values."""

    def __init__(self, rows: int, dim: int, out_dim: int, scale: float = 0.1, init_std: float = 0.01):
        super().__init__()
        self.embed = nn.Embedding(rows, dim)
        nn.init.normal_(self.embed.weight, std=init_std)
        self.proj = CastedLinear(dim, out_dim)
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float32))

    def forward(self, ids: Tensor) -> Tensor:
        h = self.proj(self.embed(ids))
        return h * self.scale.to(h.dtype)

class BigramHash(ValueEmbedding):
    """Token-pair embedding (PR #162 by @unnir); bucket n-1 is position 0's (no previous token)."""

    def __init__(self, buckets: int, dim: int, model_dim: int):
        super().__init__(buckets, dim, model_dim, scale=0.05, init_std=0.0)

    def bucket_ids(self, ids: Tensor) -> Tensor:
        t = ids.long()  # int64: 36313 * id overflows int32 for vocabularies above ~59k
        pairs = torch.bitwise_xor(36313 * t[:, 1:], 27191 * t[:, :-1]) % (self.embed.num_embeddings - 1)
        return torch.cat((torch.full_like(t[:, :1], self.embed.num_embeddings - 1), pairs), dim=1)

    def forward(self, ids: Tensor) -> Tensor:
        return super().forward(self.bucket_ids(ids))

class SmearGate(nn.Module):
    """y_t = (1 - g) x_t + g x_{t-1}, g = sigmoid(gate) (PR #162 by @unnir): a causal look back."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(dim, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate.to(x.dtype))
        return (1 - g) * x + g * F.pad(x[:, :-1], (0, 0, 1, 0))

class GPT(nn.Module):
    def __init__(self, hp: Hyperparameters, flash_attn: Callable[..., Any] | None = None):
        super().__init__()
        self.logit_softcap = hp.logit_softcap
        self.attention = "sdpa" if flash_attn is None else "flash_attn"
        self.tok_emb = nn.Embedding(hp.vocab_size, hp.model_dim)
        bigram = hp.bigram_vocab_size > 0
        self.bigram = BigramHash(hp.bigram_vocab_size, hp.bigram_dim, hp.model_dim) if bigram else None
        self.smear = SmearGate(hp.model_dim) if hp.smear_gate else None
        self.num_encoder_layers = hp.num_layers // 2
        num_skips = min(self.num_encoder_layers, hp.num_layers - self.num_encoder_layers)
        self.skip_weights = nn.Parameter(torch.ones(num_skips, hp.model_dim, dtype=torch.float32))
        self.blocks = nn.ModuleList(Block(hp, layer, flash_attn) for layer in range(hp.num_layers))
        self.ve_slot = {layer: k for k, layer in enumerate(hp.ve_layer_ids)}  # layer -> ve_layer_scales[k]
        kv_dim = hp.num_kv_heads * (hp.model_dim // hp.num_heads)
        self.ve_shared = ValueEmbedding(hp.vocab_size, hp.ve_dim, kv_dim) if self.ve_slot else None
        self.ve_layer_scales = nn.Parameter(torch.ones(len(self.ve_slot))) if self.ve_slot else None
        untied = not hp.tie_embeddings
        self.lm_head = CastedLinear(hp.model_dim, hp.vocab_size, zero_init=True) if untied else None
        if hp.tie_embeddings:  # the default N(0, 1) embedding would make huge initial logits
            nn.init.normal_(self.tok_emb.weight, mean=0.0, std=hp.tied_embed_init_std)
        # OrthoInit (PR #162); bigram/ve proj x 1/sqrt(2L) as the seeds trained (pitfall 11: not zero).
        for name, m in self.named_modules() if hp.ortho_init else ():
            if isinstance(m, CastedLinear) and not m.zero_init and min(m.weight.shape) >= 64:
                nn.init.orthogonal_(m.weight)
                if name in ("bigram.proj", "ve_shared.proj"):
                    m.weight.data.mul_(1.0 / math.sqrt(2 * hp.num_layers))

    def forward_logits(self, input_ids: Tensor) -> Tensor:
        x = self.tok_emb(input_ids)
        if self.bigram is not None:
            x = x + self.bigram(input_ids)
        x = F.rms_norm(x, (x.size(-1),))
        if self.smear is not None:
            x = self.smear(x)
        ve = self.ve_shared(input_ids) if self.ve_shared is not None else None
        x0, skips = x, []
        for layer, block in enumerate(self.blocks):
            if layer >= self.num_encoder_layers and skips:  # U-Net: last encoder output -> first decoder
                x = x + self.skip_weights[layer - self.num_encoder_layers].to(x.dtype) * skips.pop()
            slot = self.ve_slot.get(layer)
            x = block(x, x0, None if slot is None else ve * self.ve_layer_scales[slot].to(ve.dtype))
            if layer < self.num_encoder_layers:
                skips.append(x)
        x = F.rms_norm(x, (x.size(-1),))
        logits = F.linear(x, self.tok_emb.weight) if self.lm_head is None else self.lm_head(x)
        return self.logit_softcap * torch.tanh(logits / self.logit_softcap)

    def forward(self, input_ids: Tensor, target_ids: Tensor) -> Tensor:
        """Mean cross-entropy in nats."""
        logits = self.forward_logits(input_ids)
        return F.cross_entropy(logits.float().flatten(0, 1), target_ids.flatten())

def import_flash_attn() -> Callable[..., Any] | None:
    """FA3 (Hopper) if installed, else FA2, else None (SDPA)."""
    for module in ("flash_attn_interface", "flash_attn"):
        try:
            return importlib.import_module(module).flash_attn_func
        except ImportError:
            continue
    return None

def resolve_compute_dtype(hp: Hyperparameters, device: torch.device) -> torch.dtype:
    if hp.compute_dtype == "auto":  # the meta device (size predictions) mimics a GPU run
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    return getattr(torch, hp.compute_dtype)

def build_model(hp: Hyperparameters, device: torch.device) -> GPT:
    """The GPT on `device`; bf16 compute stores the token tables bf16, the rest fp32 (the records')."""
    bf16 = resolve_compute_dtype(hp, device) == torch.bfloat16
    flash_attn = import_flash_attn() if device.type == "cuda" and bf16 else None
    model = GPT(hp, flash_attn).to(device)
    if bf16:
        for table in (m for m in model.modules() if isinstance(m, nn.Embedding)):
            table.bfloat16()
    if hp.quant != "int8" and (hp.late_qat_threshold > 0 or hp.qat_mode == "always"):
        for name, m in model.named_modules():  # a QAT switch, off, on every layer the export stores low-bit
            if isinstance(m, CastedLinear) and storage_kind(f"{name}.weight", m.weight, hp.quant) == hp.block_kind:
                m.qat_delta = torch.zeros_like(m.weight)
    return model


# -----------------------------------------------------------------------------------------------
# OPTIMIZER
# -----------------------------------------------------------------------------------------------
# Muon (modded-nanogpt by @kellerjordan) for matrices, AdamW for the rest, both with decoupled weight decay
# 0.04 ("MuonWD04"). No LR warmup; linear decay over the last WARMDOWN_ITERS steps (in time when capped).

def zeropower_via_newtonschulz5(G: Tensor, steps: int, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalize G (U S V^T -> U V^T) with a quintic Newton-Schulz iteration."""
    a, b, c = (3.4445, -4.7750, 2.0315)  # tuned for fast convergence of small singular values
    X = G.bfloat16() if G.is_cuda else G.float()  # CPUs without bf16 units run bf16 ~100x slower
    X /= X.norm() + eps
    transposed = G.size(0) > G.size(1)
    if transposed:  # iterate on the wide orientation: X X^T is then the smaller Gram matrix
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if transposed else X

class Muon(torch.optim.Optimizer):
    """Nesterov momentum, orthogonalized update, p *= 1 - lr * wd; ranks split the matrices."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float, backend_steps: int,
                 weight_decay: float = 0.0,
                 orthogonalize: Callable[[Tensor, int], Tensor] = zeropower_via_newtonschulz5):
        super().__init__(params, {"lr": lr, "momentum": momentum, "backend_steps": backend_steps,
                                  "weight_decay": weight_decay})
        self.orthogonalize = orthogonalize

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        distributed = dist.is_available() and dist.is_initialized()
        world_size, rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        for group in self.param_groups:
            params, momentum = group["params"], group["momentum"]
            if not params:
                continue
            total = sum(p.numel() for p in params)
            updates = torch.zeros(total, device=params[0].device, dtype=torch.bfloat16)
            offset = 0
            for i, p in enumerate(params):
                if i % world_size == rank and p.grad is not None:
                    buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p.grad))
                    buf.mul_(momentum).add_(p.grad)
                    g = self.orthogonalize(p.grad.add(buf, alpha=momentum), group["backend_steps"])
                    g *= max(1, g.size(0) / g.size(1)) ** 0.5  # comparable update RMS for tall matrices
                    updates[offset : offset + p.numel()] = g.reshape(-1)
                offset += p.numel()
            if distributed:
                dist.all_reduce(updates, op=dist.ReduceOp.SUM)
            offset = 0
            for p in params:
                p.mul_(1.0 - group["lr"] * group["weight_decay"])
                p.add_(updates[offset : offset + p.numel()].view_as(p).to(p.dtype), alpha=-group["lr"])
                offset += p.numel()

def parameter_groups(model: nn.Module) -> dict[str, list[Tensor]]:
    """tok: token tables; matrix: 2-D weights (Muon, PR576); scalar: controls; head: the untied head."""
    groups: dict[str, list[Tensor]] = {"tok": [], "matrix": [], "scalar": [], "head": []}
    for name, p in model.named_parameters():
        if name == "lm_head.weight":
            groups["head"].append(p)
        elif name == "tok_emb.weight" or name.endswith(".embed.weight"):
            groups["tok"].append(p)
        elif p.ndim == 2 and not any(pattern in name for pattern in CONTROL_TENSOR_PATTERNS):
            groups["matrix"].append(p)
        else:
            groups["scalar"].append(p)
    return groups

def build_optimizers(hp: Hyperparameters, model: GPT, compile_ns: bool) -> list[torch.optim.Optimizer]:
    """An AdamW per non-empty tok/scalar/head group, then Muon; every param group keeps its base_lr."""
    groups, optimizers = parameter_groups(model), []
    tok_lr = hp.tied_embed_lr if hp.tie_embeddings else hp.embed_lr
    for name, lr in (("tok", tok_lr), ("scalar", hp.scalar_lr), ("head", hp.head_lr)):
        if groups[name]:  # fused: only guaranteed on CUDA across torch versions
            optimizers.append(torch.optim.AdamW([{"params": groups[name], "lr": lr, "base_lr": lr}],
                                                betas=(hp.beta1, hp.beta2), eps=hp.adam_eps,
                                                weight_decay=hp.adam_wd, fused=groups[name][0].is_cuda))
    orthogonalize = torch.compile(zeropower_via_newtonschulz5) if compile_ns else zeropower_via_newtonschulz5
    return [*optimizers, Muon([{"params": groups["matrix"], "base_lr": hp.matrix_lr}], lr=hp.matrix_lr,
                              momentum=hp.muon_momentum, backend_steps=hp.muon_backend_steps,
                              weight_decay=hp.muon_wd, orthogonalize=orthogonalize)]

def step_optimizers(optimizers: Sequence[torch.optim.Optimizer], lr_scale: float,
                    muon_momentum: float) -> None:
    """Every group's LR = base_lr * lr_scale (and Muon's momentum), then step."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * lr_scale
            if isinstance(opt, Muon):
                group["momentum"] = muon_momentum
        opt.step()

class EMA:
    """fp32 weight average, d = min(decay, (1 + t) / (10 + t)), exported by rule (never chosen by val)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.updates, self.live = decay, 0, model.state_dict()  # views follow in-place updates
        self.shadow = {k: v.float().clone() for k, v in self.live.items()}

    @torch.no_grad()
    def update(self) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(list(self.shadow.values()), [v.float() for v in self.live.values()], 1.0 - d)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        state = model.state_dict()
        model.load_state_dict({k: v.to(state[k].dtype) for k, v in self.shadow.items()}, strict=True)

def lr_scale(hp: Hyperparameters, step: int, elapsed_ms: float) -> float:
    """LR multiplier: 1, then linear to 0 over the last WARMDOWN_ITERS steps (in time when capped)."""
    if hp.warmdown_iters <= 0:
        return 1.0
    if hp.max_wallclock_seconds <= 0:
        return min(max((hp.iterations - step) / hp.warmdown_iters, 0.0), 1.0)
    # WARMDOWN_ITERS at the mean step time so far: the LR reaches 0 exactly at the cap on any hardware.
    warmdown_ms = hp.warmdown_iters * elapsed_ms / max(step, 1)
    remaining_ms = max(1000.0 * hp.max_wallclock_seconds - elapsed_ms, 0.0)
    return remaining_ms / max(warmdown_ms, 1e-9) if remaining_ms <= warmdown_ms else 1.0

def muon_momentum_at(hp: Hyperparameters, step: int) -> float:
    frac = min(step / hp.muon_momentum_warmup_steps, 1.0) if hp.muon_momentum_warmup_steps > 0 else 1.0
    return (1 - frac) * hp.muon_momentum_warmup_start + frac * hp.muon_momentum


# -----------------------------------------------------------------------------------------------
# QUANTIZATION / EXPORT
# -----------------------------------------------------------------------------------------------
# QUANT=int5_gptq (stack-spec 5): attention/MLP matrices int5 (31 levels) by full-Hessian GPTQ (Frantar
# et al. 2022, arXiv 2210.17323), other large tensors int8 per row; intN: N bits (2^N - 1 levels), GPTQ
# with _gptq, else round to nearest; QUANT=int8 (baseline): all int8. Controls stay fp32, other tensors
# <= 65,536 elements (and tok_emb with FP16_EMBED=1) fp16. A torch.save list of tensors is compressed
# by the smallest codec; each stream starts with its codec's magic (brotli: a 0xB0 byte we add).

KEEP_FLOAT_MAX_NUMEL = 65_536
INT8_CLIP_QUANTILE = 0.9999984  # int8 rows clip a handful of outliers
INT5_CLIP_RANGE = 15
LOW_BIT_KINDS = ("int5", "int6")  # attention/MLP storage below int8: GPTQ, QAT and pruning apply
CLIP_PERCENTILES = (0.9990, 0.9995, 0.9999, 0.99999, 1.0)  # per-row int5 clip candidates (PR576)
SCALE_FLOOR = 2.0**-14  # fp16's smallest normal (the records' 1/clip_range floor flattens small rows)
QUANT_FORMAT = "pgolf_quant_v1"
# zstd-22 spends bits on spurious short matches in int5 codes: min_match=5 (bench/quantize_bench.py).
ZSTD_PARAMS = zstandard.ZstdCompressionParameters.from_level(22, min_match=5)
CODECS: dict[str, tuple[bytes, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {  # magic, pack, unpack
    "zlib": (b"\x78", lambda b: zlib.compress(b, 9), zlib.decompress),
    "zstd": (b"\x28\xb5\x2f\xfd", lambda b: zstandard.ZstdCompressor(compression_params=ZSTD_PARAMS)
             .compress(b), lambda b: zstandard.ZstdDecompressor().decompress(b)),
    "lzma": (b"\xfd7zXZ\x00", lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
}
if brotli is not None:
    CODECS["brotli"] = (b"\xb0", lambda b: b"\xb0" + brotli.compress(b, quality=11, lgwin=24),
                        lambda b: brotli.decompress(b[1:]))

def row_quantile(x: Tensor, q: float) -> Tensor:
    """Per-row quantile, interpolated like torch.quantile but without its 16M-element limit."""
    pos = q * (x.shape[1] - 1)
    top = x.topk(x.shape[1] - math.floor(pos), dim=1).values  # descending: only the upper tail
    return top[:, -1] + (top[:, max(-2, -top.shape[1])] - top[:, -1]) * (pos - math.floor(pos))

def row_scales(w: Tensor, percentile: float, clip_range: int) -> Tensor:
    """Per-row scales (fp16-representable) that map each row's |w| percentile to the top level."""
    return (row_quantile(w.abs(), percentile) / clip_range).clamp_min(SCALE_FLOOR).half().to(w.dtype)

def rtn_quantize(w: Tensor, clip_range: int, percentiles: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Round to nearest; each row keeps the clip percentile with the smallest squared error."""
    w = w.float()
    scales = torch.stack([row_scales(w, p, clip_range) for p in percentiles])  # (P, rows)
    q = torch.clamp(torch.round(w / scales[:, :, None]), -clip_range, clip_range)
    best = (w - q * scales[:, :, None]).square().sum(dim=2).argmin(dim=0)
    rows = torch.arange(w.shape[0], device=w.device)
    return q[best, rows].to(torch.int8), scales[best, rows].half()

def clip_range(kind: str) -> int:
    """Top level of an intN kind: 15 for int5, 31 for int6, 127 for int8 (symmetric grid)."""
    return 2 ** (int(kind.removeprefix("int")) - 1) - 1

def fake_quantize(w: Tensor, levels: int = INT5_CLIP_RANGE) -> Tensor:
    """w as the artifact will hold it (QAT): the export's round-to-nearest quantiser, dequantized."""
    q, s = rtn_quantize(w, levels, CLIP_PERCENTILES)
    return (q.float() * s.float()[:, None]).to(w.dtype)

def qat_quantizer(compile: bool, levels: int = INT5_CLIP_RANGE) -> Callable[[Tensor], Tensor]:
    """fake_quantize on the export's grid, compiled with the model (emulating the scales' fp16 rounding)."""
    quantize = functools.partial(fake_quantize, levels=levels)
    options = {"emulate_precision_casts": True}
    return torch.compile(quantize, dynamic=False, options=options) if compile else quantize

@torch.no_grad()
def update_qat(model: nn.Module, quantize: Callable[[Tensor], Tensor] | None) -> None:
    """Late QAT: qat_delta = quantize(w) - w for the current weights, or 0 (QAT off) with None."""
    for m in model.modules():
        if isinstance(m, CastedLinear) and m.qat_delta is not None:
            m.qat_delta.copy_(quantize(m.weight) - m.weight if quantize is not None else 0.0)

def gptq_sweep(w: Tensor, hinv_upper: Tensor, scale: Tensor, clip_range: int,
               block_size: int = 128) -> tuple[Tensor, Tensor]:
    """Column sweep: error of column j spread via row j of U = chol(H^-1) upper; returns codes, row losses."""
    wt = w.T.contiguous()
    q, loss = torch.empty_like(wt), torch.zeros(wt.shape[1], dtype=wt.dtype, device=wt.device)
    for i1 in range(0, len(wt), block_size):
        i2 = min(i1 + block_size, len(wt))
        u, err = hinv_upper[i1:i2, i1:i2], torch.empty(i2 - i1, wt.shape[1], dtype=wt.dtype, device=wt.device)
        for j in range(i2 - i1):
            q[i1 + j] = torch.clamp(torch.round(wt[i1 + j] / scale), -clip_range, clip_range)
            err[j] = (wt[i1 + j] - q[i1 + j] * scale) / u[j, j]
            wt[i1 + j + 1 : i2].addr_(u[j, j + 1 :], err[j], alpha=-1)
        wt[i2:].addmm_(hinv_upper[i1:i2, i2:].T, err, alpha=-1)
        loss += err.square().sum(dim=0)
    return q.T, loss

def gptq_quantize(w: Tensor, hessian: Tensor, percentiles: Sequence[float] = CLIP_PERCENTILES,
                  percdamp: float = 0.01, block_size: int = 128, levels: int = INT5_CLIP_RANGE
                  ) -> tuple[Tensor, Tensor, bool]:
    """GPTQ -> (codes in +-levels, fp16 row scales, used_gptq); act order, best clip per row; RTN if H is not PD."""
    dtype = torch.float64 if w.dtype == torch.float64 else torch.float32
    w, h = w.to(dtype).clone(), hessian.to(dtype).clone()
    dead = torch.diag(h) == 0  # inputs that never fire: their weights cannot matter
    h[dead, dead] = 1
    w[:, dead] = 0
    perm = torch.argsort(torch.diag(h), descending=True, stable=True)
    w, h = w[:, perm], h[perm][:, perm]
    eye = torch.eye(len(h), dtype=dtype, device=h.device)
    chol, info = torch.linalg.cholesky_ex(h + percdamp * torch.diag(h).mean() * eye)
    if info == 0:
        hinv_upper, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(chol), upper=True)
    if info != 0 or not torch.isfinite(hinv_upper).all():
        q, s = rtn_quantize(w, levels, percentiles)
        return q[:, torch.argsort(perm)], s, False
    scales = torch.stack([row_scales(w, p, levels) for p in percentiles])  # (P, rows)
    q, loss = gptq_sweep(w.repeat(len(scales), 1), hinv_upper, scales.reshape(-1), levels, block_size)
    best, rows = loss.view(len(scales), -1).argmin(dim=0), torch.arange(len(w), device=w.device)
    q = q.view(len(scales), len(w), -1)[best, rows][:, torch.argsort(perm)]
    return q.to(torch.int8), scales[best, rows].half(), True

@torch.no_grad()
def collect_hessians(model: nn.Module, batches: Iterable[Tensor]) -> dict[str, Tensor]:
    """Undamped H = mean x x^T of every nn.Linear's inputs, keyed by weight name, from forward hooks."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def hook_for(key: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
            sums[key] = sums[key].addmm_(x.T, x) if key in sums else x.T @ x
            counts[key] = counts.get(key, 0) + len(x)
        return hook

    hooks = [m.register_forward_hook(hook_for(f"{name}.weight")) for name, m in model.named_modules()
             if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    try:
        for ids in batches:
            getattr(model, "forward_logits", model)(ids)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {key: s / counts[key] for key, s in sums.items()}

@dataclass
class QuantEntry:
    """One stored tensor: kind raw | fp32 | fp16 (values in data) or int5 | int6 | int8 (codes + fp16 row scales)."""

    kind: str
    data: Tensor
    scale: Tensor | None
    dtype: torch.dtype  # restored on load
    method: str = ""  # low-bit matrices: gptq | rtn (logged, not stored)

def storage_kind(name: str, t: Tensor, quant: str, fp16_embed: bool = False) -> str:
    if not t.is_floating_point():
        return "raw"
    if any(p in name for p in CONTROL_TENSOR_PATTERNS):  # before the size check: PR576 stored them fp16
        return "fp32"
    if t.numel() <= KEEP_FLOAT_MAX_NUMEL or t.ndim != 2 or (fp16_embed and name == "tok_emb.weight"):
        return "fp16"
    return quant.split("_")[0] if ".attn." in name or ".mlp." in name else "int8"

def quantize_state_dict(state_dict: Mapping[str, Tensor], quant: str,
                        hessians: Mapping[str, Tensor] | None = None, device: torch.device | None = None,
                        fp16_embed: bool = False) -> dict[str, QuantEntry]:
    """Low-bit matrices use GPTQ (computed on `device`) where a Hessian is given, else round to nearest."""
    out = {}
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu()
        kind = storage_kind(name, t, quant, fp16_embed)
        if kind in LOW_BIT_KINDS and hessians is not None and name in hessians:
            q, s, used = gptq_quantize(t.to(device), hessians[name].to(device), levels=clip_range(kind))
            out[name] = QuantEntry(kind, q.cpu(), s.cpu(), t.dtype, "gptq" if used else "rtn")
        elif kind.startswith("int"):
            percentiles = (INT8_CLIP_QUANTILE,) if kind == "int8" else CLIP_PERCENTILES
            out[name] = QuantEntry(kind, *rtn_quantize(t, clip_range(kind), percentiles), t.dtype, "rtn")
        else:
            stored = {"raw": t.dtype, "fp32": torch.float32, "fp16": torch.float16}[kind]
            out[name] = QuantEntry(kind, t.to(stored).contiguous(), None, t.dtype)
    return out

def dequantize_state_dict(qsd: Mapping[str, QuantEntry]) -> dict[str, Tensor]:
    return {name: (e.data if e.scale is None else e.data.float() * e.scale.float()[:, None]).to(e.dtype)
            for name, e in qsd.items()}

def serialize_quantized(qsd: Mapping[str, QuantEntry]) -> bytes:
    """torch.save (weights_only) of [name, kind, dtype, data, scale] rows, low-bit codes in one run."""
    order = sorted(qsd, key=lambda n: (["int5", "int6", "int8", "fp16", "fp32", "raw"].index(qsd[n].kind), n))
    buf = io.BytesIO()
    torch.save({"format": QUANT_FORMAT, "tensors": [[n, qsd[n].kind, str(qsd[n].dtype)[6:], qsd[n].data,
                                                     qsd[n].scale] for n in order]}, buf)
    return buf.getvalue()

def deserialize_quantized(raw: bytes) -> dict[str, QuantEntry]:
    packed = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    if not isinstance(packed, dict) or packed.get("format") != QUANT_FORMAT:
        raise ValueError(f"artifact is not in the {QUANT_FORMAT} format")
    return {name: QuantEntry(kind, data, scale, getattr(torch, dtype))
            for name, kind, dtype, data, scale in packed["tensors"]}

def compress_artifact(raw: bytes, codecs: Sequence[str]) -> tuple[bytes, str]:
    """Compress with each codec (in threads: they release the GIL) and keep the smallest."""
    if unknown := [c for c in codecs if c not in CODECS]:
        raise ValueError(f"unknown or unavailable codec {unknown[0]!r} (available: {', '.join(CODECS)})")
    with ThreadPoolExecutor(len(codecs)) as pool:
        blobs = dict(zip(codecs, pool.map(lambda c: CODECS[c][1](raw), codecs)))
    best = min(codecs, key=lambda c: len(blobs[c]))
    return blobs[best], best

def decompress_state_dict(blob: bytes) -> dict[str, Tensor]:
    """The blob alone rebuilds the state dict: it names its codec (magic) and its tensors."""
    codec = next((c for c, (magic, _, _) in CODECS.items() if blob.startswith(magic)), None)
    if codec is None:
        raise ValueError(f"artifact starts with {blob[:6]!r}, the magic of no available codec")
    return dequantize_state_dict(deserialize_quantized(CODECS[codec][2](blob)))

def pack_artifact(qsd: dict[str, QuantEntry], codecs: Sequence[str], target_bytes: int | None = None,
                  tolerance_bytes: int = 4096, measure: Callable[[dict[str, QuantEntry]], int] | None = None,
                  max_probes: int = PRUNE_MAX_PROBES) -> tuple[dict[str, QuantEntry], bytes, str, int]:
    """Compress; over target_bytes, zero the low-bit +-1 codes of least scale^2 (R0325) until it fits. The
    compressed size jumps non-monotonically with the count k, so the search brackets k on sizes `measure`d
    for real (default: the chosen codec) by Illinois regula falsi, ending on a measured fit within
    tolerance_bytes of the target (or the best fit after max_probes). Returns (qsd, blob, codec, pruned)."""
    blob, codec = compress_artifact(serialize_quantized(qsd), codecs)
    size = len(blob) if measure is None else measure(qsd)
    names = [n for n, e in qsd.items() if e.kind in LOW_BIT_KINDS]
    if target_bytes is None or size <= target_bytes or not names:
        return qsd, blob, codec, 0
    measure = measure or (lambda q: len(compress_artifact(serialize_quantized(q), (codec,))[0]))
    flat = [torch.nonzero(qsd[n].data.reshape(-1).abs() == 1).squeeze(1) for n in names]
    cost = torch.cat([qsd[n].scale.float()[i // qsd[n].data.shape[1]].square() for n, i in zip(names, flat)])
    order = torch.argsort(cost, stable=True)
    owner = torch.cat([torch.full_like(i, k) for k, i in enumerate(flat)])[order]
    flat_idx = torch.cat(flat)[order]

    def pruned(k: int) -> dict[str, QuantEntry]:
        out = dict(qsd)
        for j, n in enumerate(names):
            data = qsd[n].data.clone().view(-1).index_fill_(0, flat_idx[:k][owner[:k] == j], 0)
            out[n] = dataclasses.replace(qsd[n], data=data.view_as(qsd[n].data))
        return out

    aim = target_bytes - tolerance_bytes / 2
    lo, hi = (0, size), (len(flat_idx), measure(pruned(len(flat_idx))))  # (k, size): too big, fits
    if hi[1] > target_bytes:
        return qsd, blob, codec, 0
    f_lo, f_hi, last = lo[1] - aim, hi[1] - aim, ""  # Illinois: a stale end's weight halves, both ends move
    for _ in range(max_probes):
        if hi[0] - lo[0] <= 1 or target_bytes - hi[1] <= tolerance_bytes:
            break
        k = min(max(lo[0] + round(f_lo * (hi[0] - lo[0]) / (f_lo - f_hi)), lo[0] + 1), hi[0] - 1)
        size = measure(pruned(k))
        if size <= target_bytes:
            hi, f_hi, f_lo, last = (k, size), size - aim, f_lo / (2 if last == "hi" else 1), "hi"
        else:
            lo, f_lo, f_hi, last = (k, size), size - aim, f_hi / (2 if last == "lo" else 1), "lo"
    final = pruned(hi[0])
    return (final, *compress_artifact(serialize_quantized(final), codecs), hi[0])

def compress_state_dict(state_dict: Mapping[str, Tensor], hp: Hyperparameters) -> tuple[bytes, str]:
    """The artifact blob and its format label (e.g. `int5_gptq+lzma`), without GPTQ or pruning."""
    _, blob, codec, _ = pack_artifact(quantize_state_dict(state_dict, hp.quant, fp16_embed=hp.fp16_embed),
                                      hp.codecs)
    return blob, f"{hp.quant}+{codec}"

# --- Entropy coder (COMPRESSOR=rans): the int codes by interleaved rANS, the rest by lzma or brotli -------
# All codes form one stream in RANS_LANES interleaved rANS lanes (Duda 2013, arXiv 1311.2540): one numpy
# step per symbol of every lane. Stored static model: per role, rows and columns clustered into classes,
# one histogram per (role, row class, column class). crc32, lengths and final states check the blob.
RANS_MAGIC, RANS_HEADER = b"PGR1", struct.Struct("<4sIIIII")  # magic, crc32, side, model, lanes, words
RANS_PROB_BITS, RANS_LOW, RANS_LANES = 15, 1 << 16, 4096  # frequencies sum to 2^15; states in [2^16, 2^32)
RANS_CLASS_OPTIONS = ((1, 1), (4, 1), (8, 1), (4, 4), (8, 4), (16, 8))  # (row classes, column classes)

def rans_coded(qsd: Mapping[str, QuantEntry]) -> list[str]:  # int codes with row scales, stream order
    return sorted(n for n, e in qsd.items() if e.scale is not None and e.data.dtype == torch.int8)

def rans_roles(names: Sequence[str]) -> list[list[int]]:
    """Indices of the coded tensors grouped by role (the name without layer numbers), sorted by role."""
    roles = [".".join(p for p in n.split(".") if not p.isdigit()) for n in names]
    return [[i for i, r in enumerate(roles) if r == role] for role in sorted(set(roles))]

def rans_histograms(keys: np.ndarray, sym: np.ndarray, n: int) -> np.ndarray:  # (n, 256) counts per key
    return np.bincount((keys.astype(np.int64) * 256 + sym).ravel(), minlength=n * 256).reshape(n, 256)

def rans_cluster(counts: np.ndarray, k: int, rounds: int = 4) -> np.ndarray:
    """k classes of items (rows or columns) by symbol counts: quantiles of mean |code|, then Lloyd rounds."""
    counts = counts.astype(float)
    rank = np.argsort(np.argsort(counts @ np.abs(np.arange(256) - 128.0), kind="stable"), kind="stable")
    cls = rank * k // max(len(counts), 1)
    for _ in range(rounds if k > 1 else 0):
        hist = np.stack([counts[cls == j].sum(0) for j in range(k)]) + 1e-3
        cls = np.argmin(counts @ -np.log2(hist / hist.sum(1, keepdims=True)).T, axis=1)
    return cls.astype(np.uint8)

def rans_role_model(sym: list[np.ndarray]) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(r, c, row classes, column classes) of a role: the option of least data + table + class bits."""
    best: tuple[float, int, int, np.ndarray, np.ndarray] | None = None
    row_at, col_at = np.cumsum([0] + [s.shape[0] for s in sym]), np.cumsum([0] + [s.shape[1] for s in sym])
    by_row = np.concatenate([rans_histograms(np.arange(len(s))[:, None], s, len(s)) for s in sym])
    by_col = np.concatenate([rans_histograms(np.arange(s.shape[1]), s, s.shape[1]) for s in sym])
    for r, c in RANS_CLASS_OPTIONS:
        rows, cols = rans_cluster(by_row, r), rans_cluster(by_col, c)
        counts = sum(rans_histograms(rows[row_at[i]:row_at[i + 1], None].astype(np.int64) * c
                                     + cols[col_at[i]:col_at[i + 1]], s, r * c) for i, s in enumerate(sym))
        p = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        bits = (-(counts * np.log2(np.where(counts > 0, p, 1))).sum() + 12 * (counts > 0).sum()
                + len(rows) * math.log2(r) + len(cols) * math.log2(c))
        best = min(best or (bits + 1, 0, 0, rows, cols), (bits, r, c, rows, cols), key=lambda b: b[0])
    return best[1:]

def rans_contexts(shapes: list[tuple[int, int]], roles: list[list[int]], classes: np.ndarray,
                  row_cls: np.ndarray, col_cls: np.ndarray, lanes: int) -> tuple[np.ndarray, int]:
    """Context id of every stream position laid out (steps, lanes), and the count of ids (padding: last)."""
    parts, base, row_at, col_at = [np.zeros(0, np.int32)] * (len(shapes) + 1), 0, 0, 0
    for members, (r, c) in zip(roles, classes.tolist()):  # classes come role by role, member by member
        for i in members:
            rows = row_cls[row_at:row_at + shapes[i][0]].astype(np.int32)
            parts[i] = (base + rows[:, None] * c + col_cls[col_at:col_at + shapes[i][1]]).ravel()
            row_at, col_at = row_at + shapes[i][0], col_at + shapes[i][1]
        base += r * c
    ctx = np.concatenate(parts).astype(np.int32)
    steps = -(-len(ctx) // lanes)
    return np.pad(ctx, (0, steps * lanes - len(ctx)), constant_values=base).reshape(steps, lanes), base + 1

def rans_frequencies(ctx: np.ndarray, sym: np.ndarray, contexts: int) -> np.ndarray:
    """Per context, the symbol counts scaled to sum to 2^RANS_PROB_BITS, every seen symbol >= 1."""
    counts = rans_histograms(ctx, sym, contexts).astype(np.int64)
    total = counts.sum(1, keepdims=True)
    freq = np.where(counts > 0, np.maximum(counts * (1 << RANS_PROB_BITS) // np.maximum(total, 1), 1), 0)
    used = np.nonzero(total[:, 0])[0]  # the largest entry absorbs the rounding
    freq[used, freq[used].argmax(1)] += (1 << RANS_PROB_BITS) - freq[used].sum(1)
    return freq.astype(np.uint16)

def rans_encode(sym: np.ndarray, ctx: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sym, ctx (steps, lanes), coded backwards -> lane final states, 16-bit words in decoding order."""
    f, start = freq.astype(np.uint64).ravel(), (np.cumsum(freq, 1, dtype=np.uint64) - freq).ravel()
    x, chunks = np.full(sym.shape[1], RANS_LOW, np.uint64), []
    for t in range(len(sym) - 1, -1, -1):
        fs = f[i := ctx[t].astype(np.int64) * 256 + sym[t]]
        out = x >= fs << np.uint64(32 - RANS_PROB_BITS)  # renormalise: x stays below 2^32 after coding
        chunks.append((x[out] & np.uint64(0xFFFF)).astype(np.uint16))
        x[out] >>= np.uint64(16)
        x = (x // fs << np.uint64(RANS_PROB_BITS)) + x % fs + start[i]
    return x.astype(np.uint32), np.concatenate(chunks[::-1] or [np.zeros(0, np.uint16)])

def rans_decode(ctx: np.ndarray, freq: np.ndarray, states: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Inverse of rans_encode: symbols (steps, lanes); checks that the stream is used up exactly."""
    m, sums = 1 << RANS_PROB_BITS, freq.sum(1, dtype=np.int64)
    if ((sums != 0) & (sums != m)).any():
        raise ValueError("artifact is corrupted: an rANS frequency table does not sum to 2^15")
    filled = np.where(sums[:, None] == 0, np.eye(1, 256, dtype=np.int64) * m, freq)  # unused contexts
    lut = np.repeat(np.tile(np.arange(256, dtype=np.uint8), len(freq)), filled.ravel())  # slot -> symbol
    f, start = filled.ravel(), (np.cumsum(filled, 1) - filled).ravel()
    x, pos, sym = states.astype(np.int64), 0, np.empty(ctx.shape, np.uint8)
    for t in range(len(ctx)):
        c, slot = ctx[t].astype(np.int64), x & (m - 1)
        sym[t] = s = lut[c * m + slot]
        x = f[i := c * 256 + s] * (x >> RANS_PROB_BITS) + slot - start[i]
        low = np.nonzero(x < RANS_LOW)[0]
        if pos + len(low) > len(words):
            raise ValueError("artifact is corrupted: the rANS word stream ends early")
        x[low] = (x[low] << 16) | words[pos:pos + len(low)]
        pos += len(low)
    if pos != len(words) or (x != RANS_LOW).any():
        raise ValueError("artifact is corrupted: the rANS lanes do not end in their initial state")
    return sym

def rans_byte_planes(t: Tensor, inverse: bool = False) -> Tensor:
    """Bytes regrouped by position in the element (all first bytes, ...): floats compress ~4% smaller."""
    b = t.contiguous().reshape(-1).view(torch.uint8)
    b = b.reshape(t.element_size(), -1).T if inverse else b.reshape(-1, t.element_size()).T
    return b.reshape(-1).view(t.dtype).reshape(t.shape)

def rans_pack(raw: bytes) -> bytes:
    """serialized qsd -> header, side (all but codes; lzma|brotli), lzma(model), lane states, words."""
    qsd = deserialize_quantized(raw)
    names = rans_coded(qsd)
    sym = [(qsd[n].data.numpy().astype(np.int16) + 128).astype(np.uint8) for n in names]
    roles = rans_roles(names)
    models = [rans_role_model([sym[i] for i in members]) for members in roles]  # (r, c, rows, cols)
    classes = np.array([m[:2] for m in models], np.uint8).reshape(-1, 2)
    row_cls, col_cls = [np.concatenate([m[k] for m in models] + [np.zeros(0, np.uint8)]) for k in (2, 3)]
    stream = np.concatenate([s.ravel() for s in sym] + [np.zeros(0, np.uint8)])
    lanes = int(min(RANS_LANES, max(1, len(stream) // 2048)))  # >= 2048 steps: final states are overhead
    ctx, contexts = rans_contexts([s.shape for s in sym], roles, classes, row_cls, col_cls, lanes)
    grid = np.pad(stream, (0, ctx.size - len(stream)), constant_values=128).reshape(-1, lanes)
    freq = rans_frequencies(ctx, grid, contexts)
    states, words = rans_encode(grid, ctx, freq)
    stripped = serialize_quantized({n: dataclasses.replace(e, data=e.data[:0].clone() if n in names else
                                                           rans_byte_planes(e.data)) for n, e in qsd.items()})
    side = min((CODECS[c][1](stripped) for c in ("lzma", "brotli") if c in CODECS), key=len)
    model = lzma.compress(b"".join(a.tobytes() for a in (classes, row_cls, col_cls, freq)), preset=9)
    body = side + model + states.tobytes() + words.tobytes()
    return RANS_HEADER.pack(RANS_MAGIC, zlib.crc32(body), len(side), len(model), lanes, len(words)) + body

def rans_unpack(blob: bytes) -> bytes:
    """PGR1 blob -> the serialize_quantized bytes it was made from; a damaged blob raises ValueError."""
    _, crc, n_side, n_model, lanes, n_words = RANS_HEADER.unpack_from(blob.ljust(RANS_HEADER.size, b"\0"))
    body, at = memoryview(blob)[RANS_HEADER.size:], np.cumsum([0, n_side, n_model, 4 * lanes, 2 * n_words])
    if len(body) != at[-1]:
        raise ValueError(f"artifact is truncated or padded: {len(blob)} bytes, its header says "
                         f"{RANS_HEADER.size + at[-1]}")
    if zlib.crc32(body) != crc:
        raise ValueError("artifact is corrupted: crc32 mismatch")
    side = bytes(body[:n_side])
    qsd = deserialize_quantized(next(u for m, _, u in CODECS.values() if side.startswith(m))(side))
    names = rans_coded(qsd)
    qsd = {n: e if n in names else dataclasses.replace(e, data=rans_byte_planes(e.data, inverse=True))
           for n, e in qsd.items()}
    roles, shapes = rans_roles(names), [(len(qsd[n].scale), qsd[n].data.shape[1]) for n in names]
    model = np.frombuffer(lzma.decompress(body[at[1]:at[2]]), np.uint8)
    n_rows, n_cols = sum(r for r, _ in shapes), sum(c for _, c in shapes)
    row_cls, col_cls, freq = np.split(model[2 * len(roles):], [n_rows, n_rows + n_cols])
    classes = model[:2 * len(roles)].reshape(-1, 2)
    ctx, contexts = rans_contexts(shapes, roles, classes, row_cls, col_cls, lanes)
    states, words = np.frombuffer(body[at[2]:at[3]], np.uint32), np.frombuffer(body[at[3]:], np.uint16)
    stream = rans_decode(ctx, freq.view(np.uint16).reshape(contexts, 256), states, words).ravel()
    for n, (r, c), start in zip(names, shapes, np.cumsum([0] + [r * c for r, c in shapes])):
        codes = (stream[start:start + r * c].astype(np.int16) - 128).astype(np.int8).reshape(r, c)
        qsd[n] = dataclasses.replace(qsd[n], data=torch.from_numpy(codes))
    return serialize_quantized(qsd)

CODECS["rans"] = (RANS_MAGIC, rans_pack, rans_unpack)


# -----------------------------------------------------------------------------------------------
# EVALUATION
# -----------------------------------------------------------------------------------------------
# Bits per UTF-8 byte, so tokenizers compete fairly. One scoring loop serves the in-training validation, the
# sliding window (stack-spec 6.2: every target scored exactly once) and score-first TTT (6.3).

@dataclass(frozen=True)
class ByteLuts:
    """Per-token-id byte tables (indexable by any id below max(tokenizer, VOCAB_SIZE))."""

    base_bytes: Tensor  # int16: UTF-8 bytes of the piece without its leading "▁"
    has_leading_space: Tensor  # bool: the piece starts with "▁"
    is_boundary: Tensor  # bool: control/unknown/unused ids (BOS), after which a "▁" is not text

    def target_bytes(self, prev_ids: Tensor, target_ids: Tensor) -> Tensor:
        space = self.has_leading_space[target_ids] & ~self.is_boundary[prev_ids]
        return self.base_bytes[target_ids].to(torch.int64) + space.to(torch.int64)

def build_byte_luts(sp: spm.SentencePieceProcessor, vocab_size: int, device: torch.device) -> ByteLuts:
    size = max(int(sp.vocab_size()), vocab_size)
    base_bytes = np.zeros(size, dtype=np.int16)
    has_leading_space = np.zeros(size, dtype=np.bool_)
    is_boundary = np.ones(size, dtype=np.bool_)
    for token_id in range(int(sp.vocab_size())):
        if sp.is_control(token_id) or sp.is_unknown(token_id) or sp.is_unused(token_id):
            continue
        is_boundary[token_id] = False
        if sp.is_byte(token_id):  # a byte-fallback piece is one byte
            base_bytes[token_id] = 1
            continue
        piece = sp.id_to_piece(token_id)
        if piece.startswith("▁"):
            has_leading_space[token_id] = True
            piece = piece[1:]
        base_bytes[token_id] = len(piece.encode("utf-8"))
    return ByteLuts(*(torch.tensor(a, device=device) for a in (base_bytes, has_leading_space, is_boundary)))

@dataclass(frozen=True)
class ValidationSet:
    tokens: Tensor  # 1-D, k * seq_len + 1 token ids: k sequences of inputs, each shifted for targets
    luts: ByteLuts
    seq_len: int

@dataclass(frozen=True)
class EvalResult:
    val_loss: float  # mean nats per target token
    val_bpb: float  # bits per UTF-8 byte of the target text
    tokens: int
    bytes: int

    @classmethod
    def from_sums(cls, sums: Tensor) -> EvalResult:
        nll, tokens, nbytes = sums.tolist()
        return cls(val_loss=nll / tokens, val_bpb=nll / (math.log(2.0) * nbytes), tokens=int(tokens),
                   bytes=int(nbytes))

def sliding_windows(n_targets: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, length, first scored offset) per window; every target is scored by exactly one window."""
    if not 0 < stride <= seq_len:
        raise ConfigError(f"EVAL_STRIDE must be in 1..{seq_len} (the sequence length), got {stride}")
    windows, end = [(0, min(seq_len, n_targets), 0)], min(seq_len, n_targets)
    while end < n_targets:
        start = min(end + stride, n_targets) - seq_len
        windows.append((start, seq_len, end - start))
        end = start + seq_len
    return windows

def token_nll(logits: Tensor, targets: Tensor, temperature: float = 1.0, adaptive: bool = False) -> Tensor:
    """Per-token NLL of softmax(logits / T); adaptive (PR606): T = clamp(1 - (1 - T0)(1 - H / ln V))."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # fp32, or fp64 if given
    t: Tensor | float = temperature
    if adaptive:
        logp = F.log_softmax(logits, dim=-1)
        entropy = -(logp.exp() * logp).sum(dim=-1, keepdim=True)
        t = (1 - (1 - temperature) * (1 - entropy / math.log(logits.shape[-1]))).clamp(0.9, 1.05)
    return F.cross_entropy((logits / t).flatten(0, -2), targets.flatten(), reduction="none").view_as(targets)

@torch.no_grad()  # never inference_mode: its tensors cannot be saved for backward by later training
def score_windows(forward_logits: Callable[[Tensor], Tensor], val: ValidationSet,
                  windows: Sequence[tuple[int, int, int]], rt: Runtime, batch_seqs: int,
                  temperature: float = 1.0, adaptive: bool = False) -> Tensor:
    """fp64 (nll, tokens, bytes) of the windows' scored targets; ranks take contiguous shares, all-reduced."""
    mine = windows[len(windows) * rt.rank // rt.world_size : len(windows) * (rt.rank + 1) // rt.world_size]
    sums = torch.zeros(3, dtype=torch.float64, device=rt.device)
    for b0 in range(0, len(mine), batch_seqs):
        batch = mine[b0 : b0 + batch_seqs]
        seq = torch.stack([val.tokens[s : s + n + 1] for s, n, _ in batch]).to(rt.device, torch.int64)
        x, y = seq[:, :-1], seq[:, 1:]
        with rt.autocast():
            nll = token_nll(forward_logits(x), y, temperature, adaptive)
        first = torch.tensor([f for _, _, f in batch], device=rt.device)
        scored = torch.arange(x.shape[1], device=rt.device)[None, :] >= first[:, None]
        sums += torch.stack([nll.double()[scored].sum(), scored.sum().double(),
                             val.luts.target_bytes(x, y)[scored].sum().double()])
    if rt.distributed:
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    return sums

def evaluate(forward_logits: Callable[[Tensor], Tensor], val: ValidationSet, rt: Runtime, batch_seqs: int,
             stride: int = 0, temperature: float = 1.0, adaptive: bool = False) -> EvalResult:
    """One scoring pass over `val`: sliding windows at `stride`, or plain sequences with stride 0."""
    windows = sliding_windows(val.tokens.numel() - 1, val.seq_len, stride or val.seq_len)
    sums = score_windows(forward_logits, val, windows, rt, batch_seqs, temperature, adaptive)
    return EvalResult.from_sums(sums)

def eval_ttt(model: nn.Module, forward_logits: Callable[[Tensor], Tensor],
             loss_fn: Callable[[Tensor, Tensor], Tensor], val: ValidationSet, hp: Hyperparameters,
             rt: Runtime, log: Callable[[str], None] | None = None) -> tuple[EvalResult, Tensor]:
    """Score-first TTT (stack-spec 6.3): score a chunk, then train on it; returns (total, per-chunk sums)."""
    n_targets, seq_len = val.tokens.numel() - 1, val.seq_len
    n_chunks = max(1, math.ceil(n_targets / hp.ttt_chunk_tokens))
    chunks: list[list[tuple[int, int, int]]] = [[] for _ in range(n_chunks)]
    for w in sliding_windows(n_targets, seq_len, hp.eval_stride or seq_len):
        chunks[min((w[0] + w[2]) // hp.ttt_chunk_tokens, n_chunks - 1)].append(w)
    saved = {p: p.requires_grad for p in model.parameters()}
    last = tuple(f"blocks.{i}." for i in range(len(model.blocks) - hp.ttt_last_blocks, len(model.blocks)))
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(last) or any(k in name for k in ("norm", "scale", "lm_head")))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=hp.ttt_lr, betas=(0.9, 0.999), weight_decay=0.0)
    per_chunk = torch.zeros(n_chunks, 3, dtype=torch.float64, device=rt.device)
    trained_to, t0 = 0, time.perf_counter()  # targets [0, trained_to) have been trained on
    model.eval()
    try:
        for ci, windows in enumerate(chunks):
            per_chunk[ci] = score_windows(forward_logits, val, windows, rt, hp.eval_batch_seqs,
                                          hp.eval_temperature, hp.eval_adaptive_temperature)
            if log is not None and (ci % 50 == 0 or ci == n_chunks - 1):
                bpb = EvalResult.from_sums(per_chunk[: ci + 1].sum(0)).val_bpb
                log(f"  ttt_chunk [{ci + 1}/{n_chunks}] bpb={bpb:.6f} time={time.perf_counter() - t0:.1f}s")
            if ci == n_chunks - 1 or not params:
                continue
            scored_to = max((s + n for s, n, _ in windows), default=trained_to)
            starts = list(range(trained_to, scored_to - seq_len + 1, seq_len))
            trained_to += len(starts) * seq_len
            for group in opt.param_groups:
                group["lr"] = hp.ttt_lr * 0.5 * (1 + math.cos(math.pi * ci / (n_chunks - 1)))
            for _ in range(hp.ttt_epochs):
                ttt_epoch(loss_fn, params, opt, val, starts, hp, rt)
    finally:
        for p, flag in saved.items():
            p.requires_grad_(flag)
    return EvalResult.from_sums(per_chunk.sum(0)), per_chunk

def ttt_epoch(loss_fn: Callable[[Tensor, Tensor], Tensor], params: list[nn.Parameter],
              opt: torch.optim.Optimizer, val: ValidationSet, starts: list[int], hp: Hyperparameters,
              rt: Runtime) -> None:
    """Equal step counts on every rank; a step's gradient is the mean over all ranks' sequences."""
    shares = [starts[len(starts) * r // rt.world_size : len(starts) * (r + 1) // rt.world_size]
              for r in range(rt.world_size)]
    bs = hp.ttt_batch_seqs
    for step in range(math.ceil(max(len(s) for s in shares) / bs)):
        batch = shares[rt.rank][step * bs : (step + 1) * bs]
        opt.zero_grad(set_to_none=False)
        if batch:
            seq = torch.stack([val.tokens[s : s + val.seq_len + 1] for s in batch]).to(rt.device, torch.int64)
            with rt.autocast():
                (loss_fn(seq[:, :-1], seq[:, 1:]) * len(batch)).backward()
        for p in params:
            p.grad = torch.zeros_like(p) if p.grad is None else p.grad
            if rt.distributed:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(sum(len(s[step * bs : (step + 1) * bs]) for s in shares))
        if hp.ttt_grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, hp.ttt_grad_clip)
        opt.step()


# -----------------------------------------------------------------------------------------------
# TRAINING AND MAIN
# -----------------------------------------------------------------------------------------------
# Process layout, logging, the timed loop, export and the summary. Only `training_time_ms` counts against
# the cap: compile priming, validation and export are outside it, as in the official baseline.

ARTIFACT_LIMIT_BYTES = 16_000_000  # code + compressed model, decimal
TIME_LIMIT_MS = 600_000  # training, and separately evaluation, on 8xH100

@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    device: torch.device
    compute_dtype: torch.dtype
    compile: bool
    distributed: bool

    @property
    def grad_accum_steps(self) -> int:
        return 8 // self.world_size  # the global batch is always 8 micro-batches

    def autocast(self) -> torch.autocast:
        bf16 = self.compute_dtype == torch.bfloat16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

def init_runtime(hp: Hyperparameters) -> Runtime:
    """Device, process group and compute settings from HP and torchrun's RANK/WORLD_SIZE/LOCAL_RANK."""
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size < 1 or 8 % world_size != 0:
        raise ConfigError(f"WORLD_SIZE={world_size} must divide 8 (the global batch is 8 micro-batches)")
    if hp.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("DEVICE='cuda' but CUDA is not available")
    use_cuda = hp.device == "cuda" or (hp.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if distributed:
        timeout = datetime.timedelta(seconds=hp.dist_timeout_s)  # the other ranks wait out rank 0's export
        if use_cuda:
            dist.init_process_group(backend="nccl", device_id=device, timeout=timeout)
        else:
            dist.init_process_group(backend="gloo", timeout=timeout)
        dist.barrier()
    dtype, compile_model = resolve_compute_dtype(hp, device), use_cuda if hp.compile is None else hp.compile
    return Runtime(rank=rank, world_size=world_size, device=device, compute_dtype=dtype,
                   compile=compile_model, distributed=distributed)

def resolve_paths(hp: Hyperparameters, rt: Runtime) -> Hyperparameters:
    """Fill RUN_ID (chosen by rank 0, shared), OUTPUT_DIR and SUMMARY_PATH defaults."""
    chosen = [hp.run_id or f"{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:8]}"]
    if rt.distributed and not hp.run_id:
        dist.broadcast_object_list(chosen, src=0)
    output_dir = hp.output_dir or os.path.join("runs", chosen[0])
    summary_path = hp.summary_path or os.path.join(output_dir, "summary.json")
    return dataclasses.replace(hp, run_id=chosen[0], output_dir=output_dir, summary_path=summary_path)

class RunLog:
    """Rank-0 logging to stdout and a file; other ranks stay silent."""

    def __init__(self, path: Path | None):
        self.path = path

    def __call__(self, msg: str, console: bool = True) -> None:
        if self.path is None:
            return
        if console:
            print(msg, flush=True)
        with self.path.open("a", encoding="utf-8") as f:
            print(msg, file=f)

@dataclass
class TrainContext:
    hp: Hyperparameters
    rt: Runtime
    log: RunLog
    model: GPT  # the raw module: state_dict, export, parameter groups
    train_model: nn.Module  # compiled and/or DDP-wrapped model for training steps
    compiled: nn.Module  # compiled model (no DDP): TTT's loss
    forward_logits: Callable[[Tensor], Tensor]  # compiled model.forward_logits: every scoring pass
    optimizers: list[torch.optim.Optimizer]  # AdamWs, then Muon
    loader: DistributedTokenLoader
    val: ValidationSet
    qat_quantize: Callable[[Tensor], Tensor] = fake_quantize  # QAT's quantizer (compiled with the model)
    timings_s: dict[str, float] = field(default_factory=dict)

@dataclass(frozen=True)
class TrainOutcome:
    steps: int
    train_time_ms: float
    stopped_early: bool
    last_val: EvalResult

def train_step(ctx: TrainContext, lr_mult: float, muon_momentum: float) -> Tensor:
    """One optimizer step over 8 // world_size micro-batches; returns this rank's mean loss."""
    hp, rt = ctx.hp, ctx.rt
    total = torch.zeros((), device=rt.device)
    for micro_step in range(rt.grad_accum_steps):
        if isinstance(ctx.train_model, DDP):  # all-reduce gradients only after the last micro-batch
            ctx.train_model.require_backward_grad_sync = micro_step == rt.grad_accum_steps - 1
        x, y = ctx.loader.next_batch(hp.train_batch_tokens, hp.train_seq_len)
        with rt.autocast():
            loss = ctx.train_model(x, y)
        total += loss.detach()
        (loss / rt.grad_accum_steps).backward()
    if hp.grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), hp.grad_clip_norm)
    step_optimizers(ctx.optimizers, lr_mult, muon_momentum)
    for opt in ctx.optimizers:
        opt.zero_grad(set_to_none=True)
    return total / rt.grad_accum_steps

def prime_compile(ctx: TrainContext) -> None:
    """WARMUP_STEPS steps compile before the timer; weights, optimizer and data are then put back."""
    if ctx.hp.warmup_steps <= 0:
        return
    model_state = {name: t.detach().clone() for name, t in ctx.model.state_dict().items()}
    optimizer_states = [copy.deepcopy(opt.state_dict()) for opt in ctx.optimizers]
    for step in range(ctx.hp.warmup_steps):
        train_step(ctx, lr_mult=1.0, muon_momentum=muon_momentum_at(ctx.hp, 0))
        ctx.log(f"warmup_step:{step + 1}/{ctx.hp.warmup_steps}")
    update_qat(ctx.model, ctx.qat_quantize)  # compiles late QAT's quantizer now, not inside the timed loop
    update_qat(ctx.model, None)
    ctx.model.load_state_dict(model_state, strict=True)
    for opt, state in zip(ctx.optimizers, optimizer_states, strict=True):
        opt.load_state_dict(state)
    ctx.loader = DistributedTokenLoader(ctx.hp.shards("train"), ctx.rt)

def train_loop(ctx: TrainContext) -> TrainOutcome:
    """Train until ITERATIONS or the wall-clock cap; validate every VAL_LOSS_EVERY steps and last."""
    hp, rt, log = ctx.hp, ctx.rt, ctx.log
    cap_ms = 1000.0 * hp.max_wallclock_seconds if hp.max_wallclock_seconds > 0 else None
    train_ms, val_s, stop_after, step, qat_on = 0.0, 0.0, None, 0, hp.qat_mode == "always"
    last_val: EvalResult | None = None
    ema = EMA(ctx.model, hp.ema_decay) if hp.ema_decay > 0 else None  # starts from the initial weights
    if qat_on:  # QAT_MODE=always: the STE fake-quant is on from the first step
        update_qat(ctx.model, ctx.qat_quantize)
    rt.sync()
    t0 = wall0 = time.perf_counter()
    while True:
        last_step = step == hp.iterations or (stop_after is not None and step >= stop_after)
        if last_step:  # the EMA weights are scored and exported: a fixed rule, no validation-based choice
            update_qat(ctx.model, None)
            if ema is not None:
                ema.copy_to(ctx.model)
                log("ema:applying EMA weights")
        if last_step or (hp.val_loss_every > 0 and step % hp.val_loss_every == 0):
            rt.sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            t_val = time.perf_counter()
            ctx.model.eval()  # eval mode: QAT off
            last_val = evaluate(ctx.forward_logits, ctx.val, rt, hp.val_batch_seqs)
            ctx.model.train()
            log(f"step:{step}/{hp.iterations} val_loss:{last_val.val_loss:.4f} "
                f"val_bpb:{last_val.val_bpb:.4f} train_time:{train_ms:.0f}ms "
                f"step_avg:{train_ms / max(step, 1):.2f}ms")
            rt.sync()
            val_s += time.perf_counter() - t_val
            t0 = time.perf_counter()
        if last_step:
            if stop_after is not None and step < hp.iterations:
                log(f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{step}/{hp.iterations}")
            break
        scale = lr_scale(hp, step, train_ms + 1000.0 * (time.perf_counter() - t0))
        if hp.late_qat_threshold > 0 and not qat_on and scale < hp.late_qat_threshold:
            qat_on = True  # buffers change, not the graph: no recompile
            update_qat(ctx.model, ctx.qat_quantize)
            log(f"late_qat:enabled step:{step} scale:{scale:.4f}")
        loss = train_step(ctx, scale, muon_momentum_at(hp, step))
        if ema is not None:
            ema.update()
        if qat_on:  # the next forward sees the exported version of the updated weights
            update_qat(ctx.model, ctx.qat_quantize)
        step += 1
        approx_ms = train_ms + 1000.0 * (time.perf_counter() - t0)
        reached_cap = cap_ms is not None and approx_ms >= cap_ms
        if rt.distributed and cap_ms is not None:  # every rank must stop after the same step
            flag = torch.tensor(int(reached_cap), device=rt.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            reached_cap = bool(flag.item())
        if hp.train_log_every > 0 and (step <= 10 or step % hp.train_log_every == 0 or step == hp.iterations
                                       or reached_cap):
            if rt.distributed:  # log the global-batch mean, not rank 0's share
                dist.all_reduce(loss, op=dist.ReduceOp.SUM)
                loss /= rt.world_size
            log(f"step:{step}/{hp.iterations} train_loss:{loss.item():.4f} "
                f"train_time:{approx_ms:.0f}ms step_avg:{approx_ms / step:.2f}ms")
        if stop_after is None and reached_cap:
            stop_after = step
    ctx.timings_s.update(training=time.perf_counter() - wall0, validation=val_s)
    assert last_val is not None
    stopped_early = stop_after is not None and step < hp.iterations
    return TrainOutcome(steps=step, train_time_ms=train_ms, stopped_early=stopped_early, last_val=last_val)

@dataclass(frozen=True)
class Artifact:
    path: Path
    format: str
    model_bytes: int  # compressed model file
    code_bytes: int  # this script
    total_bytes: int  # what the 16,000,000-byte cap counts

def calibrate_gptq(ctx: TrainContext, train_time_ms: float) -> dict[str, Tensor]:
    """Hessians from GPTQ_CALIB_BATCHES training batches per rank, read inside the GPTQ_RESERVE_MS reserve."""
    hp, rt = ctx.hp, ctx.rt
    rt.sync()
    t0 = time.perf_counter()
    batches = (ctx.loader.next_batch(hp.train_batch_tokens, hp.train_seq_len)[0]
               for _ in range(hp.gptq_calib_batches))
    with rt.autocast():
        hessians = collect_hessians(ctx.model, batches)
    for h in hessians.values() if rt.distributed else ():
        dist.all_reduce(h, op=dist.ReduceOp.SUM)
        h /= rt.world_size
    rt.sync()
    calib_ms = 1000.0 * (time.perf_counter() - t0)
    ctx.timings_s["gptq_calibration"] = calib_ms / 1000.0
    ctx.log(f"gptq:calibrated {len(hessians)} layers from training data batches:{hp.gptq_calib_batches} "
            f"time:{calib_ms:.0f}ms train_time+calibration:{train_time_ms + calib_ms:.0f}ms")
    return hessians

def export_artifact(ctx: TrainContext, code_bytes: int, hessians: Mapping[str, Tensor] | None) -> Artifact:
    """Rank 0 quantizes, compresses (pruning to fit), writes the blob and logs its sizes."""
    hp, log = ctx.hp, ctx.log
    shared = ["", ""]  # path, label
    if ctx.rt.rank == 0:
        raw = io.BytesIO()
        torch.save(ctx.model.state_dict(), raw)
        t0 = time.perf_counter()
        qsd = quantize_state_dict(ctx.model.state_dict(), hp.quant, hessians, ctx.rt.device, hp.fp16_embed)
        t1 = time.perf_counter()
        target = ARTIFACT_LIMIT_BYTES - code_bytes if hp.prune_to_fit else None
        qsd, blob, codec, pruned = pack_artifact(qsd, hp.codecs, target)
        t2 = time.perf_counter()
        ctx.timings_s.update(quantization=t1 - t0, compression=t2 - t1)
        methods, kind = [e.method for e in qsd.values() if e.kind == hp.block_kind], hp.block_kind
        log(f"quant:{hp.quant} {kind}_gptq:{methods.count('gptq')} {kind}_rtn:{methods.count('rtn')} "
            f"pruned:{pruned} codec:{codec} quantize:{t1 - t0:.1f}s compress:{t2 - t1:.1f}s")
        shared = [str(Path(hp.output_dir) / f"final_model.{hp.quant}.{codec}.ptz"), f"{hp.quant}+{codec}"]
        Path(shared[0]).write_bytes(blob)
        log(f"Serialized model: {raw.tell()} bytes")
        log(f"Code size: {code_bytes} bytes")
        log(f"Serialized model {shared[1]}: {len(blob)} bytes")
        log(f"Total submission size {shared[1]}: {len(blob) + code_bytes} bytes")
    if ctx.rt.distributed:
        dist.broadcast_object_list(shared, src=0)
    size = Path(shared[0]).stat().st_size
    return Artifact(Path(shared[0]), shared[1], model_bytes=size, code_bytes=code_bytes,
                    total_bytes=size + code_bytes)

def final_evaluate(ctx: TrainContext, artifact: Artifact) -> tuple[EvalResult, float, str]:
    """The one reported pass (plain, sliding or TTT) on the weights read back from the artifact file."""
    hp, rt = ctx.hp, ctx.rt
    rt.sync()
    t0 = time.perf_counter()
    ctx.model.load_state_dict(decompress_state_dict(artifact.path.read_bytes()), strict=True)
    ctx.model.eval()
    if hp.ttt_enabled:
        mode = "ttt"
        result = eval_ttt(ctx.model, ctx.forward_logits, ctx.compiled, ctx.val, hp, rt, ctx.log)[0]
    else:
        result = evaluate(ctx.forward_logits, ctx.val, rt, hp.eval_batch_seqs, hp.eval_stride,
                          hp.eval_temperature, hp.eval_adaptive_temperature)
        mode = "sliding_window" if 0 < hp.eval_stride < ctx.val.seq_len else "roundtrip"
    rt.sync()
    return result, 1000.0 * (time.perf_counter() - t0), mode


def write_summary(ctx: TrainContext, outcome: TrainOutcome, artifact: Artifact, label: str, final: EvalResult,
                  eval_ms: float, verdicts: dict[str, dict[str, Any]]) -> None:
    """The JSON summary at SUMMARY_PATH: the figures of the log's final lines and each phase's time."""
    hp, rt = ctx.hp, ctx.rt
    summary = {
        "format_version": 1, "run_id": hp.run_id, "seed": hp.seed, "world_size": rt.world_size,
        "device": rt.device.type, "compute_dtype": str(rt.compute_dtype).removeprefix("torch."),
        "compile": rt.compile, "torch_version": torch.__version__, "attention": ctx.model.attention,
        "model_params": sum(p.numel() for p in ctx.model.parameters()),
        "steps": outcome.steps, "train_time_ms": outcome.train_time_ms,
        "step_avg_ms": outcome.train_time_ms / max(outcome.steps, 1), "stopped_early": outcome.stopped_early,
        "val_tokens": final.tokens, "val_bytes": final.bytes,
        "pre_quant": {"val_loss": outcome.last_val.val_loss, "val_bpb": outcome.last_val.val_bpb},
        "final": {"label": label, "val_loss": final.val_loss, "val_bpb": final.val_bpb,
                  "eval_time_ms": eval_ms},
        "output_dir": hp.output_dir, "log_path": str(ctx.log.path), "artifact_path": str(artifact.path),
        "artifact_format": artifact.format, "artifact_bytes": artifact.total_bytes,
        "model_bytes": artifact.model_bytes, "code_bytes": artifact.code_bytes,
        "timings_s": ctx.timings_s, "budgets": verdicts, "hyperparameters": dataclasses.asdict(hp),
    }
    path = Path(hp.summary_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

def main() -> None:
    t_start = time.perf_counter()
    code_path = Path(__file__)
    hp = Hyperparameters.from_env(os.environ)
    hp.check_files()
    rt = init_runtime(hp)
    hp = resolve_paths(hp, rt)
    out_dir = Path(hp.output_dir)
    if any(map(Path.is_file, (out_dir, *out_dir.parents))) or os.makedirs(out_dir, exist_ok=True):
        raise ConfigError(f"OUTPUT_DIR={hp.output_dir!r} cannot be created: a file is in the way")
    log = RunLog(out_dir / f"{hp.run_id}.txt" if rt.rank == 0 else None)
    log(f"output_dir:{out_dir}")
    # Source, versions and (on CUDA) nvidia-smi go to the log file first, as in the baseline.
    log(code_path.read_text(encoding="utf-8"), console=False)
    log(f"{'=' * 100}\nRunning Python {sys.version}\nRunning PyTorch {torch.__version__}", console=False)
    if rt.device.type == "cuda":
        try:
            smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False).stdout
            log(smi, console=False)
        except OSError as exc:
            log(f"nvidia-smi unavailable: {exc}", console=False)
    log("=" * 100, console=False)
    random.seed(hp.seed)
    np.random.seed(hp.seed)
    torch.manual_seed(hp.seed)
    # --- tokenizer, byte tables and validation tokens ---
    sp = spm.SentencePieceProcessor(model_file=hp.tokenizer_path)
    if int(sp.vocab_size()) != hp.vocab_size:
        raise ConfigError(f"VOCAB_SIZE={hp.vocab_size} does not match the tokenizer's vocab size "
                          f"{int(sp.vocab_size())}")
    val = ValidationSet(tokens=load_validation_tokens(hp.shards("val"), hp.train_seq_len, hp.val_max_tokens),
                        luts=build_byte_luts(sp, hp.vocab_size, rt.device), seq_len=hp.train_seq_len)
    log(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={hp.tokenizer_path}")
    log(f"train_loader:dataset:{Path(hp.data_path).resolve().name} "
        f"train_shards:{len(glob.glob(hp.shards('train')))}")
    log(f"val_loader:shards pattern={hp.shards('val')} tokens:{val.tokens.numel() - 1}")
    if hp.val_max_tokens > 0:
        log(f"val_max_tokens:{hp.val_max_tokens} (a capped validation set: not an official score)")
    # --- model and optimizers (flash-attn kernels may be opaque to Dynamo: fullgraph with SDPA only) ---
    model = build_model(hp, rt.device)
    compiled: nn.Module = model
    forward_logits: Callable[[Tensor], Tensor] = model.forward_logits
    if rt.compile:
        compiled = torch.compile(model, dynamic=False, fullgraph=model.attention == "sdpa")
        forward_logits = torch.compile(model.forward_logits, dynamic=False)
    train_model = DDP(compiled, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                      broadcast_buffers=False) if rt.distributed else compiled
    log("hyperparameters:")  # indented, as in the records' logs: parsers skip these lines
    for name, value in dataclasses.asdict(hp).items():
        log(f"  {name}: {value}")
    log(f"model_params:{sum(p.numel() for p in model.parameters())}")
    log(f"world_size:{rt.world_size} grad_accum_steps:{rt.grad_accum_steps}")
    qat_layers = sum(isinstance(m, CastedLinear) and m.qat_delta is not None for m in model.modules())
    log(f"device:{rt.device} compute_dtype:{str(rt.compute_dtype).removeprefix('torch.')} "
        f"compile:{rt.compile} attention:{model.attention} ve_layers:{','.join(map(str, hp.ve_layer_ids))} "
        f"qat_layers:{qat_layers} codecs:{','.join(hp.codecs)}")
    log("data_isolation: no val data in training, GPTQ calibration or checkpoint selection (EMA: fixed rule)")
    log(f"seed:{hp.seed}")
    ctx = TrainContext(hp=hp, rt=rt, log=log, model=model, train_model=train_model, compiled=compiled,
                       forward_logits=forward_logits, optimizers=build_optimizers(hp, model, rt.compile),
                       loader=DistributedTokenLoader(hp.shards("train"), rt), val=val,
                       qat_quantize=qat_quantizer(rt.compile, clip_range(hp.block_kind)))
    ctx.timings_s["startup"] = time.perf_counter() - t_start
    # --- compile priming (outside the timer), then the timed run ---
    t_phase = time.perf_counter()
    prime_compile(ctx)
    ctx.timings_s["compile_warmup"] = time.perf_counter() - t_phase
    reserve_ms = hp.gptq_reserve_ms if hp.uses_gptq and hp.max_wallclock_seconds > 0 else 0.0
    if reserve_ms > 0:  # stop early by the reserve: GPTQ calibration reads training data inside the cap
        ctx.hp = dataclasses.replace(hp, max_wallclock_seconds=hp.max_wallclock_seconds - reserve_ms / 1000.0)
        log(f"gptq:reserving {reserve_ms / 1000:g}s, effective={1000.0 * ctx.hp.max_wallclock_seconds:.0f}ms")
    outcome = train_loop(ctx)
    ctx.hp = hp
    if rt.device.type == "cuda":
        log(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 1024 // 1024} MiB "
            f"reserved: {torch.cuda.max_memory_reserved() // 1024 // 1024} MiB")
    # --- GPTQ calibration, export the artifact, then score the file itself in one pass ---
    hessians = calibrate_gptq(ctx, outcome.train_time_ms) if hp.uses_gptq else None
    t_phase = time.perf_counter()
    artifact = export_artifact(ctx, len(code_path.read_bytes()), hessians)
    ctx.timings_s["export"] = time.perf_counter() - t_phase
    final, eval_ms, mode = final_evaluate(ctx, artifact)
    ctx.timings_s[f"{mode}_eval"] = eval_ms / 1000.0
    ctx.timings_s["total"] = time.perf_counter() - t_start
    label = f"final_{artifact.format.replace('+', '_')}_{mode}"
    # The three limits: training includes the calibration and may overshoot by the step that hit the cap.
    train_ms = outcome.train_time_ms + 1000.0 * ctx.timings_s.get("gptq_calibration", 0.0)
    step_ms = outcome.train_time_ms / max(outcome.steps, 1)
    checks = {"artifact_bytes": (ARTIFACT_LIMIT_BYTES, artifact.total_bytes, 0.0),
              "train_time_ms": (TIME_LIMIT_MS, train_ms, step_ms),
              "eval_time_ms": (TIME_LIMIT_MS, eval_ms, 0.0)}
    verdicts = {name: {"limit": limit, "value": value, "ok": value <= limit + slack}
                for name, (limit, value, slack) in checks.items()}
    for name, budget in verdicts.items():
        log(f"budget:{name} {'ok' if budget['ok'] else 'EXCEEDED'} value:{budget['value']:.0f} "
            f"limit:{budget['limit']}")
    # --- summary first, so that the score lines are the last lines of the log ---
    if rt.rank == 0:
        write_summary(ctx, outcome, artifact, f"{label}_exact", final, eval_ms, verdicts)
        log(f"summary:{hp.summary_path}")
    log(f"{label} val_loss:{final.val_loss:.4f} val_bpb:{final.val_bpb:.4f} eval_time:{eval_ms:.0f}ms")
    log(f"{label}_exact val_loss:{final.val_loss:.8f} val_bpb:{final.val_bpb:.8f} eval_time:{eval_ms:.0f}ms")
    if rt.distributed:
        close_distributed()

def close_distributed() -> None:
    """Barrier (no rank leaves while another still talks), destroy the group, exit without interpreter
    finalization: gloo's worker threads outlive destroy_process_group (C++ still holds the group), and one
    that touches Python while the interpreter finalizes aborts the rank ("terminate called without an
    active exception", exit -6; bench/distributed_shutdown.py)."""
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a user mistake: one clear line, no traceback
        sys.exit(f"train_gpt.py: config error: {exc}")
