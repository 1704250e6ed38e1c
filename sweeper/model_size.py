"""What a config's model weighs before any ledger correction: parameters, compressed bytes, error band.

Two paths, best first:
* `trainer` (exact): the script exposes `Hyperparameters.from_env`, `build_model` and
  `compress_state_dict` (ours does). The model is built on the meta device (free), filled with
  synthetic weights and quantised + compressed exactly as the trainer exports it. The script is
  imported by path under a module name unique to its sha256, and only if it defines those names.
  Synthetic weights: matrices N(0, 0.5^2), vectors N(1, 0.1^2). Trained matrices quantise like
  Gaussians whose rows are too large for any per-row scale floor to bind; at this std the 9x512
  int8+zlib baseline predicts 15,881,660 model bytes against 15,815,847 measured (+0.4%), while
  init-scale weights (std 1/sqrt(fan_in)) hit the int8 floor and predict a third too few.
  The bytes come from the script's own export code, so the point value decides a skip; the band
  (`TRAINER_BAND`) only shows the synthetic weights' residual error.
* any other Parameter Golf script: `sweeper.script.size_script` (the script's own model class
  built on meta for the parameters, per-format rates for the bytes), with the band it reports.
  Never exact: its band decides (see `sweeper.preflight`).

`sweeper.preflight` caches these raw sizes (keyed with `sizer_fingerprint`) and corrects them
with comparable measured artifacts.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, Field

from sweeper.digest import sha256_files
from sweeper.errors import SpaceError
from sweeper.space import config_id

SYNTHETIC_MATRIX_STD = 0.5
GROUPED_NUMEL = 1 << 16  # tensors this large are compressed once per group (see synthetic_size)
TRAINER_API = ("def build_model", "def compress_state_dict", "def from_env")
# The synthetic export's residual error: the 9x512 int8+zlib baseline predicts +0.4% of its measured bytes.
TRAINER_BAND = 0.02


class RawSize(BaseModel):
    """What one model shape predicts before any ledger correction."""

    method: str  # "trainer", or how the foreign-script sizer got its numbers
    exact: bool = False  # bytes from the script's own export code: the point value decides a skip
    basis: str  # where the bytes come from, as the preflight table shows it
    model_params: int
    params_exact: bool = True
    model_bytes: int
    code_bytes: int | None = None  # None: the script file's own bytes
    format_label: str
    band: float = Field(ge=0)  # relative half-width of model_bytes
    large_tensor_bytes: int = 0  # the share of model_bytes from tensors of >= GROUPED_NUMEL elements
    note: str = ""


class ConfigRejected(SpaceError):
    """The script's own hyperparameter check refused a config's env: the trainer would fail alike."""


_MODULES: dict[str, ModuleType] = {}


def trainer_module(script: Path, script_text: str, sha256: str) -> ModuleType | None:
    """The script imported by path (once per sha256), or None if it lacks the trainer API."""
    if not all(name in script_text for name in TRAINER_API):
        return None
    if sha256 not in _MODULES:
        name = f"pgolf_script_{sha256[:16]}"
        spec = importlib.util.spec_from_file_location(name, script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve their module while the class is built
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any import-time failure of a user's script
            del sys.modules[name]
            raise SpaceError(f"script: importing {script} failed ({type(exc).__name__}: {exc})") from None
        _MODULES[sha256] = module
    return _MODULES[sha256]


def synthetic_size(module: ModuleType, env: Mapping[str, str]) -> RawSize:
    """Build on meta, fill with trained-like weights, export the trainer's way.

    The weights are i.i.d., so compressed bytes add up per tensor: each group of large tensors
    that share a name pattern (layer numbers masked), shape and dtype (e.g. the 11 blocks' c_q) is
    compressed once, alone, and counted once per member, less the empty container's bytes; the
    small tensors go in one call. That is ~7x less codec work for the 33.6M stack than the whole
    state dict (minutes per codec at zstd-22/lzma-9e/brotli-11 on a loaded laptop core; 36 s for
    all three instead), within 2% of compressing the whole dict (+0.07% for the record config).
    """
    import torch

    try:
        hp = module.Hyperparameters.from_env(dict(env))
    except ValueError as exc:
        raise ConfigRejected(f"config {config_id(env)}: {exc}") from None
    model = module.build_model(hp, torch.device("meta"))
    shapes = model.state_dict()
    groups: dict[tuple[str, tuple[int, ...], str], list[str]] = {}
    for name, t in shapes.items():
        groups.setdefault((re.sub(r"\d+", "#", name), tuple(t.shape), str(t.dtype)), []).append(name)
    generator = torch.Generator().manual_seed(0)
    small = {n: synthetic_tensor(shapes[n], generator) for n in shapes if shapes[n].numel() < GROUPED_NUMEL}
    blob, label = module.compress_state_dict(small, hp)
    small_bytes, container = len(blob), len(module.compress_state_dict({}, hp)[0])
    large_bytes = largest = 0
    for names in groups.values():
        first = shapes[names[0]]
        if first.numel() >= GROUPED_NUMEL:
            blob, group_label = module.compress_state_dict({names[0]: synthetic_tensor(first, generator)}, hp)
            large_bytes += len(names) * (len(blob) - container)
            if len(names) * first.numel() > largest:
                largest, label = len(names) * first.numel(), group_label
    n_params = sum(p.numel() for p in model.parameters())
    return RawSize(method="trainer", exact=True, basis="trainer export", model_params=n_params,
                   model_bytes=small_bytes + large_bytes, format_label=label, band=TRAINER_BAND,
                   large_tensor_bytes=large_bytes)


def synthetic_tensor(like: Any, generator: Any) -> Any:
    """A CPU tensor shaped like `like` with trained-like statistics (see the module docstring)."""
    import torch

    if not like.dtype.is_floating_point:
        return torch.zeros(like.shape, dtype=like.dtype)
    values = torch.randn(like.shape, generator=generator, dtype=torch.float32)
    values = values * SYNTHETIC_MATRIX_STD if like.dim() >= 2 else values * 0.1 + 1.0
    return values.to(like.dtype)


def foreign_size(script: Path, env: Mapping[str, str]) -> RawSize:
    """A script without the trainer API, sized by `sweeper.script.size_script` (never exact)."""
    from sweeper.script import size_script  # it imports this module's `estimate_size` for its fallback

    size = size_script(script, env)
    return RawSize(method=size.method, basis=f"estimate: {size.basis}", model_params=size.model_params,
                   params_exact=size.params_exact, model_bytes=size.model_bytes, code_bytes=size.code_bytes,
                   format_label=size.quant_format, band=size.band, note=f"{script.name}: {size.params_note}")


@functools.cache
def sizer_fingerprint() -> str:
    """sha256 of the sizing code and data (this module, `sweeper/script/`): a cached raw size is only
    reused by the code that computed it."""
    package = Path(__file__).parent / "script"
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sha256_files(Path(__file__), *files)


def estimate_size(script_text: str, env: Mapping[str, str]) -> RawSize:
    """The baseline architecture formula (`sweeper.script.formula`, size_script's fallback) as a raw
    size: what preflight gave every foreign script before size_script (the accuracy bench's baseline)."""
    from sweeper.script import FALLBACK_BAND
    from sweeper.script.formula import formula_size

    size = formula_size(script_text, env)
    return RawSize(method="estimate", basis="estimate", model_params=size.model_params, params_exact=False,
                   model_bytes=size.model_bytes, format_label=size.format_label, band=FALLBACK_BAND, note=size.note)
