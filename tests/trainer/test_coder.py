"""COMPRESSOR=rans: the interleaved-lane rANS coder of the quantised codes (trainer/train_gpt.py).

Bit-exact round trips on random, adversarial and real (tiny trained) codes; a damaged blob raises one
clear ValueError; the codec works end to end through compress_state_dict/decompress_state_dict and
`auto` keeps the smallest codec.
"""

from __future__ import annotations

import pytest
import torch

from tests.trainer.stackload import hparams, load_stack
from tests.trainer.tiny import Run

S = load_stack()


def entry(codes: torch.Tensor, kind: str = "int5"):
    """A quantised entry with the given int8 codes and distinct fp16 row scales."""
    scale = (torch.arange(len(codes), dtype=torch.float32) + 1).mul(1e-3).half()
    return S.QuantEntry(kind, codes.to(torch.int8).contiguous(), scale, torch.float32)


def random_codes(rows: int, cols: int, clip: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    spread = torch.rand(rows, 1, generator=gen) * clip / 2 + 0.3  # rows of different spreads
    return (torch.randn(rows, cols, generator=gen) * spread).round().clamp(-clip, clip)


def round_trip(qsd: dict) -> tuple[dict, bytes]:
    blob = S.rans_pack(S.serialize_quantized(qsd))
    assert blob.startswith(S.RANS_MAGIC)
    return S.deserialize_quantized(S.rans_unpack(blob)), blob


def assert_same(qsd: dict, back: dict) -> None:
    assert list(back) == sorted(qsd, key=list(back).index) and back.keys() == qsd.keys()
    for name, e in qsd.items():
        got = back[name]
        assert (got.kind, got.dtype, got.data.dtype, got.data.shape) == (e.kind, e.dtype, e.data.dtype,
                                                                         e.data.shape), name
        assert torch.equal(got.data, e.data), name
        assert (got.scale is None and e.scale is None) or torch.equal(got.scale, e.scale), name


CASES = {
    "random_int5_and_int8": lambda: {
        "blocks.0.mlp.fc.weight": entry(random_codes(300, 96, 15, 1)),
        "blocks.1.mlp.fc.weight": entry(random_codes(200, 96, 15, 2)),  # same role, another layer
        "blocks.0.attn.c_q.weight": entry(random_codes(64, 257, 15, 3)),
        "tok_emb.weight": entry(random_codes(128, 40, 127, 4), "int8"),
        "blocks.0.attn_scale": S.QuantEntry("fp32", torch.rand(96), None, torch.float32),
        "step": S.QuantEntry("raw", torch.tensor([3, 4]), None, torch.int64),
        "bigram.scale": S.QuantEntry("fp16", torch.tensor(0.05, dtype=torch.float16), None, torch.float32),
    },
    "all_equal": lambda: {"blocks.0.mlp.fc.weight": entry(torch.full((130, 70), 7))},
    "all_zero_large": lambda: {"blocks.0.mlp.fc.weight": entry(torch.zeros(512, 600))},
    "all_extreme": lambda: {"a.weight": entry(torch.randint(0, 2, (90, 33), generator=torch.Generator()
                                                            .manual_seed(5)) * 255 - 128, "int8"),
                            "b.weight": entry(torch.full((3, 5), -15))},
    "every_int8_value": lambda: {"a.weight": entry(torch.arange(-128, 128).repeat(9, 1), "int8")},
    "tiny": lambda: {"a.weight": entry(torch.tensor([[3]]))},
    "one_row": lambda: {"a.weight": entry(random_codes(1, 5000, 15, 6))},
    "one_column": lambda: {"a.weight": entry(random_codes(700, 1, 15, 7))},
    "no_codes": lambda: {"x": S.QuantEntry("fp16", torch.ones(3, dtype=torch.float16), None, torch.float32)},
    "empty": dict,
}


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_is_bit_exact(case: str) -> None:
    qsd = CASES[case]()
    back, _ = round_trip(qsd)
    assert_same(qsd, back)


def test_skewed_codes_cost_less_than_their_per_tensor_entropy() -> None:
    """Rows of two very different spreads: the row classes must code them below one histogram's entropy."""
    wide, narrow = random_codes(400, 512, 15, 8).clamp(-15, 15), (random_codes(400, 512, 15, 9) / 6).round()
    codes = torch.cat([wide, narrow])[torch.randperm(800, generator=torch.Generator().manual_seed(0))]
    counts = torch.bincount(codes.flatten().long() + 15).double()
    p = counts[counts > 0] / counts.sum()
    entropy_bytes = float(-(p * p.log2()).sum()) * codes.numel() / 8
    back, blob = round_trip({"blocks.0.mlp.fc.weight": entry(codes)})
    assert torch.equal(back["blocks.0.mlp.fc.weight"].data, codes.to(torch.int8))
    assert len(blob) < 0.97 * entropy_bytes


def test_real_trained_codes_round_trip_and_beat_brotli(tiny_run: Run) -> None:
    blob = next(tiny_run.out_dir.glob("final_model.*.ptz")).read_bytes()
    codec = next(c for c, (magic, _, _) in S.CODECS.items() if blob.startswith(magic))
    raw = S.CODECS[codec][2](blob)
    qsd = S.deserialize_quantized(raw)
    assert sum(e.kind == "int5" for e in qsd.values()) >= 4
    back, ours = round_trip(qsd)
    assert_same(qsd, back)
    if "brotli" in S.CODECS:
        assert len(ours) < len(S.CODECS["brotli"][1](raw))


@pytest.fixture(scope="module")
def good_blob() -> bytes:
    return S.rans_pack(S.serialize_quantized(CASES["random_int5_and_int8"]()))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-1], "truncated or padded"),
        (lambda b: b + b"\x00", "truncated or padded"),
        (lambda b: b[:10], "truncated or padded: 10 bytes"),
        (lambda b: b[:-2000] + bytes([b[-2000] ^ 1]) + b[-1999:], "crc32 mismatch"),  # a flipped word bit
        (lambda b: b[:S.RANS_HEADER.size + 5] + bytes([b[S.RANS_HEADER.size + 5] ^ 0x40])
         + b[S.RANS_HEADER.size + 6:], "crc32 mismatch"),  # the side stream
    ],
)
def test_damaged_blob_raises_one_clear_line(good_blob: bytes, damage, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        S.decompress_state_dict(damage(good_blob))
    assert "\n" not in str(info.value) and str(info.value).startswith("artifact is")


def test_decoder_checks_catch_a_damaged_stream_behind_a_valid_crc(good_blob: bytes) -> None:
    """Even with the checksum recomputed, a flipped word fails the rANS state check, never a silent model."""
    head = S.RANS_HEADER.unpack_from(good_blob)
    body = bytearray(good_blob[S.RANS_HEADER.size:])
    body[-1000] ^= 0x10
    forged = S.RANS_HEADER.pack(head[0], S.zlib.crc32(bytes(body)), *head[2:]) + bytes(body)
    with pytest.raises(ValueError, match="artifact is corrupted: the rANS"):
        S.rans_unpack(forged)


def random_state_dict() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "blocks.0.mlp.fc.weight": torch.randn(512, 160, generator=gen) * 0.04,
        "blocks.0.mlp.proj.weight": torch.randn(160, 512, generator=gen) * 0.02,
        "tok_emb.weight": (torch.randn(1024, 72, generator=gen) * 0.05).bfloat16(),
        "blocks.0.attn_scale": torch.rand(160, generator=gen),
    }


def test_compressor_rans_end_to_end() -> None:
    sd = random_state_dict()
    hp = hparams(compressor="rans")
    assert hp.codecs == ("rans",)
    blob, label = S.compress_state_dict(sd, hp)
    assert label == "int5_gptq+rans" and blob.startswith(S.RANS_MAGIC)
    expected = S.dequantize_state_dict(S.quantize_state_dict(sd, "int5_gptq"))
    restored = S.decompress_state_dict(blob)
    assert restored.keys() == sd.keys()
    for name, t in expected.items():
        assert restored[name].dtype == sd[name].dtype and torch.equal(restored[name], t), name


def test_compressor_rans_is_a_config_choice_and_auto_keeps_the_smallest() -> None:
    assert S.Hyperparameters.from_env({"COMPRESSOR": "rans"}).compressor == "rans"
    with pytest.raises(S.ConfigError, match="COMPRESSOR"):
        S.Hyperparameters.from_env({"COMPRESSOR": "ans"})
    auto = hparams()
    assert "rans" in auto.codecs
    raw = S.serialize_quantized(S.quantize_state_dict(random_state_dict(), "int5_gptq"))
    sizes = {c: len(S.compress_artifact(raw, (c,))[0]) for c in auto.codecs}
    blob, codec = S.compress_artifact(raw, auto.codecs)
    assert codec == min(sizes, key=sizes.__getitem__) and len(blob) == min(sizes.values())
