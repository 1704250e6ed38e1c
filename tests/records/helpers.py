"""Build records folders and sweep ledgers in tmp_path from real fixture log text, with edited numbers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.sweepdir import SweepDir
from tests.paths import FIXTURES

TEN_MIN = FIXTURES / "track_10min_16mb"
BASELINE = TEN_MIN / "2026-03-17_NaiveBaseline"
SEQ2048 = TEN_MIN / "2026-03-18_LongContextSeq2048"
SEQ2048_LOG = SEQ2048 / "train_seed1338.log"  # sp1024, seed 1338, val_bpb 1.20617460, 15,861,239 bytes
LEAKY_LOG = TEN_MIN / "2026-03-23_LeakyReLU_LegalTTT_ParallelMuon" / "train_seed1337.log"
SP1024_RATIO = 2.03657529 / 1.20617460


def edit_log(text: str, *, seed: int | None = None, val_bpb: float | None = None, artifact: int | None = None,
             train_ms: int | None = None, ratio: float = SP1024_RATIO) -> str:
    """A fixture log with its seed, final score, artifact bytes or training time replaced."""
    if seed is not None:
        text = re.sub(r"(?m)^seed:\d+", f"seed:{seed}", text)
    if val_bpb is not None:
        loss = val_bpb * ratio
        text = re.sub(r"(?m)^(final_\w+_exact) val_loss:\S+ val_bpb:\S+",
                      lambda m: f"{m.group(1)} val_loss:{loss:.8f} val_bpb:{val_bpb:.8f}", text)
        text = re.sub(r"(?m)^(final_\w+?(?<!_exact)) val_loss:\S+ val_bpb:\S+",
                      lambda m: f"{m.group(1)} val_loss:{loss:.4f} val_bpb:{val_bpb:.4f}", text)
    if artifact is not None:
        text = re.sub(r"(?m)^(Total submission size int8\+zlib): \d+ bytes", rf"\1: {artifact} bytes", text)
    if train_ms is not None:
        text = re.sub(r"(?m)^(stopping_early: wallclock_cap train_time:)\d+ms", rf"\g<1>{train_ms}ms", text)
    return text


def insert_after(text: str, anchor: str, lines: list[str]) -> str:
    """Insert lines after the first line starting with `anchor`."""
    out = []
    done = False
    for line in text.splitlines():
        out.append(line)
        if not done and line.startswith(anchor):
            out += lines
            done = True
    assert done, f"no line starts with {anchor!r}"
    return "\n".join(out) + "\n"


def records_folder(root: Path, logs: dict[str, str], submission: dict | str | None = None) -> Path:
    """A records folder with the given logs (name -> text) and submission.json (dict, raw text, or none)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in logs.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if submission is not None:
        raw = submission if isinstance(submission, str) else json.dumps(submission)
        (root / "submission.json").write_text(raw)
    return root


def copy_fixture(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target)
    for path in target.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    target.chmod(0o755)
    return target


SCRIPT_TEXT = "import os\nimport torch\nimport numpy as np\nprint('train', os.environ.get('SEED'))\n"
SPACE_YAML = """name: demo
data_path: data/demo
tokenizer_path: data/demo/tokenizer.model
env: {NUM_LAYERS: 9}
params:
  MATRIX_LR: {type: choice, values: [0.04, 0.05]}
seeds: [1337, 42, 2025]
"""


def sweep_with_config(root: Path, scores: dict[int, float], *, config_id: str = "cfg0000000a",
                      artifact: dict[int, int] | None = None, failed: tuple[int, ...] = (),
                      ratio: float = SP1024_RATIO, root_name: str = "demo") -> SweepDir:
    """A sweep directory whose ledger holds one config: a finished attempt per seed (fixture log text
    edited to the given val_bpb) plus failed attempts for `failed` seeds, and the script that ran."""
    sweep = SweepDir(root / root_name).create()
    script = sweep.path / "train_gpt.py"
    script.write_text(SCRIPT_TEXT)
    sha = hashlib.sha256(script.read_bytes()).hexdigest()
    base = SEQ2048_LOG.read_text()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name="demo", space_yaml=SPACE_YAML))
        for seed, bpb in scores.items():
            attempt = f"{config_id}-s{seed}"
            log = sweep.trial_log(attempt)
            log.parent.mkdir(parents=True)
            size = (artifact or {}).get(seed)
            log.write_text(edit_log(base, seed=seed, val_bpb=bpb, artifact=size, ratio=ratio))
            ledger.upsert_attempt(AttemptRow(
                attempt_id=attempt, sweep="demo", config_id=config_id, params={"MATRIX_LR": 0.04}, seed=seed,
                status="finished", val_bpb=bpb, val_loss=bpb * ratio, log_path=str(log.relative_to(sweep.path)),
                script_path=str(script), script_sha256=sha, data_fingerprint="demo-fp-1"))
        for seed in failed:
            ledger.upsert_attempt(AttemptRow(
                attempt_id=f"{config_id}-s{seed}", sweep="demo", config_id=config_id, params={"MATRIX_LR": 0.04},
                seed=seed, status="failed", failure_reason="NaN loss at step 120"))
    return sweep
