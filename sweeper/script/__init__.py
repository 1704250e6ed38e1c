"""A Parameter Golf training script as a thing to read and measure, without a GPU or training.

`size_script(path, env)` reads the script (decoding a compressed self-extracting stub), counts
its model's parameters exactly by building the script's own model class on the meta device at
`env`, detects its export format from the source, and predicts the compressed model bytes with
per-format codec rates fitted on published records (see `sweeper.script.rates`). Where the model
cannot be built it says why and falls back to the baseline architecture formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from sweeper.script.build import BuildFailed, BuiltModel, build_model
from sweeper.script.code_size import code_bytes
from sweeper.script.fitted import FITTED, band_for, basis_for
from sweeper.script.format import ExportFormat, detect_format
from sweeper.script.formula import formula_size
from sweeper.script.rates import census
from sweeper.script.source import ScriptSource, read_source

FALLBACK_BAND = 0.25


class ScriptSize(BaseModel):
    """What a script's model weighs at one env, with how it was counted and how sure it is."""

    model_params: int
    params_exact: bool  # True: the script's own model class was built on meta at this env
    params_note: str  # how it was counted, or why exact sizing failed and what the fallback did
    decoded_stub: bool  # the source was a compressed self-extracting stub that was decoded
    code_bytes: int  # the script's bytes as its `Code size:` line counts them (the stub's own when stubbed)
    quant_format: str  # human label of the export format
    model_bytes: int  # predicted compressed model bytes
    band: float  # relative half-width of the error band (from the fit's residuals)
    method: str  # "format rates" | "formula" (fallback)
    basis: str  # where the rates come from


def size_script(path: Path, env: Mapping[str, str]) -> ScriptSize:
    """Size the script at `path` at config `env`; SpaceError (one line) if it cannot be read or parsed."""
    source = read_source(Path(path))
    try:
        built = build_model(source, env)
    except BuildFailed as exc:
        return _fallback(source, env, str(exc))
    fmt = detect_format(source.text, built.hyperparameters, built.module)
    return _sized(source, built, fmt)


def _sized(source: ScriptSource, built: BuiltModel, fmt: ExportFormat) -> ScriptSize:
    stubs = f"; stubbed imports: {', '.join(built.stubbed)}" if built.stubbed else ""
    decoded = f"decoded from {source.stub_chain}; " if source.decoded_stub else ""
    return ScriptSize(
        model_params=built.params, params_exact=True,
        params_note=f"{decoded}built {built.call} on meta: {built.params:,} params{stubs}",
        decoded_stub=source.decoded_stub, code_bytes=code_bytes(source), quant_format=fmt.label,
        model_bytes=round(FITTED.predict(census(fmt, built.state_shapes))), band=band_for(fmt.family), method="format rates",
        basis=basis_for(fmt.family))


def _fallback(source: ScriptSource, env: Mapping[str, str], reason: str) -> ScriptSize:
    estimate = formula_size(source.text, env)
    return ScriptSize(
        model_params=estimate.model_params, params_exact=False,
        params_note=f"cannot build the script's model: {reason}; fell back to the baseline formula "
                    f"({estimate.model_params:,} params)",
        decoded_stub=source.decoded_stub, code_bytes=code_bytes(source), quant_format=estimate.format_label,
        model_bytes=estimate.model_bytes, band=FALLBACK_BAND, method="formula",
        basis="baseline architecture formula x bytes/param of records")
