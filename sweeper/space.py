"""Search-space YAML schema (pydantic), config ids, and the views the driver and preflight use.

A space says which `train_gpt.py` to run, on which data, with which fixed env, which env
variables to sweep, the seeds, the search algorithm and the limits a record must respect. Every
Parameter Golf script is configured by env vars, so a "config" is just an env mapping: the fixed
`env` plus one value per swept parameter. Seeds are a separate axis: screen every config on
`seeds[0]`, then re-run the best `replicate_top_k` configs on the remaining seeds (or, with
`replicate: sequential`, one seed at a time against `sota`, up to `max_seeds`). The swept
parameter types live in `space_params`, the error messages in `space_errors`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sweeper.errors import SpaceError
from sweeper.secrets import is_secret_name, secret_shape
from sweeper.space_errors import space_problems
from sweeper.space_params import (
    ChoiceParam,
    GridParam,
    IntParam,
    LogUniformParam,
    Param,
    Scalar,
    StrictModel,
    UniformParam,
    axis_ends,
    draw,
    is_enumerated,
)
from sweeper.space_yaml import load_yaml, read_space_text
from sweeper.sweepdir import sweep_name_problem
from sweeper.wandb_env import Mode

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCRIPT = "trainer/train_gpt.py"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TRIALS = 10_000  # default bound on the trials one stage plans (search.max_trials)
# Set by the sweeper or torchrun for every trial; a space may neither fix nor sweep them.
RESERVED_ENV = frozenset({
    "SEED", "RUN_ID", "OUTPUT_DIR", "SUMMARY_PATH", "DATA_PATH", "TOKENIZER_PATH",
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
    "CUDA_VISIBLE_DEVICES",
})
# What a sweep does with preflight's verdicts (sweeper.preflight): skip configs surely over the byte
# limit and warn on uncertain ones, warn only, or predict nothing.
PreflightMode = Literal["skip", "warn", "off"]


class Resources(StrictModel):
    """One trial = one placement bundle on one node (Ray then exposes exactly these GPUs)."""

    gpus: int = Field(default=8, ge=0)
    cpus: int = Field(default=8, ge=1)


class Search(StrictModel):
    """How configs are chosen for the screen stage."""

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    samples: int | None = Field(default=None, ge=1, description="random/optuna draws (random: per grid point)")
    max_concurrent: int = Field(default=1, ge=1)
    seed: int = 0
    max_trials: int = Field(default=MAX_TRIALS, ge=1, le=1_000_000, description="trials one stage may plan")

    @property
    def draws(self) -> int:
        """Configs drawn per grid point: `samples` for random/Optuna (required there), 1 for grid."""
        return 1 if self.samples is None else self.samples


class Asha(StrictModel):
    """ASHA early stopping on the in-training val_bpb, screen stage only (seeds never compete).

    The driver must build it with `stop_last_trials=False`, otherwise the trials still running at
    `max_t` are stopped before their final (post-quant) score line.
    """

    time_attr: Literal["step", "training_iteration"] = "step"
    grace_period: int = Field(ge=1)
    max_t: int = Field(ge=1)
    reduction_factor: float = Field(default=3.0, gt=1)

    @model_validator(mode="after")
    def _grace_below_max(self) -> Asha:
        if self.grace_period >= self.max_t:
            raise ValueError(f"grace_period ({self.grace_period}) must be below max_t ({self.max_t})")
        return self


class Limits(StrictModel):
    """The Parameter Golf budgets (decimal bytes, seconds) plus the per-trial wall-clock timeout."""

    artifact_bytes: int = Field(default=16_000_000, gt=0)
    train_s: float = Field(default=600.0, gt=0)
    train_tolerance_s: float = Field(default=1.0, ge=0, description="the wallclock cap overshoots ~40 ms")
    eval_s: float = Field(default=600.0, gt=0)
    trial_timeout_s: float = Field(default=2400.0, gt=0)


class Wandb(StrictModel):
    """Where runs go. `mode` None: online when an API key is available, else offline
    (`sweeper.wandb_env.resolve_mode`); an explicit mode wins, `WANDB_MODE` in the environment over all."""

    project: str = Field(default="pgolf", min_length=1)
    entity: str | None = None
    mode: Mode | None = None


class SearchSpace(StrictModel):
    """One study: what to run, what to sweep, how to search it, and which budgets apply."""

    name: str
    script: Path = Path(DEFAULT_SCRIPT)
    data_path: Path
    tokenizer_path: Path
    nproc_per_node: int | None = Field(default=None, ge=1, description="default: resources.gpus, or 1 on CPU")
    resources: Resources = Resources()
    env: dict[str, Scalar] = Field(default_factory=dict)
    params: dict[str, Param] = Field(default_factory=dict)
    seeds: list[int] = Field(default=[1337, 42, 2025], min_length=1)
    replicate_top_k: int = Field(default=2, ge=0)
    replicate: Literal["fixed", "sequential"] = "fixed"  # sequential: one seed at a time (sweeper.seeds)
    max_seeds: int = Field(default=8, ge=3, le=64, description="sequential replicate: seeds per config at most")
    sota: str | None = Field(default=None, description="record to beat: a records folder, 2.0727 (nats), 1.2244bpb")
    policy: Literal["readme", "frontier"] = "readme"
    search: Search = Search()
    asha: Asha | None = None
    limits: Limits = Limits()
    preflight: PreflightMode = "skip"
    wandb: Wandb = Wandb()
    secrets_allow: list[str] = Field(default_factory=list, description="env names that only look secret")
    cost_per_gpu_hour: float | None = Field(default=None, ge=0, description="shown beside GPU-hours")

    @field_validator("name")
    @classmethod
    def _directory_name(cls, name: str) -> str:
        problem = sweep_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @field_validator("env", "params")
    @classmethod
    def _env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key in RESERVED_ENV:
                hint = "use `seeds:`" if key == "SEED" else "the sweeper sets it for every trial"
                raise ValueError(f"{key} is reserved ({hint})")
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        duplicates = sorted(s for s, n in Counter(seeds).items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate seed(s) {duplicates}")
        return seeds

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpace:
        _check_secrets(self)
        _check(self)
        _check_plan_size(self)
        return self

    # -- derived views -------------------------------------------------------------------------
    @property
    def nproc(self) -> int:
        return self.nproc_per_node or max(self.resources.gpus, 1)

    def _grid_axes(self) -> dict[str, list[Scalar]]:
        return {k: p.values for k, p in self.params.items()
                if isinstance(p, (ChoiceParam, GridParam)) and is_enumerated(p, self.search.algorithm)}

    def grid_points(self) -> list[dict[str, Scalar]]:
        """The enumerated axes: grid params (and, for grid search, choice params), cross product."""
        return _cross(self._grid_axes())

    def screen_size(self) -> int:
        """How many configs the screen stage runs (before any preflight skips); counted, not listed."""
        points = math.prod(len(values) for values in self._grid_axes().values())
        if self.search.algorithm == "grid":
            return points
        return self.search.draws * (points if self.search.algorithm == "random" else 1)

    def sample(self, rng: random.Random) -> dict[str, Scalar]:
        """One random draw of the non-enumerated params (the random-search distribution)."""
        return {k: draw(p, rng) for k, p in self.params.items() if not is_enumerated(p, self.search.algorithm)}

    def corner_points(self, keys: Collection[str] | None = None) -> list[dict[str, Scalar]]:
        """Every enumerable value and both ends of every range (of the params in `keys`, default all):
        what preflight checks up front."""
        return _cross({k: axis_ends(p) for k, p in self.params.items() if keys is None or k in keys})

    def config_values(self, params: Mapping[str, Scalar]) -> dict[str, Scalar]:
        """The fixed env plus one config's swept values, with their YAML types (W&B's config)."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise SpaceError(f"params: {unknown[0]} is not a swept parameter of space {self.name!r}")
        return {**self.env, **params}

    def config_env(self, params: Mapping[str, Scalar]) -> dict[str, str]:
        """`config_values` as the strings the trainer will see."""
        return {k: env_str(v) for k, v in self.config_values(params).items()}

    def config_id(self, params: Mapping[str, Scalar]) -> str:
        return config_id(self.config_env(params))

    def trial_env(self, params: Mapping[str, Scalar], seed: int) -> dict[str, str]:
        """Everything a trial sets besides RUN_ID/OUTPUT_DIR (which belong to the launcher)."""
        return {**self.config_env(params), "SEED": str(seed),
                "DATA_PATH": str(self.data_path), "TOKENIZER_PATH": str(self.tokenizer_path)}

    def resolved(self, base_dir: Path) -> SearchSpace:
        """Relative paths made absolute against `base_dir`; the default script falls back to ours."""
        script = _absolute(self.script, base_dir)
        if not script.exists() and self.script == Path(DEFAULT_SCRIPT):
            script = REPO_ROOT / DEFAULT_SCRIPT
        sota = self.sota if self.sota is None or not (base_dir / self.sota).is_dir() else str(base_dir / self.sota)
        return self.model_copy(update={"script": script, "data_path": _absolute(self.data_path, base_dir),
                                       "tokenizer_path": _absolute(self.tokenizer_path, base_dir), "sota": sota})

    def check_paths(self) -> None:
        """Raise SpaceError naming the first of script/data_path/tokenizer_path that is missing."""
        for key in ("script", "data_path", "tokenizer_path"):
            path: Path = getattr(self, key)
            if not path.exists():
                raise SpaceError(f"{key}: {path} does not exist")

    def to_yaml(self) -> str:
        text: str = yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)
        return text


def _check(space: SearchSpace) -> None:
    """Cross-field rules; each message starts with the offending key."""
    both = sorted(set(space.env) & set(space.params))
    if both:
        raise ValueError(f"params.{both[0]}: also fixed in env; a key is either fixed or swept")
    gpus, cpus = space.resources.gpus, space.resources.cpus
    if space.nproc_per_node is not None and gpus > 0 and space.nproc_per_node > gpus:
        raise ValueError(f"nproc_per_node: {space.nproc_per_node} processes but resources.gpus is {gpus}")
    if space.nproc_per_node is not None and gpus == 0 and space.nproc_per_node > cpus:
        raise ValueError(f"nproc_per_node: {space.nproc_per_node} CPU processes but resources.cpus is {cpus}")
    algorithm = space.search.algorithm
    for key, p in space.params.items():
        if algorithm == "grid" and isinstance(p, (UniformParam, LogUniformParam, IntParam)):
            raise ValueError(f"params.{key}: a {p.type} range cannot be enumerated by search.algorithm grid "
                             "(use grid values, or algorithm random/optuna)")
        if algorithm == "optuna" and isinstance(p, GridParam):
            raise ValueError(f"params.{key}: Optuna cannot search a grid axis (use type choice)")
    if space.replicate == "sequential" and space.sota is None:
        raise ValueError("sota: replicate: sequential tests each config against the SOTA; give a records folder "
                         "or its val_loss")
    if algorithm == "grid" and space.search.samples is not None:
        raise ValueError("search.samples: grid search runs every point once; drop samples or use random")
    if algorithm != "grid" and space.search.samples is None:
        raise ValueError(f"search.samples: required for search.algorithm {algorithm} (how many configs to draw)")
    if space.asha is not None:
        if space.env.get("VAL_LOSS_EVERY") in (0, "0"):
            raise ValueError("asha: needs in-training validation, but env.VAL_LOSS_EVERY is 0")
        rf = space.asha.reduction_factor
        if space.screen_size() < rf:
            raise ValueError(f"asha: the screen stage has only {space.screen_size()} trial(s); ASHA with "
                             f"reduction_factor {rf:g} needs at least {math.ceil(rf)} to stop any")


def _check_secrets(space: SearchSpace) -> None:
    """No credential in a space (it is copied into space.yaml, the ledger and W&B): neither a secret-named
    key nor a value shaped like a key, unless the key is in `secrets_allow`. Values are never echoed."""
    allow = set(space.secrets_allow)
    for section in ("env", "params"):
        entries: dict[str, Any] = getattr(space, section)
        for key, entry in entries.items():
            if key in allow:
                continue
            if is_secret_name(key):
                raise ValueError(f"{section}: {key} looks like a secret: set it in the environment instead "
                                 "(a space is copied into space.yaml and the ledger), or list it in secrets_allow")
            values = [entry] if section == "env" else entry.values if isinstance(entry, (ChoiceParam, GridParam)) else []
            shapes = [secret_shape(v) for v in values if isinstance(v, str)]
            shape = next((s for s in shapes if s), None)
            if shape:
                raise ValueError(f"{section}.{key}: the value looks like {shape}; keep credentials in the "
                                 f"environment, or list {key} in secrets_allow if it is not one")


def _check_plan_size(space: SearchSpace) -> None:
    """Refuse, before anything is listed, a stage that would plan more than `search.max_trials` trials."""
    bound = space.search.max_trials
    screen = space.screen_size()
    if screen > bound:
        where = "params" if space.search.algorithm == "grid" else "search.samples"
        raise ValueError(f"{where}: the screen stage would plan {screen:,} trials, over search.max_trials "
                         f"({bound:,}); shrink the space or raise search.max_trials")
    replicate = space.replicate_top_k * (len(space.seeds) - 1)
    if replicate > bound:
        raise ValueError(f"replicate_top_k: the replicate stage would plan {replicate:,} trials, over "
                         f"search.max_trials ({bound:,})")


def _cross(axes: Mapping[str, list[Scalar]]) -> list[dict[str, Scalar]]:
    """Every combination of one value per axis, in axis order."""
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _absolute(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else (base_dir / path).resolve()


def env_str(value: Scalar) -> str:
    """How a YAML scalar becomes an env value: booleans as 1/0, floats in shortest round-trip form."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def config_id(env: Mapping[str, Any]) -> str:
    """Stable 12-hex id of a config: its trainer env without SEED or the sweeper-set paths.

    Same fixed+swept values -> same id, across resumes, sweeps and `pgolf seeds`.
    """
    canonical = {k: env_str(v) for k, v in env.items() if k not in RESERVED_ENV}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


SPACE_PARTS = (Resources, Search, Asha, Limits, Wandb, ChoiceParam, UniformParam, IntParam)  # for did-you-mean


def parse_space(text: str, source: str = "<space>") -> SearchSpace:
    """Validate YAML text; any problem becomes one SpaceError line `source: key: why`."""
    data = load_yaml(text, source)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SpaceError(f"{source}: the top level must be a mapping (name, data_path, params, ...), got {kind}")
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as exc:
        raise SpaceError(f"{source}: {space_problems(exc, SearchSpace, SPACE_PARTS, text)}") from None


def load_space(path: Path, base_dir: Path | None = None) -> SearchSpace:
    """Read and validate a space file; paths are resolved against `base_dir` (default: the cwd).

    The script must exist (it defines what a config means); the data paths are checked by
    `check_paths` when a sweep actually launches, so spaces for other machines still load.
    """
    space = parse_space(read_space_text(Path(path)), source=str(path)).resolved(base_dir or Path.cwd())
    if not space.script.is_file():
        raise SpaceError(f"{path}: script: {space.script} does not exist")
    return space
