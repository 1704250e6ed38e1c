"""Search spaces for the tune tests: the stand-in script replaying real logs, and the tiny trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeper.space import SearchSpace
from tests.paths import FIXTURES, TRAINER
from tests.trainer.tiny import TINY_CONFIG

FAKE_WANDB_KEY = "fake0wandb0key0for0tests0000000000000000"  # 40 chars, like a real key
# Secrets every Ray worker of the test session holds (as on a real cluster), by name and by value shape;
# none may reach any byte under a sweep directory.
SECRET_ENV = {
    "WANDB_API_KEY": FAKE_WANDB_KEY,
    "WANDB_KEY": "wandbkey-Qm7Zt2Lx9Vr4Nc8Ps1Hd6Jf3",
    "GITHUB_PAT": "ghp_" + "Tz5Rq8Mv2Xw7Lk4Nb9Hc3Jd6Pf1Gs0Ya8Ue",
    "DB_SECRETS": "db-secret-Yw4Kp8Nz3Rc",
    "MY_AUTH": "auth-Hx7Vb2Qn9Lm5",
    "BACKUP_PASSPHRASE": "correct horse battery staple 4417",
    "DEPLOY_NOTE": "hf_" + "Gk2Lm4Nq6Rs8Tu0Vw1Xy3Za5Bc7De9Fg",  # innocent names, key-shaped values
    "BUILD_STAMP": "xoxb-" + "880022446-6644220088-Rt5Yu7Io9Pa1Sd3Fg",
    "CACHE_ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4",
    "NOTE_BLOB": "Zq3Xw8Ce5Rv1Tb6Yn2Um7Ik4Ol9Pj0Hg5Fd3Sa",
}
STANDIN = Path(__file__).with_name("standin_train_gpt.py")
RECORDS = FIXTURES / "track_10min_16mb"
BASELINE_LOG = RECORDS / "2026-03-17_NaiveBaseline" / "train.log"  # val_bpb 1.22436570
SEQ2048_LOG = RECORDS / "2026-03-18_LongContextSeq2048" / "train.log"  # val_bpb 1.20576485


def standin_space(data: Any, name: str, **fields: Any) -> SearchSpace:
    """A CPU space running the stand-in on the baseline log; `fields` override any SearchSpace
    field, and swept params replace their fixed values."""
    env = {"STANDIN_SLEEP": 0, "STANDIN_LOG": str(BASELINE_LOG), **fields.pop("env", {})}
    spec: dict[str, Any] = {
        "name": name, "script": str(STANDIN), "data_path": str(data.data_dir),
        "tokenizer_path": str(data.tokenizer_path), "resources": {"gpus": 0, "cpus": 1},
        "env": {k: v for k, v in env.items() if k not in fields.get("params", {})},
        "seeds": [1], "replicate_top_k": 0, "search": {"max_concurrent": 2},
        "limits": {"trial_timeout_s": 120},
    }
    spec.update(fields)
    return SearchSpace.model_validate(spec)


def tiny_trainer_space(data: Any, name: str, **fields: Any) -> SearchSpace:
    """The real trainer, tiny CPU config (tests/trainer/tiny.py) on the demo data; swept params
    replace their fixed values."""
    env = {**TINY_CONFIG, "VOCAB_SIZE": str(data.vocab_size), **fields.pop("env", {})}
    spec: dict[str, Any] = {
        "name": name, "script": str(TRAINER), "data_path": str(data.data_dir),
        "tokenizer_path": str(data.tokenizer_path), "resources": {"gpus": 0, "cpus": 1},
        "env": {k: v for k, v in env.items() if k not in fields.get("params", {})}, "seeds": [1], "replicate_top_k": 0,
        "search": {"max_concurrent": 2}, "limits": {"trial_timeout_s": 300},
    }
    spec.update(fields)
    return SearchSpace.model_validate(spec)
