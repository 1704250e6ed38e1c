"""Hyperparameters come from the environment; bad values fail at once, naming the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.trainer.tiny import load_trainer, run_trainer, tiny_env


def test_env_values_are_parsed_into_typed_fields() -> None:
    tg = load_trainer()
    env = {"NUM_LAYERS": "11", "MLP_MULT": "3.5", "TIE_EMBEDDINGS": "0", "COMPILE": "1", "DEVICE": "cpu",
           "MAX_WALLCLOCK_SECONDS": "90", "RUN_ID": "abc", "UNRELATED_VARIABLE": "ignored"}
    hp = tg.Hyperparameters.from_env(env)
    assert (hp.num_layers, hp.mlp_mult, hp.tie_embeddings, hp.compile) == (11, 3.5, False, True)
    assert (hp.device, hp.max_wallclock_seconds, hp.run_id) == ("cpu", 90.0, "abc")
    assert hp.model_dim == 512  # unset variables keep the record's default
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.num_layers = 3  # type: ignore[misc]


def test_defaults_are_the_record_config() -> None:
    """stack-spec 3 (PR576 env defaults) and 10 (our export and evaluation): a bare run is the record."""
    hp = load_trainer().Hyperparameters.from_env({})
    shape = (hp.num_layers, hp.model_dim, hp.num_heads, hp.num_kv_heads, hp.mlp_mult, hp.vocab_size)
    assert shape == (11, 512, 8, 8, 3.5, 1024)
    assert (hp.train_batch_tokens, hp.train_seq_len, hp.max_wallclock_seconds) == (786_432, 2048, 600.0)
    assert (hp.quant, hp.compressor, hp.codecs) == ("int5_gptq", "auto", ("zstd", "lzma", "brotli", "rans"))
    # GPTQ calibration reads training data inside the cap: the loop stops GPTQ_RESERVE_MS early.
    assert (hp.gptq_reserve_ms, hp.gptq_calib_batches) == (14_000, 64)
    assert (hp.eval_stride, hp.ttt_enabled) == (64, True)  # one sliding-window pass with score-first TTT
    ttt = (hp.ttt_lr, hp.ttt_epochs, hp.ttt_chunk_tokens, hp.ttt_last_blocks, hp.ttt_grad_clip)
    assert ttt == (1e-4, 3, 131_072, 2, 1.0)  # stack-spec 6.3: AdamW 1e-4, 3 epochs, last 2 blocks, clip 1
    assert (hp.eval_temperature, hp.eval_adaptive_temperature) == (1.0, False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NUM_LAYERS": "nine"}, "NUM_LAYERS must be an integer, got 'nine'"),
        ({"ITERATIONS": "-5"}, "ITERATIONS must be >= 0, got -5"),
        ({"MATRIX_LR": "fast"}, "MATRIX_LR must be a number, got 'fast'"),
        ({"MATRIX_LR": "-0.1"}, "MATRIX_LR must be >= 0.0, got -0.1"),
        ({"MAX_WALLCLOCK_SECONDS": "inf"}, "MAX_WALLCLOCK_SECONDS must be finite, got 'inf'"),
        ({"BETA2": "1.5"}, "BETA2 must be <= 1.0, got 1.5"),
        ({"DEVICE": "tpu"}, "DEVICE must be one of auto, cpu, cuda; got 'tpu'"),
        ({"COMPRESSOR": "lz4"}, "COMPRESSOR must be one of auto, zstd, lzma, brotli, zlib, rans; got 'lz4'"),
        ({"COMPILE": "yes"}, "COMPILE must be 0 or 1, got 'yes'"),
        ({"TIE_EMBEDDINGS": ""}, "TIE_EMBEDDINGS must be 0 or 1, got ''"),
        ({"MODEL_DIM": "500"}, "MODEL_DIM=500 must be divisible by NUM_HEADS=8"),
        ({"NUM_KV_HEADS": "3"}, "NUM_HEADS=8 must be a multiple of NUM_KV_HEADS=3"),
        ({"MODEL_DIM": "24", "NUM_KV_HEADS": "8"}, "MODEL_DIM/NUM_HEADS=3 must be even for RoPE"),
        ({"TRAIN_BATCH_TOKENS": "1000"},
         "TRAIN_BATCH_TOKENS=1000 must be a multiple of 8*TRAIN_SEQ_LEN=16384"),
        ({"VAL_BATCH_SIZE": "4096"}, "VAL_BATCH_SIZE=4096 must be at least 8*TRAIN_SEQ_LEN=16384"),
        ({"MAX_WALLCLOCK_SECONDS": "10"},
         "GPTQ_RESERVE_MS=14000 leaves no training time under MAX_WALLCLOCK_SECONDS=10.0 (0: calibrate after the cap)"),
        ({"TRAIN_SEQ_LEN": "32", "TRAIN_BATCH_TOKENS": "256", "VAL_BATCH_SIZE": "256"},
         "EVAL_STRIDE=64 must be at most TRAIN_SEQ_LEN=32"),
        ({"VOCAB_SIZE": "70000"}, "VOCAB_SIZE must be <= 65536, got 70000"),
        ({"TOKENIZER_PATH": "tok.json"}, "TOKENIZER_PATH='tok.json' must be a SentencePiece .model file"),
    ],
)
def test_invalid_values_fail_naming_the_variable(env: dict[str, str], message: str) -> None:
    tg = load_trainer()
    with pytest.raises(tg.ConfigError) as excinfo:
        tg.Hyperparameters.from_env(env)
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, ValueError)


def test_missing_shards_and_tokenizer_are_reported(tmp_path: Path) -> None:
    tg = load_trainer()
    hp = tg.Hyperparameters(data_path=str(tmp_path), tokenizer_path=str(tmp_path / "tok.model"))
    with pytest.raises(tg.ConfigError, match=r"^DATA_PATH='.*' has no fineweb_train_\*\.bin shards$"):
        hp.check_files()
    (tmp_path / "fineweb_train_000000.bin").write_bytes(b"")
    with pytest.raises(tg.ConfigError, match=r"has no fineweb_val_\*\.bin shards$"):
        hp.check_files()
    (tmp_path / "fineweb_val_000000.bin").write_bytes(b"")
    with pytest.raises(tg.ConfigError, match=r"^TOKENIZER_PATH='.*tok\.model' does not exist$"):
        hp.check_files()


def test_world_size_must_divide_eight(monkeypatch: pytest.MonkeyPatch) -> None:
    tg = load_trainer()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(tg.ConfigError, match=r"^WORLD_SIZE=3 must divide 8"):
        tg.init_runtime(tg.Hyperparameters(device="cpu"))


def test_script_fails_fast_with_one_line_and_writes_nothing(demo_data, tmp_path: Path) -> None:
    env = tiny_env(demo_data, tmp_path / "out", DATA_PATH=tmp_path / "no-such-dir")
    proc = run_trainer(env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    missing = tmp_path / "no-such-dir"
    assert proc.stderr.strip().splitlines() == [
        f"train_gpt.py: config error: DATA_PATH='{missing}' has no fineweb_train_*.bin shards"
    ]
    assert list(tmp_path.iterdir()) == []


def test_vocab_size_must_match_the_tokenizer(demo_data, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tg = load_trainer()
    for name, value in tiny_env(demo_data, tmp_path / "out", VOCAB_SIZE=2048).items():
        monkeypatch.setenv(name, value)
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    expected = r"^VOCAB_SIZE=2048 does not match the tokenizer's vocab size 1024$"
    with pytest.raises(tg.ConfigError, match=expected):
        tg.main()
