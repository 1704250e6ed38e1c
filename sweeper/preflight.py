"""Preflight: predict each config's parameter count and artifact bytes before spending GPU time.

Two methods, best first:
* `trainer`: the script exposes `Hyperparameters.from_env`, `build_model` and
  `compress_state_dict` (ours does). The model is built on the meta device (free), filled with
  synthetic weights and quantised + compressed exactly as the trainer exports it. The script is
  imported by path under a module name unique to its sha256, and only if it defines those names.
  Synthetic weights: matrices N(0, 0.5^2), vectors N(1, 0.1^2). Trained matrices quantise like
  Gaussians whose rows are too large for any per-row scale floor to bind; at this std the 9x512
  int8+zlib baseline predicts 15,881,660 model bytes against 15,815,847 measured (+0.4%), while
  init-scale weights (std 1/sqrt(fan_in)) hit the int8 floor and predict a third too few.
* `estimate`: any other Parameter Golf script. Parameters come from the baseline architecture
  formula over the env (NUM_LAYERS, MODEL_DIM, NUM_HEADS, NUM_KV_HEADS, MLP_MULT, VOCAB_SIZE,
  TIE_EMBEDDINGS, BIGRAM_*; defaults read from the script's own `os.environ.get` calls), bytes
  from the bytes/param that records measured for the script's quant format.

Then a correction from artifacts measured in ledgers with the same script sha256: the same config
-> its largest measured artifact (`basis="measured"`); other configs -> the prediction times the
median measured/predicted model-bytes ratio (`basis="calibrated"`). Code bytes are the script's
UTF-8 size, as the official `Code size:` line counts them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import statistics
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel

from sweeper.errors import LedgerError, SpaceError
from sweeper.ledger import Ledger
from sweeper.space import RESERVED_ENV, SearchSpace, config_id, parse_space

# Env that changes how a model is trained or evaluated, never its shapes or export format: configs
# that differ only here share one synthetic compression (the expensive step).
TRAINING_ONLY = re.compile(
    r"^(ITERATIONS|WARMUP_STEPS|WARMDOWN_ITERS|MAX_WALLCLOCK_SECONDS|VAL_LOSS_EVERY|TRAIN_LOG_EVERY"
    r"|VAL_BATCH_SIZE|TRAIN_BATCH_TOKENS|GRAD_CLIP_NORM|BETA1|BETA2|ADAM_EPS|MUON_MOMENTUM\w*"
    r"|MUON_BACKEND_STEPS|LATE_QAT_THRESHOLD|QAT_ENABLED|VAL_MAX_TOKENS|COMPILE|DEVICE"
    r"|\w*_LR|\w*_WD|SWA_\w+|EMA_\w+|TTT_\w+|EVAL_\w+)$")

# Compressed model bytes per parameter measured in record logs, by weight quant format.
BYTES_PER_PARAM = {
    8: 0.927,  # 2026-03-17_NaiveBaseline: int8+zlib 15,815,847 B / 17,059,912 params
    6: 0.590,  # 2026-03-23_LeakyReLU_LegalTTT_ParallelMuon: int6+lzma 15,887,928 B / 26,928,220
    5: 0.460,  # PR576 33.6M int5 GPTQ: ~15.45 MB / 33,580,124 (stack-spec sections 1, 3.11)
    4: 0.370,  # extrapolated from int5 (4/5 of its bytes/param); no record measures it
}
BASELINE_DEFAULTS = {"NUM_LAYERS": 9, "MODEL_DIM": 512, "NUM_HEADS": 8, "NUM_KV_HEADS": 4, "MLP_MULT": 2,
                     "VOCAB_SIZE": 1024, "TIE_EMBEDDINGS": 1, "BIGRAM_VOCAB_SIZE": 0, "BIGRAM_DIM": 128}
SYNTHETIC_MATRIX_STD = 0.5
TRAINER_API = ("def build_model", "def compress_state_dict", "def from_env")


class Measured(BaseModel):
    """An artifact some ledger measured for this script: its config env and sizes."""

    config_id: str
    env: dict[str, str]
    artifact_bytes: int
    model_bytes: int


class RawSize(BaseModel):
    """What one model shape predicts before any ledger correction."""

    method: Literal["trainer", "estimate"]
    model_params: int
    model_bytes: int
    format_label: str
    note: str = ""


class Prediction(BaseModel):
    """The preflight verdict for one config (the `pgolf preflight --json` row)."""

    config_id: str
    params: dict[str, Any]
    method: Literal["trainer", "estimate"]
    basis: Literal["measured", "calibrated", "raw"]
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
_MODULES: dict[str, ModuleType] = {}


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
        basis: Literal["measured", "calibrated", "raw"]
        if same:
            basis, model_bytes = "measured", max(m.model_bytes for m in same)
            artifact = max(m.artifact_bytes for m in same)
        else:
            ratio = self.calibration_ratio()
            basis = "raw" if ratio is None else "calibrated"
            model_bytes = round(raw.model_bytes * (ratio or 1.0))
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
        if key in _RAW_CACHE:
            return _RAW_CACHE[key]
        cached = self.cache_dir / f"{key}.json" if self.cache_dir else None
        if cached and cached.is_file():
            try:
                _RAW_CACHE[key] = RawSize.model_validate_json(cached.read_text())
                return _RAW_CACHE[key]
            except ValueError:
                pass  # a damaged cache entry is recomputed and rewritten
        module = self._trainer_module()
        raw = synthetic_size(module, env) if module else estimate_size(self.script_text, env)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(raw.model_dump_json())
            partial.replace(cached)  # atomic: concurrent readers see the old entry or the new one
        _RAW_CACHE[key] = raw
        return raw

    @property
    def script_text(self) -> str:
        return self.script_bytes.decode("utf-8", errors="replace")

    def _trainer_module(self) -> ModuleType | None:
        if not all(name in self.script_text for name in TRAINER_API):
            return None
        if self.script_sha256 not in _MODULES:
            name = f"pgolf_script_{self.script_sha256[:16]}"
            spec = importlib.util.spec_from_file_location(name, self.space.script)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses resolve their module while the class is built
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - any import-time failure of a user's script
                del sys.modules[name]
                raise SpaceError(f"script: importing {self.space.script} failed "
                                 f"({type(exc).__name__}: {exc})") from None
            _MODULES[self.script_sha256] = module
        return _MODULES[self.script_sha256]


def synthetic_size(module: ModuleType, env: Mapping[str, str]) -> RawSize:
    """Build on meta, fill with trained-like Gaussian weights, export the trainer's way."""
    import torch

    try:
        hp = module.Hyperparameters.from_env(dict(env))
    except ValueError as exc:
        raise SpaceError(f"config {config_id(env)}: {exc}") from None
    model = module.build_model(hp, torch.device("meta"))
    generator = torch.Generator().manual_seed(0)
    state = {name: synthetic_tensor(t, generator) for name, t in model.state_dict().items()}
    blob, label = module.compress_state_dict(state, hp)
    n_params = sum(p.numel() for p in model.parameters())
    return RawSize(method="trainer", model_params=n_params, model_bytes=len(blob), format_label=label)


def synthetic_tensor(like: Any, generator: Any) -> Any:
    """A CPU tensor shaped like `like` with trained-like statistics (see the module docstring)."""
    import torch

    if not like.dtype.is_floating_point:
        return torch.zeros(like.shape, dtype=like.dtype)
    values = torch.randn(like.shape, generator=generator, dtype=torch.float32)
    values = values * SYNTHETIC_MATRIX_STD if like.dim() >= 2 else values * 0.1 + 1.0
    return values.to(like.dtype)


def estimate_size(script_text: str, env: Mapping[str, str]) -> RawSize:
    """The documented fallback for scripts without the trainer API (see module docstring)."""
    def get(name: str) -> float:
        if name in env:
            return float(env[name])
        found = re.search(rf"""environ\.get\(\s*["']{name}["']\s*,\s*["']?([-0-9.eE+]+)["']?\s*\)""", script_text)
        return float(found.group(1)) if found else float(BASELINE_DEFAULTS[name])

    layers, dim, vocab = int(get("NUM_LAYERS")), int(get("MODEL_DIM")), int(get("VOCAB_SIZE"))
    heads, kv_heads = int(get("NUM_HEADS")), int(get("NUM_KV_HEADS"))
    hidden = int(get("MLP_MULT") * dim)
    kv_dim = kv_heads * (dim // heads)
    block = 2 * dim * dim + 2 * dim * kv_dim + 2 * dim * hidden + 4 * dim + heads  # + scales, resid_mix, q_gain
    embed = vocab * dim * (1 if get("TIE_EMBEDDINGS") else 2)
    bigram_vocab, bigram_dim = int(get("BIGRAM_VOCAB_SIZE")), int(get("BIGRAM_DIM"))
    bigram = bigram_vocab * bigram_dim + bigram_dim * dim + 1 if bigram_vocab else 0
    n_params = layers * block + embed + min(layers // 2, layers - layers // 2) * dim + bigram
    fmt = re.search(r"Serialized model (int(\d+)[^:{]*)", script_text)
    bits = int(fmt.group(2)) if fmt and int(fmt.group(2)) in BYTES_PER_PARAM else 8
    per_param = BYTES_PER_PARAM[bits]
    note = (f"estimate: {n_params:,} params from env ({layers}L d{dim} {heads}/{kv_heads} heads mlp {hidden} "
            f"V{vocab}) x {per_param} B/param (int{bits}, from records)")
    return RawSize(method="estimate", model_params=n_params, model_bytes=round(n_params * per_param),
                   format_label=f"int{bits} (estimated)", note=note)


def script_sha256(path: Path) -> str:
    """The sha256 the ledger records for a script (`AttemptRow.script_sha256`)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
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


def preflight_configs(space: SearchSpace) -> list[dict[str, Any]]:
    """What `pgolf preflight` checks: every grid point, or (random/Optuna, whose draws are not known
    up front) both ends of every axis that can change the model's size; training-only axes such as
    learning rates are left at the script default since they cannot change the artifact."""
    if space.search.algorithm == "grid":
        return space.grid_points()
    corners = [{k: v for k, v in c.items() if not TRAINING_ONLY.match(k)} for c in space.corner_points()]
    unique = {json.dumps(c, sort_keys=True): c for c in corners}
    return list(unique.values())
