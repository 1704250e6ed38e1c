"""Small sweeps written through the Ledger API, with trial logs in the trainer's grammar (tests' helper)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.ledger import AttemptRow, Ledger, Stage, Status, SweepRow
from sweeper.sweepdir import SweepDir

SP1024_RATIO = 1.6885  # val_loss / val_bpb of the official sp1024 stream
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
SPACE_YAML = """name: {name}
data_path: data/demo
tokenizer_path: data/demo/tok.model
params:
  MATRIX_LR: {{type: choice, values: [0.02, 0.04, 0.08]}}
  NUM_LAYERS: {{type: choice, values: [2, 4]}}
seeds: [1, 2, 3]
"""


@dataclass
class Trial:
    """One attempt to write: its config, seed and outcome (`bpb` None means it failed)."""

    config_id: str
    seed: int
    params: dict[str, Any]
    bpb: float | None
    artifact_bytes: int = 9_000_000
    attempt_id: str = ""
    failure_reason: str | None = None
    status: Status | None = None
    write_log: bool = True
    stage: Stage = "screen"
    extra: dict[str, Any] = field(default_factory=dict)


def trial_log(trial: Trial, steps: int = 40) -> str:
    """A trainer-style log: train lines, val lines, sizes, and the final score lines when it finished."""
    offset = trial.seed * 0.01
    lines = [f"seed:{trial.seed}", "model_params:123456", "val_loader:shards pattern=val_* tokens:62021632"]
    for step in range(10, steps + 1, 10):
        lines.append(f"step:{step}/{steps} train_loss:{6.0 - step * 0.05 + offset:.4f} "
                     f"train_time:{step * 10}ms step_avg:10.00ms")
        if step % 20 == 0:
            lines.append(f"step:{step}/{steps} val_loss:{5.0 - step * 0.04:.4f} "
                         f"val_bpb:{3.0 - step * 0.02 + offset:.4f} train_time:{step * 10}ms step_avg:10.00ms")
    if trial.bpb is None:
        lines.append(f"Traceback (most recent call last):\nRuntimeError: boom {trial.failure_reason or ''}")
        return "\n".join(lines) + "\n"
    loss = trial.bpb * SP1024_RATIO
    lines += ["Code size: 50000 bytes", f"Total submission size int8+zlib: {trial.artifact_bytes} bytes",
              f"final_int8_zlib_roundtrip val_loss:{loss:.4f} val_bpb:{trial.bpb:.4f} eval_time:900ms",
              f"final_int8_zlib_roundtrip_exact val_loss:{loss:.8f} val_bpb:{trial.bpb:.8f} eval_time:900ms"]
    return "\n".join(lines) + "\n"


def write_sweep(root: Path, name: str, trials: list[Trial], created_at: float = 1_700_000_000.0) -> SweepDir:
    """A sweep directory with a ledger (sweep row + one row per trial) and the trials' logs."""
    sweep = SweepDir(root / name).create()
    sweep.space_yaml.write_text(SPACE_YAML.format(name=name) if SAFE_NAME.fullmatch(name) else "")
    script = sweep.path / "train_gpt.py"
    script.write_text("print('stand-in trainer')\n")
    script_sha = hashlib.sha256(script.read_bytes()).hexdigest()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name=name, created_at=created_at, space_yaml=sweep.space_yaml.read_text()))
        for i, trial in enumerate(trials):
            attempt_id = trial.attempt_id or f"{trial.config_id}-s{trial.seed}-{i}"
            finished = trial.bpb is not None
            if trial.write_log:
                sweep.trial_dir(attempt_id).mkdir(parents=True, exist_ok=True)
                sweep.trial_log(attempt_id).write_text(trial_log(trial))
            ledger.upsert_attempt(AttemptRow(
                attempt_id=attempt_id, sweep=name, config_id=trial.config_id, params=trial.params,
                seed=trial.seed, stage=trial.stage, status=trial.status or ("finished" if finished else "failed"),
                failure_reason=trial.failure_reason, val_bpb=trial.bpb,
                val_loss=None if trial.bpb is None else trial.bpb * SP1024_RATIO,
                log_path=f"trials/{attempt_id}/trial.log", script_path="train_gpt.py", script_sha256=script_sha,
                pre_quant_val_bpb=None if trial.bpb is None else trial.bpb - 0.01,
                artifact_bytes=trial.artifact_bytes if finished else None,
                train_time_ms=400.0 if finished else None, eval_time_ms=900.0 if finished else None,
                **trial.extra))
    return sweep


def three_config_sweep(root: Path, name: str = "demo", extra: list[Trial] | None = None) -> SweepDir:
    """Config A (3 seeds), B (3 seeds, one over the cap), C (1 seed finished, 1 failed), plus `extra`."""
    a = {"MATRIX_LR": 0.04, "NUM_LAYERS": 4}
    b = {"MATRIX_LR": 0.08, "NUM_LAYERS": 2}
    c = {"MATRIX_LR": 0.02, "NUM_LAYERS": 2}
    trials = [Trial("cfgA", s, a, 1.30 + s * 0.004) for s in (1, 2, 3)]
    trials += [Trial("cfgB", s, b, 1.33 + s * 0.003, artifact_bytes=16_200_000 if s == 2 else 12_000_000)
               for s in (1, 2, 3)]
    trials += [Trial("cfgC", 1, c, 1.40), Trial("cfgC", 2, c, None, failure_reason="nan loss at step 30")]
    return write_sweep(root, name, trials + (extra or []))


def hostile_trials() -> list[Trial]:
    """Ledger text that is hostile wherever a user string can appear: ids, param values, failure reasons."""
    params = {"MATRIX_LR": 0.06, "NUM_LAYERS": HOSTILE}
    trials = [Trial(HOSTILE, s, params, 1.35 + s * 0.01, attempt_id=f"<b>x{s}</b>") for s in (1, 2, 3)]
    trials.append(Trial("cfgD", 1, {"MATRIX_LR": 0.1, "NUM_LAYERS": 1}, None, failure_reason=HOSTILE))
    return trials
