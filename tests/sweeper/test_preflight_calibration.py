"""Preflight's correction from measured artifacts: only runs of the same script on the same data, in
the same format, with parameter counts within 2x calibrate; the same config is simply measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.preflight import (
    Measured,
    Prediction,
    Preflight,
    measured_artifacts,
    script_sha256,
    sweep_preflight,
)
from sweeper.space import SearchSpace, load_space, parse_space
from sweeper.sweepdir import PREFLIGHT_CACHE
from tests.paths import REPO, TRAINER
from tests.sweeper.test_preflight import tiny_space

DATA = "fingerprint-of-the-official-data"


def write_sweep(ledger_path: Path, space: SearchSpace, runs: list[tuple[dict[str, Any], int]],
                data: str | None = DATA, script_sha: str | None = None) -> None:
    """A sweep ledger of `space` whose finished attempts measured (params, model bytes) for our trainer."""
    code = len(TRAINER.read_bytes())
    with Ledger(ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name=space.name, space_yaml=space.to_yaml()))
        for seed, (params, model_bytes) in enumerate(runs, start=1):
            ledger.upsert_attempt(AttemptRow(
                attempt_id=f"a{seed}", sweep=space.name, config_id=space.config_id(params), params=params, seed=seed,
                status="finished", model_bytes=model_bytes, artifact_bytes=model_bytes + code,
                script_sha256=script_sha or script_sha256(TRAINER), data_fingerprint=data))


def measured(space: SearchSpace, params: dict[str, Any], ratio: float, data: str | None = DATA) -> Measured:
    raw = Preflight(space).predict(params)
    return Measured(config_id=raw.config_id, env=space.config_env(params), data_fingerprint=data,
                    artifact_bytes=round(raw.model_bytes * ratio) + raw.code_bytes,
                    model_bytes=round(raw.model_bytes * ratio))


def test_the_same_config_on_the_same_data_is_measured_and_exact(tmp_path: Path) -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [64, 72]})
    raw = Preflight(space).predict({"MODEL_DIM": 64})
    ledger = tmp_path / "s" / "ledger.sqlite"
    write_sweep(ledger, space, [({"MODEL_DIM": 64}, 2 * raw.model_bytes), ({"MODEL_DIM": 64}, 2 * raw.model_bytes + 10)])
    write_sweep(tmp_path / "other" / "ledger.sqlite", space, [({"MODEL_DIM": 64}, 1)], script_sha="another script")
    found = measured_artifacts([ledger, tmp_path / "other" / "ledger.sqlite", tmp_path / "missing.sqlite"],
                               script_sha256(TRAINER))
    assert [m.model_bytes for m in found] == [2 * raw.model_bytes, 2 * raw.model_bytes + 10]
    same = Preflight(space, found, data_fingerprint=DATA).predict({"MODEL_DIM": 64})
    assert (same.basis, same.exact, same.band) == ("measured", True, 0.0)
    assert same.artifact_bytes == same.low_bytes == same.high_bytes == 2 * raw.model_bytes + 10 + raw.code_bytes
    on_other_data = Preflight(space, found, data_fingerprint="other data").predict({"MODEL_DIM": 64})
    assert on_other_data.basis == "trainer export" and on_other_data.model_bytes == raw.model_bytes
    assert "2 on other data" in on_other_data.note


def test_comparable_runs_calibrate_with_their_median_ratio_and_spread() -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [64, 72, 80, 96]})
    runs = [measured(space, {"MODEL_DIM": d}, r) for d, r in ((64, 1.1), (72, 1.2), (96, 1.5))]
    prediction = Preflight(space, runs, data_fingerprint=DATA).predict({"MODEL_DIM": 80})
    raw = Preflight(space).predict({"MODEL_DIM": 80})
    assert prediction.basis == "calibrated from 3 runs of train_gpt.py (int8+zlib)" and not prediction.exact
    assert prediction.calibration_ratio == pytest.approx(1.2, rel=1e-3)
    assert prediction.model_bytes == pytest.approx(1.2 * raw.model_bytes, rel=1e-3)
    assert prediction.band == pytest.approx(1.5 / 1.2 - 1, rel=1e-3)  # the widest ratio's distance


@pytest.mark.parametrize(("differs", "why"), [
    ("data", "1 on other data"),
    ("format", "1 in another format"),
    ("size", "1 with parameter counts beyond 2x"),
])
def test_runs_that_differ_do_not_calibrate(differs: str, why: str) -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [64, 72]})
    if differs == "data":
        run = measured(space, {"MODEL_DIM": 72}, 1.5, data="other data")
    elif differs == "format":
        zstd = space.model_copy(update={"env": {**space.env, "COMPRESSOR": "zstd"}})
        run = measured(zstd, {"MODEL_DIM": 72}, 1.5)
    else:
        run = measured(space, {"MODEL_DIM": 160}, 1.5)
    prediction = Preflight(space, [run], data_fingerprint=DATA).predict({"MODEL_DIM": 64})
    assert prediction.basis == "trainer export" and prediction.calibration_ratio is None
    assert prediction.model_bytes == Preflight(space).predict({"MODEL_DIM": 64}).model_bytes
    assert why in prediction.note and "not calibrated by measured runs of train_gpt.py" in prediction.note
    assert measured(space, {"MODEL_DIM": 72}, 1.5).model_dump() != run.model_dump()  # a real difference


def test_without_a_data_fingerprint_nothing_corrects() -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [64, 72]})
    run = measured(space, {"MODEL_DIM": 72}, 1.5)
    prediction = Preflight(space, [run]).predict({"MODEL_DIM": 64})
    assert prediction.basis == "trainer export" and "1 on data not on this machine to compare" in prediction.note


def test_sweep_preflight_reads_every_sweep_under_the_root_and_caches_there(tmp_path: Path) -> None:
    space = tiny_space(MODEL_DIM={"type": "grid", "values": [64]})
    raw = Preflight(space).predict({"MODEL_DIM": 64})  # leaves the size in the in-memory cache
    write_sweep(tmp_path / "s" / "ledger.sqlite", space, [({"MODEL_DIM": 64}, 3 * raw.model_bytes)])
    prediction = sweep_preflight(space, tmp_path, DATA).predict({"MODEL_DIM": 64})
    assert prediction.basis == "measured" and prediction.model_bytes == 3 * raw.model_bytes
    assert len(list((tmp_path / PREFLIGHT_CACHE).glob("*.json"))) == 1  # written although memory had it


def demo_space_on(data_space: SearchSpace) -> SearchSpace:
    """The shipped demo space (tiny 2-layer int5 runs of our trainer), exported like the 33.6M space
    (best-of codec: the same format label), on the same data paths."""
    demo = load_space(REPO / "search_spaces/demo.yaml", base_dir=REPO)
    return demo.model_copy(update={"env": {**demo.env, "COMPRESSOR": "auto"}, "data_path": data_space.data_path,
                                   "tokenizer_path": data_space.tokenizer_path})


def verdicts(predictions: list[Prediction]) -> list[tuple[str, str]]:
    return [(p.config_id, p.verdict) for p in predictions]


@pytest.mark.slow  # sizes the four 33.6M configs once (~45 s of codec work on one core)
def test_tiny_demo_runs_never_calibrate_the_33m_space_but_33m_runs_do(tmp_path: Path) -> None:
    space = load_space(REPO / "search_spaces/int5_gptq_33m.yaml", base_dir=REPO)
    configs = [{"BIGRAM_VOCAB_SIZE": v} for v in (3072, 4096, 6144, 8192)]
    empty = [sweep_preflight(space, tmp_path / "empty", DATA).predict(c) for c in configs]
    assert {p.basis for p in empty} == {"prior"}

    demo = demo_space_on(space)
    demo_runs = [(p, round(1.33 * Preflight(demo).predict(p).model_bytes)) for p in demo.grid_points()]
    assert Preflight(demo).predict(demo_runs[0][0]).format_label == empty[0].format_label  # only the size differs
    write_sweep(tmp_path / "runs" / "demo" / "ledger.sqlite", demo, demo_runs)
    after_demo = [sweep_preflight(space, tmp_path / "runs", DATA).predict(c) for c in configs]
    assert verdicts(after_demo) == verdicts(empty)
    assert [p.model_bytes for p in after_demo] == [p.model_bytes for p in empty]
    assert all("with parameter counts beyond 2x" in p.note for p in after_demo)  # said, not silently used

    big_run = yaml.safe_load(space.to_yaml())  # a 33.6M run of the same space, measured at 1.02x its raw size
    big_space = parse_space(yaml.safe_dump({**big_run, "name": "big", "search": {"algorithm": "grid"}, "asha": None,
                                            "params": {"BIGRAM_VOCAB_SIZE": {"type": "grid", "values": [4096]}}}))
    raw = Preflight(big_space).raw_size(big_space.trial_env({"BIGRAM_VOCAB_SIZE": 4096}, 1))
    write_sweep(tmp_path / "runs" / "big" / "ledger.sqlite", big_space, [({"BIGRAM_VOCAB_SIZE": 4096},
                                                                          round(1.02 * raw.model_bytes))])
    calibrated = sweep_preflight(space, tmp_path / "runs", DATA).predict(configs[-1])
    assert calibrated.basis == f"calibrated from 1 runs of train_gpt.py ({empty[-1].format_label})"
    assert calibrated.calibration_ratio == pytest.approx(1.02, rel=1e-3)
