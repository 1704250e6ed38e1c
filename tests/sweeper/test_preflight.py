"""Preflight: parameter and artifact-byte predictions, error bands, verdicts and the skip decision.
Calibration from measured runs is in test_preflight_calibration.py."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import sweeper.preflight as preflight_module
from sweeper.errors import SpaceError
from sweeper.model_size import estimate_size
from sweeper.preflight import Preflight, preflight_configs
from sweeper.space import SearchSpace, load_space, parse_space
from tests.paths import FIXTURES, REPO, TRAINER

TINY_ENV = {"NUM_LAYERS": 2, "MODEL_DIM": 64, "NUM_HEADS": 4, "NUM_KV_HEADS": 2, "VOCAB_SIZE": 1024,
            "BIGRAM_VOCAB_SIZE": 256, "BIGRAM_DIM": 16, "VE_DIM": 16, "QUANT": "int8", "COMPRESSOR": "zlib"}


def tiny_space(script: Path = TRAINER, limit: int = 16_000_000, **params: Any) -> SearchSpace:
    data = {"name": "pf", "script": str(script), "data_path": "d", "tokenizer_path": "t.model",
            "env": TINY_ENV, "params": params or {"MATRIX_LR": {"type": "grid", "values": [0.02]}},
            "limits": {"artifact_bytes": limit}}
    env = {k: v for k, v in TINY_ENV.items() if k not in data["params"]}
    return parse_space(yaml.safe_dump({**data, "env": env}))


def cpu_param_count(env: dict[str, str]) -> int:
    """Build our trainer's model for real on CPU (an independent path from the meta build)."""
    spec = importlib.util.spec_from_file_location("trainer_for_count", TRAINER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["trainer_for_count"] = module
    spec.loader.exec_module(module)
    import torch

    model = module.build_model(module.Hyperparameters.from_env(env), torch.device("cpu"))
    return sum(p.numel() for p in model.parameters())


def test_trainer_prediction_counts_params_and_adds_code_bytes() -> None:
    space = tiny_space()
    prediction = Preflight(space).predict({"MATRIX_LR": 0.02})
    assert prediction.method == "trainer" and prediction.basis == "trainer export" and prediction.exact
    assert prediction.model_params == cpu_param_count({k: str(v) for k, v in TINY_ENV.items()})
    assert prediction.code_bytes == len(TRAINER.read_bytes())
    assert prediction.artifact_bytes == prediction.model_bytes + prediction.code_bytes
    assert 0 < prediction.model_bytes < prediction.model_params * 4  # quantised + compressed
    assert prediction.fits and prediction.verdict == "fits" and prediction.skip_reason is None
    assert prediction.low_bytes < prediction.artifact_bytes < prediction.high_bytes
    assert prediction.config_id == space.config_id({"MATRIX_LR": 0.02})


def test_over_limit_config_is_rejected_with_a_reason() -> None:
    space = tiny_space(limit=1_000_000, MODEL_DIM={"type": "grid", "values": [64, 384]})
    small, huge = (Preflight(space).predict({"MODEL_DIM": dim}) for dim in (64, 384))
    assert small.fits
    assert not huge.fits and huge.artifact_bytes > 1_000_000 and huge.exact and huge.verdict == "over"
    assert huge.skip_reason is not None
    assert re.search(r"predicted artifact [\d,]+ bytes > limit 1,000,000", huge.skip_reason)


def test_bigger_models_predict_more_bytes() -> None:
    space = tiny_space(NUM_LAYERS={"type": "grid", "values": [2, 3, 5]})
    sizes = [Preflight(space).predict({"NUM_LAYERS": n}).model_bytes for n in (2, 3, 5)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_configs_differing_only_in_training_knobs_share_one_compression(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, str]] = []
    real = preflight_module.synthetic_size
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    monkeypatch.setattr(preflight_module, "synthetic_size", lambda m, env: calls.append(dict(env)) or real(m, env))
    space = tiny_space(MATRIX_LR={"type": "grid", "values": [0.01, 0.02, 0.04]},
                       MODEL_DIM={"type": "grid", "values": [64, 128]})
    checker = Preflight(space)
    for point in space.grid_points():
        checker.predict(point)
    assert len(calls) == 2


def test_bad_trainer_value_names_the_variable() -> None:
    space = tiny_space(NUM_HEADS={"type": "grid", "values": [3]})
    with pytest.raises(SpaceError, match="MODEL_DIM=64 must be divisible by NUM_HEADS=3"):
        Preflight(space).predict({"NUM_HEADS": 3})


def test_script_failing_on_import_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "train_gpt.py"
    script.write_text("def build_model(): ...\ndef compress_state_dict(): ...\ndef from_env(): ...\n"
                      "raise RuntimeError('needs flash_attn')\n")
    with pytest.raises(SpaceError, match="script: importing .* failed .*needs flash_attn"):
        Preflight(tiny_space(script)).predict({"MATRIX_LR": 0.02})


def test_estimate_recovers_a_record_parameter_count(tmp_path: Path) -> None:
    """Scripts without our API get the env formula; the 2026-03-19 record logs its own code and count."""
    log = (FIXTURES / "track_10min_16mb/2026-03-19_MixedQuant_Int6Int8_SlidingWindow/train.log").read_text()
    logged = int(re.search(r"^model_params:(\d+)", log, re.MULTILINE).group(1))
    estimate = estimate_size(log, {})
    assert estimate.method == "estimate" and estimate.model_params == logged
    assert estimate.format_label == "int6 (estimated)" and "estimate:" in estimate.note
    assert estimate_size(log, {"NUM_LAYERS": "10"}).model_params > logged


def test_a_foreign_script_is_never_exact_and_its_band_decides(tmp_path: Path) -> None:
    script = tmp_path / "train_gpt.py"
    script.write_text('import os\nnum_layers = int(os.environ.get("NUM_LAYERS", 9))\n'
                      'print(f"Serialized model int8+zlib: {n} bytes")\n')
    space = parse_space(yaml.safe_dump({"name": "x", "script": str(script), "data_path": "d",
                                        "tokenizer_path": "t.model", "params": {"MODEL_DIM": {
                                            "type": "grid", "values": [512, 4096]}}}))
    baseline, wide = (Preflight(space).predict({"MODEL_DIM": d}) for d in (512, 4096))
    assert baseline.method != "trainer" and not baseline.exact and baseline.band > 0
    assert baseline.low_bytes < baseline.artifact_bytes < baseline.high_bytes
    assert wide.low_bytes > 16_000_000 and wide.verdict == "over"
    assert re.match(r"preflight: even the low end of the estimate \([\d,]+ -\d+%\), [\d,]+ bytes, > limit 16,000,000",
                    wide.skip_reason or "")


def test_a_record_script_is_sized_by_its_own_model_and_runs_although_near_the_cap() -> None:
    """A compressed self-extracting record (15,991,018 B logged) is decoded and sized by
    `sweeper.script.size_script`: exact parameters, bytes with a band that reaches the cap, so a sweep
    runs it with a warning instead of skipping a record that fit."""
    folder = FIXTURES / "track_10min_16mb/2026-04-06_SP8192_QK5_LegalTTT_1.0828"
    log = (folder / "train_seed42.log").read_text()
    logged_params = int(re.search(r"^model_params:(\d+)", log, re.MULTILINE).group(1))
    logged_bytes = int(re.search(r"^Total submission size \S+: (\d+) bytes", log, re.MULTILINE).group(1))
    space = parse_space(yaml.safe_dump({"name": "rec", "script": str(folder / "train_gpt.py"), "data_path": "d",
                                        "tokenizer_path": "t.model"}))
    prediction = Preflight(space).predict({})
    assert prediction.method != "trainer" and prediction.params_exact and prediction.model_params == logged_params
    assert prediction.low_bytes <= logged_bytes <= prediction.high_bytes and "decoded" in prediction.note
    decision = Preflight(space).decide({}, "skip")
    assert decision.skip_reason is None and prediction.verdict in ("fits", "near")


def test_preflight_configs_are_grid_points_or_size_relevant_corners() -> None:
    grid = tiny_space(MATRIX_LR={"type": "grid", "values": [0.01, 0.02]})
    assert preflight_configs(grid) == [{"MATRIX_LR": 0.01}, {"MATRIX_LR": 0.02}]
    random_space = parse_space(yaml.safe_dump({
        "name": "r", "data_path": "d", "tokenizer_path": "t.model", "search": {"algorithm": "random", "samples": 4},
        "params": {"MATRIX_LR": {"type": "loguniform", "low": 0.01, "high": 0.1},
                   "MODEL_DIM": {"type": "int", "low": 256, "high": 512, "step": 64},
                   "BIGRAM_VOCAB_SIZE": {"type": "choice", "values": [4096, 8192]}}}))
    corners = preflight_configs(random_space)
    assert len(corners) == 4 and all("MATRIX_LR" not in c for c in corners)
    assert {"MODEL_DIM": 512, "BIGRAM_VOCAB_SIZE": 8192} in corners


def test_raw_sizes_persist_in_the_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [80]})
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    first = Preflight(space, cache_dir=tmp_path / "cache").predict({"MODEL_DIM": 80})
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def must_not_run(*args: object) -> None:
        raise AssertionError("recomputed despite the disk cache")

    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    monkeypatch.setattr(preflight_module, "synthetic_size", must_not_run)
    assert Preflight(space, cache_dir=tmp_path / "cache").predict({"MODEL_DIM": 80}) == first


def test_a_damaged_cache_entry_is_recomputed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [72]})
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    first = Preflight(space, cache_dir=tmp_path).predict({"MODEL_DIM": 72})
    (entry,) = tmp_path.glob("*.json")
    entry.write_text("{not json")
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    assert Preflight(space, cache_dir=tmp_path).predict({"MODEL_DIM": 72}) == first
    assert entry.read_text().startswith('{"method"')


def test_shipped_baseline_space_predicts_the_official_baseline_artifact() -> None:
    """The synthetic weights are calibrated on this: the 9x512 baseline's logged count and bytes."""
    log = (FIXTURES / "track_10min_16mb/2026-03-17_NaiveBaseline/train.log").read_text()
    logged_params = int(re.search(r"^model_params:(\d+)", log, re.MULTILINE).group(1))
    logged_bytes = int(re.search(r"^Serialized model int8\+zlib: (\d+) bytes", log, re.MULTILINE).group(1))
    space = load_space(REPO / "search_spaces/baseline_9l.yaml", base_dir=REPO)
    prediction = Preflight(space).predict({"MATRIX_LR": 0.04, "WARMDOWN_ITERS": 1200})
    assert prediction.model_params == logged_params
    assert prediction.format_label == "int8+zlib"
    assert prediction.model_bytes == pytest.approx(logged_bytes, rel=0.03)


def test_int5_without_measurements_uses_the_record_prior() -> None:
    space = tiny_space(QUANT={"type": "grid", "values": ["int5_gptq"]})
    checker = Preflight(space)
    prediction = checker.predict({"QUANT": "int5_gptq"})
    raw = checker.raw_size(space.trial_env({"QUANT": "int5_gptq"}, seed=1))
    assert raw.format_label.startswith("int5") and prediction.basis == "prior"
    assert prediction.calibration_ratio == preflight_module.PRIOR_RATIOS["int5"] == 0.80
    assert 0 < raw.large_tensor_bytes < raw.model_bytes  # the tiny model has small fp16 tensors too
    assert prediction.model_bytes == raw.model_bytes - raw.large_tensor_bytes + round(raw.large_tensor_bytes * 0.80)


def with_limit(space: SearchSpace, limit: int) -> SearchSpace:
    return space.model_copy(update={"limits": space.limits.model_copy(update={"artifact_bytes": limit})})


def test_an_estimate_is_skipped_only_when_even_its_low_end_is_over() -> None:
    space = tiny_space(QUANT={"type": "grid", "values": ["int5_gptq"]})
    point = Preflight(space).predict({"QUANT": "int5_gptq"})
    assert not point.exact and point.band == preflight_module.PRIOR_BAND
    verdicts = {limit: Preflight(with_limit(space, limit)).predict({"QUANT": "int5_gptq"})
                for limit in (point.low_bytes - 1, point.low_bytes, point.artifact_bytes - 1, point.high_bytes)}
    assert [p.verdict for p in verdicts.values()] == ["over", "near", "near", "fits"]
    near = verdicts[point.artifact_bytes - 1]
    assert near.skip_reason is None and near.warning is not None
    assert re.match(rf"preflight: artifact {point.artifact_bytes:,} bytes \+-5% \({point.low_bytes:,}\.\."
                    rf"{point.high_bytes:,}\) may exceed limit {point.artifact_bytes - 1:,} \(prior; ", near.warning)


def test_an_exact_prediction_decides_at_its_point_value() -> None:
    space = tiny_space()
    point = Preflight(space).predict({"MATRIX_LR": 0.02})
    assert point.exact and point.band > 0  # the band is shown, but the script's own export decides
    at, under = (Preflight(with_limit(space, limit)).predict({"MATRIX_LR": 0.02})
                 for limit in (point.artifact_bytes, point.artifact_bytes - 1))
    assert (at.verdict, at.warning) == ("fits", None) and under.verdict == "over"


@pytest.mark.parametrize("mode", ["skip", "warn", "off"])
def test_the_mode_decides_what_happens_to_each_verdict(mode: str) -> None:
    space = tiny_space(QUANT={"type": "grid", "values": ["int5_gptq"]})
    point = Preflight(space).predict({"QUANT": "int5_gptq"})
    over, near = (Preflight(with_limit(space, limit)) for limit in (point.low_bytes - 1, point.artifact_bytes))
    surely, maybe = over.decide({"QUANT": "int5_gptq"}, mode), near.decide({"QUANT": "int5_gptq"}, mode)  # type: ignore[arg-type]
    if mode == "off":
        assert surely == maybe == preflight_module.Decision()
        return
    assert maybe.skip_reason is None and "may exceed limit" in (maybe.warning or "")
    if mode == "skip":
        assert surely.warning is None and "even the low end" in (surely.skip_reason or "")
    else:
        assert surely.skip_reason is None and (surely.warning or "").endswith("running it anyway (preflight: warn)")


def test_a_config_the_script_rejects_is_skipped_but_an_unimportable_script_runs(tmp_path: Path) -> None:
    rejected = tiny_space(NUM_HEADS={"type": "grid", "values": [3]})
    decision = Preflight(rejected).decide({"NUM_HEADS": 3}, "skip")
    assert decision.skip_reason == (f"preflight: config {rejected.config_id({'NUM_HEADS': 3})}: "
                                    "MODEL_DIM=64 must be divisible by NUM_HEADS=3")
    assert Preflight(rejected).decide({"NUM_HEADS": 3}, "warn").skip_reason is None
    script = tmp_path / "train_gpt.py"
    script.write_text("def build_model(): ...\ndef compress_state_dict(): ...\ndef from_env(): ...\n"
                      "import flash_attn_missing_here\n")
    unchecked = Preflight(tiny_space(script)).decide({"MATRIX_LR": 0.02}, "skip")
    assert unchecked.skip_reason is None
    assert re.match(r"preflight: could not size this config \(script: importing .* failed .*\); running it unchecked",
                    unchecked.warning or "")


def test_the_cache_key_includes_the_sizing_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A raw size cached by another version of the sizing code is not reused."""
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [88]})
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    Preflight(space, cache_dir=tmp_path).predict({"MODEL_DIM": 88})
    monkeypatch.setattr(preflight_module, "_RAW_CACHE", {})
    monkeypatch.setattr(preflight_module, "sizer_fingerprint", lambda: "another sizer")
    Preflight(space, cache_dir=tmp_path).predict({"MODEL_DIM": 88})
    assert len(list(tmp_path.glob("*.json"))) == 2
