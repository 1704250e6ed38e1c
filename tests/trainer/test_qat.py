"""Late QAT: the fake-quantised weight is exactly the exported int5 weight, the switch changes a compiled
graph without a recompile, and only layers the export quantises to int5 carry a switch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.trainer.tiny import load_trainer

T = load_trainer()
EXPORT = T  # the export code of train_gpt.py


def test_fake_quantised_weight_is_the_exported_int5_weight() -> None:
    torch.manual_seed(0)
    w = torch.randn(300, 260) * torch.exp(torch.randn(300, 1))  # rows of very different scales
    w[0, 0] = 40.0  # an outlier row: the clip search must pick a smaller percentile there
    fq = T.fake_quantize(w)
    exported = EXPORT.dequantize_state_dict(EXPORT.quantize_state_dict({"blocks.0.mlp.fc.weight": w}, "int5_gptq"))
    assert torch.equal(fq, exported["blocks.0.mlp.fc.weight"])
    _, scale = EXPORT.rtn_quantize(w, 15, EXPORT.CLIP_PERCENTILES)
    levels = fq / scale.float()[:, None]
    assert torch.equal(levels, levels.round()) and levels.abs().max() == 15  # 31 levels, -15..15


def test_compiled_quantizer_equals_the_eager_one_bit_for_bit() -> None:
    # Without emulate_precision_casts, Inductor skips the fp16 rounding of the row scales (7 of 7,680
    # codes differed in a probe); the trainer compiles late QAT's quantizer exactly as here.
    torch.manual_seed(2)
    w = torch.randn(96, 80) * 0.05
    assert torch.equal(T.qat_quantizer(compile=True)(w), T.fake_quantize(w))


def qat_linear(rows: int = 96, cols: int = 80) -> torch.nn.Module:
    torch.manual_seed(1)
    layer = T.CastedLinear(cols, rows)
    layer.qat_delta = torch.zeros(rows, cols)  # what build_model gives the layers the export stores as int5
    return layer.train()


def test_switch_changes_the_compiled_graph_without_recompiling() -> None:
    layer = qat_linear()
    x = torch.randn(4, 80)
    compiled = torch.compile(layer, fullgraph=True, dynamic=False)
    with torch.no_grad():
        before = compiled(x)
        T.update_qat(layer, T.fake_quantize)
        with torch._dynamo.config.patch(error_on_recompile=True):
            after = compiled(x)
        T.update_qat(layer, None)
        with torch._dynamo.config.patch(error_on_recompile=True):
            off_again = compiled(x)
    assert torch.allclose(before, F.linear(x, layer.weight), atol=1e-5)
    assert torch.allclose(after, F.linear(x, T.fake_quantize(layer.weight)), atol=1e-5)
    assert not torch.allclose(before, after, atol=1e-3)
    assert torch.equal(off_again, before)


def test_qat_gradient_is_straight_through_and_eval_ignores_the_switch() -> None:
    layer = qat_linear()
    T.update_qat(layer, T.fake_quantize)
    x = torch.randn(4, 80)
    layer(x).square().sum().backward()
    fq = T.fake_quantize(layer.weight.detach())
    expected = (2 * F.linear(x, fq)).T @ x  # d/dW of ||x W_q^T||^2, passed straight to W
    assert torch.allclose(layer.weight.grad, expected, atol=1e-4)
    with torch.no_grad():
        assert torch.equal(layer.eval()(x), F.linear(x, layer.weight))


def test_only_layers_exported_as_int5_get_a_switch() -> None:
    with torch.device("meta"):
        model = T.build_model(T.Hyperparameters(), torch.device("meta"))
    switched = {n for n, m in model.named_modules() if isinstance(m, T.CastedLinear) and m.qat_delta is not None}
    assert len(switched) == 66 and all(".attn." in n or ".mlp." in n for n in switched)
    assert "qat_delta" not in " ".join(model.state_dict())  # never exported
    for env in ({"LATE_QAT_THRESHOLD": "0"}, {"QUANT": "int8"}):
        with torch.device("meta"):
            off = T.build_model(T.Hyperparameters.from_env(env), torch.device("meta"))
        assert all(m.qat_delta is None for m in off.modules() if isinstance(m, T.CastedLinear))
