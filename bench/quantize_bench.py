"""Quantise + compress a default-size (33.6M-parameter) record-stack state dict on CPU.

Prints GPTQ/RTN time and Hessian-weighted error, bytes and bits per weight per codec, the ratio of the
compressed size to the zero-order entropy of the stored symbols (the floor for a memoryless coder), and a
baseline (RTN int5 + zlib-9) measured in the same process. Weights are Student-t with per-row scale
variation; each matrix gets its own Hessian from correlated synthetic activations.

    OMP_NUM_THREADS=1 .venv/bin/python bench/quantize_bench.py [--layers 11] [--prune-bytes 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import zlib
from pathlib import Path

import torch
import zstandard

TRAINER = Path(__file__).resolve().parents[1] / "trainer" / "train_gpt.py"
DIM, MLP_DIM, VOCAB, BIGRAM_VOCAB, SMALL_DIM = 512, 1792, 1024, 8192, 128


def load_trainer():
    spec = importlib.util.spec_from_file_location("pgolf_train_gpt_bench", TRAINER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def trained_like(rows: int, cols: int, std: float, gen: torch.Generator, dof: int = 5) -> torch.Tensor:
    """Student-t (5 dof: heavier tails than Gaussian, like trained weights) rows with log-normal row scales."""
    t = (
        torch.randn(rows, cols, generator=gen)
        / torch.randn(dof, rows, cols, generator=gen).square().mean(0).sqrt()
    )
    return t * std * torch.exp(0.3 * torch.randn(rows, 1, generator=gen))


def state_dict(layers: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}
    for i in range(layers):
        p = f"blocks.{i}."
        for name in ("c_q", "c_k", "c_v", "proj"):
            sd[f"{p}attn.{name}.weight"] = trained_like(DIM, DIM, 0.03, gen)
        sd[p + "mlp.fc.weight"] = trained_like(MLP_DIM, DIM, 0.03, gen)
        sd[p + "mlp.proj.weight"] = trained_like(DIM, MLP_DIM, 0.015, gen)
        sd[p + "attn_scale"] = 1 + 0.1 * torch.randn(DIM, generator=gen)
        sd[p + "mlp_scale"] = 1 + 0.1 * torch.randn(DIM, generator=gen)
        sd[p + "resid_mix"] = torch.stack(
            [1 + 0.1 * torch.randn(DIM, generator=gen), 0.1 * torch.randn(DIM, generator=gen)]
        )
        sd[p + "attn.q_gain"] = 1.5 + 0.1 * torch.randn(8, generator=gen)
    sd["tok_emb.weight"] = trained_like(VOCAB, DIM, 0.05, gen).bfloat16()
    sd["bigram.embed.weight"] = trained_like(BIGRAM_VOCAB, SMALL_DIM, 0.02, gen).bfloat16()
    sd["bigram.proj.weight"] = trained_like(DIM, SMALL_DIM, 0.03, gen)
    sd["bigram.scale"] = torch.tensor(0.05)
    sd["ve_shared.embed.weight"] = trained_like(VOCAB, SMALL_DIM, 0.02, gen).bfloat16()
    sd["ve_shared.proj.weight"] = trained_like(DIM, SMALL_DIM, 0.03, gen)
    sd["ve_shared.scale"] = torch.tensor(0.1)
    sd["ve_layer_scales"] = torch.ones(2, 1)
    sd["skip_weights"] = torch.ones(layers // 2, DIM)
    sd["smear.gate"] = 0.1 * torch.randn(DIM, generator=gen)
    return sd


def base_activations(dim: int, gen: torch.Generator, squared: bool, n: int = 4096) -> torch.Tensor:
    """Correlated activations: 64 shared directions + isotropic noise, heavy-tailed channel magnitudes."""
    x = torch.randn(n, 64, generator=gen) @ torch.randn(64, dim, generator=gen) + torch.randn(
        n, dim, generator=gen
    )
    x = x * torch.exp(0.5 * torch.randn(dim, generator=gen))
    return torch.nn.functional.leaky_relu(x, 0.5).square() if squared else x


def hessians(sd: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """One H per matrix: a shared base per input kind, rescaled per matrix by a random diagonal."""
    base = {}
    for kind, dim, squared in (
        ("attn_in", DIM, False),
        ("attn_out", DIM, False),
        ("mlp_in", DIM, False),
        ("mlp_out", MLP_DIM, True),
    ):
        x = base_activations(dim, gen, squared)
        base[kind] = x.T @ x / len(x)
    out = {}
    for name, t in sd.items():
        if t.ndim == 2 and (".attn." in name or ".mlp." in name):
            kind = {"attn.proj": "attn_out", "mlp.fc": "mlp_in", "mlp.proj": "mlp_out"}.get(
                name.split(".", 2)[2][:-7], "attn_in"
            )
            d = torch.exp(0.2 * torch.randn(base[kind].shape[0], generator=gen))
            out[name] = base[kind] * d[:, None] * d[None, :]
    return out


def hessian_error(w: torch.Tensor, w_hat: torch.Tensor, h: torch.Tensor) -> float:
    """tr(dW H dW^T): the layer-output error GPTQ minimises."""
    dw = (w - w_hat).double()
    return float(((dw @ h.double()) * dw).sum())


def entropy_floor_bytes(qsd: dict) -> dict[str, float]:
    """Per kind: zero-order entropy of each tensor's codes (histogram per tensor) + raw bytes of its scales;
    float tensors count their raw bytes."""
    total: dict[str, float] = {}
    for e in qsd.values():
        if e.kind in ("int5", "int8"):
            counts = torch.bincount(e.data.flatten().to(torch.int64) + 128, minlength=256).double()
            p = counts[counts > 0] / counts.sum()
            size = float(-(p * p.log2()).sum()) * e.data.numel() / 8 + e.scale.numel() * 2
        else:
            size = e.data.numel() * e.data.element_size()
        total[e.kind] = total.get(e.kind, 0.0) + size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument(
        "--prune-bytes", type=int, default=0, help="also prune to (zstd size - this many bytes)"
    )
    args = parser.parse_args()
    S = load_trainer()
    gen = torch.Generator().manual_seed(0)
    sd = state_dict(args.layers, gen)
    n_params = sum(t.numel() for t in sd.values())
    hs = hessians(sd, gen)
    print(f"params:{n_params} matrices_gptq:{len(hs)} threads:{torch.get_num_threads()}")

    t0 = time.perf_counter()
    q_rtn = S.quantize_state_dict(sd, "int5_gptq", hessians=None)
    t_rtn = time.perf_counter() - t0
    t0 = time.perf_counter()
    q_gptq = S.quantize_state_dict(sd, "int5_gptq", hessians=hs)
    t_gptq = time.perf_counter() - t0
    deq_rtn, deq_gptq = S.dequantize_state_dict(q_rtn), S.dequantize_state_dict(q_gptq)
    ratios = [
        hessian_error(sd[n], deq_gptq[n], h) / hessian_error(sd[n], deq_rtn[n], h) for n, h in hs.items()
    ]
    methods = [e.method for e in q_gptq.values() if e.kind == "int5"]
    print(
        f"quantize rtn_int5:{t_rtn:.1f}s gptq_int5:{t_gptq:.1f}s gptq_used:{methods.count('gptq')}/{len(methods)} "
        f"hessian_err_gptq/rtn mean:{sum(ratios) / len(ratios):.3f} max:{max(ratios):.3f}"
    )

    raw = S.serialize_quantized(q_gptq)
    floors = entropy_floor_bytes(q_gptq)
    floor = sum(floors.values())
    print(
        f"serialized raw:{len(raw)} bytes  zero-order entropy floor:{floor:.0f} bytes "
        f"({8 * floor / n_params:.3f} bits/weight)"
    )
    for kind, size in sorted(floors.items()):
        n = sum(e.data.numel() for e in q_gptq.values() if e.kind == kind)
        print(f"  {kind}: {n} values, floor {size:.0f} bytes ({8 * size / n:.3f} bits/value incl. scales)")
    packers = {"zstd-22 default (records)": lambda: zstandard.ZstdCompressor(level=22).compress(raw)}
    packers.update({c: (lambda c=c: S.compress_artifact(raw, (c,))[0]) for c in S.CODECS if c != "zlib"})
    blobs = {}
    for name, pack in packers.items():
        t0 = time.perf_counter()
        blobs[name] = pack()
        print(
            f"  {name:26s} {len(blobs[name]):>10d} bytes  {8 * len(blobs[name]) / n_params:.3f} bits/weight  "
            f"vs_entropy_floor:{len(blobs[name]) / floor:.4f}  time:{time.perf_counter() - t0:.1f}s"
        )
    del blobs["zstd-22 default (records)"]
    codec = min(blobs, key=lambda c: len(blobs[c]))  # what compress_artifact's chooser returns
    blob = blobs[codec]
    t0 = time.perf_counter()
    assert S.decompress_state_dict(blob).keys() == sd.keys()
    print(
        f"chosen:{codec} {len(blob)} bytes ({8 * len(blob) / n_params:.3f} bits/weight)  "
        f"decompress_state_dict:{time.perf_counter() - t0:.1f}s"
    )

    t0 = time.perf_counter()
    baseline = zlib.compress(S.serialize_quantized(q_rtn), 9)
    print(
        f"baseline rtn_int5+zlib9: {len(baseline)} bytes ({8 * len(baseline) / n_params:.3f} bits/weight) "
        f"time:{time.perf_counter() - t0:.1f}s  ours/baseline:{len(blob) / len(baseline):.4f}"
    )

    if args.prune_bytes:  # with zstd: each probe recompresses everything, and zstd is the fastest codec
        target = len(blobs["zstd"]) - args.prune_bytes
        t0 = time.perf_counter()
        _, pblob, pcodec, count = S.pack_artifact(q_gptq, ("zstd",), target)
        print(
            f"prune target:{target} landed:{len(pblob)} ({pcodec}) pruned:{count} codes "
            f"time:{time.perf_counter() - t0:.1f}s"
        )


if __name__ == "__main__":
    main()
