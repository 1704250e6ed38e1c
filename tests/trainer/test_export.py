"""The model and its artifact: the official baseline by env, a faithful int8 compress/decompress round trip."""

from __future__ import annotations

import re

import pytest
import torch

from tests.paths import FIXTURES
from tests.trainer.tiny import BASELINE_ENV, load_trainer

BASELINE_LOG = FIXTURES / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "train.log"


def _tiny_hp(**overrides: object):
    tg = load_trainer()
    settings: dict[str, object] = {"num_layers": 2, "model_dim": 64, "num_heads": 4, "num_kv_heads": 2,
                                   "train_seq_len": 128, "train_batch_tokens": 4096}
    return tg.Hyperparameters(**{**settings, **overrides})


def test_baseline_env_builds_the_official_baseline_parameter_count() -> None:
    official = int(re.search(r"^model_params:(\d+)$", BASELINE_LOG.read_text(), re.MULTILINE).group(1))
    tg = load_trainer()
    hp = tg.Hyperparameters.from_env(BASELINE_ENV)
    assert (hp.quant, hp.codecs, hp.eval_stride, hp.ttt_enabled) == ("int8", ("zlib",), 0, False)
    with torch.device("meta"):
        model = tg.build_model(hp, torch.device("meta"))
    assert sum(p.numel() for p in model.parameters()) == official


def test_forward_returns_the_mean_nll_of_the_logits() -> None:
    tg = load_trainer()
    torch.manual_seed(0)
    model = tg.build_model(_tiny_hp(), torch.device("cpu"))
    x, y = torch.randint(0, 1024, (2, 16)), torch.randint(0, 1024, (2, 16))
    per_token = -torch.log_softmax(model.forward_logits(x), -1).gather(-1, y[..., None])
    assert model(x, y).item() == pytest.approx(per_token.mean().item(), rel=1e-6)
    # Zero-initialized output projections and a small tied embedding: near-uniform predictions.
    assert per_token.mean().item() == pytest.approx(torch.log(torch.tensor(1024.0)).item(), abs=0.05)


@pytest.mark.parametrize(
    ("compressor", "compute_dtype", "label", "magic"),
    [("zlib", "float32", "int8+zlib", b"\x78"), ("zstd", "bfloat16", "int8+zstd", b"\x28\xb5\x2f\xfd")],
)
def test_compress_state_dict_round_trips(compressor: str, compute_dtype: str, label: str,
                                         magic: bytes) -> None:
    tg = load_trainer()
    # d=256: the embedding and MLP matrices are above the keep-as-float size, the rest below it.
    hp = _tiny_hp(model_dim=256, quant="int8", compressor=compressor, compute_dtype=compute_dtype)
    torch.manual_seed(0)
    model = tg.build_model(hp, torch.device("cpu"))
    with torch.no_grad():  # give every tensor non-trivial values, as after training
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    state = model.state_dict()
    blob, got_label = tg.compress_state_dict(state, hp)
    assert (got_label, blob[: len(magic)]) == (label, magic)
    restored = tg.decompress_state_dict(blob)
    assert restored.keys() == state.keys()
    quantized = [name for name, t in state.items() if t.numel() > tg.KEEP_FLOAT_MAX_NUMEL]
    assert "tok_emb.weight" in quantized and "blocks.0.mlp.fc.weight" in quantized
    for name, original in state.items():
        assert (restored[name].dtype, restored[name].shape) == (original.dtype, original.shape), name
        if name in quantized:  # int8 rows with step max(row max/127, 1/127): off by half a step
            w = original.float()
            step = (w.abs().amax(dim=-1, keepdim=True) / 127).clamp_min(1 / 127)
            bound = 0.51 * step + w.abs() * torch.finfo(original.dtype).eps  # + rounding to the dtype
            assert ((restored[name].float() - w).abs() <= bound).all(), name
        elif any(pattern in name for pattern in tg.CONTROL_TENSOR_PATTERNS):
            assert torch.equal(restored[name], original), name  # control tensors are kept fp32
        else:
            assert torch.allclose(restored[name], original, rtol=1e-3, atol=1e-4), name  # fp16 passthrough
    assert len(blob) < 0.5 * sum(t.numel() * t.element_size() for t in state.values())
