"""The fallback when a script's model cannot be built: the baseline architecture's parameter formula.

Shape hyperparameters come from the env, else from the script's `os.environ.get("NAME", default)`
defaults, else the baseline's; bytes are params x the compressed bytes per parameter that records
measured for the weight format named in the script's `Serialized model intN...` label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel

# Compressed model bytes per parameter measured in record logs, by weight quant format.
BYTES_PER_PARAM = {
    8: 0.927,  # 2026-03-17_NaiveBaseline: int8+zlib 15,815,847 B / 17,059,912 params
    6: 0.590,  # 2026-03-23_LeakyReLU_LegalTTT_ParallelMuon: int6+lzma 15,887,928 B / 26,928,220
    5: 0.460,  # PR576 33.6M int5 GPTQ: ~15.45 MB / 33,580,124 (stack-spec sections 1, 3.11)
    4: 0.370,  # extrapolated from int5 (4/5 of its bytes/param); no record measures it
}
BASELINE_DEFAULTS = {"NUM_LAYERS": 9, "MODEL_DIM": 512, "NUM_HEADS": 8, "NUM_KV_HEADS": 4, "MLP_MULT": 2,
                     "VOCAB_SIZE": 1024, "TIE_EMBEDDINGS": 1, "BIGRAM_VOCAB_SIZE": 0, "BIGRAM_DIM": 128}


class FormulaSize(BaseModel):
    model_params: int
    model_bytes: int
    format_label: str
    note: str


def formula_size(script_text: str, env: Mapping[str, str]) -> FormulaSize:
    """Parameters of the baseline architecture at `env`, and bytes at the script's labelled format."""
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
    return FormulaSize(model_params=n_params, model_bytes=round(n_params * per_param),
                       format_label=f"int{bits} (estimated)", note=note)
