"""Quantise + compress a default-size (33.6M-parameter) record-stack state dict on CPU, or a trained artifact.

One state dict, every codec in one run: zstd-22 (the records' default parameters), brotli-11 (the baseline
every ratio is against), lzma-9e, the 2026-04-27 record's per-group lrzip pipeline (benchmark only, needs the
`lrzip` binary) and ours (COMPRESSOR=rans). Reported separately: (a) the int codes alone against their
per-tensor and per-row zero-order entropy and the context bound of our model, (b) scales + float tensors
compressed on their own, (c) whole artifacts with encode and decode times. Synthetic weights are Student-t
with per-row scale variation; each matrix gets its own Hessian from correlated synthetic activations.

    OMP_NUM_THREADS=1 .venv/bin/python bench/quantize_bench.py [--layers 11] [--artifact FILE.ptz]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
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


def split_codes(S, qsd: dict) -> tuple[list[str], list[np.ndarray], bytes]:
    """The int codes (in our stream order) and the serialized rest: row scales, float and raw tensors."""
    names = S.rans_coded(qsd)
    rest = S.serialize_quantized(
        {n: S.dataclasses.replace(e, data=e.data[:0].clone()) if n in names else e for n, e in qsd.items()}
    )
    return names, [qsd[n].data.numpy() for n in names], rest


def entropy_bytes(counts: np.ndarray) -> float:
    """Empirical zero-order entropy, in bytes, of the symbols counted in each row of `counts` (k, 256)."""
    counts = counts.astype(float)
    p = counts / np.maximum(counts.sum(-1, keepdims=True), 1)
    return float(-(counts * np.log2(np.where(counts > 0, p, 1))).sum()) / 8


def code_bounds(S, names: list[str], codes: list[np.ndarray]) -> dict[str, float]:
    """Per-tensor and per-row zero-order entropy of the codes, and the context bound: their empirical
    entropy given our model's contexts (role, row class, column class), model bytes excluded."""
    sym = [(c.astype(np.int16) + 128).astype(np.uint8) for c in codes]
    out = {
        "per-tensor entropy": sum(entropy_bytes(S.rans_histograms(np.zeros(1, int), s, 1)) for s in sym),
        "per-row entropy": sum(entropy_bytes(S.rans_histograms(np.arange(len(s))[:, None], s, len(s))) for s in sym),
        "context bound": 0.0,
    }
    for members in S.rans_roles(names):
        r, c, rows, cols = S.rans_role_model([sym[i] for i in members])
        r_at, c_at = np.cumsum([0] + [len(sym[i]) for i in members]), np.cumsum([0] + [sym[i].shape[1] for i in members])
        counts = sum(
            S.rans_histograms(rows[r_at[j]:r_at[j + 1], None] * c + cols[None, c_at[j]:c_at[j + 1]], sym[i], r * c)
            for j, i in enumerate(members)
        )
        out["context bound"] += entropy_bytes(counts)
    return out


def l1_similarity_order(rows: np.ndarray) -> np.ndarray:
    """The record's row sort: a greedy nearest-neighbour chain by L1 distance, from row 0."""
    x, left, order = rows.astype(np.int16), np.ones(len(rows), bool), [0]
    left[0] = False
    for _ in range(len(rows) - 1):
        cand = np.nonzero(left)[0]
        nxt = int(cand[np.abs(x[cand] - x[order[-1]]).sum(1).argmin()])
        order.append(nxt)
        left[nxt] = False
    return np.array(order, dtype=np.uint16)


def pergroup_lrzip(S, qsd: dict) -> tuple[int, dict[str, int]] | None:
    """The 2026-04-27 record's COMPRESSOR=pergroup: codes bucketed by role; rows of the int5 ("hot") groups
    reordered by L1 similarity (permutation stored); each group `lrzip -z` (ZPAQ); the rest brotli-11.
    Returns (total bytes, parts) or None without the lrzip binary."""
    if shutil.which("lrzip") is None:
        return None
    names, codes, rest = split_codes(S, qsd)
    perms, parts = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, members in enumerate(S.rans_roles(names)):
            chunks = []
            for i in members:
                order = l1_similarity_order(codes[i]) if qsd[names[i]].kind == "int5" else None
                perms += [order] if order is not None else []
                chunks.append(codes[i] if order is None else codes[i][order])
            src = Path(tmp) / f"group{k}.bin"
            src.write_bytes(np.concatenate([c.ravel() for c in chunks]).tobytes())
            subprocess.run(["lrzip", "-z", "-Q", "-f", "-o", f"{src}.lrz", str(src)], check=True)
            parts[f"lrzip group {k}"] = Path(f"{src}.lrz").stat().st_size
    side = rest + b"".join(p.tobytes() for p in perms)
    parts["brotli rest + permutations"] = len(S.CODECS["brotli"][1](side))
    return sum(parts.values()), parts


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def quantized_state(S, args) -> tuple[dict, int]:
    """The quantised state dict: a trainer artifact read back exactly, or the synthetic one (GPTQ)."""
    if args.artifact:
        blob = Path(args.artifact).read_bytes()
        codec = next(c for c, (magic, _, _) in S.CODECS.items() if blob.startswith(magic))
        qsd = S.deserialize_quantized(S.CODECS[codec][2](blob))
        n_params = sum(e.data.numel() for e in qsd.values())
        print(f"artifact:{args.artifact} ({codec}) params:{n_params}")
        return qsd, n_params
    gen = torch.Generator().manual_seed(0)
    sd = state_dict(args.layers, gen)
    n_params = sum(t.numel() for t in sd.values())
    hs = hessians(sd, gen)
    print(f"params:{n_params} matrices_gptq:{len(hs)} threads:{torch.get_num_threads()}")
    q_rtn, t_rtn = timed(lambda: S.quantize_state_dict(sd, "int5_gptq", hessians=None))
    q_gptq, t_gptq = timed(lambda: S.quantize_state_dict(sd, "int5_gptq", hessians=hs))
    deq_rtn, deq_gptq = S.dequantize_state_dict(q_rtn), S.dequantize_state_dict(q_gptq)
    ratios = [hessian_error(sd[n], deq_gptq[n], h) / hessian_error(sd[n], deq_rtn[n], h) for n, h in hs.items()]
    methods = [e.method for e in q_gptq.values() if e.kind == "int5"]
    print(
        f"quantize rtn_int5:{t_rtn:.1f}s gptq_int5:{t_gptq:.1f}s gptq_used:{methods.count('gptq')}/{len(methods)} "
        f"hessian_err_gptq/rtn mean:{sum(ratios) / len(ratios):.3f} max:{max(ratios):.3f}"
    )
    return q_gptq, n_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument("--artifact", help="a trainer artifact (final_model.*.ptz) instead of synthetic weights")
    parser.add_argument("--zstd-min-match", action="store_true", help="also our zstd-22 min_match=5 (slow)")
    args = parser.parse_args()
    S = load_trainer()
    qsd, n_params = quantized_state(S, args)
    raw = S.serialize_quantized(qsd)
    names, codes, rest = split_codes(S, qsd)
    n_codes = sum(c.size for c in codes)
    print(f"serialized raw:{len(raw)} bytes; int codes:{n_codes} in {len(codes)} tensors; rest (scales, floats):"
          f" {len(rest)} bytes")

    # (a) the codes alone: ours (words + lane states + model) and brotli-11 on their raw int8 bytes
    ours, t_enc = timed(lambda: S.rans_pack(raw))
    head = S.RANS_HEADER.unpack_from(ours)
    ours_codes = head[3] + 4 * head[4] + 2 * head[5]
    brotli_codes = len(S.CODECS["brotli"][1](np.concatenate([c.ravel() for c in codes]).tobytes()))
    bounds = code_bounds(S, names, codes)
    print("(a) int codes alone, bytes (x per-tensor entropy):")
    for label, size in [*bounds.items(), ("brotli-11 codes", brotli_codes),
                        (f"ours: words+states {ours_codes - head[3]} + model {head[3]}", ours_codes)]:
        print(f"  {label:44s} {size:>12.0f}  {size / bounds['per-tensor entropy']:.4f}  "
              f"{8 * size / max(n_codes, 1):.3f} bits/code")
    # (b) row scales + float tensors on their own
    print("(b) scales + float/raw tensors alone:")
    for codec in ("brotli", "lzma", "zstd"):
        print(f"  {codec:10s} {len(S.CODECS[codec][1](rest)):>10d} bytes (raw {len(rest)})")
    print(f"  ours: side stream (the smaller of lzma/brotli) {head[2]} bytes")

    # (c) whole artifacts: one state dict, every codec, encode and decode (decompress_state_dict) times
    packers = {
        "zstd-22 default (records)": lambda: zstandard.ZstdCompressor(level=22).compress(raw),
        "lzma-9e": lambda: S.CODECS["lzma"][1](raw),
        "brotli-11": lambda: S.CODECS["brotli"][1](raw),
    }
    if args.zstd_min_match:
        packers["zstd-22 min_match=5"] = lambda: S.CODECS["zstd"][1](raw)
    results = {name: timed(pack) for name, pack in packers.items()}
    results["ours: rans"] = (ours, t_enc)
    base = len(results["brotli-11"][0])
    print("(c) whole artifact:  bytes  x brotli-11  bits/param  encode  decode")
    decode_s = {}
    for name, (blob, t) in results.items():
        restored, decode_s[name] = timed(lambda blob=blob: S.decompress_state_dict(blob))
        assert restored.keys() == qsd.keys()
        print(f"  {name:28s} {len(blob):>10d}  {len(blob) / base:.4f}  {8 * len(blob) / n_params:.3f}  "
              f"{t:6.1f}s  {decode_s[name]:5.2f}s")
    back = S.deserialize_quantized(S.rans_unpack(ours))
    assert all(torch.equal(back[n].data, qsd[n].data) for n in names), "rans round trip is not bit-exact"
    group = timed(lambda: pergroup_lrzip(S, qsd))
    if group[0] is None:
        print("  pergroup lrzip (2026-04-27 record): SKIPPED, no `lrzip` binary (apt-get install -y lrzip)")
    else:
        (size, parts), t = group
        print(f"  {'pergroup lrzip (record)':28s} {size:>10d}  {size / base:.4f}  {8 * size / n_params:.3f}  "
              f"{t:6.1f}s  (decode not timed)  parts:{parts}")
        print(f"ours / pergroup lrzip: {len(ours) / size:.4f}")
    print(f"ours / brotli-11: {len(ours) / base:.4f}; decode ours {decode_s['ours: rans']:.2f}s vs brotli "
          f"{decode_s['brotli-11']:.2f}s (x{decode_s['ours: rans'] / decode_s['brotli-11']:.2f})")


if __name__ == "__main__":
    main()
