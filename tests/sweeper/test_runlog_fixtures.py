"""The log parser on the twelve real record folders: every log against what its README/submission claim.

Expectations are read from each folder's submission*.json (top-level and per-seed `seeds`/`seed_results`)
and README (tables with a Seed column, `SEED=N ... val_bpb=X` bullets), never from the parser. The
claims that do not match the logs (log-formats.md: best seed reported as the mean, bpb in the
val_loss field, rounded bytes) are asserted explicitly in KNOWN_MISMATCHES tests below.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sweeper.runlog import LogParser, RunResult, parse_lines, parse_log
from tests.paths import FIXTURES

FOLDERS = sorted(p.parent for p in FIXTURES.glob("track_*/*/README.md"))
LOGS = sorted(
    p
    for folder in FOLDERS
    for p in folder.rglob("*")
    if p.suffix in {".log", ".txt"} and p.name != "requirements.txt"
)
BEST_SEED_REPORTED = {
    "2026-03-18_LongContextSeq2048",
    "2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248",
    "2026-03-24_74M_Ternary_UNet_FP8_10L_8192BPE_YaRN_NeoMuon",
}
BPB_IN_VAL_LOSS_AND_ROUNDED_BYTES = "2026-03-20_10L_Int5MLP_MuonWD04_SWA50"


def folder_of(name: str) -> Path:
    return next(f for f in FOLDERS if f.name == name)


@cache
def parsed(path: Path) -> RunResult:
    return parse_log(path)


def logs_in(folder: Path) -> list[Path]:
    return [log for log in LOGS if folder in log.parents]


def by_seed(folder: Path) -> dict[int, RunResult]:
    """One result per seed (11L ships train.log as a copy of its seed-2025 log)."""
    return {parsed(log).seed: parsed(log) for log in logs_in(folder)}  # type: ignore[misc]


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


# ---------------------------------------------------------------- claims, read generally
def submission(folder: Path) -> dict[str, Any]:
    (path,) = folder.glob("submission*.json")
    return json.loads(path.read_text())


def json_seed_claims(folder: Path) -> dict[int, dict[str, Any]]:
    """`seed_results` / `seeds` when it maps seed -> {metric: value}."""
    claims = submission(folder)
    table = claims.get("seed_results") or claims.get("seeds")
    return {int(seed): values for seed, values in table.items()} if isinstance(table, dict) else {}


def readme_seed_rows(folder: Path) -> dict[int, list[str]]:
    """Seed -> every number in a README row about that seed (tables with a Seed column, SEED= bullets)."""
    rows: dict[int, list[str]] = {}
    seed_column = None
    for line in (folder / "README.md").read_text().splitlines():
        cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|"):
            seed_column = None
            if m := re.search(r"SEED=(\d+)", line):
                rows.setdefault(int(m.group(1)), []).extend(re.findall(r"\d+\.\d+", line))
        elif any(c.lower() == "seed" for c in cells):
            seed_column = [c.lower() for c in cells].index("seed")
        elif seed_column is not None and cells[seed_column].isdigit():
            numbers = [
                m.group(0)
                for i, c in enumerate(cells)
                if i != seed_column and (m := re.match(r"[~≈]?-?[\d,]+(?:\.\d+)?[MK]?", c))
            ]
            rows.setdefault(int(cells[seed_column]), []).extend(numbers)
    return rows


def readme_decimals(row: list[str]) -> list[str]:
    return [n for n in row if "." in n and not n.endswith(("M", "K")) and not n.startswith("~")]


def readme_byte_counts(row: list[str]) -> set[int]:
    return {int(n.replace(",", "")) for n in row if re.fullmatch(r"\d{1,3}(,\d{3}){2,}|\d{7,}", n)}


def rounds_to(value: float, printed: str) -> bool:
    return round(value, decimals(printed)) == float(printed.replace(",", ""))


# ---------------------------------------------------------------- every log
@pytest.mark.parametrize("log", LOGS, ids=lambda p: f"{p.parent.name[:30]}/{p.name}")
def test_every_fixture_log_has_a_score_sizes_seed_and_timing(log: Path) -> None:
    result = parsed(log)
    assert result.label and result.val_bpb and result.val_loss
    assert result.artifact_bytes and result.code_bytes and result.seed is not None
    assert result.steps and result.train_time_ms and result.step_avg_ms and result.stopped_early
    assert result.runs == len(re.findall(r"^(?:\d+\.\d+ )?stopping_early:", log.read_text(), re.MULTILINE))
    assert result.warnings == (
        [f"{result.runs} runs in this file; reporting the last"] if result.runs > 1 else []
    )
    assert len(result.train_curve) > 0


@pytest.mark.parametrize("log", LOGS, ids=lambda p: f"{p.parent.name[:30]}/{p.name}")
def test_every_fixture_log_has_its_score_claimed_by_the_folder(log: Path) -> None:
    folder = next(f for f in FOLDERS if f in log.parents)
    result = parsed(log)
    sources = []
    if result.seed in json_seed_claims(folder):
        sources.append("json")
        claim = json_seed_claims(folder)[result.seed]
        assert result.val_bpb == claim["val_bpb"] and result.val_loss == claim["val_loss"]
    if row := readme_seed_rows(folder).get(result.seed):  # type: ignore[arg-type]
        sources.append("readme")
        assert any(rounds_to(result.val_bpb, n) for n in readme_decimals(row)), row  # type: ignore[arg-type]
    if len(logs_in(folder)) == 1:
        sources.append("top-level")
        claim = submission(folder)
        assert (result.val_bpb, result.val_loss) == (claim["val_bpb"], claim["val_loss"])
    assert sources, f"nothing in {folder.name} claims a score for {log.name}"


@pytest.mark.parametrize("log", LOGS, ids=lambda p: f"{p.parent.name[:30]}/{p.name}")
def test_fixture_artifact_and_code_bytes_match_the_claims(log: Path) -> None:
    folder = next(f for f in FOLDERS if f in log.parents)
    result = parsed(log)
    claim = json_seed_claims(folder).get(result.seed, {})  # type: ignore[arg-type]
    if "artifact_bytes" in claim or "bytes_total" in claim:
        assert result.artifact_bytes == claim.get("artifact_bytes", claim.get("bytes_total"))
    row_bytes = readme_byte_counts(readme_seed_rows(folder).get(result.seed, []))  # type: ignore[arg-type]
    if row_bytes:
        assert result.artifact_bytes in row_bytes
    if len(logs_in(folder)) == 1:
        assert result.artifact_bytes == submission(folder)["bytes_total"]
    if "bytes_code" in submission(folder):
        assert result.code_bytes == submission(folder)["bytes_code"]


def test_per_seed_steps_and_times_in_seed_results_match_the_logs() -> None:
    checked = 0
    for folder in FOLDERS:
        results = by_seed(folder)
        for seed, claim in json_seed_claims(folder).items():
            result = results[seed]
            if "steps" in claim:
                assert result.steps == claim["steps"]
            if "train_time_s" in claim:
                assert rounds_to(result.train_time_ms / 1000, str(claim["train_time_s"]))  # type: ignore[operator]
            for key, scale in (("eval_time_s", 1000), ("eval_time_ms", 1), ("ttt_time_ms", 1)):
                if key in claim:
                    assert rounds_to(result.eval_time_ms / scale, str(claim[key])), (folder.name, seed, key)  # type: ignore[operator]
                    checked += 1
    assert checked >= 11


def test_seeds_match_the_claimed_seed_sets_and_file_names() -> None:
    for folder in FOLDERS:
        seeds = {parsed(log).seed for log in logs_in(folder)}
        claims = submission(folder)
        listed = claims.get("seeds")
        if listed is not None:
            assert seeds == {int(s) for s in listed}, folder.name
        if json_seed_claims(folder):
            assert seeds == set(json_seed_claims(folder)), folder.name
        if readme_seed_rows(folder):
            assert seeds <= set(readme_seed_rows(folder)), folder.name
        for log in logs_in(folder):
            if m := re.search(r"(?:seed|log_)(\d+)", log.stem):
                assert parsed(log).seed == int(m.group(1))


def test_multi_seed_headline_is_the_mean_of_the_logs() -> None:
    checked = 0
    for folder in FOLDERS:
        results = by_seed(folder)
        claims = submission(folder)
        if len(results) < 2 or folder.name in BEST_SEED_REPORTED | {BPB_IN_VAL_LOSS_AND_ROUNDED_BYTES}:
            continue
        headline = claims.get("val_bpb", claims.get("mean_bpb"))
        assert rounds_to(statistics.fmean(r.val_bpb for r in results.values()), str(headline)), folder.name  # type: ignore[misc]
        if "val_loss" in claims:
            assert rounds_to(statistics.fmean(r.val_loss for r in results.values()), str(claims["val_loss"]))  # type: ignore[misc]
        sizes = [r.artifact_bytes for r in results.values()]
        assert claims.get("bytes_total") in (None, max(sizes), round(statistics.fmean(sizes))), folder.name  # type: ignore[type-var,arg-type]
        checked += 1
    assert checked == 4


def test_the_single_log_with_several_runs_reports_its_last_run() -> None:
    result = parsed(folder_of("2026-03-19_MixedQuant_Int6Int8_SlidingWindow") / "train.log")
    assert result.runs == 3
    assert result.val_bpb == submission(folder_of("2026-03-19_MixedQuant_Int6Int8_SlidingWindow"))["val_bpb"]


# ---------------------------------------------------------------- known claim mismatches (asserted to exist)
@pytest.mark.parametrize("name", sorted(BEST_SEED_REPORTED))
def test_known_mismatch_best_seed_reported_instead_of_the_mean(name: str) -> None:
    results = by_seed(folder_of(name))
    claims = submission(folder_of(name))
    best = min(results.values(), key=lambda r: r.val_bpb)  # type: ignore[arg-type,return-value]
    mean = statistics.fmean(r.val_bpb for r in results.values())  # type: ignore[misc]
    assert rounds_to(best.val_bpb, str(claims["val_bpb"]))  # type: ignore[arg-type]
    assert not rounds_to(mean, str(claims["val_bpb"]))
    assert claims["bytes_total"] == best.artifact_bytes


def test_known_mismatch_ternary_blurb_says_mean_but_reports_the_best_seed() -> None:
    name = "2026-03-24_74M_Ternary_UNet_FP8_10L_8192BPE_YaRN_NeoMuon"
    claims = submission(folder_of(name))
    mean = statistics.fmean(r.val_bpb for r in by_seed(folder_of(name)).values())  # type: ignore[misc]
    claimed_mean = re.search(r"3-seed mean (\d\.\d+)", claims["blurb"]).group(1)  # type: ignore[union-attr]
    assert rounds_to(mean, claimed_mean) and float(claimed_mean) != claims["val_bpb"]


def test_known_mismatch_bpb_in_the_val_loss_field_and_rounded_bytes() -> None:
    folder = folder_of(BPB_IN_VAL_LOSS_AND_ROUNDED_BYTES)
    results = by_seed(folder)
    claims = submission(folder)
    assert "val_bpb" not in claims
    mean_bpb = statistics.fmean(r.val_bpb for r in results.values())  # type: ignore[misc]
    assert abs(mean_bpb - claims["val_loss"]) < 1e-5  # the mean of the README's 5-decimal per-seed bpb
    assert all(abs(r.val_loss - claims["val_loss"]) > 0.5 for r in results.values())  # type: ignore[operator]
    sizes = {r.artifact_bytes for r in results.values()}
    assert claims["bytes_total"] not in sizes and claims["bytes_total"] % 100_000 == 0
    assert "~15.8M" in readme_seed_rows(folder)[2024] and results[
        2024
    ].artifact_bytes not in readme_byte_counts(readme_seed_rows(folder)[2024])


def test_known_mismatch_sp8192_train_times_and_readme_steps_differ_from_the_logs() -> None:
    folder = folder_of("2026-04-06_SP8192_QK5_LegalTTT_1.0828")
    results = by_seed(folder)
    for seed, claim in json_seed_claims(folder).items():
        assert results[seed].train_time_ms != claim["train_time_ms"]
        readme_steps = int(readme_seed_rows(folder)[seed][0])  # the README's "Steps" column
        assert readme_steps == 5088 and results[seed].steps != readme_steps


# ---------------------------------------------------------------- incremental parsing over real logs
@pytest.mark.parametrize("log", LOGS, ids=lambda p: f"{p.parent.name[:30]}/{p.name}")
def test_feeding_a_real_log_in_any_pieces_gives_the_same_result(log: Path) -> None:
    text = log.read_text()
    rng = random.Random(log.name)
    parser = LogParser(log)
    position = 0
    while position < len(text):
        size = rng.choice([1, 7, 80, 4096, 65536])
        parser.feed_chunk(text[position : position + size])
        position += size
    by_line = LogParser(log)
    for line in text.split("\n"):
        by_line.feed(line)
    assert parser.result() == by_line.result() == parsed(log) == parse_lines(text.split("\n"), file=log)
