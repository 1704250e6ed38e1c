"""The general intN export (issue 11): int6 per row with or without GPTQ, its STE QAT on the export's grid,
the fp16 tied-embedding passthrough, and QAT_MODE=always."""

from __future__ import annotations

import pytest
import torch

from tests.trainer.stackload import load_stack

S = load_stack()
MLP = "blocks.0.mlp.fc.weight"


def trained_like(rows: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, cols, generator=g) * 0.04 * torch.exp(0.5 * torch.randn(rows, 1, generator=g))


def roundtrip(qsd: dict) -> dict[str, torch.Tensor]:
    blob, _ = S.compress_artifact(S.serialize_quantized(qsd), ("zstd",))
    return S.decompress_state_dict(blob)


def test_int6_codes_use_63_levels_and_roundtrip_exactly() -> None:
    w = trained_like(300, 260, seed=0)
    qsd = S.quantize_state_dict({MLP: w}, "int6")
    entry = qsd[MLP]
    assert (entry.kind, entry.method) == ("int6", "rtn")
    assert entry.data.abs().max() == 31 and len(entry.data.unique()) > 31  # beyond int5's 31 levels
    assert torch.equal(roundtrip(qsd)[MLP], S.dequantize_state_dict(qsd)[MLP])
    int5_err = (S.dequantize_state_dict(S.quantize_state_dict({MLP: w}, "int5"))[MLP] - w).square().mean()
    assert (S.dequantize_state_dict(qsd)[MLP] - w).square().mean() < int5_err / 3  # 2x finer steps


def test_int6_gptq_quantises_on_the_int6_grid() -> None:
    w = trained_like(300, 240, seed=1)  # 72,000 elements: above the fp16 small-tensor limit
    x = trained_like(1024, 240, seed=2)
    qsd = S.quantize_state_dict({MLP: w}, "int6_gptq", {MLP: x.T @ x / len(x)})
    assert (qsd[MLP].kind, qsd[MLP].method) == ("int6", "gptq")
    assert qsd[MLP].data.abs().max() <= 31 and len(qsd[MLP].data.unique()) > 31


def test_qat_fake_quantiser_is_the_int6_export_grid() -> None:
    w = trained_like(300, 240, seed=3)
    exported = S.dequantize_state_dict(S.quantize_state_dict({MLP: w}, "int6"))[MLP]
    assert torch.equal(S.qat_quantizer(False, S.clip_range("int6"))(w), exported)
    assert torch.equal(S.qat_quantizer(True, S.clip_range("int6"))(w), exported)  # compiled, as on GPU


def test_fp16_embedding_passthrough_is_exact_and_switchable() -> None:
    emb = trained_like(1024, 96, seed=4)  # 98,304 elements: int8 per row without the switch
    sd = {"tok_emb.weight": emb, MLP: trained_like(128, 600, seed=5)}
    kept = S.quantize_state_dict(sd, "int6", fp16_embed=True)
    assert kept["tok_emb.weight"].kind == "fp16" and kept[MLP].kind == "int6"
    assert torch.equal(roundtrip(kept)["tok_emb.weight"], emb.half().float())
    assert S.quantize_state_dict(sd, "int6")["tok_emb.weight"].kind == "int8"


def test_always_on_qat_switches_every_int6_layer_and_only_those() -> None:
    env = {"NUM_LAYERS": "9", "NUM_KV_HEADS": "4", "MLP_MULT": "3", "QUANT": "int6", "QAT_MODE": "always",
           "LATE_QAT_THRESHOLD": "0", "FP16_EMBED": "1"}
    hp = S.Hyperparameters.from_env(env)
    with torch.device("meta"):
        model = S.build_model(hp, torch.device("meta"))
    switched = {n for n, m in model.named_modules() if isinstance(m, S.CastedLinear) and m.qat_delta is not None}
    assert len(switched) == 9 * 6 and all(".attn." in n or ".mlp." in n for n in switched)
    assert (hp.block_kind, hp.uses_gptq, S.clip_range(hp.block_kind)) == ("int6", False, 31)


@pytest.mark.parametrize("value", ["int4", "int6_rtn", "6"])
def test_unknown_quant_names_the_choices(value: str) -> None:
    with pytest.raises(S.ConfigError, match=r"^QUANT must be one of int5_gptq, int5, int6, int6_gptq, int8; "):
        S.Hyperparameters.from_env({"QUANT": value})
