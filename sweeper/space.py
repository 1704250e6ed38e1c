"""Search-space YAML schema (pydantic), config ids and sampling helpers.

A space says which `train_gpt.py` to run, on which data, with which fixed env, which env
variables to sweep, the seeds, the search algorithm and the limits a record must respect. Every
Parameter Golf script is configured by env vars, so a "config" is just an env mapping: the fixed
`env` plus one value per swept parameter. Seeds are a separate axis: screen every config on
`seeds[0]`, then re-run the best `replicate_top_k` configs on the remaining seeds.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sweeper.errors import SpaceError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCRIPT = "trainer/train_gpt.py"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the sweeper or torchrun for every trial; a space may neither fix nor sweep them.
RESERVED_ENV = frozenset({
    "SEED", "RUN_ID", "OUTPUT_DIR", "SUMMARY_PATH", "DATA_PATH", "TOKENIZER_PATH",
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
    "CUDA_VISIBLE_DEVICES",
})
Scalar = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceParam(_Strict):
    """Pick one of `values` (random/Optuna sample it; grid search enumerates it)."""

    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=1)


class GridParam(_Strict):
    """Enumerate every value (cross product with the other grid axes); not allowed with Optuna."""

    type: Literal["grid"]
    values: list[Scalar] = Field(min_length=1)


class _Range(_Strict):
    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if not self.low < self.high:  # type: ignore[attr-defined]
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")  # type: ignore[attr-defined]
        return self


class UniformParam(_Range):
    """A float drawn uniformly from [low, high]."""

    type: Literal["uniform"]
    low: float
    high: float


class LogUniformParam(_Range):
    """A float drawn log-uniformly from [low, high]; learning rates and weight decays (0 < low)."""

    type: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float


class IntParam(_Range):
    """An int from low..high inclusive, on multiples of `step` from low, optionally log-spaced."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))


Param = Annotated[ChoiceParam | GridParam | UniformParam | LogUniformParam | IntParam, Field(discriminator="type")]


class Resources(_Strict):
    """One trial = one placement bundle on one node (Ray then exposes exactly these GPUs)."""

    gpus: int = Field(default=8, ge=0)
    cpus: int = Field(default=8, ge=1)


class Search(_Strict):
    """How configs are chosen for the screen stage."""

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    samples: int | None = Field(default=None, ge=1, description="random/optuna draws (random: per grid point)")
    max_concurrent: int = Field(default=1, ge=1)
    seed: int = 0


class Asha(_Strict):
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


class Limits(_Strict):
    """The Parameter Golf budgets (decimal bytes, seconds) plus the per-trial wall-clock timeout."""

    artifact_bytes: int = Field(default=16_000_000, gt=0)
    train_s: float = Field(default=600.0, gt=0)
    train_tolerance_s: float = Field(default=1.0, ge=0, description="the wallclock cap overshoots ~40 ms")
    eval_s: float = Field(default=600.0, gt=0)
    trial_timeout_s: float = Field(default=2400.0, gt=0)


class Wandb(_Strict):
    project: str = Field(default="pgolf", min_length=1)
    entity: str | None = None
    mode: Literal["online", "offline", "disabled"] = "offline"


class SearchSpace(_Strict):
    """One study: what to run, what to sweep, how to search it, and which budgets apply."""

    name: str
    script: Path = Path(DEFAULT_SCRIPT)
    data_path: Path
    tokenizer_path: Path
    nproc_per_node: int | None = Field(default=None, ge=1, description="default: resources.gpus, or 1 on CPU")
    resources: Resources = Resources()
    env: dict[str, Scalar] = {}
    params: dict[str, Param] = {}
    seeds: list[int] = Field(default=[1337, 42, 2025], min_length=1)
    replicate_top_k: int = Field(default=2, ge=0)
    search: Search = Search()
    asha: Asha | None = None
    limits: Limits = Limits()
    wandb: Wandb = Wandb()

    @field_validator("name")
    @classmethod
    def _directory_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", name):
            raise ValueError(f"{name!r} must be 1-80 letters, digits, '_', '.' or '-' (it names the sweep directory)")
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
        duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate seed(s) {duplicates}")
        return seeds

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpace:
        _check(self)
        return self

    # -- derived views -------------------------------------------------------------------------
    @property
    def nproc(self) -> int:
        return self.nproc_per_node or max(self.resources.gpus, 1)

    def grid_points(self) -> list[dict[str, Scalar]]:
        """The enumerated axes: grid params (and, for grid search, choice params), cross product."""
        enumerated = {k: p.values for k, p in self.params.items()
                      if isinstance(p, (ChoiceParam, GridParam)) and _enumerated(p, self.search.algorithm)}
        keys = list(enumerated)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*enumerated.values())]

    def screen_size(self) -> int:
        """How many configs the screen stage runs (before any preflight skips)."""
        if self.search.algorithm == "grid":
            return len(self.grid_points())
        per_point = len(self.grid_points()) if self.search.algorithm == "random" else 1
        return (self.search.samples or 1) * per_point

    def sample(self, rng: random.Random) -> dict[str, Scalar]:
        """One random draw of the non-enumerated params (the random-search distribution)."""
        return {k: _draw(p, rng) for k, p in self.params.items() if not _enumerated(p, self.search.algorithm)}

    def corner_points(self) -> list[dict[str, Scalar]]:
        """Every enumerable value and both ends of every range: what preflight checks up front."""
        axes: dict[str, list[Scalar]] = {}
        for key, p in self.params.items():
            if isinstance(p, (ChoiceParam, GridParam)):
                axes[key] = list(dict.fromkeys(p.values))
            elif isinstance(p, IntParam):
                axes[key] = list(dict.fromkeys([p.low, p.values()[-1]]))
            else:
                axes[key] = [p.low, p.high]
        keys = list(axes)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]

    def config_env(self, params: Mapping[str, Scalar]) -> dict[str, str]:
        """The fixed env plus one config's swept values, as the strings the trainer will see."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise SpaceError(f"params: {unknown[0]} is not a swept parameter of space {self.name!r}")
        return {k: env_str(v) for k, v in {**self.env, **params}.items()}

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
        return self.model_copy(update={"script": script, "data_path": _absolute(self.data_path, base_dir),
                                       "tokenizer_path": _absolute(self.tokenizer_path, base_dir)})

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


def _enumerated(p: Any, algorithm: str) -> bool:
    return isinstance(p, GridParam) or (algorithm == "grid" and isinstance(p, ChoiceParam))


def _draw(p: Any, rng: random.Random) -> Scalar:
    if isinstance(p, (ChoiceParam, GridParam)):
        return rng.choice(p.values)
    if isinstance(p, LogUniformParam):
        return math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    if isinstance(p, IntParam):
        if p.log:
            draw = round(math.exp(rng.uniform(math.log(max(p.low, 1)), math.log(p.high))))
            return min(p.values(), key=lambda v: abs(v - draw))
        return rng.choice(p.values())
    return rng.uniform(p.low, p.high)


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


def parse_space(text: str, source: str = "<space>") -> SearchSpace:
    """Validate YAML text; any problem becomes one SpaceError line `source: key: why`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SpaceError(f"{source}: invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SpaceError(f"{source}: the top level must be a mapping (name, data_path, params, ...), got {kind}")
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as exc:
        raise SpaceError(f"{source}: {_first_error(exc)}") from None


def load_space(path: Path, base_dir: Path | None = None) -> SearchSpace:
    """Read and validate a space file; paths are resolved against `base_dir` (default: the cwd).

    The script must exist (it defines what a config means); the data paths are checked by
    `check_paths` when a sweep actually launches, so spaces for other machines still load.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read space file ({exc.strerror or exc})") from None
    space = parse_space(text, source=str(path)).resolved(base_dir or Path.cwd())
    if not space.script.is_file():
        raise SpaceError(f"{path}: script: {space.script} does not exist")
    return space


_KNOWN_KEYS = sorted({name for model in (SearchSpace, Resources, Search, Asha, Limits, Wandb, ChoiceParam,
                                          UniformParam, IntParam) for name in model.model_fields})


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = [str(part) for part in err["loc"]]
    if len(loc) >= 3 and loc[0] == "params" and loc[2] in {"choice", "grid", "uniform", "loguniform", "int"}:
        del loc[2]  # the discriminator tag pydantic inserts
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], list(SearchSpace.model_fields) if len(loc) == 1 else _KNOWN_KEYS, n=1)
        message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if err["type"] == "missing":
        message = "required key is missing"
    if not loc:  # a cross-field rule: its message already starts with the offending key
        text = message
    else:
        text = f"{'.'.join(loc) or '<root>'}: {message}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return text + more
