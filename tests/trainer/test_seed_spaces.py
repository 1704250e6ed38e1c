"""The seed-stack spaces (issue 11): preflight gives the parameter counts of the records they reproduce,
and each space's techniques, on the tiny CPU shapes, train, export, read the artifact back and score it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.preflight import Preflight, preflight_configs
from sweeper.space import SearchSpace, load_space
from tests.paths import REPO
from tests.trainer.tiny import TINY_CONFIG, Run, load_trainer, run_trainer, tiny_env

INT6 = "search_spaces/int6_mlp3x_qat.yaml"
TEMPERATURE = "search_spaces/int5_gptq_temperature.yaml"


def space(path: str) -> SearchSpace:
    return load_space(REPO / path, base_dir=REPO)


@pytest.mark.parametrize(("path", "params", "label"), [
    (INT6, 21_778_504, "int6+zstd"),  # PR #128: 9x512, GQA 8/4, MLP 1536, tied fp16 embedding
    (TEMPERATURE, 33_580_124, "int5_gptq+"),  # PR #545/#576's int5 GPTQ 33.6M
])
def test_preflight_gives_the_records_parameter_counts(path: str, params: int, label: str) -> None:
    seed_space = space(path)
    checker = Preflight(seed_space)
    predictions = [checker.predict(point) for point in preflight_configs(seed_space)]
    assert predictions and all(p.model_params == params and p.fits for p in predictions)
    assert all(p.format_label.startswith(label) for p in predictions)


def test_temperature_space_sweeps_only_the_in_pass_temperature() -> None:
    seed_space = space(TEMPERATURE)
    points = seed_space.grid_points()
    assert set(seed_space.params) == {"EVAL_TEMPERATURE", "EVAL_ADAPTIVE_TEMPERATURE"}
    assert len(points) == 8 and {p["EVAL_ADAPTIVE_TEMPERATURE"] for p in points} == {False, True}
    env = seed_space.config_env(points[0])
    assert (env["TTT_ENABLED"], env["QUANT"], env["EVAL_STRIDE"]) == ("1", "int5_gptq", "64")


def tiny_space_run(path: str, point: dict, data, root: Path, **extra: object) -> Run:
    """The space's technique settings on the tiny shapes: tiny.py's sizes and lengths win, except the
    space's off switches (a 0 such as BIGRAM_VOCAB_SIZE=0)."""
    env = space(path).config_env(point)
    technique = {k: v for k, v in env.items() if k not in TINY_CONFIG or v == "0"}
    cwd = root / "cwd"
    cwd.mkdir(parents=True)
    proc = run_trainer(tiny_env(data, root / "out", **{**technique, "ITERATIONS": 12, "WARMDOWN_ITERS": 6,
                                                          "VAL_LOSS_EVERY": 0, **extra}), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Run(stdout_lines=proc.stdout.splitlines(), out_dir=root / "out", cwd=cwd)


def test_int6_space_trains_exports_and_scores_its_artifact(demo_data, tmp_path: Path) -> None:
    run = tiny_space_run(INT6, {"MATRIX_LR": 0.02}, demo_data, tmp_path, ROPE_DIMS=32)  # full RoPE, head dim 32
    lines, summary = run.stdout_lines, run.summary
    assert "qat_layers:4" in next(line for line in lines if line.startswith("device:"))
    assert not any(line.startswith("late_qat:") for line in lines)  # on from step 0, never switched
    assert next(line for line in lines if line.startswith("quant:")).startswith(
        "quant:int6 int6_gptq:0 int6_rtn:4 pruned:0 codec:zstd ")
    assert summary["final"]["label"] == "final_int6_zstd_sliding_window_exact"
    assert lines[-1].startswith("final_int6_zstd_sliding_window_exact val_loss:")
    tg = load_trainer()
    stored = tg.deserialize_quantized(tg.CODECS["zstd"][2](Path(summary["artifact_path"]).read_bytes()))
    assert stored["tok_emb.weight"].kind == "fp16"  # FP16_EMBED=1
    mlp = [e for n, e in stored.items() if ".mlp." in n]
    assert len(mlp) == 4 and all(e.kind == "int6" and e.data.abs().max() <= 31 for e in mlp)
    assert any(e.data.abs().max() > 15 for e in mlp)  # the int6 grid, not int5's
    # the score is of the artifact read back; STE QAT kept it near the float model's
    assert summary["final"]["val_loss"] == pytest.approx(summary["pre_quant"]["val_loss"], abs=0.05)


def test_temperature_space_scores_once_with_the_adaptive_temperature(demo_data, tmp_path: Path) -> None:
    point = {"EVAL_TEMPERATURE": 0.98, "EVAL_ADAPTIVE_TEMPERATURE": True}
    run = tiny_space_run(TEMPERATURE, point, demo_data, tmp_path, COMPRESSOR="zstd")
    hp = run.summary["hyperparameters"]
    assert (hp["eval_temperature"], hp["eval_adaptive_temperature"], hp["quant"]) == (0.98, True, "int5_gptq")
    assert run.summary["final"]["label"] == "final_int5_gptq_zstd_ttt_exact"
    progress = [line for line in run.stdout_lines if line.startswith("  ttt_chunk [")]
    assert progress[0].startswith("  ttt_chunk [1/4]") and progress[-1].startswith("  ttt_chunk [4/4]")
    assert len([line for line in run.stdout_lines if line.startswith("final_")]) == 2  # one pass, one score
    assert run.summary["final"]["val_loss"] == pytest.approx(run.summary["pre_quant"]["val_loss"], abs=0.1)
