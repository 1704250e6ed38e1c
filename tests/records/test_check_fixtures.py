"""`pgolf check --json` on every official fixture folder: the logs' per-seed figures and the claim
mismatches that really exist there (expected values read off the fixture logs and JSON by hand)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from tests.paths import FIXTURES

runner = CliRunner()

# folder -> ({seed: (val_bpb, artifact_bytes, train_time_ms)}, {(claim source, claim field)} that must mismatch)
EXPECTED: dict[str, tuple[dict[int, tuple[float, int, float]], set[tuple[str, str]]]] = {
    "track_10min_16mb/2026-03-17_NaiveBaseline": ({1337: (1.22436570, 15863489, 600038)}, set()),
    "track_10min_16mb/2026-03-18_LongContextSeq2048": (
        {1337: (1.20576485, 15867270, 600038), 1338: (1.20617460, 15861239, 600043),
         1339: (1.20715923, 15861752, 600051)},
        {("submission.json", "val_bpb"), ("submission.json", "val_loss")}),  # seed 1337 reported as the mean
    "track_10min_16mb/2026-03-19_MixedQuant_Int6Int8_SlidingWindow": ({1337: (1.16301431, 15353490, 600044)}, set()),
    "track_10min_16mb/2026-03-20_10L_Int5MLP_MuonWD04_SWA50": (
        {1337: (1.14298416, 15830186, 600083), 2024: (1.14260369, 15684876, 600034),
         42: (1.14271194, 15965978, 600037)},
        {("submission.json", "val_loss"),  # holds the mean bpb
         ("submission.json", "bytes_total"),  # 15900000, rounded
         ("README.md", "table seed 2024 artifact_bytes")}),  # ~15.8M
    "track_10min_16mb/2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248": (
        {1337: (1.12526734, 15639340, 600099), 2025: (1.12484502, 15612308, 599986),
         42: (1.12498291, 15528666, 600046)},
        {("submission.json", "val_bpb"), ("submission.json", "val_loss"), ("submission.json", "bytes_total"),
         ("README.md", "headline val_bpb")}),  # the best seed (2025) presented as the result
    "track_10min_16mb/2026-03-23_LeakyReLU_LegalTTT_ParallelMuon": (
        {1337: (1.11922988, 15977386, 600128), 2025: (1.11888882, 15990006, 600110),
         42: (1.12002032, 15876510, 600128)}, set()),
    "track_10min_16mb/2026-03-24_74M_Ternary_UNet_FP8_10L_8192BPE_YaRN_NeoMuon": (
        {42: (1.1565, 15993853, 599652), 1337: (1.1568, 15995705, 599128), 7: (1.1578, 15992753, 599602)},
        {("submission_ternary.json", "val_bpb"), ("submission_ternary.json", "val_loss"),
         ("submission_ternary.json", "bytes_total")}),  # seed 42 (best) reported as the 3-seed mean
    "track_10min_16mb/2026-04-06_SP8192_QK5_LegalTTT_1.0828": (
        {0: (1.08209788, 15991018, 588035), 42: (1.08314800, 15992546, 588015),
         1234: (1.08313564, 15989058, 588071)},
        {("README.md", "table seed 0 steps"), ("README.md", "table seed 42 steps"),
         ("README.md", "table seed 1234 steps")}),  # README says 5088 steps, logs stop at 5082/5083
    "track_10min_16mb/2026-04-13_VarLenAttn_PhasingTTT2000": (
        {0: (1.07216564, 15996697, 587091), 1: (1.07300174, 15995985, 587073), 2: (1.07325147, 15988805, 587175)},
        set()),
    "track_10min_16mb/2026-04-22_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT_MLPClip12": (
        {314: (1.06356801, 15979114, 596091), 2025: (1.06413130, 15977203, 596136), 777: (1.06466993, 15971178, 596066),
         1: (1.06509678, 15979182, 596056), 1337: (1.06516558, 15971129, 596061)},
        {("submission.json", "seeds"),  # 7 seeds run, 5 best submitted
         ("README.md", "table seed 9999"), ("README.md", "table seed 7")}),
    "track_non_record_16mb/2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3": (
        {1337: (1.20737944, 15810161, 14400039)}, set()),
    "track_non_record_16mb/2026-03-30_ByteJEPA": ({1337: (1.34960213, 15132832, 3600476)}, set()),
}


def _check(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_expectations_cover_every_fixture_folder() -> None:
    folders = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*") if p.is_dir()}
    assert folders == set(EXPECTED)


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_check_reports_the_logs_figures_and_the_claim_mismatches(folder: str) -> None:
    seeds, mismatches = EXPECTED[folder]
    code, report = _check(str(FIXTURES / folder))
    assert {"verdict", "seeds", "violations", "claims", "significance"} <= set(report)
    assert {"policy", "n", "mean_val_loss", "sota_val_loss", "delta_nats", "t", "p", "passes",
            "comparable_units"} <= set(report["significance"])
    got = {s["seed"]: s for s in report["seeds"]}
    assert set(got) == set(seeds)
    for seed, (bpb, artifact, train_ms) in seeds.items():
        assert got[seed]["val_bpb"] == pytest.approx(bpb, abs=1e-8)
        assert got[seed]["artifact_bytes"] == artifact
        assert got[seed]["train_time_ms"] == pytest.approx(train_ms)
        assert {"file", "val_loss", "eval_time_ms", "violations"} <= set(got[seed])
    found = {(c["source"], c["field"]) for c in report["claims"] if not c["ok"]}
    assert found == mismatches
    assert code == (0 if report["verdict"] == "pass" else 1)


def test_identical_copy_of_a_seed_log_is_counted_once_with_a_note() -> None:
    _code, report = _check(str(FIXTURES / "track_10min_16mb/2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248"))
    assert sorted(s["seed"] for s in report["seeds"]) == [42, 1337, 2025]
    assert any("train.log" in n and "byte-identical" in n and "counted once" in n for n in report["notes"])
    assert report["significance"]["n"] == 3


def test_four_hour_non_record_run_fails_the_training_budget_unless_checked_as_non_record() -> None:
    folder = str(FIXTURES / "track_non_record_16mb/2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3")
    code, report = _check(folder)
    assert code == 1 and report["verdict"] == "fail"
    assert [v["code"] for v in report["violations"]] == ["train_time_over_limit"]
    assert "14,400.0 s" in report["violations"][0]["message"]
    assert any("--non-record" in n for n in report["notes"])
    code, report = _check(folder, "--non-record")
    assert code == 0 and report["violations"] == []


def test_significance_against_a_records_folder_on_another_val_export_runs_in_bpb() -> None:
    code, report = _check(str(FIXTURES / "track_10min_16mb/2026-03-18_LongContextSeq2048"),
                          "--sota", str(FIXTURES / "track_10min_16mb/2026-03-17_NaiveBaseline"))
    sig = report["significance"]
    assert code == 0 and sig["passes"] is True and sig["comparable_units"] == "bpb"
    assert sig["sota_val_loss"] == pytest.approx(2.07269931)
    assert sig["margin_bpb"] == pytest.approx(0.005 / (2.03657529 / 1.20617460), rel=1e-3)
    assert "not comparable" in sig["statement"]


def test_a_worse_candidate_fails_significance_in_nats_on_the_same_stream() -> None:
    code, report = _check(str(FIXTURES / "track_10min_16mb/2026-04-06_SP8192_QK5_LegalTTT_1.0828"),
                          "--sota", str(FIXTURES / "track_10min_16mb/2026-04-13_VarLenAttn_PhasingTTT2000"))
    assert code == 1
    assert report["significance"]["comparable_units"] == "nats" and report["significance"]["passes"] is False
    assert "not_significant" in {v["code"] for v in report["violations"]}


def test_frontier_policy_uses_welch_and_its_own_alpha() -> None:
    code, report = _check(str(FIXTURES / "track_10min_16mb/2026-03-23_LeakyReLU_LegalTTT_ParallelMuon"),
                          "--sota", str(FIXTURES / "track_10min_16mb/2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248"),
                          "--policy", "frontier", "--alpha", "0.1")
    sig = report["significance"]
    assert sig["policy"] == "frontier" and sig["alpha"] == 0.1 and "Welch" in sig["test"]
    assert sig["comparable_units"] == "nats" and sig["passes"] is True and code == 0


def test_human_output_names_the_verdict_and_each_mismatch() -> None:
    result = runner.invoke(app, ["check", str(FIXTURES / "track_10min_16mb/2026-03-20_10L_Int5MLP_MuonWD04_SWA50")])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    assert "val_bpb reported in the val_loss field" in " ".join(result.output.split())


def test_check_table_keeps_every_seeds_numbers_whole_at_80_columns() -> None:
    folder = FIXTURES / "track_10min_16mb/2026-03-20_10L_Int5MLP_MuonWD04_SWA50"
    result = runner.invoke(app, ["check", str(folder)], env={"COLUMNS": "80"})
    report = json.loads(runner.invoke(app, ["check", str(folder), "--json"]).stdout)
    assert "…" not in result.stdout
    for seed in report["seeds"]:
        for whole in (f"{seed['val_loss']:.8f}", f"{seed['val_bpb']:.8f}", f"{seed['artifact_bytes']:,}"):
            assert whole in result.stdout
    assert "tokenizer: " in result.stdout  # one tokenizer for every seed: a caption line, not a column
