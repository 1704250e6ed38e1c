"""The swept-parameter types of a search space and how each one is enumerated or sampled.

`choice` and `grid` list values; `uniform`, `loguniform` and `int` are ranges. Grid search
enumerates `grid` and `choice` axes; random search enumerates `grid` axes and draws the others
(`draw`); Optuna draws everything through Tune domains built by the driver.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = int | float | str | bool


class StrictModel(BaseModel):
    """Frozen, and an unknown key is an error (a typo must never be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceParam(StrictModel):
    """Pick one of `values` (random/Optuna sample it; grid search enumerates it)."""

    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=1)


class GridParam(StrictModel):
    """Enumerate every value (cross product with the other grid axes); not allowed with Optuna."""

    type: Literal["grid"]
    values: list[Scalar] = Field(min_length=1)


class _Range(StrictModel):
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


AnyParam = ChoiceParam | GridParam | UniformParam | LogUniformParam | IntParam
Param = Annotated[AnyParam, Field(discriminator="type")]
PARAM_TYPES = ("choice", "grid", "uniform", "loguniform", "int")


def is_enumerated(p: AnyParam, algorithm: str) -> bool:
    """Does `algorithm` list this axis's values (instead of drawing from it)?"""
    return isinstance(p, GridParam) or (algorithm == "grid" and isinstance(p, ChoiceParam))


def axis_ends(p: AnyParam) -> list[Scalar]:
    """Every listed value, or both ends of a range (what preflight checks up front)."""
    if isinstance(p, (ChoiceParam, GridParam)):
        return list(dict.fromkeys(p.values))
    if isinstance(p, IntParam):
        return list(dict.fromkeys([p.low, p.values()[-1]]))
    return [p.low, p.high]


def draw(p: AnyParam, rng: random.Random) -> Scalar:
    """One random-search draw from this axis."""
    if isinstance(p, (ChoiceParam, GridParam)):
        return rng.choice(p.values)
    if isinstance(p, LogUniformParam):
        return math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    if isinstance(p, IntParam):
        if p.log:
            target = round(math.exp(rng.uniform(math.log(max(p.low, 1)), math.log(p.high))))
            return min(p.values(), key=lambda v: abs(v - target))
        return rng.choice(p.values())
    return rng.uniform(p.low, p.high)
