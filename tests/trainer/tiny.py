"""A tiny CPU configuration of trainer/train_gpt.py and helpers to import or run it in tests.

`tiny_env` is the record stack shrunk to 2 layers of d=128 on the demo dataset, with every record
default left on (int5 GPTQ inside the training budget, best-of codec, sliding window, score-first TTT,
EMA, late QAT). MLP_MULT=4.5 makes the two MLP matrices per block (576 x 128 = 73,728 > 65,536
elements) large enough to be exported as int5, so GPTQ and late QAT have layers to work on.
MAX_WALLCLOCK_SECONDS=0 makes the LR schedule depend on steps only (full LR until step 20), so runs of
the same env train identically. WARMUP_STEPS=0 with VAL_LOSS_EVERY>0: the step-0 validation is the
model's first forward pass (a regression check: it once left inference tensors that broke training).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.paths import TRAINER

TINY_CONFIG = {
    "NUM_LAYERS": "2",
    "MODEL_DIM": "128",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "MLP_MULT": "4.5",
    "BIGRAM_VOCAB_SIZE": "1024",  # a 1024 x 32 BigramHash table and 32-wide value embeddings
    "BIGRAM_DIM": "32",
    "VE_DIM": "32",
    "TRAIN_SEQ_LEN": "128",
    "TRAIN_BATCH_TOKENS": "2048",
    "ITERATIONS": "30",
    "WARMUP_STEPS": "0",
    "WARMDOWN_ITERS": "10",
    "MAX_WALLCLOCK_SECONDS": "0",
    "VAL_LOSS_EVERY": "15",
    "TRAIN_LOG_EVERY": "5",
    "VAL_MAX_TOKENS": "8192",
    "VAL_BATCH_SIZE": "8192",
    "GPTQ_CALIB_BATCHES": "2",
    "TTT_CHUNK_TOKENS": "2048",  # 4 chunks of the 8,192 validation targets: TTT trains 3 times
    "DEVICE": "cpu",
    "COMPILE": "0",
}
# The official baseline (2026-03-17_NaiveBaseline) from the record defaults, by env alone.
BASELINE_ENV = {"NUM_LAYERS": "9", "NUM_KV_HEADS": "4", "MLP_MULT": "2", "ROPE_BASE": "10000", "ROPE_DIMS": "64",
                "LN_SCALE": "0", "XSA_LAST_N": "0", "BIGRAM_VOCAB_SIZE": "0", "SMEAR_GATE": "0", "VE_DIM": "0",
                "MLP_NEGATIVE_SLOPE": "0", "ORTHO_INIT": "0", "LATE_QAT_THRESHOLD": "0", "QUANT": "int8",
                "COMPRESSOR": "zlib", "EVAL_STRIDE": "0", "TTT_ENABLED": "0"}
# torchrun's variables: a stray one would make a single-process run try to join a process group.
_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
STEP_TRAIN = re.compile(r"^step:(\d+)/(\d+) train_loss:(\d+\.\d+) train_time:(\d+)ms step_avg:([\d.]+)ms$")
STEP_VAL = re.compile(r"^step:(\d+)/(\d+) val_loss:(\d+\.\d+) val_bpb:(\d+\.\d+) train_time:(\d+)ms")


def tiny_env(data: Any, out_dir: Path | str, **overrides: object) -> dict[str, str]:
    """Trainer variables for the tiny config on `data` (a DemoDataset), writing into out_dir.

    Overrides use the env names: `tiny_env(data, out, ITERATIONS=4)`. Only trainer variables
    (plus OMP_NUM_THREADS=1) are returned; `run_trainer` merges them into a clean environment.
    """
    env = {
        "DATA_PATH": str(data.data_dir),
        "TOKENIZER_PATH": str(data.tokenizer_path),
        "RUN_ID": "tiny",
        "OUTPUT_DIR": str(out_dir),
        "OMP_NUM_THREADS": "1",
        **TINY_CONFIG,
    }
    env.update({name: str(value) for name, value in overrides.items()})
    return env


@functools.cache
def load_trainer() -> ModuleType:
    """train_gpt.py imported by path (it is not a package module); importing has no side effects."""
    spec = importlib.util.spec_from_file_location("pgolf_train_gpt", TRAINER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def run_trainer(env: dict[str, str], *, cwd: Path, nproc: int = 1, timeout: float = 300,
                script: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the trainer (or another version of it, `script`) with `env` on top of this process's
    environment minus every trainer and launcher variable; nproc > 1 launches it under torchrun (gloo on CPU)."""
    script = script or TRAINER  # read at call time: a test may point TRAINER at a packed stub
    trainer_vars = {f.name.upper() for f in dataclasses.fields(load_trainer().Hyperparameters)}
    base = {k: v for k, v in os.environ.items() if k not in trainer_vars and k not in _LAUNCHER_VARS}
    if nproc == 1:
        cmd = [sys.executable, str(script)]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", str(script)]
    return subprocess.run(cmd, env={**base, **env}, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


@dataclass(frozen=True)
class Run:
    """A finished trainer run: its stdout lines, output directory and working directory."""

    stdout_lines: list[str]
    out_dir: Path
    cwd: Path

    def losses(self, pattern: re.Pattern[str]) -> dict[int, float]:
        matches = [pattern.match(line) for line in self.stdout_lines]
        return {int(m.group(1)): float(m.group(3)) for m in matches if m}

    @property
    def summary(self) -> dict:
        return json.loads((self.out_dir / "summary.json").read_text())
