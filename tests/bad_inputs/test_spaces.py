"""Bad search-space files given to `pgolf preflight` / `pgolf sweep`, and a bad stored space on resume."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sweeper.ledger import Ledger, SweepRow
from tests.bad_inputs.harness import Case, run_case
from tests.paths import TRAINER

GOOD = f"""name: s1
script: {TRAINER}
data_path: data/demo
tokenizer_path: data/demo/tokenizer.model
env: {{NUM_LAYERS: 2}}
params:
  MATRIX_LR: {{type: choice, values: [0.04, 0.05]}}
seeds: [1337, 42]
"""


def space(text: str | bytes, command: str = "preflight") -> callable:
    def build(tmp: Path) -> list[str]:
        path = tmp / "space.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return [command, "space.yaml"] + (["--out", "runs"] if command == "sweep" else [])
    return build


def edited(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


CASES = [
    Case("latin1-bytes", space(GOOD.replace("s1", "s\xe9").encode("latin-1")),
         ("space.yaml", "not UTF-8 text (byte 0xe9")),
    Case("binary-nul", space(b"\x00\x01\x02PK\x03\x04" * 50), ("space.yaml", "a binary file")),
    Case("utf16-bom", space(GOOD.encode("utf-16")), ("space.yaml", "binary file")),
    Case("empty-file", space(""), ("space.yaml", "top level must be a mapping", "got empty")),
    Case("top-level-list", space("- a\n- b\n"), ("space.yaml", "got list")),
    Case("top-level-scalar", space("hello\n"), ("space.yaml", "got str")),
    Case("duplicate-top-key", space(GOOD + "seeds: [1]\n"),
         ("space.yaml", "duplicate key 'seeds' (first given at line 8)", "line 9")),
    Case("duplicate-param-key", space(edited("  MATRIX_LR: {type: choice, values: [0.04, 0.05]}\n",
                                             "  MATRIX_LR: {type: choice, values: [0.04]}\n"
                                             "  MATRIX_LR: {type: choice, values: [0.05]}\n")),
         ("space.yaml", "duplicate key 'MATRIX_LR'", "line 8")),
    Case("duplicate-flow-key", space(edited("{NUM_LAYERS: 2}", "{NUM_LAYERS: 2, NUM_LAYERS: 3}")),
         ("space.yaml", "duplicate key 'NUM_LAYERS'", "line 5")),
    Case("unclosed-bracket", space(edited("[1337, 42]", "[1337, 42")), ("space.yaml", "invalid YAML at line")),
    Case("tab-indent", space(edited("  MATRIX_LR", "\tMATRIX_LR")), ("space.yaml", "invalid YAML")),
    Case("deep-nesting", space("name: " + "[" * 50_000 + "]" * 50_000 + "\n"), ("space.yaml", "nested too deeply")),
    Case("oversized", space(GOOD + "# " + "x" * 1_100_000 + "\n"), ("space.yaml", "is not a search space")),
    Case("unknown-key", space(GOOD + "seed: [1]\n"), ("space.yaml", "seed: unknown key", "did you mean 'seeds'")),
    Case("missing-name", space(edited("name: s1\n", "")), ("space.yaml", "name: required key is missing")),
    Case("bad-name", space(edited("name: s1", "name: ../../x")), ("space.yaml", "name:", "names the sweep directory")),
    Case("bad-param-type", space(edited("type: choice", "type: normal")), ("space.yaml", "params.MATRIX_LR")),
    Case("empty-choice", space(edited("values: [0.04, 0.05]", "values: []")), ("space.yaml", "params.MATRIX_LR")),
    Case("uniform-reversed", space(edited("{type: choice, values: [0.04, 0.05]}", "{type: uniform, low: 1, high: 0}")),
         ("space.yaml", "low (1.0) must be below high (0.0)")),
    Case("duplicate-seeds", space(edited("[1337, 42]", "[42, 42]")), ("space.yaml", "seeds", "duplicate seed(s) [42]")),
    Case("no-seeds", space(edited("[1337, 42]", "[]")), ("space.yaml", "seeds")),
    Case("seed-not-int", space(edited("[1337, 42]", "[1337, forty]")), ("space.yaml", "seeds.1")),
    Case("secret-in-env", space(edited("{NUM_LAYERS: 2}", "{WANDB_API_KEY: abc}")),
         ("space.yaml", "WANDB_API_KEY looks like a secret")),
    Case("reserved-env", space(edited("{NUM_LAYERS: 2}", "{SEED: 3}")), ("space.yaml", "SEED is reserved")),
    Case("bad-env-name", space(edited("{NUM_LAYERS: 2}", "{'1X': 3}")), ("space.yaml", "is not an environment variable")),
    Case("negative-gpus", space(GOOD + "resources: {gpus: -1}\n"), ("space.yaml", "resources.gpus")),
    Case("zero-nproc", space(GOOD + "nproc_per_node: 0\n"), ("space.yaml", "nproc_per_node")),
    Case("negative-limit", space(GOOD + "limits: {artifact_bytes: -5}\n"), ("space.yaml", "limits.artifact_bytes")),
    Case("asha-grace-over-max", space(GOOD + "asha: {grace_period: 10, max_t: 5}\n"),
         ("space.yaml", "grace_period (10) must be below max_t (5)")),
    Case("zero-samples", space(GOOD + "search: {algorithm: random, samples: 0}\n"), ("space.yaml", "search.samples")),
    Case("missing-script", space(edited(str(TRAINER), "no/such/train_gpt.py")),
         ("space.yaml", "script:", "does not exist")),
    Case("space-is-a-directory", lambda tmp: ["preflight", (tmp / "d.yaml").mkdir() or "d.yaml"],
         ("d.yaml", "not a regular file")),
    Case("space-missing", lambda tmp: ["preflight", "nope.yaml"], ("nope.yaml", "No such file")),
    Case("sweep-latin1", space(GOOD.replace("s1", "s\xe9").encode("latin-1"), "sweep"), ("space.yaml", "not UTF-8")),
    Case("sweep-duplicate-key", space(GOOD + "name: s2\n", "sweep"), ("space.yaml", "duplicate key 'name'")),
]


def stored(content: bytes) -> callable:
    """A sweep `s1` under ./runs whose stored space.yaml holds `content`; resume it."""
    def build(tmp: Path) -> list[str]:
        (tmp / "space.yaml").write_text(GOOD)
        sweep = tmp / "runs" / "s1"
        sweep.mkdir(parents=True)
        with Ledger(sweep / "ledger.sqlite") as ledger:
            ledger.add_sweep(SweepRow(name="s1", space_yaml=GOOD))
        (sweep / "space.yaml").write_bytes(content)
        return ["sweep", "space.yaml", "--resume", "--out", "runs"]
    return build


CASES += [
    Case("resume-stored-binary", stored(b"\x89PNG\r\n\x1a\n\x00\x00"), ("runs/s1/space.yaml", "a binary file")),
    Case("resume-stored-latin1", stored(GOOD.replace("s1", "s\xe9").encode("latin-1")),
         ("runs/s1/space.yaml", "not UTF-8")),
    Case("resume-stored-duplicate", stored((GOOD + "seeds: [3]\n").encode()),
         ("runs/s1/space.yaml", "duplicate key 'seeds'")),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_space(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)


def test_the_stored_space_cases_really_reach_the_stored_file(tmp_path: Path) -> None:
    """Guard for the resume cases: the ledger they build is a valid one (the error is the stored space)."""
    stored(b"x")(tmp_path)
    db = sqlite3.connect(tmp_path / "runs" / "s1" / "ledger.sqlite")
    assert db.execute("SELECT name FROM sweeps").fetchall() == [("s1",)]
