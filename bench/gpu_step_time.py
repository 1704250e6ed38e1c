"""Training step time of the record stack (trainer/train_gpt.py defaults) on one GPU.

Runs the default config (11L d=512, 33.6M parameters, compiled, bf16, Muon + AdamW, grad clipping, EMA)
on synthetic tokens: warm-up steps first (compilation), then timed steps; `--qat` times a step of the
late-QAT phase (the int5 fake-quantizer runs after each step). By default one step is one GPU's share of
the 8-GPU step (786,432 / 8 = 98,304 tokens), so ms/step compares with the records' ~97 ms on 8xH100
minus communication; `--accum 8` times the whole 786,432-token step on this one GPU.

Prints ms/step, tokens/s and model FLOPs utilisation: (6 N + 6 L T d) FLOPs per token, N the weights
used in matmuls (every linear layer and the tied output head; the lookup-only tables are excluded), the
second term causal attention (QK^T and AV, forward and backward), against the GPU's dense bf16 peak.

    .venv/bin/python bench/gpu_step_time.py [--steps 100] [--warmup 20] [--accum 1] [--set NAME=VALUE ...]
    .venv/bin/python bench/gpu_step_time.py --qat    # a step of the late-QAT phase (quantizer after each step)
    .venv/bin/python bench/gpu_step_time.py --smoke      # a 2-step CPU check of this script
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

TRAINER = Path(__file__).resolve().parents[1] / "trainer" / "train_gpt.py"
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s; the first name contained in the device name wins.
BF16_PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0), ("B200", 2250.0),
                    ("A100", 312.0), ("L40S", 362.0), ("A10G", 70.0), ("L4", 121.0), ("4090", 165.0))
SMOKE_CONFIG = {"num_layers": 2, "model_dim": 64, "num_heads": 4, "num_kv_heads": 2, "train_seq_len": 128,
                "train_batch_tokens": 4096}


def load_trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgolf_train_gpt_bench", TRAINER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def flops_per_token(model: nn.Module, hp: object) -> float:
    matmul_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    if model.lm_head is None:
        matmul_params += model.tok_emb.weight.numel()  # the tied head is a (V x d) matmul
    return 6.0 * matmul_params + 6.0 * hp.num_layers * hp.train_seq_len * hp.model_dim


def bf16_peak(device_name: str) -> float | None:
    return next((tflops * 1e12 for name, tflops in BF16_PEAK_TFLOPS if name in device_name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first (compilation)")
    parser.add_argument("--accum", type=int, default=1, help="micro-batches per step (8: the full global batch)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a trainer variable to override, e.g. LATE_QAT_THRESHOLD=0 (repeatable)")
    parser.add_argument("--qat", action="store_true", help="time late-QAT steps (fake-quantize after each step)")
    parser.add_argument("--smoke", action="store_true", help="2 timed steps of a tiny config on CPU, no compile")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("gpu_step_time.py: no CUDA GPU on this machine; run it on a GPU host (or pass --smoke for a CPU check)")
    if args.smoke:
        args.steps, args.warmup = 2, 1
    tg = load_trainer()
    device = torch.device("cpu") if args.smoke else torch.device("cuda", 0)
    if any("=" not in item for item in args.set):
        parser.error("--set takes NAME=VALUE")
    try:
        hp = dataclasses.replace(tg.Hyperparameters.from_env(dict(item.split("=", 1) for item in args.set)),
                                 device=device.type, **(SMOKE_CONFIG if args.smoke else {}))
    except tg.ConfigError as exc:
        sys.exit(f"gpu_step_time.py: {exc}")
    torch.manual_seed(hp.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = tg.build_model(hp, device)
    train_model = model if args.smoke else torch.compile(model, dynamic=False, fullgraph=model.attention == "sdpa")
    optimizers = tg.build_optimizers(hp, model, compile_ns=not args.smoke)
    ema = tg.EMA(model, hp.ema_decay)
    quantize = tg.qat_quantizer(compile=not args.smoke) if args.qat else None
    micro_seqs = hp.train_batch_tokens // (8 * hp.train_seq_len)
    tokens = torch.randint(0, hp.vocab_size, (args.accum, micro_seqs, hp.train_seq_len + 1), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        for micro in tokens:
            with autocast:
                loss = train_model(micro[:, :-1], micro[:, 1:])
            (loss / args.accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip_norm)
        tg.step_optimizers(optimizers, 1.0, tg.muon_momentum_at(hp, 0))
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        ema.update()
        tg.update_qat(model, quantize)

    for _ in range(args.warmup):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    ms_per_step = 1000.0 * (time.perf_counter() - t0) / args.steps
    tokens_per_step = tokens[..., 1:].numel()
    tokens_per_s = tokens_per_step / (ms_per_step / 1000.0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = bf16_peak(name) if device.type == "cuda" else None
    achieved = flops_per_token(model, hp) * tokens_per_s
    mfu = f"{100.0 * achieved / peak:.1f}%" if peak else "n/a"
    memory = f" peak_mem:{torch.cuda.max_memory_allocated(device) // 2**20}MiB" if device.type == "cuda" else ""
    print(f"device:{name} params:{sum(p.numel() for p in model.parameters())} tokens_per_step:{tokens_per_step} "
          f"steps:{args.steps} ms_per_step:{ms_per_step:.2f} tokens_per_s:{tokens_per_s:.0f} "
          f"model_tflops:{achieved / 1e12:.1f} mfu:{mfu} qat:{int(args.qat)}{memory}")


if __name__ == "__main__":
    main()
