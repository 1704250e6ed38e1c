"""One tiny record-stack training run per session, shared by every end-to-end trainer test."""

from __future__ import annotations

import pytest

from tests.trainer.tiny import Run, run_trainer, tiny_env


@pytest.fixture(scope="session")
def tiny_run(demo_data, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`python train_gpt.py` with the tiny config (tests/trainer/tiny.py) from an empty working directory."""
    root = tmp_path_factory.mktemp("tiny-run")
    cwd = root / "cwd"
    cwd.mkdir()
    proc = run_trainer(tiny_env(demo_data, root / "out"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Run(stdout_lines=proc.stdout.splitlines(), out_dir=root / "out", cwd=cwd)
