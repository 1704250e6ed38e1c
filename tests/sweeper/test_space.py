"""Search-space schema: valid spaces, one-line errors naming the key, config ids, sampling."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from sweeper.errors import SpaceError
from sweeper.space import SearchSpace, config_id, load_space, parse_space
from tests.paths import REPO

BASE = """\
name: unit
data_path: demo-data/datasets/demo
tokenizer_path: demo-data/tokenizers/demo.model
resources: {gpus: 8, cpus: 8}
env: {ITERATIONS: 200, VAL_LOSS_EVERY: 50}
params:
  MATRIX_LR: {type: grid, values: [0.02, 0.04]}
"""


def space_with(**overrides: object) -> str:
    """BASE with top-level keys replaced (None deletes the key)."""
    data = yaml.safe_load(BASE)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data)


MALFORMED = [
    ("unknown top-level key", space_with(sede=[1]), "sede: unknown key (did you mean 'seeds'?)"),
    ("unknown nested key", space_with(search={"algoritm": "grid"}), "search.algoritm: unknown key"),
    ("wrong type", space_with(search={"algorithm": "random", "samples": "many"}), "search.samples:"),
    ("empty choice", space_with(params={"X": {"type": "choice", "values": []}}), "params.X.values:"),
    ("low above high", space_with(params={"X": {"type": "int", "low": 8, "high": 2}}), "params.X: low (8)"),
    ("missing data path", space_with(data_path=None), "data_path: required key is missing"),
    ("negative limit", space_with(limits={"artifact_bytes": -5}), "limits.artifact_bytes:"),
    ("loguniform low <= 0", space_with(search={"algorithm": "random", "samples": 2},
                                       params={"LR": {"type": "loguniform", "low": 0, "high": 1}}),
     "params.LR.low:"),
    ("unknown algorithm", space_with(search={"algorithm": "bayes"}), "search.algorithm:"),
    ("asha on too few trials", space_with(asha={"grace_period": 10, "max_t": 100}), "asha: the screen stage has only 2"),
    ("asha grace above max_t", space_with(asha={"grace_period": 100, "max_t": 10}), "asha: grace_period (100)"),
    ("asha without validation", space_with(env={"VAL_LOSS_EVERY": 0}, search={"algorithm": "random", "samples": 8},
                                           params={"LR": {"type": "uniform", "low": 0.1, "high": 0.2}},
                                           asha={"grace_period": 10, "max_t": 100}), "env.VAL_LOSS_EVERY is 0"),
    ("duplicate seeds", space_with(seeds=[1337, 42, 1337]), "seeds: duplicate seed(s) [1337]"),
    ("nproc above gpus", space_with(nproc_per_node=8, resources={"gpus": 4}), "nproc_per_node: 8 processes"),
    ("bad yaml", BASE + "params: [unclosed\n", "invalid YAML at line"),
    ("top level list", "- name: x\n", "top level must be a mapping"),
    ("empty file", "", "got empty"),
    ("unknown param type", space_with(params={"X": {"type": "normal", "values": [1]}}), "params.X:"),
    ("wandb mode", space_with(wandb={"mode": "cloud"}), "wandb.mode:"),
    ("seed swept", space_with(params={"SEED": {"type": "grid", "values": [1, 2]}}), "params: SEED is reserved"),
    ("path in env", space_with(env={"DATA_PATH": "x"}), "env: DATA_PATH is reserved"),
    ("bad env name", space_with(env={"MY-VAR": 1}), "env: 'MY-VAR' is not an environment variable name"),
    ("fixed and swept", space_with(env={"MATRIX_LR": 0.1}), "params.MATRIX_LR: also fixed in env"),
    ("range under grid", space_with(params={"LR": {"type": "uniform", "low": 0.1, "high": 0.2}}),
     "params.LR: a uniform range cannot be enumerated"),
    ("grid under optuna", space_with(search={"algorithm": "optuna", "samples": 4}), "params.MATRIX_LR: Optuna"),
    ("samples missing", space_with(search={"algorithm": "random"}), "search.samples: required"),
    ("samples with grid", space_with(search={"algorithm": "grid", "samples": 3}), "search.samples: grid search"),
    ("bad name", space_with(name="../escape"), "name: '../escape' must be 1-80 letters"),
    ("empty seeds", space_with(seeds=[]), "seeds:"),
]


@pytest.mark.parametrize(("case", "text", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_space_gives_one_line_error_naming_the_key(case: str, text: str, expected: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_space(text, source="space.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("space.yaml: ")
    assert expected in message, message


def test_base_space_validates_with_defaults() -> None:
    space = parse_space(BASE)
    assert space.script == Path("trainer/train_gpt.py")
    assert space.seeds == [1337, 42, 2025]
    assert space.replicate_top_k == 2
    assert space.nproc == 8
    assert space.limits.artifact_bytes == 16_000_000
    assert space.wandb.mode is None  # decided when the sweep runs: online with an API key, else offline
    assert space.screen_size() == 2


def test_stored_space_leaves_an_unset_wandb_mode_unset() -> None:
    """A resumed sweep reads its space.yaml back: an unset mode must not come back as an explicit one."""
    assert parse_space(parse_space(BASE).to_yaml()).wandb.mode is None
    explicit = parse_space(space_with(wandb={"mode": "offline"}))
    assert parse_space(explicit.to_yaml()).wandb.mode == "offline"


SECRETS = [("env", "WANDB_API_KEY"), ("env", "HF_TOKEN"), ("env", "OPENAI_API_KEY"), ("env", "AWS_SECRET_ACCESS_KEY"),
           ("env", "DB_PASSWORD"), ("params", "GITHUB_TOKEN")]


@pytest.mark.parametrize(("section", "key"), SECRETS, ids=[k for _, k in SECRETS])
def test_secret_looking_key_is_rejected_without_echoing_its_value(section: str, key: str) -> None:
    value = "s3cr3t-value-0123456789"
    entry = {key: {"type": "grid", "values": [value]}} if section == "params" else {key: value}
    with pytest.raises(SpaceError) as info:
        parse_space(space_with(**{section: entry}), source="space.yaml")
    message = str(info.value)
    assert message.startswith(f"space.yaml: {section}: {key} looks like a secret: set it in the environment")
    assert "\n" not in message and value not in message


def test_hyperparameters_named_like_tokens_are_not_secrets() -> None:
    space = parse_space(space_with(env={"TRAIN_BATCH_TOKENS": 524288, "VAL_MAX_TOKENS": 4096, "ITERATIONS": 2}))
    assert space.env["TRAIN_BATCH_TOKENS"] == 524288


def test_nproc_defaults_to_one_on_cpu() -> None:
    assert parse_space(space_with(resources={"gpus": 0, "cpus": 1})).nproc == 1


def test_config_id_ignores_seed_and_paths_but_not_values() -> None:
    env = {"MATRIX_LR": "0.02", "NUM_LAYERS": "9"}
    same = config_id({**env, "SEED": "42", "DATA_PATH": "/elsewhere"})
    assert config_id(env) == same
    assert config_id(env) != config_id({**env, "MATRIX_LR": "0.04"})
    assert len(config_id(env)) == 12


def test_space_config_id_covers_fixed_env_and_yaml_typing() -> None:
    space = parse_space(BASE)
    other_env = parse_space(space_with(env={"ITERATIONS": 300, "VAL_LOSS_EVERY": 50}))
    assert space.config_id({"MATRIX_LR": 0.02}) != other_env.config_id({"MATRIX_LR": 0.02})
    assert space.config_id({"MATRIX_LR": 0.02}) == config_id({"ITERATIONS": "200", "VAL_LOSS_EVERY": "50",
                                                             "MATRIX_LR": "0.02"})


def test_config_env_rejects_unknown_param() -> None:
    with pytest.raises(SpaceError, match="params: NUM_HEADS is not a swept parameter"):
        parse_space(BASE).config_env({"NUM_HEADS": 4})


def test_trial_env_adds_seed_and_paths() -> None:
    env = parse_space(space_with(env={"FLAG": True})).trial_env({"MATRIX_LR": 0.04}, seed=42)
    assert env["SEED"] == "42"
    assert env["FLAG"] == "1"
    assert env["MATRIX_LR"] == "0.04"
    assert env["DATA_PATH"] == "demo-data/datasets/demo"


def test_grid_search_enumerates_choice_and_grid_axes() -> None:
    space = parse_space(space_with(params={"A": {"type": "grid", "values": [1, 2]},
                                           "B": {"type": "choice", "values": ["x", "y", "z"]}}))
    points = space.grid_points()
    assert len(points) == 6 and {"A": 2, "B": "z"} in points
    assert space.screen_size() == 6


def test_random_search_samples_inside_the_ranges() -> None:
    space = parse_space(space_with(search={"algorithm": "random", "samples": 5}, params={
        "LR": {"type": "loguniform", "low": 1e-3, "high": 1e-1},
        "WD": {"type": "uniform", "low": 0.0, "high": 0.1},
        "WARMDOWN_ITERS": {"type": "int", "low": 1000, "high": 4000, "step": 500},
        "DIM": {"type": "grid", "values": [256, 512]}}))
    rng = random.Random(0)
    draws = [space.sample(rng) for _ in range(200)]
    assert all(1e-3 <= d["LR"] <= 1e-1 and 0 <= d["WD"] <= 0.1 for d in draws)
    assert {d["WARMDOWN_ITERS"] for d in draws} == {1000, 1500, 2000, 2500, 3000, 3500, 4000}
    assert all("DIM" not in d for d in draws)
    assert space.screen_size() == 10


def test_corner_points_cover_range_ends() -> None:
    space = parse_space(space_with(search={"algorithm": "random", "samples": 3}, params={
        "MODEL_DIM": {"type": "int", "low": 256, "high": 700, "step": 128},
        "NUM_LAYERS": {"type": "choice", "values": [9, 11]}}))
    corners = space.corner_points()
    assert {(c["MODEL_DIM"], c["NUM_LAYERS"]) for c in corners} == {(256, 9), (256, 11), (640, 9), (640, 11)}


def test_yaml_round_trip_keeps_the_space() -> None:
    space = parse_space(BASE)
    assert parse_space(space.to_yaml()) == space


def test_load_space_resolves_paths_and_falls_back_to_our_trainer(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    space = load_space(path, base_dir=tmp_path)
    assert space.data_path == tmp_path / "demo-data/datasets/demo"
    assert space.script == REPO / "trainer/train_gpt.py"


def test_load_space_names_a_missing_script(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(space_with(script="nowhere/train_gpt.py"))
    with pytest.raises(SpaceError, match=r"script: .*nowhere/train_gpt.py does not exist"):
        load_space(path, base_dir=tmp_path)


def test_load_space_names_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="missing.yaml: cannot read space file"):
        load_space(tmp_path / "missing.yaml")


def test_check_paths_names_missing_data(tmp_path: Path) -> None:
    space = parse_space(BASE).resolved(tmp_path).model_copy(update={"script": Path(__file__)})
    with pytest.raises(SpaceError, match="data_path: .* does not exist"):
        space.check_paths()


def test_every_shipped_space_loads() -> None:
    paths = sorted((REPO / "search_spaces").glob("*.yaml"))
    assert {p.name for p in paths} >= {"demo.yaml", "baseline_9l.yaml", "int5_gptq_33m.yaml"}
    for path in paths:
        space = load_space(path, base_dir=REPO)
        assert isinstance(space, SearchSpace) and space.screen_size() >= 1
        assert path.read_text().startswith("#"), f"{path.name} must open with a comment on its intent"
