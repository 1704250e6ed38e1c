"""W&B tracking: mode choice, offline runs read back, secret scrubbing, and bounded sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.secrets import MASK, Redactor, is_secret_name, without_secrets
from sweeper.tune.tracking import RunIdentity, TrialTracker, scrubbed_config, sync_offline_runs
from sweeper.wandb_env import resolve_mode
from sweeper.wandb_offline import find_offline_runs, read_offline_run

SECRET = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def no_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)


def test_secret_names_are_whole_name_parts() -> None:
    for name in ("WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "api_key"):
        assert is_secret_name(name), name
    for name in ("TRAIN_BATCH_TOKENS", "TOKENIZER_PATH", "VAL_MAX_TOKENS", "BIGRAM_VOCAB_SIZE", "SEED"):
        assert not is_secret_name(name), name


def test_redactor_masks_values_and_secret_keys_at_any_depth() -> None:
    redact = Redactor.from_env({"WANDB_API_KEY": SECRET, "SEED": "1"})
    scrubbed = redact.scrub({"note": f"key={SECRET}", "nested": {"HF_TOKEN": "x"}, "list": [SECRET], "n": 3})
    assert scrubbed == {"note": f"key={MASK}", "nested": {"HF_TOKEN": MASK}, "list": [MASK], "n": 3}
    assert without_secrets({"WANDB_API_KEY": SECRET, "SEED": "1"}) == {"SEED": "1"}


def test_mode_is_offline_without_a_key_and_online_with_one(no_netrc: None) -> None:
    assert resolve_mode(None, {}) == "offline"
    assert resolve_mode(None, {"WANDB_API_KEY": SECRET}) == "online"


def test_an_explicit_mode_wins_and_wandb_mode_wins_over_it(no_netrc: None) -> None:
    assert resolve_mode("offline", {"WANDB_API_KEY": SECRET}) == "offline"
    assert resolve_mode("online", {}) == "online"  # a key we cannot see may exist; the tracker falls back
    assert resolve_mode("disabled", {"WANDB_API_KEY": SECRET}) == "disabled"
    assert resolve_mode(None, {"WANDB_API_KEY": SECRET, "WANDB_MODE": "disabled"}) == "disabled"
    assert resolve_mode("online", {"WANDB_MODE": "dryrun"}) == "offline"  # W&B's old name for offline


def test_online_without_a_key_falls_back_to_an_offline_run(no_netrc: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    identity = RunIdentity(run_id="o-s1-x", project="p", group="o", job_type="screen", name="o-s1", tags=[], config={})
    tracker = TrialTracker(identity, "online", tmp_path)
    assert tracker.mode == "offline" and tracker.run_id == "o-s1-x"
    tracker.finish({"status": "finished"}, ok=True)
    (path,) = find_offline_runs(tmp_path)
    assert read_offline_run(path).summary["status"] == "finished"


def test_mode_finds_a_key_in_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_mode(None, {}) == "online"


def test_scrubbed_config_never_holds_a_key() -> None:
    config = scrubbed_config({"WANDB_API_KEY": SECRET, "NOTE": f"uses {SECRET}", "MATRIX_LR": "0.04"},
                             env={"WANDB_API_KEY": SECRET})
    assert config == {"NOTE": f"uses {MASK}", "MATRIX_LR": "0.04"}


def test_offline_run_holds_group_config_history_summary_and_exit(tmp_path: Path) -> None:
    identity = RunIdentity(run_id="abc123-s1-x", project="pgolf-test", group="abc123", job_type="screen",
                           name="abc123-s1", tags=["sweep:t", "seed:1", "stage:screen"],
                           config={"MATRIX_LR": "0.04", "seed": 1, "config_id": "abc123"})
    tracker = TrialTracker(identity, "offline", tmp_path)
    tracker.log({"train_loss": 3.5}, step=1)
    tracker.log({"val_loss": 2.5, "val_bpb": 1.5}, step=2)
    tracker.finish({"val_bpb": 1.25, "artifact_bytes": 123, "status": "finished"}, ok=True)
    tracker.finish({"status": "again"}, ok=False)  # idempotent: the run is closed once

    (path,) = find_offline_runs(tmp_path)
    run = read_offline_run(path)
    assert (run.run_id, run.group, run.job_type, run.name) == ("abc123-s1-x", "abc123", "screen", "abc123-s1")
    assert run.tags == ["sweep:t", "seed:1", "stage:screen"]
    assert run.config["MATRIX_LR"] == "0.04" and run.config["seed"] == 1
    assert [(h["step"], h.get("train_loss"), h.get("val_bpb")) for h in run.history] == [(1, 3.5, None), (2, None, 1.5)]
    assert run.summary["val_bpb"] == 1.25 and run.summary["status"] == "finished"
    assert run.exit_code == 0


def test_failed_attempt_run_has_exit_code_one(tmp_path: Path) -> None:
    identity = RunIdentity(run_id="f-s1-x", project="p", group="f", job_type="screen", name="f-s1", tags=[], config={})
    TrialTracker(identity, "offline", tmp_path).finish({"status": "failed"}, ok=False)
    (path,) = find_offline_runs(tmp_path)
    assert read_offline_run(path).exit_code == 1


def test_disabled_tracking_writes_nothing(tmp_path: Path) -> None:
    identity = RunIdentity(run_id="d", project="p", group="g", job_type="screen", name="d", tags=[], config={})
    tracker = TrialTracker(identity, "disabled", tmp_path)
    tracker.log({"train_loss": 1.0}, step=1)
    tracker.finish({}, ok=True)
    assert tracker.run_id is None and find_offline_runs(tmp_path) == []


def test_sync_gives_up_after_its_timeout_without_leaking_the_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "wandb" / "offline-run-20260101_000000-x"
    run_dir.mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "WANDB_API_KEY": SECRET, "WANDB_BASE_URL": "http://127.0.0.1:9"}
    outcome = sync_offline_runs([run_dir], env, timeout_s=0.3)
    assert not outcome.ok and "0.3 s" in outcome.message and SECRET not in outcome.message
    assert sync_offline_runs([], env, timeout_s=1).ok
