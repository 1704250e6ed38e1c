"""A script's export format, read from its real source: what each tensor becomes, and the compressor.

Detected, in order of trust: the script's hyperparameters (`matrix_bits`, `embed_bits`,
`*_clip_sigmas`, `compressor`), its export code (row-clip ranges such as `clip_range=31`,
`15 if cat == "mlp"`, the categories passed to a mixed quantiser, name patterns kept in fp16,
the largest numel kept as a float passthrough), and its `Serialized model <format>+<codec>` label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PASSTHROUGH_NUMEL = 65_536
ANY_LEVELS = 0  # in ExportFormat.floored_levels: the floor is written with a variable range
COMPRESSORS = ("brotli", "zstd", "lzma", "zlib", "lrzip")


@dataclass(frozen=True)
class TensorKind:
    """What one state-dict tensor is stored as."""

    kind: str  # "int" (per-row scaled integers), "ternary", "float"
    bits: float  # integer bits, ~1.6 for ternary, 16/32 for floats
    clip_sigmas: float | None = None  # GPTQ/sigma clip; None: clip at the row's max
    floored: bool = False  # the row scale is clamped to >= 1/levels (small trained rows use fewer levels)

    @property
    def label(self) -> str:
        return f"int{int(self.bits)}" if self.kind == "int" else self.kind if self.kind == "ternary" else f"fp{int(self.bits)}"


@dataclass(frozen=True)
class ExportFormat:
    compressor: str
    level: int | None
    gptq: bool
    byte_shuffle: bool
    passthrough_numel: int
    matrix_bits: int
    mlp_bits: int
    embed: TensorKind
    ternary: bool = False
    clip: dict[str, float] = field(default_factory=dict)  # category -> clip sigmas (GPTQ scripts)
    fp8_floats: bool = False  # large non-ternary matrices stored as fp8 (ternary exports' FP_STORAGE=FP8)
    floored_levels: frozenset[int] = frozenset()  # grids (levels) whose row scales have a 1/levels floor
    int8_row_suffixes: tuple[str, ...] = ()  # small tensors routed to an int8-per-row path before passthrough
    group_size: int = 64  # weights per fp16 scale in ternary exports (`*group_size` hyperparameter)
    dropped_names: frozenset[str] = frozenset()  # state-dict keys the export pops (e.g. an untied head copy)
    dropped_parts: tuple[str, ...] = ()  # `if "<part>" in name: continue` in the export: not stored

    def exported(self, name: str) -> bool:
        return name not in self.dropped_names and not any(part in name for part in self.dropped_parts)

    @property
    def family(self) -> str:
        """The quantiser family whose trained-weight factor is fitted separately: what sets the grid
        step is what trained weights change (a clip in sigmas, GPTQ or not; a row max; ternary)."""
        return "ternary" if self.ternary else "sigma-clip" if self.clip else "row-max"

    def _int(self, bits: int, clip: float | None) -> TensorKind:
        levels = 2 ** (bits - 1) - 1
        return TensorKind("int", bits, clip, floored=clip is None and bool({levels, ANY_LEVELS} & self.floored_levels))

    def kind_of(self, name: str, shape: tuple[int, ...], dtype: str) -> TensorKind:
        numel = math.prod(shape)
        if not dtype.startswith(("float", "bfloat")):
            return TensorKind("float", 8 * _dtype_bytes(dtype))
        if len(shape) == 2 and name.endswith(self.int8_row_suffixes or ("\0",)):
            return TensorKind("int", 8)
        if len(shape) < 2 or numel <= self.passthrough_numel:
            return TensorKind("float", 16)
        category = category_of(name)
        if self.ternary:
            return TensorKind("float", 8 if self.fp8_floats else 16) if category == "embed" else TensorKind("ternary", 1.6)
        if category == "embed":
            return self._int(int(self.embed.bits), self.embed.clip_sigmas) if self.embed.kind == "int" else self.embed
        bits = self.mlp_bits if category == "mlp" else self.matrix_bits
        return self._int(bits, self.clip.get(category, self.clip.get("matrix")))

    @property
    def label(self) -> str:
        embed = "fp8" if self.fp8_floats else self.embed.label
        body = "ternary" if self.ternary else (
            f"int{self.matrix_bits}" if self.mlp_bits == self.matrix_bits else f"int{self.mlp_bits} mlp + int{self.matrix_bits} attn")
        codec = self.compressor + (f"-{self.level}" if self.level is not None else "")
        return (f"{body}{' GPTQ' if self.gptq else ''} + {embed} embed + fp16 passthrough "
                f"(<= {self.passthrough_numel:,}){' + byte shuffle' if self.byte_shuffle else ''}, {codec}")


def _dtype_bytes(dtype: str) -> int:
    return {"int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}.get(dtype, 4)


def category_of(name: str) -> str:
    """The quantisation category most scripts use (`_classify_param`)."""
    if "tok_emb" in name or "lm_head" in name:
        return "embed"
    if re.search(r"(^|\.)mlp", name):
        return "mlp"
    return "attn"


def detect_format(text: str, hp: Any, module: Any = None) -> ExportFormat:
    """The export format of a script's real source `text`, its hyperparameters `hp` and imported module."""
    compressor, level = _compressor(text, hp, module)
    gptq = bool(re.search(r"def \w*gptq\w*\(", text, re.IGNORECASE)) and "hessian" in text.lower()
    matrix_bits = _hp_int(hp, "matrix_bits") or _label_bits(text) or _clip_range_bits(text) or 8
    mlp_bits = _hp_int(hp, "mlp_bits") or _mlp_override_bits(text) or matrix_bits
    clip = {cat: float(getattr(hp, f"{cat}_clip_sigmas")) for cat in ("matrix", "mlp", "attn", "embed")
            if isinstance(getattr(hp, f"{cat}_clip_sigmas", None), (int, float))}
    return ExportFormat(
        compressor=compressor, level=level, gptq=gptq, byte_shuffle="byte_shuffle" in text,
        passthrough_numel=_passthrough_numel(text), matrix_bits=matrix_bits, mlp_bits=mlp_bits,
        embed=_embed_kind(text, hp, matrix_bits, clip.get("embed")), ternary=_is_ternary(text), clip=clip,
        fp8_floats=bool(getattr(hp, "fp_storage", False)) and _is_ternary(text),
        floored_levels=_floored_levels(text), int8_row_suffixes=_int8_row_suffixes(text, hp),
        group_size=next((int(v) for k, v in vars(type(hp)).items() if k.endswith("group_size") and isinstance(v, int)),
                        64),
        dropped_names=frozenset(re.findall(r"\.pop\(\s*[\"']([\w.]+)[\"']", text)),
        dropped_parts=tuple(sorted(set(re.findall(r"if\s+[\"']([\w.]+)[\"']\s+in\s+name\s*:\s*\n?\s*continue", text)))))


def _hp_int(hp: Any, name: str) -> int | None:
    value = getattr(hp, name, None)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _module_compressor(module: Any) -> str:
    """A module-level choice such as `_COMPRESSOR = "zstd"` (set by a guarded import), or ""."""
    for key, value in vars(module).items() if module is not None else ():
        if "COMPRESS" in key.upper() and isinstance(value, str) and value.lower() in COMPRESSORS:
            return value.lower()
    return ""


def _compressor(text: str, hp: Any, module: Any) -> tuple[str, int | None]:
    name = str(getattr(hp, "compressor", "") or "").lower()
    label = re.search(r"Serialized model [^:{\"']*?\+(brotli|zstd|lzma|zlib|lrzip)", text)
    name = name or (label.group(1) if label else "") or _module_compressor(module)
    if not name:
        used = [c for c in COMPRESSORS if re.search(rf"\b{c}\w*\.(compress|ZstdCompressor)", text)]
        used = ["zstd"] if re.search(r"ZstdCompressor\(", text) else used
        name = used[0] if used else "zlib"
    patterns = {"brotli": r"brotli\.compress\([^)]*quality\s*=\s*(\d+)", "zstd": r"ZstdCompressor\((?:level\s*=\s*)?(\d+)",
                "lzma": r"lzma\.compress\([^)]*preset\s*=\s*(\d+)", "zlib": r"zlib\.compress\([^,()]+,\s*(?:level\s*=\s*)?(\d+)"}
    found = re.search(patterns.get(name, r"$^"), text)
    return name, int(found.group(1)) if found else None


def _label_bits(text: str) -> int | None:
    labels = re.findall(r"Serialized model (?:mixed_)?int(\d)", text)
    return min(int(b) for b in labels) if labels else None


def _clip_range_bits(text: str) -> int | None:
    ranges = [int(r) for r in re.findall(r"(?:clip_range|QUANT_RANGE)\w*\s*(?::\s*int\s*)?=\s*(\d+)", text)]
    return min(int(math.log2(r + 1)) + 1 for r in ranges) if ranges else None


def _mlp_override_bits(text: str) -> int | None:
    found = re.search(r"(\d+)\s+if\s+cat\s*==\s*[\"']mlp[\"']", text)
    return int(math.log2(int(found.group(1)) + 1)) + 1 if found else None


def _passthrough_numel(text: str) -> int:
    """The largest numel kept as a float: the `numel() <= N` test followed by a passthrough/keep branch."""
    constants = {k: v for k, v in re.findall(r"^(\w+)\s*=\s*([\d_]+)\s*$", text, re.MULTILINE)}
    for match in re.finditer(r"numel\(\)\s*<=\s*(\w+)", text):
        after = text[match.end():match.end() + 250].lower()
        value = str(constants.get(match.group(1), match.group(1))).replace("_", "")
        if value.isdigit() and ("passthrough" in after or "keep_float" in after):
            return int(value)
    return DEFAULT_PASSTHROUGH_NUMEL


def _embed_kind(text: str, hp: Any, matrix_bits: int, clip: float | None) -> TensorKind:
    bits = _hp_int(hp, "embed_bits")
    if bits:
        return TensorKind("int", bits, clip)
    keep = re.search(r"FP16_KEEP_NAME_PATTERNS[^\n]*?[\"']([^\"']*tok_emb[^\"']*)[\"']", text)
    if keep:
        return TensorKind("float", 16)
    cats = re.search(r"mixed_quantize_int\d\([^,()]+,\s*\{([^}]*)\}", text)
    if cats and "embed" in cats.group(1):
        return TensorKind("int", matrix_bits)
    return TensorKind("int", 8)


def _floored_levels(text: str) -> frozenset[int]:
    """Grids whose row scale is clamped to >= 1/levels (`clamp_min(1.0 / 31.0)`; a named range: any grid)."""
    found = re.findall(r"clamp_min\(\s*1(?:\.0*)?\s*/\s*([\w.]+)\s*\)", text)
    return frozenset(int(float(x)) if x[0].isdigit() else ANY_LEVELS for x in found)


def _int8_row_suffixes(text: str, hp: Any) -> tuple[str, ...]:
    """Name suffixes an export sends to an int8 row quantiser (`name.endswith(".attn_gate_w")` ... int8),
    unless a hyperparameter switching that path (`*quant_gate*`) is off."""
    switches = [v for k, v in vars(type(hp)).items() if "quant_gate" in k] + [
        v for k, v in getattr(hp, "__dict__", {}).items() if "quant_gate" in k]
    if switches and not all(switches):
        return ()
    found = re.finditer(r"name\.endswith\(\s*[\"']([^\"']+)[\"']\s*\)", text)
    return tuple(sorted({m.group(1) for m in found if "int8" in text[m.end():m.end() + 300]}))


def _is_ternary(text: str) -> bool:
    return bool(re.search(r"def \w*ternary\w*\(", text))
