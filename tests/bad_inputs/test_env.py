"""Bad environment values: the trainer's (`Hyperparameters.from_env`, and the script run as a user
runs it) and the sweeper's (`PGOLF_HOME`). One line naming the variable, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs.harness import TRACEBACK_SHAPE, Case, run_case, snapshot
from tests.trainer.tiny import load_trainer, run_trainer, tiny_env

TRAINER_ENV_CASES = [
    ({"NUM_LAYERS": "abc"}, "NUM_LAYERS must be an integer, got 'abc'"),
    ({"NUM_LAYERS": "2.5"}, "NUM_LAYERS must be an integer"),
    ({"NUM_LAYERS": "0"}, "NUM_LAYERS"),
    ({"NUM_LAYERS": "-3"}, "NUM_LAYERS"),
    ({"MODEL_DIM": ""}, "MODEL_DIM must be an integer"),
    ({"MLP_MULT": "nan"}, "MLP_MULT must be finite"),
    ({"MATRIX_LR": "inf"}, "MATRIX_LR must be finite"),
    ({"MAX_WALLCLOCK_SECONDS": "ten"}, "MAX_WALLCLOCK_SECONDS must be a number"),
    ({"TIE_EMBEDDINGS": "yes"}, "TIE_EMBEDDINGS must be 0 or 1, got 'yes'"),
    ({"TTT_ENABLED": "2"}, "TTT_ENABLED must be 0 or 1"),
    ({"QUANT": "int3"}, "QUANT"),
    ({"COMPRESSOR": "rar"}, "COMPRESSOR"),
    ({"DEVICE": "tpu"}, "DEVICE"),
    ({"MODEL_DIM": "100", "NUM_HEADS": "8"}, "MODEL_DIM=100 must be divisible by NUM_HEADS=8"),
    ({"NUM_HEADS": "8", "NUM_KV_HEADS": "3"}, "NUM_HEADS=8 must be a multiple of NUM_KV_HEADS=3"),
    ({"TRAIN_BATCH_TOKENS": "1000"}, "TRAIN_BATCH_TOKENS=1000 must be a multiple of 8*TRAIN_SEQ_LEN"),
    ({"EVAL_STRIDE": "4096"}, "EVAL_STRIDE"),
    ({"VE_LAYERS": "a,b"}, "VE_LAYERS must be comma-separated layer indices, got 'a,b'"),
    ({"VE_LAYERS": "99"}, "VE_LAYERS='99' names a layer outside"),
    ({"TOKENIZER_PATH": "tok.vocab"}, "TOKENIZER_PATH='tok.vocab' must be a SentencePiece .model file"),
    ({"ROPE_DIMS": "3"}, "ROPE_DIMS=3 must be even"),
]


@pytest.mark.parametrize(("env", "expected"), TRAINER_ENV_CASES, ids=[",".join(e) + f"-{i}"
                                                                     for i, (e, _) in enumerate(TRAINER_ENV_CASES)])
def test_bad_trainer_env_value_is_one_line_naming_the_variable(env: dict[str, str], expected: str) -> None:
    trainer = load_trainer()
    with pytest.raises(ValueError) as excinfo:
        trainer.Hyperparameters.from_env(env)
    message = str(excinfo.value)
    assert expected in message and "\n" not in message
    assert isinstance(excinfo.value, trainer.ConfigError)


@pytest.mark.parametrize("case", ["output-dir-is-a-file", "output-dir-under-a-file", "bad-integer"])
def test_the_trainer_script_refuses_a_bad_env_in_one_line_and_writes_nothing(
        case: str, demo_data: object, tmp_path: Path) -> None:
    """Run as a user runs it (a real process): exit 1, one `config error` line, no file touched."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should go\n")
    out, expected = {
        "output-dir-is-a-file": (blocker, f"OUTPUT_DIR='{blocker}' cannot be created: a file is in the way"),
        "output-dir-under-a-file": (blocker / "sub", f"OUTPUT_DIR='{blocker / 'sub'}' cannot be created: a file is in the way"),
        "bad-integer": (tmp_path / "out", "NUM_LAYERS must be an integer, got 'two'"),
    }[case]
    env = tiny_env(demo_data, out, **({"NUM_LAYERS": "two"} if case == "bad-integer" else {}))
    before = snapshot(tmp_path)
    proc = run_trainer(env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1 and not TRACEBACK_SHAPE.search(proc.stdout + proc.stderr), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_gpt.py: config error: ") and expected in lines[0], lines
    assert snapshot(tmp_path) == before


def home(kind: str) -> callable:
    def build(tmp: Path) -> list[str]:
        if kind == "file":
            (tmp / "home").write_text("not a folder\n")
        elif kind == "empty":
            (tmp / "home").mkdir()
        return ["candidates"] if kind != "dashboard" else ["dashboard", "--html", "d.html"]
    return build


SWEEP_ENV_CASES = [
    Case("pgolf-home-is-a-file", home("file"), ("no sweeps under home",), env={"PGOLF_HOME": "home"}),
    Case("pgolf-home-missing", home("missing"), ("no sweeps under home",), env={"PGOLF_HOME": "home"}),
    Case("pgolf-home-empty", home("empty"), ("no sweeps under home",), env={"PGOLF_HOME": "home"}),
    Case("pgolf-home-dashboard", home("dashboard"), ("no sweeps under nowhere",), env={"PGOLF_HOME": "nowhere"}),
]


@pytest.mark.parametrize("case", [c.param() for c in SWEEP_ENV_CASES])
def test_bad_sweep_env(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)
