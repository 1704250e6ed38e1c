"""Issue 11 fixes 3-5: TTT_GRAD_CLIP=0 means no clipping; size-targeted pruning searches on measured
compressed sizes; the process-group timeout covers rank 0's export."""

from __future__ import annotations

import datetime
import socket

import pytest
import torch
import torch.distributed as dist

from tests.trainer.stackload import TinyLM, byte_luts, hparams, load_stack, runtime, validation_set
from tests.trainer.test_quant_export import prunable_state_dict

S = load_stack()


# --- fix 3 ---------------------------------------------------------------------------------------

def ttt_weights_after_one_epoch(clip: float) -> list[torch.Tensor]:
    model = TinyLM(vocab=64, seed=3)
    tokens = torch.randint(1, 64, (8 * 16 + 1,), generator=torch.Generator().manual_seed(4))
    val = validation_set(tokens, 16, byte_luts(64))
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    hp = hparams(ttt_grad_clip=clip, ttt_batch_seqs=4)
    S.ttt_epoch(model, params, opt, val, list(range(0, 8 * 16, 16)), hp, runtime())
    return [p.detach().clone() for p in params]


def test_ttt_grad_clip_zero_means_no_clipping() -> None:
    initial = [p.detach() for p in TinyLM(vocab=64, seed=3).parameters()]
    unclipped, never_binding = ttt_weights_after_one_epoch(0.0), ttt_weights_after_one_epoch(1e9)
    assert all(torch.equal(a, b) for a, b in zip(unclipped, never_binding))
    assert not all(torch.equal(a, b) for a, b in zip(unclipped, initial))  # TTT trained


# --- fix 4 ---------------------------------------------------------------------------------------

def zeroed_codes(before: dict, after: dict) -> int:
    return sum(int((before[n].data != after[n].data).sum()) for n in before if before[n].kind in S.LOW_BIT_KINDS)


def issue_like_measure(qsd: dict, start: int, calls: list[int]):
    """The issue's zstd behaviour, scaled: -75 B per pruned code on average with +3.4 KB jumps every 100."""
    def measure(candidate: dict) -> int:
        k = zeroed_codes(qsd, candidate)
        calls.append(k)
        return start - 75 * k + 3400 * ((k // 100) % 2) + (k * 7919) % 613
    return measure


@pytest.mark.parametrize("below", [20_000, 51_234, 300_000])
def test_pruning_lands_within_tolerance_under_a_jumpy_measured_size(below: int) -> None:
    qsd = S.quantize_state_dict(prunable_state_dict(), "int5_gptq")
    start, calls = 16_058_000, []
    measure = issue_like_measure(qsd, start, calls)
    target = start - below  # the issue aimed 20 KB below and landed 58 KB under the target
    pruned, _, _, count = S.pack_artifact(qsd, ("zstd",), target, measure=measure)
    size = measure(pruned)
    assert target - 4096 <= size <= target
    assert count == zeroed_codes(qsd, pruned) == calls[-1]
    assert len(calls) - 1 <= 2 + S.PRUNE_MAX_PROBES  # unpruned, all-pruned, at most the probe budget


def test_pruning_never_goes_over_even_when_the_probe_budget_runs_out() -> None:
    qsd = S.quantize_state_dict(prunable_state_dict(), "int5_gptq")
    start, calls = 16_058_000, []
    measure = issue_like_measure(qsd, start, calls)
    target = start - 20_000
    pruned, _, _, count = S.pack_artifact(qsd, ("zstd",), target, tolerance_bytes=1, measure=measure, max_probes=3)
    assert measure(pruned) <= target and count > 0


def test_pruning_with_real_compression_needs_few_probes() -> None:
    qsd = S.quantize_state_dict(prunable_state_dict(), "int5_gptq")
    sizes: list[int] = []

    def zstd_size(candidate: dict) -> int:
        sizes.append(len(S.compress_artifact(S.serialize_quantized(candidate), ("zstd",))[0]))
        return sizes[-1]

    target = len(S.compress_artifact(S.serialize_quantized(qsd), ("zstd",))[0]) - 2500
    _, blob, _, count = S.pack_artifact(qsd, ("zstd",), target, tolerance_bytes=300, measure=zstd_size)
    assert target - 300 <= len(blob) <= target and count > 0
    assert len(sizes) <= 6  # unpruned, all-pruned, at most 4 probes: the size is nearly linear in the count


# --- fix 5 ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_process_group_timeout_is_the_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    hp = hparams(device="cpu", dist_timeout_s=4321.0)
    rt = S.init_runtime(hp)
    try:
        assert rt.distributed
        backend = dist.distributed_c10d._get_default_group()._get_backend(torch.device("cpu"))
        assert backend.options._timeout == datetime.timedelta(seconds=4321)
    finally:
        dist.destroy_process_group()


def test_default_timeout_covers_the_export_budget() -> None:
    hp = S.Hyperparameters()
    assert hp.dist_timeout_s >= S.EXPORT_BUDGET_S >= (3 + S.PRUNE_MAX_PROBES) * 60  # a minute per codec pass at least
    assert hp.dist_timeout_s > dist.default_pg_timeout.total_seconds()  # gloo's 30 min did not
    assert S.pack_artifact.__defaults__[-1] == S.PRUNE_MAX_PROBES  # the budget bounds the probes
    with pytest.raises(S.ConfigError, match=r"^DIST_TIMEOUT_S must be >= 60.0, got 5.0$"):
        S.Hyperparameters.from_env({"DIST_TIMEOUT_S": "5"})
