"""GPTQ: equal to a plain column-by-column reference, better than round-to-nearest, robust to bad Hessians."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tests.trainer.stackload import load_stack

S = load_stack()


def reference_gptq(
    w: Tensor, h: Tensor, scale: Tensor, clip_range: int = 15, percdamp: float = 0.01
) -> Tensor:
    """Textbook OBS/GPTQ in float64: one column at a time with the explicit inverse Hessian, downdated after each
    column (no Cholesky factor, no blocks, no lazy updates)."""
    w, h = w.double().clone(), h.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.diag(h).mean() * torch.eye(len(h), dtype=torch.float64)
    order = torch.argsort(torch.diag(h), descending=True, stable=True)
    w, hinv = w[:, order], torch.linalg.inv(h[order][:, order])
    q = torch.zeros_like(w)
    for j in range(w.shape[1]):
        q[:, j] = torch.clamp(torch.round(w[:, j] / scale), -clip_range, clip_range)
        err = (w[:, j] - q[:, j] * scale) / hinv[j, j]
        w[:, j + 1 :] -= err[:, None] * hinv[j, j + 1 :][None, :]
        hinv = hinv - torch.outer(hinv[:, j], hinv[j, :]) / hinv[j, j]
    return q[:, torch.argsort(order)]


def correlated_inputs(n: int, cols: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=g) * torch.linspace(1.0, 0.05, cols)[:, None]
    return torch.randn(n, cols, generator=g) @ mix + 0.3 * torch.randn(1, cols, generator=g)


def hessian_error(w: Tensor, w_hat: Tensor, h: Tensor) -> float:
    """tr(dW H dW^T): the layer-output error that GPTQ minimises."""
    dw = (w - w_hat).double()
    return float(((dw @ h.double()) * dw).sum())


def rtn_error(w: Tensor, h: Tensor) -> float:
    q, s = S.rtn_quantize(w, 15, S.CLIP_PERCENTILES)
    return hessian_error(w, q.double() * s.double()[:, None], h)


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def dequant(q: Tensor, s: Tensor) -> Tensor:
    return q.double() * s.double()[:, None]


@pytest.mark.parametrize("rows,cols,block", [(12, 40, 8), (7, 33, 16), (5, 20, 128)])
def test_gptq_equals_plain_reference(rows: int, cols: int, block: int) -> None:
    x = correlated_inputs(256, cols, seed=rows).double()
    h = x.T @ x / len(x)
    w = randn(rows, cols, seed=cols, dtype=torch.float64) * 0.05
    q, s, used = S.gptq_quantize(w, h, block_size=block, percentiles=(1.0,))
    expected = reference_gptq(w, h, S.row_scales(w, 1.0, 15).double())
    assert used
    assert torch.equal(q.double(), expected)
    assert torch.allclose(dequant(q, s), expected * S.row_scales(w, 1.0, 15).double()[:, None], atol=1e-6)


def test_gptq_equals_reference_with_dead_columns() -> None:
    x = correlated_inputs(200, 24, seed=3).double()
    x[:, [2, 5, 17]] = 0
    h = x.T @ x / len(x)
    w = randn(6, 24, seed=1, dtype=torch.float64) * 0.05
    q, _, _ = S.gptq_quantize(w, h, block_size=8, percentiles=(0.9995,))
    live = w.clone()
    live[:, [2, 5, 17]] = 0  # dead columns get no say in the row scale
    assert torch.equal(q.double(), reference_gptq(w, h, S.row_scales(live, 0.9995, 15).double()))
    assert (q[:, [2, 5, 17]] == 0).all()


def test_float32_gptq_matches_reference_to_rounding() -> None:
    x = correlated_inputs(512, 64, seed=5)
    h = x.T @ x / len(x)
    w = randn(32, 64, seed=2) * 0.05
    q, _, _ = S.gptq_quantize(w, h, block_size=16, percentiles=(1.0,))
    expected = reference_gptq(w, h, S.row_scales(w, 1.0, 15).double())
    assert (q.double() == expected).float().mean() > 0.995


def test_gptq_beats_round_to_nearest_on_correlated_inputs() -> None:
    x = correlated_inputs(2048, 128, seed=1)
    h = x.T @ x / len(x)
    w = randn(64, 128, seed=3) * 0.05 * torch.exp(0.3 * randn(64, 1, seed=4))
    q, s, _ = S.gptq_quantize(w, h)
    assert hessian_error(w, dequant(q, s), h) < 0.6 * rtn_error(w, h)


def test_per_row_clip_choice_is_no_worse_than_any_single_percentile() -> None:
    x = correlated_inputs(1024, 64, seed=2)
    h = x.T @ x / len(x)
    w = randn(48, 64, seed=5) * 0.05
    w[::7, 3] = 0.6  # outliers make the clip choice matter
    damped = h + 0.01 * torch.diag(h).mean() * torch.eye(64)  # the objective GPTQ itself minimises
    best = hessian_error(w, dequant(*S.gptq_quantize(w, h)[:2]), damped)
    for p in S.CLIP_PERCENTILES:
        single = hessian_error(w, dequant(*S.gptq_quantize(w, h, percentiles=(p,))[:2]), damped)
        assert best <= single * (1 + 1e-6)


def test_gptq_beats_round_to_nearest_on_trained_linear_model() -> None:
    torch.manual_seed(0)
    x = correlated_inputs(1024, 64, seed=4)
    teacher = randn(64, 32, seed=6) * 0.2
    model = nn.Sequential(nn.Linear(64, 32, bias=False))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), x @ teacher).backward()
        opt.step()
    hessians = S.collect_hessians(model, x.split(256))
    w, h = model[0].weight.detach(), hessians["0.weight"]
    q, s, used = S.gptq_quantize(w, h)
    assert used
    assert hessian_error(w, dequant(q, s), h) < 0.6 * rtn_error(w, h)


def test_collect_hessians_is_mean_outer_product_of_linear_inputs() -> None:
    model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False))
    batches = [randn(3, 5, 8, seed=i) for i in range(4)]
    hessians = S.collect_hessians(model, batches)
    x0 = torch.cat([b.reshape(-1, 8) for b in batches])
    x2 = torch.relu(model[0](x0)).detach()
    assert set(hessians) == {"0.weight", "2.weight"}
    assert torch.allclose(hessians["0.weight"], x0.T @ x0 / len(x0), atol=1e-5)
    assert torch.allclose(hessians["2.weight"], x2.T @ x2 / len(x2), atol=1e-5)
    assert model.training, "training mode is restored"


def test_failed_cholesky_falls_back_to_round_to_nearest() -> None:
    w = randn(8, 16, seed=7) * 0.05
    q, s, used = S.gptq_quantize(w, -torch.eye(16))
    q_rtn, s_rtn = S.rtn_quantize(w, 15, S.CLIP_PERCENTILES)
    assert not used
    assert torch.equal(q, q_rtn) and torch.equal(s, s_rtn)


def test_row_quantile_matches_torch_quantile() -> None:
    x = randn(37, 129, seed=8).abs()
    for q in (0.0, 0.5, 0.999, 0.9999984, 1.0):
        assert torch.allclose(S.row_quantile(x, q), torch.quantile(x, q, dim=1), atol=1e-6)


def test_codes_stay_in_int5_range_and_scales_are_positive() -> None:
    x = correlated_inputs(512, 32, seed=6)
    q, s, _ = S.gptq_quantize(randn(16, 32, seed=9) * 3.0, x.T @ x / len(x))
    assert q.dtype == torch.int8 and q.abs().max() <= 15
    assert s.dtype == torch.float16 and (s > 0).all()
