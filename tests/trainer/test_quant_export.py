"""Export: storage rules, exact serialise/deserialise roundtrip, codec choice, size-targeted pruning."""

from __future__ import annotations

import functools
import io
import re

import pytest
import torch
from torch import Tensor

from tests.trainer.stackload import TinyLM, hparams, load_stack

S = load_stack()


def randn(*shape: int, seed: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def stack_like_state_dict() -> dict[str, Tensor]:
    """A miniature of the record model's tensor zoo (names and kinds, small sizes)."""
    sd = {
        "tok_emb.weight": randn(1024, 72, seed=1).to(torch.bfloat16) * 0.05,
        "blocks.0.attn.c_q.weight": randn(288, 256, seed=2) * 0.04,
        "blocks.0.mlp.fc.weight": randn(512, 160, seed=3) * 0.04,
        "blocks.0.mlp.proj.weight": randn(160, 512, seed=4) * 0.02,
        "bigram.proj.weight": randn(512, 128, seed=5) * 0.02,  # exactly 65,536: small
        "blocks.0.attn_scale": randn(256, seed=6).abs(),
        "blocks.0.resid_mix": randn(2, 256, seed=7),
        "skip_weights": randn(300, 256, seed=8),  # a control tensor above the small-tensor limit
        "bigram.scale": torch.tensor(0.05),
        "step_count": torch.tensor([7, 9], dtype=torch.int64),
    }
    return sd


def prunable_state_dict() -> dict[str, Tensor]:
    """Two int5 matrices whose rows have varied scales, so the pruning order is visible."""
    return {
        "blocks.0.mlp.fc.weight": randn(264, 256, seed=4) * 0.04 * torch.exp(0.5 * randn(264, 1, seed=5)),
        "blocks.0.attn.c_q.weight": randn(256, 272, seed=6) * 0.03 * torch.exp(0.5 * randn(256, 1, seed=7)),
        "blocks.0.attn_scale": torch.ones(256),
    }


def fake_hessians(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for name, t in sd.items():
        if ".attn." in name or ".mlp." in name:
            x = randn(4 * t.shape[1], t.shape[1], seed=t.shape[1]) @ randn(t.shape[1], t.shape[1], seed=3)
            out[name] = x.T @ x / len(x)
    return out


@functools.cache
def quantized_stack() -> dict:
    sd = stack_like_state_dict()
    return S.quantize_state_dict(sd, "int5_gptq", fake_hessians(sd))


def test_storage_kinds_put_controls_before_the_small_tensor_shortcut() -> None:
    qsd = quantized_stack()
    kinds = {n: e.kind for n, e in qsd.items()}
    assert kinds == {
        "tok_emb.weight": "int8",
        "blocks.0.attn.c_q.weight": "int5",
        "blocks.0.mlp.fc.weight": "int5",
        "blocks.0.mlp.proj.weight": "int5",
        "bigram.proj.weight": "fp16",
        "blocks.0.attn_scale": "fp32",
        "blocks.0.resid_mix": "fp32",
        "skip_weights": "fp32",
        "bigram.scale": "fp16",
        "step_count": "raw",
    }
    assert {n: e.method for n, e in qsd.items() if e.kind == "int5"} == dict.fromkeys(
        ["blocks.0.attn.c_q.weight", "blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight"], "gptq"
    )


def test_int8_mode_keeps_block_matrices_at_int8() -> None:
    qsd = S.quantize_state_dict(stack_like_state_dict(), "int8")
    assert qsd["blocks.0.mlp.fc.weight"].kind == "int8"
    assert qsd["tok_emb.weight"].kind == "int8"


def test_unknown_quant_mode_and_codec_are_rejected_by_name() -> None:
    with pytest.raises(
        S.ConfigError, match=r"^QUANT must be one of int5_gptq, int5, int6, int6_gptq, int8; got 'int4'$"
    ):
        hparams(quant="int4")
    with pytest.raises(S.ConfigError, match=r"COMPRESSOR must be one of [a-z, ]+; got 'lz4'") as error:
        hparams(compressor="lz4")
    assert {"zlib", "zstd", "lzma", "brotli", "auto"} <= set(
        str(error.value).split("of ")[1].split(";")[0].split(", ")
    )
    assert hparams(compressor="auto").codecs == ("zstd", "lzma", "brotli", "rans")


def test_int5_without_hessian_falls_back_to_round_to_nearest() -> None:
    qsd = S.quantize_state_dict(stack_like_state_dict(), "int5_gptq", hessians={})
    assert {e.method for e in qsd.values() if e.kind == "int5"} == {"rtn"}


def test_quantised_weights_are_close_and_codes_in_range() -> None:
    sd, qsd = stack_like_state_dict(), quantized_stack()
    deq = S.dequantize_state_dict(qsd)
    for name, t in sd.items():
        assert deq[name].dtype == t.dtype and deq[name].shape == t.shape
    assert qsd["blocks.0.mlp.fc.weight"].data.abs().max() <= 15
    assert qsd["tok_emb.weight"].data.abs().max() <= 127
    assert torch.equal(deq["skip_weights"], sd["skip_weights"])  # controls stay exact fp32
    rel = (deq["tok_emb.weight"].float() - sd["tok_emb.weight"].float()).norm() / sd[
        "tok_emb.weight"
    ].float().norm()
    assert rel < 0.02


def test_serialise_deserialise_reproduces_dequantised_weights_exactly() -> None:
    qsd = quantized_stack()
    restored = S.dequantize_state_dict(S.deserialize_quantized(S.serialize_quantized(qsd)))
    expected = S.dequantize_state_dict(qsd)
    assert restored.keys() == expected.keys()
    for name in expected:
        assert restored[name].dtype == expected[name].dtype
        assert torch.equal(restored[name], expected[name]), name


def test_artifact_alone_rebuilds_a_loadable_model() -> None:
    model = TinyLM(vocab=64, dim=32, n_blocks=2)
    blob, label = S.compress_state_dict(model.state_dict(), hparams(quant="int5_gptq", compressor="auto"))
    fresh = TinyLM(vocab=64, dim=32, n_blocks=2, seed=1)
    fresh.load_state_dict(S.decompress_state_dict(blob), strict=True)
    ids = torch.randint(64, (2, 16), generator=torch.Generator().manual_seed(0))
    close = torch.nn.functional.cosine_similarity(
        fresh.forward_logits(ids).flatten(), model.forward_logits(ids).flatten(), dim=0
    )
    assert close > 0.99 and label in ("int5_gptq+zstd", "int5_gptq+lzma", "int5_gptq+brotli", "int5_gptq+rans")


@pytest.mark.parametrize("codecs", [("zstd", "lzma", "brotli"), ("lzma", "zstd", "zlib"), ("brotli",)])
def test_codec_chooser_picks_the_smallest_and_every_blob_names_its_codec(codecs: tuple[str, ...]) -> None:
    qsd = S.quantize_state_dict({"blocks.0.attn_scale": torch.ones(8), "w": randn(64, 96, seed=1)}, "int8")
    raw = S.serialize_quantized(qsd)
    blob, codec = S.compress_artifact(raw, codecs)
    sizes = {c: len(S.compress_artifact(raw, (c,))[0]) for c in codecs}
    assert len(blob) == min(sizes.values()) and sizes[codec] == len(blob)
    for c in codecs:
        one = S.compress_artifact(raw, (c,))[0]
        assert one.startswith(S.CODECS[c][0])
        restored = S.decompress_state_dict(one)
        assert all(torch.equal(restored[n], t) for n, t in S.dequantize_state_dict(qsd).items())


def test_corrupt_or_foreign_artifacts_fail_with_a_clear_message() -> None:
    with pytest.raises(
        ValueError, match=re.escape("artifact starts with b'\\x7fabc', the magic of no available codec")
    ):
        S.decompress_state_dict(b"\x7fabc")
    with pytest.raises(ValueError, match="artifact is not in the pgolf_quant_v1 format"):
        buf = io.BytesIO()
        torch.save({"w": torch.ones(2)}, buf)
        S.deserialize_quantized(buf.getvalue())
    with pytest.raises(
        ValueError,
        match=re.escape("unknown or unavailable codec 'gzip' (available: zlib, zstd, lzma, brotli, rans)"),
    ):
        S.compress_artifact(b"raw", ("gzip",))


def test_pruning_lands_under_the_target_and_drops_the_cheapest_ones_first() -> None:
    sd = prunable_state_dict()
    qsd = S.quantize_state_dict(sd, "int5_gptq")
    full = len(S.compress_artifact(S.serialize_quantized(qsd), ("zstd",))[0])
    target = full - 1500
    pruned, blob, _, count = S.pack_artifact(qsd, ("zstd",), target, tolerance_bytes=200)
    assert target - 200 <= len(blob) <= target
    assert S.decompress_state_dict(blob).keys() == sd.keys()
    changed = {n for n in qsd if not torch.equal(qsd[n].data, pruned[n].data)}
    assert changed and all(qsd[n].kind == "int5" for n in changed)
    flips = sum(int((qsd[n].data != pruned[n].data).sum()) for n in changed)
    assert flips == count
    for n in changed:  # only +-1 codes become 0, and never in a row with a larger scale than an untouched one
        before, after = qsd[n].data, pruned[n].data
        assert (before[before != after].abs() == 1).all() and (after[before != after] == 0).all()
    max_pruned = max(
        float(qsd[n].scale[(qsd[n].data != pruned[n].data).any(1)].float().max()) for n in changed
    )
    min_kept = min(
        float(qsd[n].scale[(pruned[n].data.abs() == 1).any(1)].float().min())
        for n in qsd
        if qsd[n].kind == "int5"
    )
    assert max_pruned <= min_kept


def test_pruning_is_a_no_op_when_the_artifact_already_fits() -> None:
    qsd = S.quantize_state_dict(prunable_state_dict(), "int5_gptq")
    kept, blob, _, count = S.pack_artifact(qsd, ("zstd",), 10**9)
    assert count == 0 and kept is qsd and S.decompress_state_dict(blob).keys() == qsd.keys()


def test_unreachable_target_keeps_the_unpruned_artifact() -> None:
    qsd = S.quantize_state_dict(prunable_state_dict(), "int5_gptq")
    kept, blob, _, count = S.pack_artifact(qsd, ("zstd",), 1000)
    assert (
        count == 0 and kept is qsd and len(blob) > 1000
    )  # the budget verdict reports it; no model is wrecked


def test_row_quantile_handles_more_than_16m_elements() -> None:
    x = torch.rand(4100, 4096)  # 16.8M elements: torch.quantile refuses this many
    q = S.row_quantile(x, S.INT8_CLIP_QUANTILE)
    assert q.shape == (4100,)
    assert torch.allclose(q[:5], torch.quantile(x[:5], S.INT8_CLIP_QUANTILE, dim=1))
