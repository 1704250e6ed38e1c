"""The record stack's optimisation (stack-spec 4): Muon with decoupled WD, the momentum warm-up, the
parameter routing, EMA, and the step-time bench's CPU smoke pass (the tiny run is in test_train_cpu)."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
import torch
from torch import nn

from tests.paths import REPO
from tests.trainer.tiny import load_trainer

T = load_trainer()


def test_muon_update_is_near_orthogonal_whatever_the_gradient_spectrum() -> None:
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(96, 96))
    v, _ = torch.linalg.qr(torch.randn(32, 32))
    grad = u[:, :32] @ torch.diag(torch.logspace(0, -2, 32)) @ v.T  # singular values 1 .. 0.01, tall 96x32
    p = nn.Parameter(torch.zeros(96, 32))
    p.grad = grad.clone()
    T.Muon([p], lr=1.0, momentum=0.0, backend_steps=5).step()
    update = -p.detach() / (96 / 32) ** 0.5  # undo the sqrt(rows/cols) scale
    s = torch.linalg.svdvals(update)
    assert s.min() > 0.6 and s.max() < 1.25  # NS5 maps every singular value into ~[0.7, 1.2]
    assert torch.linalg.svdvals(-p.detach()).max() > 1.2  # the tall-matrix scale sqrt(3) is applied


def test_muon_weight_decay_is_decoupled_and_uses_the_scheduled_lr() -> None:
    p = nn.Parameter(torch.full((4, 4), 2.0))
    p.grad = torch.zeros(4, 4)  # no gradient: only the decay moves the weights
    muon = T.Muon([{"params": [p], "base_lr": 0.1}], lr=0.1, momentum=0.9, backend_steps=5, weight_decay=0.04)
    T.step_optimizers([muon], lr_scale=0.5, muon_momentum=0.9)
    assert torch.allclose(p.detach(), torch.full((4, 4), 2.0 * (1 - 0.05 * 0.04)))


def test_training_defaults_are_the_records() -> None:
    hp = T.Hyperparameters()
    assert (hp.train_batch_tokens, hp.train_seq_len, hp.warmup_steps, hp.max_wallclock_seconds) == (786_432, 2048, 20, 600)
    assert (hp.grad_clip_norm, hp.ema_decay, hp.late_qat_threshold, hp.quant) == (0.3, 0.997, 0.5, "int5_gptq")
    # Wall-clock warmdown: 3500 steps' worth of the mean step time so far, ending at the 600 s cap.
    assert T.lr_scale(hp, 2000, 200_000.0) == 1.0  # 100 ms/step: 350 s of warmdown, 400 s left
    assert T.lr_scale(hp, 3000, 300_000.0) == pytest.approx(300 / 350)
    assert T.lr_scale(hp, 6000, 600_000.0) == 0.0


def test_muon_momentum_warms_up_from_0_92_to_0_99_over_1500_steps() -> None:
    hp = T.Hyperparameters()
    got = [T.muon_momentum_at(hp, step) for step in (0, 750, 1500, 6000)]
    assert got == pytest.approx([0.92, 0.955, 0.99, 0.99])


def test_parameters_are_routed_to_the_records_groups() -> None:
    hp = T.Hyperparameters()
    with torch.device("meta"):
        model = T.build_model(hp, torch.device("meta"))
    *adams, muon_opt = T.build_optimizers(hp, model, compile_ns=False)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[id(p)] for p in muon_opt.param_groups[0]["params"]}
    assert len(muon) == 66 + 2 and {"bigram.proj.weight", "ve_shared.proj.weight"} <= muon
    tok, scalar = ({names[id(p)] for p in adam.param_groups[0]["params"]} for adam in adams)
    assert tok == {"tok_emb.weight", "bigram.embed.weight", "ve_shared.embed.weight"}
    assert {"smear.gate", "skip_weights", "bigram.scale", "ve_shared.scale", "ve_layer_scales", "blocks.0.resid_mix"} <= scalar
    assert len(muon) + len(tok) + len(scalar) == len(names)
    assert [(a.param_groups[0]["lr"], a.param_groups[0]["weight_decay"], a.param_groups[0]["betas"]) for a in adams] == [
        (0.035, 0.04, (0.9, 0.95)), (0.025, 0.04, (0.9, 0.95))]
    assert (muon_opt.param_groups[0]["lr"], muon_opt.param_groups[0]["weight_decay"]) == (0.025, 0.04)
    assert all(g["base_lr"] == g["lr"] for opt in (*adams, muon_opt) for g in opt.param_groups)


def test_ema_is_the_exponential_average_kept_in_fp32() -> None:
    model = nn.Linear(3, 2, bias=False).to(torch.bfloat16)
    expected = model.weight.detach().float().clone()
    ema = T.EMA(model, decay=0.2)
    for t in range(3):  # decays min(0.2, (1 + t) / (10 + t)) = 0.1, 2/11, 0.2: the warm-up, then the cap
        with torch.no_grad():
            model.weight.normal_()
        ema.update()
        d = [0.1, 2 / 11, 0.2][t]
        expected = d * expected + (1 - d) * model.weight.detach().float()
    assert ema.shadow["weight"].dtype == torch.float32
    assert torch.allclose(ema.shadow["weight"], expected, atol=1e-6)
    ema.copy_to(model)
    assert model.weight.dtype == torch.bfloat16 and torch.equal(model.weight, expected.bfloat16())


BENCH = REPO / "bench" / "gpu_step_time.py"


def run_bench(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """bench/gpu_step_time.py's main() in this process (its own torch start-up would cost seconds)."""
    spec = importlib.util.spec_from_file_location("gpu_step_time_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [str(BENCH), *args])
    module.main()


def test_step_time_bench_runs_a_cpu_smoke_pass(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run_bench(monkeypatch, "--smoke", "--qat")
    out = capsys.readouterr().out
    assert re.fullmatch(r"device:cpu params:\d+ tokens_per_step:512 steps:2 ms_per_step:[\d.]+ tokens_per_s:\d+ "
                        r"model_tflops:[\d.]+ mfu:n/a qat:1\n", out), out


def test_step_time_bench_says_in_one_line_that_it_needs_a_gpu(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on GPU hosts
    with pytest.raises(SystemExit) as exit_info:
        run_bench(monkeypatch)
    assert exit_info.value.code == (
        "gpu_step_time.py: no CUDA GPU on this machine; run it on a GPU host (or pass --smoke for a CPU check)")
    assert capsys.readouterr().out == ""
