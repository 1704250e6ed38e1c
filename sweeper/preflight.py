"""Preflight: predict each config's parameter count and artifact bytes before spending GPU time.

Raw sizes come from `sweeper.model_size` (the trainer's own export of synthetic weights, or an
env-formula estimate), cached per (script sha, size-relevant env) in memory and on disk. Then a
correction from artifacts measured in ledgers with the same script sha256: the same config -> its
largest measured artifact (`basis="measured"`); other configs -> the prediction times the median
measured/predicted model-bytes ratio (`basis="calibrated"`). Without measurements, formats listed
in PRIOR_RATIOS get the ratio a published record measured on their large tensors
(`basis="prior"`), others none (`basis="raw"`). Code bytes are the script's UTF-8 size, as the
official `Code size:` line counts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from sweeper.digest import sha256_files
from sweeper.errors import LedgerError, SpaceError
from sweeper.ledger import Ledger
from sweeper.model_size import RawSize, estimate_size, synthetic_size, trainer_module
from sweeper.space import RESERVED_ENV, SearchSpace, config_id, parse_space
from sweeper.sweepdir import PREFLIGHT_CACHE, list_sweeps

# Env that changes how a model is trained or evaluated, never its shapes or export format: configs
# that differ only here share one synthetic compression (the expensive step).
TRAINING_ONLY = re.compile(
    r"^(ITERATIONS|WARMUP_STEPS|WARMDOWN_ITERS|MAX_WALLCLOCK_SECONDS|VAL_LOSS_EVERY|TRAIN_LOG_EVERY"
    r"|VAL_BATCH_SIZE|TRAIN_BATCH_TOKENS|GRAD_CLIP_NORM|BETA1|BETA2|ADAM_EPS|MUON_MOMENTUM\w*"
    r"|MUON_BACKEND_STEPS|LATE_QAT_THRESHOLD|QAT_ENABLED|VAL_MAX_TOKENS|COMPILE|DEVICE"
    r"|\w*_LR|\w*_WD|SWA_\w+|EMA_\w+|TTT_\w+|EVAL_\w+)$")

# Measured/synthetic model bytes of published records, for formats whose trained weights compress
# unlike i.i.d. Gaussians; applied to the large tensors' bytes until a ledger measures this script.
# int5: PR #545's 33.6M int5 GPTQ model, 15,450,968 B (seed 1337; PR #576 seeds 15.22-15.81 MB),
# over our synthetic prediction for the same config, 19,257,095 B (int5_gptq+brotli; tensors under
# model_size.GROUPED_NUMEL are <1% of it). int8 needs none (+0.4%, see sweeper.model_size).
PRIOR_RATIOS = {"int5": 0.80}


class Measured(BaseModel):
    """An artifact some ledger measured for this script: its config env and sizes."""

    config_id: str
    env: dict[str, str]
    artifact_bytes: int
    model_bytes: int


class Prediction(BaseModel):
    """The preflight verdict for one config (the `pgolf preflight --json` row)."""

    config_id: str
    params: dict[str, Any]
    method: Literal["trainer", "estimate"]
    basis: Literal["measured", "calibrated", "prior", "raw"]
    model_params: int
    format_label: str
    model_bytes: int
    code_bytes: int
    artifact_bytes: int
    limit_bytes: int
    fits: bool
    calibration_ratio: float | None = None
    note: str = ""

    @property
    def skip_reason(self) -> str | None:
        """The `failure_reason` of a `skipped` ledger row, or None when the config fits."""
        if self.fits:
            return None
        kind = "estimated" if self.method == "estimate" else "predicted"
        return (f"preflight: {kind} artifact {self.artifact_bytes:,} bytes > limit {self.limit_bytes:,} "
                f"({self.basis}; {self.model_params:,} params, {self.format_label})")


_RAW_CACHE: dict[str, RawSize] = {}


class Preflight:
    """Predictions for the configs of one space; `measured` corrects them (see module docstring)."""

    def __init__(self, space: SearchSpace, measured: Iterable[Measured] = (), cache_dir: Path | None = None) -> None:
        self.space = space
        self.cache_dir = cache_dir  # raw sizes persist here as <key>.json (e.g. <sweeps root>/.preflight)
        self.script_sha256 = script_sha256(space.script)
        self.script_bytes = space.script.read_bytes()
        self.measured = list(measured)
        self._ratio: float | None = None

    def predict(self, params: Mapping[str, Any]) -> Prediction:
        env = self.space.trial_env(params, self.space.seeds[0])
        cid = config_id(env)
        raw = self.raw_size(env)
        limit = self.space.limits.artifact_bytes
        code_bytes = len(self.script_bytes)
        same = [m for m in self.measured if m.config_id == cid]
        ratio = None
        basis: Literal["measured", "calibrated", "prior", "raw"]
        if same:
            basis, model_bytes = "measured", max(m.model_bytes for m in same)
            artifact = max(m.artifact_bytes for m in same)
        else:
            ratio, basis = self.calibration_ratio(), "calibrated"
            model_bytes = round(raw.model_bytes * (ratio or 1.0))
            prior = [r for prefix, r in PRIOR_RATIOS.items() if raw.format_label.startswith(prefix)]
            if ratio is None and prior and raw.method == "trainer":
                ratio, basis = prior[0], "prior"
                model_bytes = raw.model_bytes - raw.large_tensor_bytes + round(raw.large_tensor_bytes * ratio)
            elif ratio is None:
                basis = "raw"
            artifact = model_bytes + code_bytes
        return Prediction(config_id=cid, params=dict(params), method=raw.method, basis=basis,
                          model_params=raw.model_params, format_label=raw.format_label, model_bytes=model_bytes,
                          code_bytes=code_bytes, artifact_bytes=artifact, limit_bytes=limit,
                          fits=artifact <= limit, calibration_ratio=ratio, note=raw.note)

    def calibration_ratio(self) -> float | None:
        """Median measured/predicted model bytes over the measured configs (None without any)."""
        if self._ratio is None and self.measured:
            latest = {m.config_id: m for m in self.measured}  # last measurement per config
            ratios = [m.model_bytes / self.raw_size(m.env).model_bytes for m in list(latest.values())[-4:]]
            self._ratio = statistics.median(ratios)
        return self._ratio

    def raw_size(self, env: Mapping[str, str]) -> RawSize:
        shape_env = {k: v for k, v in env.items() if k not in RESERVED_ENV and not TRAINING_ONLY.match(k)}
        key = hashlib.sha256(f"{self.script_sha256}:{json.dumps(shape_env, sort_keys=True)}".encode()).hexdigest()
        cached = self.cache_dir / f"{key}.json" if self.cache_dir else None
        on_disk = _read_cached(cached)
        raw = _RAW_CACHE.get(key) or on_disk
        if raw is None:
            module = trainer_module(self.space.script, self.script_text, self.script_sha256)
            raw = synthetic_size(module, env) if module else estimate_size(self.script_text, env)
        if cached and on_disk is None:  # absent or damaged: (re)write it
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(raw.model_dump_json())
            partial.replace(cached)  # atomic: concurrent readers see the old entry or the new one
        _RAW_CACHE[key] = raw
        return raw

    @property
    def script_text(self) -> str:
        return self.script_bytes.decode("utf-8", errors="replace")



def _read_cached(path: Path | None) -> RawSize | None:
    """A raw size cached on disk; None when absent or damaged (it is recomputed and rewritten)."""
    try:
        return RawSize.model_validate_json(path.read_text()) if path and path.is_file() else None
    except (OSError, ValueError):
        return None


def script_sha256(path: Path) -> str:
    """The sha256 the ledger records for a script (`AttemptRow.script_sha256`)."""
    try:
        return sha256_files(path)
    except OSError as exc:
        raise SpaceError(f"script: cannot read {path} ({exc.strerror or exc})") from None


def measured_artifacts(ledger_paths: Iterable[Path], script_sha256: str) -> list[Measured]:
    """Finished attempts of this script with measured sizes, from every readable ledger."""
    found: list[Measured] = []
    for path in ledger_paths:
        try:
            with Ledger(path, create=False) as ledger:
                spaces = {s.name: s.space_yaml for s in ledger.sweeps()}
                rows = [r for r in ledger.attempts(status="finished") if r.script_sha256 == script_sha256]
        except LedgerError:
            continue
        for row in rows:
            if row.artifact_bytes is None or row.model_bytes is None or row.sweep not in spaces:
                continue
            try:
                env = parse_space(spaces[row.sweep]).config_env(row.params)
            except SpaceError:
                continue
            found.append(Measured(config_id=row.config_id, env=env, artifact_bytes=row.artifact_bytes,
                                  model_bytes=row.model_bytes))
    return found


def sweep_preflight(space: SearchSpace, root: Path) -> Preflight:
    """The one preflight of `pgolf preflight`, the sweep driver and Optuna trials: raw sizes cached in
    `root/.preflight`, corrected by the artifacts every sweep under `root` measured for this script."""
    ledgers = [sweep.ledger_path for sweep in list_sweeps(root)]
    measured = measured_artifacts(ledgers, script_sha256(space.script))
    return Preflight(space, measured, cache_dir=root / PREFLIGHT_CACHE)


def preflight_configs(space: SearchSpace) -> list[dict[str, Any]]:
    """What `pgolf preflight` checks: every grid point, or (random/Optuna, whose draws are not known
    up front) both ends of every axis that can change the model's size; training-only axes such as
    learning rates are left at the script default since they cannot change the artifact."""
    if space.search.algorithm == "grid":
        return space.grid_points()
    return space.corner_points(keys=[k for k in space.params if not TRAINING_ONLY.match(k)])
