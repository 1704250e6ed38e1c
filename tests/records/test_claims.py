"""Claims in submission.json / README.md compared with the logs, for the shapes the records use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sweeper.records.claims import JsonNumber, check_submission, mentioned_seeds
from sweeper.records.readme_claims import check_readme
from sweeper.records.schema import Fingerprint, Limits, SeedRun
from sweeper.records.sota import resolve_sota
from tests.records.helpers import BASELINE, SEQ2048

FP = Fingerprint(tokenizer="sp1024", stream="fineweb-val", ratio=1.6885, val_tokens=None)


def _run(seed: int, bpb: float, artifact: int = 15_900_000) -> SeedRun:
    return SeedRun(seed=seed, val_loss=round(bpb * 1.6885, 8), val_bpb=bpb, artifact_bytes=artifact,
                   code_bytes=50_000, train_seconds=600.04, eval_seconds=70.0, steps=7000, log_path=f"s{seed}.log",
                   log_sha256="0" * 64, fingerprint=FP)


RUNS = [_run(1, 1.1201), _run(2, 1.1215), _run(3, 1.1230, artifact=16_000_100)]


def _bad(checks: list) -> dict[str, str]:
    return {c.field: c.note for c in checks if not c.ok}


def test_per_seed_results_listed_with_a_seed_key_are_compared() -> None:
    text = '{"seeds": [{"seed": 1, "val_bpb": 1.1201, "steps": 7000}, {"seed": 2, "val_bpb": 1.1300}, {"seed": 9}]}'
    data = json.loads(text, parse_float=JsonNumber)  # as folder.py reads it: 1.1300 keeps its four decimals
    bad = _bad(check_submission(data, RUNS, Limits()))
    assert set(bad) == {"seeds.2.val_bpb", "seeds.9", "seeds"}
    assert "no log" in bad["seeds.9"] and "[9]" in bad["seeds"]


def test_a_compliance_claim_the_logs_contradict() -> None:
    bad = _bad(check_submission({"compliance": {"artifact_under_16mb": True, "no_slot": True}}, RUNS, Limits()))
    assert set(bad) == {"compliance.artifact_under_16mb"}


def test_times_in_seconds_or_milliseconds_agree_within_a_second() -> None:
    data = {"seed_results": {"1": {"train_time_s": 600.5, "eval_time_ms": 72_500}}}
    bad = _bad(check_submission(data, RUNS, Limits()))
    assert set(bad) == {"seed_results.1.eval_time_ms"}


def test_mentioned_seeds_are_found_in_every_customary_place() -> None:
    data = {"seed": 5, "seeds": [1, 2], "seed_results": {"3": {"steps": 10}}, "runs": {"all_seeds": [4]},
            "compliance": {"three_seeds": True}, "steps": [6, 7]}
    assert mentioned_seeds(data) == {1, 2, 3, 4, 5}


def test_readme_table_with_a_score_that_is_not_the_log_s() -> None:
    readme = "| Seed | Post-TTT bpb | Artifact |\n|---|---|---|\n| 1 | **1.1201** | 15,900,000 |\n| 2 | 1.1290 | 15,900,000 |\n"
    bad = _bad(check_readme(readme, RUNS))
    assert list(bad) == ["table seed 2 post-ttt bpb"]


def test_sota_folder_needs_logs_but_no_submission_json(tmp_path: Path) -> None:
    folder = tmp_path / "sota"
    folder.mkdir()
    shutil.copyfile(BASELINE / "train.log", folder / "train.log")
    sota = resolve_sota(str(folder), [])
    assert sota.val_losses == [2.07269931] and sota.fingerprint is not None
    assert sota.fingerprint.stream == "fineweb-val-first-export"
    assert resolve_sota(str(SEQ2048), []).val_bpbs == [1.20576485, 1.2061746, 1.20715923]
