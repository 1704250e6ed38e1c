"""End to end: the tiny record stack trains on CPU, calibrates GPTQ, exports, re-scores its artifact with
score-first TTT and reports it; two processes under torchrun train exactly like one."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch

from tests.paths import TRAINER
from tests.trainer.tiny import STEP_TRAIN, STEP_VAL, TINY_CONFIG, Run, load_trainer, run_trainer, tiny_env

METRIC = re.compile(r"^(final\S*) val_loss:(\d+\.\d+) val_bpb:(\d+\.\d+) eval_time:(\d+)ms$")
SIZE = re.compile(r"^(Serialized model|Code size|Total submission size)(?: (\S+))?: (\d+) bytes$")
QAT_LINE = re.compile(r"^late_qat:enabled step:(\d+) scale:(\d+\.\d+)$")


def test_train_and_val_loss_fall(tiny_run: Run) -> None:
    train, val = tiny_run.losses(STEP_TRAIN), tiny_run.losses(STEP_VAL)
    assert list(train) == [*range(1, 11), 15, 20, 25, 30]
    assert list(val) == [0, 15, 30]  # step 0 (no priming steps before it) did not break training
    assert train[1] > 6.5  # about ln(1024) = 6.93 at initialization
    assert train[30] < train[1] - 1.0
    assert val[0] > val[15] > val[30]


def test_late_qat_switches_on_once_the_lr_scale_drops_below_the_threshold(tiny_run: Run) -> None:
    iterations, warmdown = int(TINY_CONFIG["ITERATIONS"]), int(TINY_CONFIG["WARMDOWN_ITERS"])
    first = next(s for s in range(iterations) if (iterations - s) / warmdown < 0.5)  # LATE_QAT_THRESHOLD
    switches = [m.groups() for line in tiny_run.stdout_lines if (m := QAT_LINE.match(line))]
    assert switches == [(str(first), f"{(iterations - first) / warmdown:.4f}")]
    assert "qat_layers:4" in next(line for line in tiny_run.stdout_lines if line.startswith("device:"))


def test_the_last_validation_scores_the_ema_weights(tiny_run: Run) -> None:
    lines = tiny_run.stdout_lines
    final_val = next(i for i, line in enumerate(lines) if line.startswith("step:30/30 val_loss"))
    assert lines[final_val - 1] == "ema:applying EMA weights"


def test_gptq_quantises_every_int5_layer_from_training_data(tiny_run: Run) -> None:
    tg = load_trainer()
    model = tg.build_model(tg.Hyperparameters.from_env(TINY_CONFIG), torch.device("cpu"))
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    int5 = [n for n, t in model.state_dict().items() if tg.storage_kind(n, t, "int5_gptq") == "int5"]
    assert len(int5) == 4  # fc and proj of both MLPs: every other matrix is small enough for fp16
    lines = tiny_run.stdout_lines
    quant = next(line for line in lines if line.startswith("quant:"))
    assert quant.startswith(f"quant:int5_gptq int5_gptq:{len(int5)} int5_rtn:0 pruned:0 ")
    calibrated = next(i for i, line in enumerate(lines) if line.startswith("gptq:calibrated"))
    assert lines[calibrated].startswith(f"gptq:calibrated {len(linears)} layers from training data batches:2 ")
    assert calibrated > next(i for i, line in enumerate(lines) if line.startswith("step:30/30 val_loss"))


def test_writes_artifact_log_and_summary_only_into_output_dir(tiny_run: Run) -> None:
    codec = tiny_run.summary["artifact_format"].removeprefix("int5_gptq+")
    assert codec in ("zstd", "lzma", "brotli", "rans")  # COMPRESSOR=auto: the smallest of the four
    names = {p.name for p in tiny_run.out_dir.iterdir()}
    assert names == {"tiny.txt", "summary.json", f"final_model.int5_gptq.{codec}.ptz"}
    assert list(tiny_run.cwd.iterdir()) == []
    assert tiny_run.stdout_lines[0] == f"output_dir:{tiny_run.out_dir}"


def test_score_lines_are_the_last_lines_of_stdout_and_log(tiny_run: Run) -> None:
    label = f"final_{tiny_run.summary['artifact_format'].replace('+', '_')}_ttt"
    log_lines = (tiny_run.out_dir / "tiny.txt").read_text().splitlines()
    for lines in (tiny_run.stdout_lines, log_lines):
        first, last = METRIC.match(lines[-2]), METRIC.match(lines[-1])
        assert first and last, lines[-2:]
        assert (first.group(1), last.group(1)) == (label, f"{label}_exact")
        assert float(first.group(3)) == pytest.approx(float(last.group(3)), abs=5e-5)


def test_summary_equals_the_final_line(tiny_run: Run) -> None:
    label, loss, bpb, eval_ms = METRIC.match(tiny_run.stdout_lines[-1]).groups()
    final = tiny_run.summary["final"]
    assert final["label"] == label
    assert f"{final['val_loss']:.8f}" == loss
    assert f"{final['val_bpb']:.8f}" == bpb
    assert f"{final['eval_time_ms']:.0f}" == eval_ms


def test_sizes_are_the_real_file_sizes(tiny_run: Run) -> None:
    summary = tiny_run.summary
    fmt = summary["artifact_format"]
    matches = [SIZE.match(line) for line in tiny_run.stdout_lines]
    sizes = {(m.group(1), m.group(2)): int(m.group(3)) for m in matches if m}
    artifact = Path(summary["artifact_path"])
    code_bytes = len(TRAINER.read_bytes())
    assert artifact.parent == tiny_run.out_dir
    assert sizes[("Code size", None)] == code_bytes
    assert sizes[("Serialized model", fmt)] == artifact.stat().st_size
    assert sizes[("Total submission size", fmt)] == artifact.stat().st_size + code_bytes
    assert (summary["code_bytes"], summary["model_bytes"]) == (code_bytes, artifact.stat().st_size)
    assert summary["artifact_bytes"] == artifact.stat().st_size + code_bytes
    budget = {"limit": 16_000_000, "value": summary["artifact_bytes"], "ok": True}
    assert summary["budgets"]["artifact_bytes"] == budget
    assert f"budget:artifact_bytes ok value:{summary['artifact_bytes']} limit:16000000" in tiny_run.stdout_lines


def test_project_log_parser_reads_the_summary_figures(tiny_run: Run) -> None:
    from sweeper.runlog import parse_log

    parsed, summary = parse_log(tiny_run.out_dir / "tiny.txt"), tiny_run.summary
    assert parsed.label == summary["final"]["label"]
    final = summary["final"]
    assert parsed.val_loss == float(f"{final['val_loss']:.8f}")
    assert parsed.val_bpb == float(f"{final['val_bpb']:.8f}")
    assert (parsed.artifact_bytes, parsed.model_bytes, parsed.code_bytes) == (
        summary["artifact_bytes"], summary["model_bytes"], summary["code_bytes"])
    assert (parsed.steps, parsed.val_tokens, parsed.seed, parsed.stopped_early) == (30, 8192, 1337, False)
    assert parsed.warnings == []


def test_summary_reports_run_figures_and_phase_times(tiny_run: Run) -> None:
    summary = tiny_run.summary
    assert summary["format_version"] == 1
    assert (summary["steps"], summary["world_size"], summary["device"]) == (30, 1, "cpu")
    assert summary["stopped_early"] is False
    assert summary["val_tokens"] == 8192
    assert summary["hyperparameters"]["num_layers"] == 2
    # Quantizing and adapting a trained model moves the loss a little, never to a different ballpark.
    assert summary["final"]["val_loss"] == pytest.approx(summary["pre_quant"]["val_loss"], abs=0.05)
    phases = {"startup", "compile_warmup", "training", "validation", "gptq_calibration", "quantization",
              "compression", "export", "ttt_eval", "total"}
    assert set(summary["timings_s"]) == phases
    assert all(seconds >= 0 for seconds in summary["timings_s"].values())
    assert summary["timings_s"]["total"] >= summary["timings_s"]["training"] + summary["timings_s"]["ttt_eval"]
    budgets = summary["budgets"]
    assert set(budgets) == {"artifact_bytes", "train_time_ms", "eval_time_ms"}
    assert budgets["train_time_ms"]["value"] == pytest.approx(
        summary["train_time_ms"] + 1000 * summary["timings_s"]["gptq_calibration"])  # calibration reads train data
    assert budgets["eval_time_ms"]["value"] == summary["final"]["eval_time_ms"]
    assert all(b["ok"] for b in budgets.values())


def test_log_dumps_every_hyperparameter_for_reproduction(tiny_run: Run) -> None:
    lines = (tiny_run.out_dir / "tiny.txt").read_text().splitlines()
    block = itertools.takewhile(lambda line: line.startswith("  "), lines[lines.index("hyperparameters:") + 1 :])
    dumped = dict(line[2:].split(": ", 1) for line in block)
    hyperparameters = tiny_run.summary["hyperparameters"]
    assert dumped.keys() == hyperparameters.keys()
    assert (dumped["model_dim"], dumped["quant"], dumped["ttt_enabled"]) == ("128", "int5_gptq", "True")


# Both runs see the same 8 micro-batches per step (one process: 8 in sequence; two: 4 each, the
# gradients averaged by DDP) and log the global-batch mean loss. Only the order of fp32 sums
# differs, which moves losses by ~1e-7 relative over a few steps; a wrong batch split, a missing
# gradient average or unsynchronized weights move them by 1e-3 or more.
REL_TOL = 1e-4


def test_two_processes_reproduce_single_process_losses(tiny_run: Run, demo_data, tmp_path: Path) -> None:
    # Full LR for 4 steps, as in steps 1-4 of the tiny run (whose warmdown starts at step 20). Two priming
    # steps first: they must leave no trace. RUN_ID and OUTPUT_DIR unset: rank 0 picks the id and every
    # rank must use its directory. The whole pipeline runs distributed (GPTQ, export, TTT over gloo).
    env = tiny_env(demo_data, "", RUN_ID="", ITERATIONS=4, WARMDOWN_ITERS=0, VAL_LOSS_EVERY=4,
                   WARMUP_STEPS=2, COMPRESSOR="zstd")
    proc = run_trainer(env, cwd=tmp_path, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [out_dir] = (tmp_path / "runs").iterdir()
    double = Run(stdout_lines=proc.stdout.splitlines(), out_dir=out_dir, cwd=tmp_path)
    assert double.stdout_lines[0] == f"output_dir:runs/{out_dir.name}"
    assert (out_dir / f"{out_dir.name}.txt").is_file()
    assert "world_size:2 grad_accum_steps:4" in double.stdout_lines
    assert "warmup_step:2/2" in double.stdout_lines
    single_train, double_train = tiny_run.losses(STEP_TRAIN), double.losses(STEP_TRAIN)
    first_steps = range(1, 5)
    expected = [single_train[s] for s in first_steps]
    assert [double_train[s] for s in first_steps] == pytest.approx(expected, rel=REL_TOL)
    assert double.losses(STEP_VAL)[0] == pytest.approx(tiny_run.losses(STEP_VAL)[0], rel=REL_TOL)
    assert double.summary["world_size"] == 2
    assert double.summary["final"]["label"] == "final_int5_gptq_zstd_ttt_exact"
