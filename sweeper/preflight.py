"""Preflight: predict each config's parameter count and artifact bytes, with an error band, before
spending GPU time, and decide which configs a sweep may skip.

Raw sizes come from `sweeper.model_size` (our trainer API's own export of synthetic weights, exact;
or `sweeper.script.size_script` for any other script, with its band), cached per (sizing code,
script sha, size-relevant env) in memory and on disk. Then a correction from artifacts measured in
ledgers with the same script sha256:
* the same config on the same data -> its largest measured artifact (`basis="measured"`, exact);
* else the median measured/predicted model-bytes ratio of *comparable* runs only: same data
  fingerprint, same format label, parameter counts within `COMPARABLE_PARAMS_FACTOR`
  (`basis="calibrated from N runs of <script> (<format>)"`, band = the ratios' spread, at least
  `CALIBRATED_BAND`). A tiny demo run never calibrates a 33.6M model;
* else formats listed in PRIOR_RATIOS get the ratio a published record measured on their large
  tensors (`basis="prior"`, `PRIOR_BAND`); others keep the raw size and its basis.
Code bytes are the script's UTF-8 size, as the official `Code size:` line counts them.

Verdicts (`Prediction.verdict`): `over` when the prediction is exact and over the limit or even the
low end of its band is; `near` when the band reaches over the limit; else `fits`. A sweep in mode
`skip` (the space's `preflight:`, default) skips only `over` configs and runs `near` ones with a
warning; `warn` runs everything with warnings; `off` predicts nothing.
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

from sweeper.data.check import dataset_fingerprint
from sweeper.digest import sha256_files
from sweeper.errors import DataError, LedgerError, SpaceError
from sweeper.ledger import Ledger
from sweeper.model_size import (
    ConfigRejected,
    RawSize,
    foreign_size,
    sizer_fingerprint,
    synthetic_size,
    trainer_module,
)
from sweeper.space import RESERVED_ENV, PreflightMode, SearchSpace, config_id, parse_space
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
PRIOR_BAND = 0.05  # PR #576's seeds span -1.5%..+2.3% of that record; other configs of the stack add more
CALIBRATED_BAND = 0.02  # least band of a calibrated prediction (seeds of one config differ ~1-2%)
COMPARABLE_PARAMS_FACTOR = 2.0  # calibrate only from runs whose parameter count is within this factor
CALIBRATION_RUNS = 8  # the most recent comparable measured runs a calibration reads

Verdict = Literal["fits", "near", "over"]


class Measured(BaseModel):
    """An artifact some ledger measured for this script: its config env, data and sizes."""

    config_id: str
    env: dict[str, str]
    artifact_bytes: int
    model_bytes: int
    data_fingerprint: str | None = None


class Prediction(BaseModel):
    """The preflight verdict for one config (the `pgolf preflight --json` row)."""

    config_id: str
    params: dict[str, Any]
    method: str
    basis: str
    exact: bool
    model_params: int
    params_exact: bool
    format_label: str
    model_bytes: int
    code_bytes: int
    artifact_bytes: int
    band: float
    low_bytes: int
    high_bytes: int
    limit_bytes: int
    fits: bool
    verdict: Verdict
    calibration_ratio: float | None = None
    note: str = ""

    @property
    def skip_reason(self) -> str | None:
        """The `failure_reason` of a `skipped` ledger row (verdict `over`), else None."""
        if self.verdict != "over":
            return None
        what = (f"predicted artifact {self.artifact_bytes:,} bytes" if self.exact else
                f"even the low end of the estimate ({self.artifact_bytes:,} -{self.band:.0%}), {self.low_bytes:,} bytes,")
        return f"preflight: {what} > limit {self.limit_bytes:,} ({self._why})"

    @property
    def warning(self) -> str | None:
        """Why a config that runs anyway may not fit (verdict `near`), else None."""
        if self.verdict != "near":
            return None
        return (f"preflight: artifact {self.artifact_bytes:,} bytes +-{self.band:.0%} ({self.low_bytes:,}.."
                f"{self.high_bytes:,}) may exceed limit {self.limit_bytes:,} ({self._why}); running it")

    @property
    def _why(self) -> str:
        return f"{self.basis}; {self.model_params:,} params, {self.format_label}"


class Decision(BaseModel):
    """What a sweep does with one config: skip it (a `skipped` row's reason) or run it, maybe warned."""

    skip_reason: str | None = None
    warning: str | None = None


_RAW_CACHE: dict[str, RawSize] = {}


class Preflight:
    """Predictions for the configs of one space; comparable `measured` runs correct them (module docstring)."""

    def __init__(self, space: SearchSpace, measured: Iterable[Measured] = (), cache_dir: Path | None = None,
                 data_fingerprint: str | None = None) -> None:
        self.space = space
        self.cache_dir = cache_dir  # raw sizes persist here as <key>.json (e.g. <sweeps root>/.preflight)
        self.script_sha256 = script_sha256(space.script)
        self.script_bytes = space.script.read_bytes()
        self.data_fingerprint = data_fingerprint  # None: unknown here, so no measurement is comparable
        runs = list(measured)
        self.measured = [m for m in runs if data_fingerprint is not None and m.data_fingerprint == data_fingerprint]
        self.other_data = len(runs) - len(self.measured)

    def predict(self, params: Mapping[str, Any]) -> Prediction:
        env = self.space.trial_env(params, self.space.seeds[0])
        cid = config_id(env)
        raw = self.raw_size(env)
        code_bytes = len(self.script_bytes) if raw.code_bytes is None else raw.code_bytes
        same = [m for m in self.measured if m.config_id == cid]
        fields: dict[str, Any] = {"basis": raw.basis, "exact": raw.exact, "band": raw.band,
                                  "model_bytes": raw.model_bytes, "note": raw.note}
        if same:
            fields.update(basis="measured", exact=True, band=0.0, model_bytes=max(m.model_bytes for m in same))
            code_bytes = max(m.artifact_bytes for m in same) - fields["model_bytes"]
            return self._verdict(cid, params, raw, code_bytes, fields)
        comparable, unlike = self.comparable(raw)
        if comparable:
            ratios = [m.model_bytes / self.raw_size(m.env).model_bytes for m in comparable]
            ratio = statistics.median(ratios)
            fields.update(basis=f"calibrated from {len(ratios)} runs of {self.space.script.name} ({raw.format_label})",
                          exact=False, band=max(CALIBRATED_BAND, *(abs(r / ratio - 1) for r in ratios)),
                          model_bytes=round(raw.model_bytes * ratio), calibration_ratio=ratio)
        elif raw.method == "trainer" and (prior := self._prior(raw.format_label)) is not None:
            model_bytes = raw.model_bytes - raw.large_tensor_bytes + round(raw.large_tensor_bytes * prior)
            fields.update(basis="prior", exact=False, band=PRIOR_BAND, model_bytes=model_bytes, calibration_ratio=prior)
        if unlike or self.other_data:
            fields["note"] = "; ".join(filter(None, [fields["note"], self._not_calibrated(unlike)]))
        return self._verdict(cid, params, raw, code_bytes, fields)

    def _verdict(self, cid: str, params: Mapping[str, Any], raw: RawSize, code_bytes: int,
                 fields: dict[str, Any]) -> Prediction:
        limit, model_bytes, band = self.space.limits.artifact_bytes, fields["model_bytes"], fields["band"]
        artifact = model_bytes + code_bytes
        low, high = round(model_bytes * (1 - band)) + code_bytes, round(model_bytes * (1 + band)) + code_bytes
        if (fields["exact"] and artifact > limit) or low > limit:
            verdict: Verdict = "over"
        elif high > limit and not fields["exact"]:
            verdict = "near"
        else:
            verdict = "fits"
        return Prediction(config_id=cid, params=dict(params), method=raw.method, model_params=raw.model_params,
                          params_exact=raw.params_exact, format_label=raw.format_label, code_bytes=code_bytes,
                          artifact_bytes=artifact, low_bytes=low, high_bytes=high, limit_bytes=limit,
                          fits=artifact <= limit, verdict=verdict, **fields)

    def decide(self, params: Mapping[str, Any], mode: PreflightMode) -> Decision:
        """Skip only on an `over` verdict in mode `skip` (or a config the script itself rejects);
        everything else runs, warned when it may not fit or could not be sized."""
        if mode == "off":
            return Decision()
        try:
            prediction = self.predict(params)
        except ConfigRejected as exc:
            reason: str | None = f"preflight: {exc}"
        except SpaceError as exc:
            return Decision(warning=f"preflight: could not size this config ({exc}); running it unchecked")
        else:
            reason = prediction.skip_reason
        if reason is None:
            return Decision(warning=prediction.warning)
        if mode == "skip":
            return Decision(skip_reason=reason)
        return Decision(warning=f"{reason}; running it anyway (preflight: warn)")

    def comparable(self, raw: RawSize) -> tuple[list[Measured], dict[str, int]]:
        """The measured runs (same script and data) that may calibrate `raw`: same format label and
        parameter counts within COMPARABLE_PARAMS_FACTOR; and how many were unlike, by reason."""
        found: list[Measured] = []
        unlike = {"format": 0, "params": 0}
        for m in reversed(self.measured):
            if len(found) == CALIBRATION_RUNS:
                break
            theirs = self.raw_size(m.env)
            if theirs.format_label != raw.format_label:
                unlike["format"] += 1
            elif not 1 / COMPARABLE_PARAMS_FACTOR <= theirs.model_params / raw.model_params <= COMPARABLE_PARAMS_FACTOR:
                unlike["params"] += 1
            else:
                found.append(m)
        return found, {k: n for k, n in unlike.items() if n}

    def _not_calibrated(self, unlike: dict[str, int]) -> str:
        data = "other data" if self.data_fingerprint else "data not on this machine to compare"
        parts = [f"{self.other_data} on {data}"] if self.other_data else []
        if "format" in unlike:
            parts.append(f"{unlike['format']} in another format")
        if "params" in unlike:
            parts.append(f"{unlike['params']} with parameter counts beyond {COMPARABLE_PARAMS_FACTOR:g}x")
        return f"not calibrated by measured runs of {self.space.script.name} that differ: {', '.join(parts)}"

    @staticmethod
    def _prior(format_label: str) -> float | None:
        return next((r for prefix, r in PRIOR_RATIOS.items() if format_label.startswith(prefix)), None)

    def raw_size(self, env: Mapping[str, str]) -> RawSize:
        shape_env = {k: v for k, v in env.items() if k not in RESERVED_ENV and not TRAINING_ONLY.match(k)}
        blob = json.dumps(shape_env, sort_keys=True)
        key = hashlib.sha256(f"{sizer_fingerprint()}:{self.script_sha256}:{blob}".encode()).hexdigest()
        cached = self.cache_dir / f"{key}.json" if self.cache_dir else None
        on_disk = _read_cached(cached)
        raw = _RAW_CACHE.get(key) or on_disk
        if raw is None:
            module = trainer_module(self.space.script, self.script_text, self.script_sha256)
            raw = synthetic_size(module, env) if module else foreign_size(self.space.script, env)
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
                                  model_bytes=row.model_bytes, data_fingerprint=row.data_fingerprint))
    return found


def sweep_preflight(space: SearchSpace, root: Path, data_fingerprint: str | None) -> Preflight:
    """The one preflight of `pgolf preflight`, the sweep driver and Optuna trials: raw sizes cached in
    `root/.preflight`, corrected by the artifacts every sweep under `root` measured for this script
    on the data of `data_fingerprint` (None: unknown, so nothing corrects)."""
    ledgers = [sweep.ledger_path for sweep in list_sweeps(root)]
    measured = measured_artifacts(ledgers, script_sha256(space.script))
    return Preflight(space, measured, cache_dir=root / PREFLIGHT_CACHE, data_fingerprint=data_fingerprint)


def space_data_fingerprint(space: SearchSpace) -> str | None:
    """The fingerprint of the space's data, or None where it is not on this machine."""
    try:
        return dataset_fingerprint(space.data_path, space.tokenizer_path)
    except DataError:
        return None


def preflight_configs(space: SearchSpace) -> list[dict[str, Any]]:
    """What `pgolf preflight` checks: every grid point, or (random/Optuna, whose draws are not known
    up front) both ends of every axis that can change the model's size; training-only axes such as
    learning rates are left at the script default since they cannot change the artifact."""
    if space.search.algorithm == "grid":
        return space.grid_points()
    return space.corner_points(keys=[k for k in space.params if not TRAINING_ONLY.match(k)])
