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
    """The baseline architecture formula over the env (NUM_LAYERS, MODEL_DIM, NUM_HEADS, NUM_KV_HEADS,
    MLP_MULT, VOCAB_SIZE, TIE_EMBEDDINGS, BIGRAM_*; defaults read from the script's own
    `os.environ.get` calls) x the bytes/param records measured for its quant format: what
    `sweeper.script` falls back to when it cannot build a script's own model."""
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
    return RawSize(method="estimate", basis="estimate", model_params=n_params, params_exact=False,
                   model_bytes=round(n_params * per_param), format_label=f"int{bits} (estimated)", band=0.25,
                   note=note)
