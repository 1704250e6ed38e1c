"""The byte rates fitted on published records (written by `bench/preflight_accuracy.py --write-fit`).

Bands are honest: each family's band covers its records' leave-one-out errors (the error on a
record the fit did not see), never under `rates.MIN_BAND`; a family without records gets the
widest band seen.
"""

from __future__ import annotations

from pathlib import Path

from sweeper.script.rates import MIN_BAND, Rates

# --- generated: do not edit by hand ---
TRAINED = {"row-max": 1.2729329, "sigma-clip": 0.9946804, "ternary": 0.9992239}
AMAX_SIGMAS = 8.0
FLOOR_SIGMAS = 12.0
LOO_ERRORS = {
    "2026-03-17_NaiveBaseline": ("row-max", -0.0275),
    "2026-03-18_LongContextSeq2048": ("row-max", -0.0275),
    "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3": ("row-max", -0.0237),
    "2026-03-19_MixedQuant_Int6Int8_SlidingWindow": ("row-max", +0.1103),
    "2026-03-20_10L_Int5MLP_MuonWD04_SWA50": ("row-max", -0.1263),
    "2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248": ("row-max", -0.0179),
    "2026-03-23_LeakyReLU_LegalTTT_ParallelMuon": ("row-max", +0.0389),
    "2026-03-24_74M_Ternary_UNet_FP8_10L_8192BPE_YaRN_NeoMuon": ("ternary", +0.0007),
    "2026-03-30_ByteJEPA": ("row-max", +0.0387),
    "2026-04-06_SP8192_QK5_LegalTTT_1.0828": ("sigma-clip", -0.0004),
    "2026-04-13_VarLenAttn_PhasingTTT2000": ("sigma-clip", +0.0008),
    "2026-04-22_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT_MLPClip12": ("sigma-clip", -0.0004),
}
# --- end generated ---

FITTED = Rates(trained=TRAINED, amax_sigmas=AMAX_SIGMAS, floor_sigmas=FLOOR_SIGMAS, residuals={},
               counts={f: sum(1 for fam, _ in LOO_ERRORS.values() if fam == f) for f in TRAINED if f})


def band_for(family: str) -> float:
    """Relative half-width for a prediction in `family`: its worst leave-one-out error, x1.1."""
    errors = [abs(e) for fam, e in LOO_ERRORS.values() if fam == family] or [abs(e) for _, e in LOO_ERRORS.values()]
    return round(max(MIN_BAND, 1.1 * max(errors, default=0.25)), 4)


def basis_for(family: str) -> str:
    n = FITTED.counts.get(family, 0)
    return f"rates fitted on {len(LOO_ERRORS)} published records ({family}: {n})"


def write_fitted(rates: Rates, loo: dict[str, float], families: dict[str, str]) -> Path:
    """Rewrite the generated block of this file with `rates` and the leave-one-out errors."""
    path = Path(__file__)
    trained = ", ".join(f'"{k}": {v:.7f}' for k, v in sorted(rates.trained.items()))
    errors = "".join(f'    "{name}": ("{families[name]}", {err:+.4f}),\n' for name, err in sorted(loo.items()))
    block = (f"TRAINED = {{{trained}}}\nAMAX_SIGMAS = {rates.amax_sigmas}\nFLOOR_SIGMAS = {rates.floor_sigmas}\n"
             f"LOO_ERRORS = {{\n{errors}}}\n")
    text = path.read_text()
    head, rest = text.split("# --- generated: do not edit by hand ---\n")
    _, tail = rest.split("# --- end generated ---\n")
    path.write_text(f"{head}# --- generated: do not edit by hand ---\n{block}# --- end generated ---\n{tail}")
    return path
