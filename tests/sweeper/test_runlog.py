"""The log parser on synthetic lines built from shared/docs/log-formats.md (sections 3a and 3b)."""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeper.errors import LogParseError
from sweeper.runlog import (
    MAX_CURVE_POINTS,
    MAX_LINE_CHARS,
    SUMMARY_KEYS,
    LogParser,
    RunResult,
    parse_lines,
    parse_log,
)

HEADER = ["seed:1337", "val_loader:shards pattern=/d/fineweb_val_*.bin tokens:62021632"]
TRAINING = [
    "step:0/20000 val_loss:6.9370 val_bpb:4.0978 train_time:0ms step_avg:0.01ms",
    "step:100/20000 train_loss:3.1000 train_time:4350ms step_avg:43.50ms",
    "step:200/20000 train_loss:2.9000 train_time:8700ms step_avg:43.50ms",
    "step:200/20000 val_loss:2.8397 val_bpb:1.6774 train_time:8700ms step_avg:43.50ms",
    "stopping_early: wallclock_cap train_time:600038ms step:13780/20000",
]
EXPORT = [
    "Serialized model: 67224983 bytes",
    "Code size: 47642 bytes",
    "Total submission size: 67272625 bytes",
    "Serialized model int8+zlib: 15815847 bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)",
    "Total submission size int8+zlib: 15863489 bytes",
    "final_int8_zlib_roundtrip val_loss:2.0727 val_bpb:1.2244 eval_time:1401ms",
    "final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570",
]
RUN = HEADER + TRAINING + EXPORT


def run(*lines: str, file: str | None = None) -> RunResult:
    return parse_lines(list(lines), file=file)


# ---------------------------------------------------------------- section 3a: every final-metric prefix
DIAGNOSTIC_PREFIXES = [
    "diagnostic pre-quantization post-ema",
    "diagnostic quantized",
    "pre-quantization post-ema",
    "DIAGNOSTIC post_ema",
]
SCORE_LINES = [  # (line, label): one per row of the 3a table, N replaced by a real number
    (
        "final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570",
        "final_int8_zlib_roundtrip_exact",
    ),
    (
        "final_int6_zlib_roundtrip val_loss:2.0727 val_bpb:1.2244 eval_time:1401ms",
        "final_int6_zlib_roundtrip",
    ),
    ("final_int6_roundtrip val_loss:2.0436 val_bpb:1.2103 eval_time:2262ms", "final_int6_roundtrip"),
    (
        "quantized_ttt_phased val_loss:2.76951521 val_bpb:1.07216564 eval_time:500104ms",
        "quantized_ttt_phased",
    ),
    (
        "final_int6_sliding_window val_loss:1.8992 val_bpb:1.1248 stride:64 eval_time:72659ms",
        "final_int6_sliding_window",
    ),
    ("final_int6_roundtrip_exact val_loss:1.93912126 val_bpb:1.14845684", "final_int6_roundtrip_exact"),
    (
        "final_int6_sliding_window_exact val_loss:1.89924867 val_bpb:1.12484502",
        "final_int6_sliding_window_exact",
    ),
    ("quantized val_loss:2.84312340 val_bpb:1.10066167 eval_time:7815ms", "quantized"),
    (
        "quantized_sliding_window val_loss:2.80001078 val_bpb:1.08397143 eval_time:83620ms",
        "quantized_sliding_window",
    ),
    ("ttt_sliding:done val_loss=2.797884 val_bpb=1.083148 elapsed=289.8s", "ttt_sliding:done"),
    ("legal_ttt_exact val_loss:2.79517119 val_bpb:1.08209788 eval_time:293430ms", "legal_ttt_exact"),
    ("final_sliding val_loss:2.9869 val_bpb:1.1565 (stride=16, T=0.90) eval_time:429311ms", "final_sliding"),
    ("final_sliding val_loss:2.9869 val_bpb:1.1565 (stride=64, T=0.95) time:429311ms", "final_sliding"),
    ("final_xnor_roundtrip val_loss:3.1000 val_bpb:1.2000", "final_xnor_roundtrip"),
    ("quantized_ttt_lora val_loss:2.7700 val_bpb:1.0720 eval_time:400000ms", "quantized_ttt_lora"),
    ("final_sliding_window val_loss:2.0222 val_bpb:1.1976 eval_time:304360ms", "final_sliding_window"),
    ("final_sliding_window_exact val_loss:2.02215627 val_bpb:1.19763674", "final_sliding_window_exact"),
    (
        "final_sliding_window_eval stride:64 val_loss:2.0222 val_bpb:1.1976 eval_time:304360ms",
        "final_sliding_window_eval stride:64",
    ),
    (
        "final_sliding_window_eval_exact stride:64 val_loss:2.02215627 val_bpb:1.19763674",
        "final_sliding_window_eval_exact stride:64",
    ),
    ("legal_ttt val_loss:1.8898 val_bpb:1.1192 eval_time:410268ms", "legal_ttt"),
    ("final_ternary_roundtrip val_loss:3.0577 val_bpb:1.1839", "final_ternary_roundtrip"),
    ("quantized_ttt val_loss:2.7800 val_bpb:1.0760 eval_time:300000ms", "quantized_ttt"),
    ("final_roundtrip val_loss:2.0500 val_bpb:1.2140", "final_roundtrip"),
    ("final_temped val_loss:2.0400 val_bpb:1.2080", "final_temped"),
    (
        "final_int8_zlib_roundtrip sliding val_loss:2.0222 sliding val_bpb:1.1976",
        "final_int8_zlib_roundtrip sliding",
    ),
    (
        "final_int8_zlib_roundtrip_exact sliding val_loss:2.02215627 sliding val_bpb:1.19763674",
        "final_int8_zlib_roundtrip_exact sliding",
    ),
    ("final_ttt_lora val_loss:2.7700 val_bpb:1.0720", "final_ttt_lora"),
    ("final_int6_ttt_lora val_loss:2.7700 val_bpb:1.0720", "final_int6_ttt_lora"),
    ("final_int6_ttt val_loss:2.7800 val_bpb:1.0760 stride:64 eval_time:300000ms", "final_int6_ttt"),
    ("final_binary_roundtrip val_loss:3.0000 val_bpb:1.1900", "final_binary_roundtrip"),
    ("final_INT7_zlib_roundtrip val_loss:2.0800 val_bpb:1.2353", "final_INT7_zlib_roundtrip"),
]


@pytest.mark.parametrize(("line", "label"), SCORE_LINES)
def test_every_final_metric_prefix_is_read_as_the_score(line: str, label: str) -> None:
    events = LogParser().feed(line)
    assert [e.kind for e in events] == ["score"]
    result = run(*RUN[:-2], line)
    loss, bpb = (float(re.search(rf"{key}[:=]\s*([\d.]+)", line).group(1)) for key in ("val_loss", "val_bpb"))
    assert (result.label, result.val_loss, result.val_bpb) == (label, loss, bpb)
    assert result.warnings == []


@pytest.mark.parametrize("prefix", DIAGNOSTIC_PREFIXES)
def test_diagnostic_prefixes_never_win(prefix: str) -> None:
    result = run(*RUN, f"{prefix} val_loss:1.9000 val_bpb:1.1000 eval_time:6424ms")
    assert result.label == "final_int8_zlib_roundtrip_exact"
    assert result.val_bpb == 1.2243657
    events = LogParser().feed(f"{prefix} val_loss:1.9 val_bpb:1.1")
    assert events[0].kind == "score" and events[0].diagnostic


def test_exact_twin_gives_the_score_and_its_rounded_line_the_eval_time() -> None:
    result = run(*RUN)
    assert (result.label, result.val_loss, result.val_bpb) == (
        "final_int8_zlib_roundtrip_exact",
        2.07269931,
        1.2243657,
    )
    assert result.eval_time_ms == 1401


def test_exact_twin_printed_first_still_wins_over_the_rounded_line() -> None:
    result = run(
        *RUN[:-2],
        "final_x_exact val_loss:2.07269931 val_bpb:1.22436570",
        "final_x val_loss:2.0727 val_bpb:1.2244 eval_time:9ms",
    )
    assert (result.label, result.val_bpb, result.eval_time_ms) == ("final_x_exact", 1.2243657, 9)


def test_ttt_line_is_the_score_not_the_earlier_sliding_window() -> None:
    result = run(
        *RUN,
        "final_int6_sliding_window_exact val_loss:1.89385556 val_bpb:1.12165091",
        "final_int8_zlib_roundtrip_exact val_loss:1.89385556 val_bpb:1.12165091",
        "legal_ttt val_loss:1.8898 val_bpb:1.1192 eval_time:410268ms",
        "legal_ttt_exact val_loss:1.88976776 val_bpb:1.11922988",
    )
    assert (result.label, result.val_bpb, result.eval_time_ms) == ("legal_ttt_exact", 1.11922988, 410268)


def test_trailing_diverged_ttt_pass_is_skipped_with_a_warning() -> None:
    result = run(
        *RUN[:-2],
        "final_int6_sliding_window val_loss:2.5000 val_bpb:1.0950 eval_time:80000ms",
        "final_int6_sliding_window_exact val_loss:2.50001234 val_bpb:1.09501234",
        "final_int6_ttt val_loss:3.07421378 val_bpb:1.33603200",
    )
    assert (result.label, result.val_bpb) == ("final_int6_sliding_window_exact", 1.09501234)
    assert any("final_int6_ttt" in w and "1.336032" in w for w in result.warnings)


def test_a_later_score_within_the_failed_eval_margin_is_still_the_score() -> None:
    result = run(*RUN, "final_int4_roundtrip val_loss:2.1000 val_bpb:1.2600 eval_time:5ms")
    assert (result.label, result.val_bpb, result.warnings) == ("final_int4_roundtrip", 1.26, [])


def test_a_failed_eval_followed_by_a_compat_line_is_not_reported() -> None:
    result = run(
        *RUN,
        "final_int6_ttt val_loss:3.07421378 val_bpb:1.33603200",
        "final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570",
    )
    assert (result.val_bpb, result.warnings) == (1.2243657, [])


@pytest.mark.parametrize(
    ("line", "eval_ms"),
    [
        ("final_int6_sliding_window val_loss:1.8992 val_bpb:1.1248 stride:64 eval_time:72659ms", 72659),
        ("final_sliding val_loss:2.9869 val_bpb:1.1565 (stride=64, T=0.95) time:429311ms", 429311),
        ("ttt_sliding:done val_loss=2.797884 val_bpb=1.083148 elapsed=289.8s", 289800),
    ],
)
def test_every_eval_time_form(line: str, eval_ms: float) -> None:
    assert run(line).eval_time_ms == pytest.approx(eval_ms)


def test_a_nan_final_evaluation_does_not_replace_a_finite_score() -> None:
    result = run(*RUN, "quantized_ttt val_loss:nan val_bpb:nan")
    assert result.val_bpb == 1.2243657 and result.nan_loss


# ---------------------------------------------------------------- section 3b: other line families
@pytest.mark.parametrize(
    "line",
    [
        "step:4000/20000 val_loss:2.1285 val_bpb:1.2606 train_time:207770ms step_avg:51.94ms",
        "4000/20000 val_loss: 2.9239 val_bpb: 1.1319",
        "step:4000/20000 val_loss:2.1285 val_bpb:1.2606 train_time:207770ms",
        "step:6530/10000 val_loss:3.0517 val_bpb:1.1816 train_time:599652ms zero_frac:0.336",
    ],
)
def test_in_training_val_lines_go_to_the_curve_and_are_never_the_score(line: str) -> None:
    result = run("seed:1", line)
    assert result.label is None and result.val_bpb is None
    assert result.val_curve[0].step in (4000, 6530)
    assert any("no final score line" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("line", "step", "loss", "time_ms"),
    [
        ("step:200/20000 train_loss:2.9000 train_time:8700ms step_avg:43.50ms", 200, 2.9, 8700),
        ("500/20000 train_loss: 3.3792 train_time: 0.8m tok/s: 7715491", 500, 3.3792, 48000),
        ("step:1000/10000 loss:3.3120 t:91478ms avg:91.5ms", 1000, 3.312, 91478),
        (
            "step:500/50000 [BRIDGE 3%] train_loss:0.2297 train_time:434157ms step_avg:868.31ms",
            500,
            0.2297,
            434157,
        ),
    ],
)
def test_every_train_line_form_reaches_the_train_curve(
    line: str, step: int, loss: float, time_ms: float
) -> None:
    (event,) = LogParser().feed(line)
    assert event.kind == "train"
    point = run(line).train_curve[0]
    assert (point.step, point.train_loss, point.train_time_ms) == (step, loss, pytest.approx(time_ms))


@pytest.mark.parametrize(
    ("line", "steps", "total"),
    [
        ("stopping_early: wallclock_cap train_time:600038ms step:13780/20000", 13780, 20000),
        ("stopping_early: wallclock_cap train_time: 588015ms step: 5082/20000", 5082, 20000),
        (
            "stopping_early: wallclock_cap train_time:600038ms",
            200,
            20000,
        ),  # XNOR: steps from the last step line
    ],
)
def test_every_stop_line_form_sets_training_time_and_steps(line: str, steps: int, total: int) -> None:
    result = run("step:200/20000 train_loss:2.9 train_time:8700ms step_avg:43.50ms", line)
    assert result.stopped_early and result.steps == steps and result.total_steps == total
    assert result.train_time_ms in (600038, 588015)


def test_without_a_stop_line_the_last_step_line_gives_time_and_steps() -> None:
    result = run(
        "step:1999/2000 train_loss:3.0 train_time:99000ms step_avg:49.52ms",
        "step:2000/2000 val_loss:2.9 val_bpb:1.7 train_time:99050ms step_avg:49.53ms",
    )
    assert (result.steps, result.train_time_ms, result.step_avg_ms, result.stopped_early) == (
        2000,
        99050,
        49.53,
        False,
    )
    assert not any("truncated" in w for w in result.warnings)


def test_step_average_is_computed_when_no_step_line_prints_it() -> None:
    result = run(
        "4000/20000 train_loss: 2.87 train_time: 7.4m tok/s: 7102503",
        "stopping_early: wallclock_cap train_time: 588015ms step: 5082/20000",
    )
    assert result.step_avg_ms == round(588015 / 5082, 2)


@pytest.mark.parametrize(
    ("lines", "artifact"),
    [
        (
            ["Total submission size: 67272625 bytes", "Total submission size int6+zstd: 15612308 bytes"],
            15612308,
        ),
        (
            ["Total submission size int8+zlib: 15830186 bytes", "Total submission size: 67272625 bytes"],
            15830186,
        ),
        (["Total submission size: 67272625 bytes", "Total submission size: 15132832 bytes"], 15132832),
        (["budget:15993853/16000000 (15.99/16.00MB) FITS"], 15993853),
        (["INT7+zlib model: 15123456 bytes | Total submission: 15170000 bytes"], 15170000),
        (["Total submission size mixed_int5_int6+brotli: 15900001 bytes"], 15900001),
    ],
)
def test_every_artifact_size_form(lines: list[str], artifact: int) -> None:
    assert run(*RUN[:-5], *lines, *RUN[-2:]).artifact_bytes == artifact


def test_a_lone_unlabelled_total_is_used_and_flagged_when_over_the_cap() -> None:
    result = run(*RUN[:-5], "Total submission size: 67272625 bytes", *RUN[-2:])
    assert result.artifact_bytes == 67272625
    assert any("exceeds the 16,000,000-byte cap" in w for w in result.warnings)


def test_megabyte_only_size_line_leaves_bytes_unknown_with_a_warning() -> None:
    result = run(*RUN[:-5], "INT4+fp8+brotli: 15.12MB model + 0.07MB code = 15.19/16.00MB FITS", *RUN[-2:])
    assert result.artifact_bytes is None
    assert any("only in MB" in w and "15.19" in w for w in result.warnings)


def test_pipe_line_gives_model_and_total_bytes() -> None:
    result = run("INT7+zlib model: 15123456 bytes | Total submission: 15170000 bytes")
    assert (result.model_bytes, result.artifact_bytes) == (15123456, 15170000)


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (["Code size: 47642 bytes"], 47642),
        (["Code size (uncompressed): 139831 bytes", "Code size (compressed): 28599 bytes"], 28599),
        (["Code size (compressed): 28599 bytes", "Code size (uncompressed): 139831 bytes"], 28599),
        (["artifact:15.92MB ternary:64880640(14245920B) fp:2513744(2537376B) code:70853"], 70853),
        (["Code: 51000 bytes"], 51000),
    ],
)
def test_every_code_size_form_and_the_compressed_one_wins(lines: list[str], code: int) -> None:
    assert run(*lines).code_bytes == code


def test_model_bytes_prefer_the_compressed_serialized_model() -> None:
    assert run(*RUN).model_bytes == 15815847


@pytest.mark.parametrize(
    ("lines", "file", "seed"),
    [
        (["seed:42"], None, 42),
        (["Hyperparameters:", "  seed: 7", "  seq_len: 2048"], None, 7),
        (["1776142360.541   seed: 3"], None, 3),
        (["activation_type=relu2 adam_eps=1e-08 seed=42 warmdown_fraction=0.2"], None, 42),
        (["params:73685840 L:10 d:768 h:8 kv:4 ws:8 ga:1 s:42"], None, 42),
        ([], "logs/train_seed42.log", 42),
        ([], "train_seed_1234.log", 1234),
        ([], "train_s7.log", 7),
        ([], "ternary_log_1337.txt", 1337),
        ([], "train_run_rtx5090.txt", None),
    ],
)
def test_every_seed_form(lines: list[str], file: str | None, seed: int | None) -> None:
    assert run(*lines, *TRAINING, file=file).seed == seed


def test_the_log_seed_wins_over_the_file_name_with_a_warning() -> None:
    result = run("seed:1337", *TRAINING, file="train_seed42.log")
    assert result.seed == 1337
    assert any("file name says seed 42" in w for w in result.warnings)


@pytest.mark.parametrize(
    "line", ["val_loader:shards pattern=/x/fineweb_val_*.bin tokens:40540160", "val_tokens: 40540160"]
)
def test_validation_token_count_forms(line: str) -> None:
    assert run(line, *TRAINING).val_tokens == 40540160


def test_total_eval_time_is_read() -> None:
    assert run(*RUN, "total_eval_time:500.1s").total_eval_time_s == 500.1


def test_unix_timestamp_prefixes_are_stripped() -> None:
    lines = [f"1776142360.{i:03d} {line}" for i, line in enumerate(RUN)]
    assert parse_lines(lines).model_dump() == parse_lines(RUN).model_dump()


def test_only_column_zero_lines_count() -> None:
    script = [
        '    log0(f"seed:{args.seed}")',
        "    final_int8_zlib_roundtrip_exact val_loss:9.0 val_bpb:9.0",
        "  ttt_chunk [1/474] bpb=1.125280 time=112.0s",
        "\tstep:5/10 train_loss:1.0",
    ]
    assert parse_lines(script + RUN).model_dump() == parse_lines(RUN).model_dump()


# ---------------------------------------------------------------- runs
def test_the_last_run_in_a_file_is_the_official_one() -> None:
    second = [
        "seed:2025",
        *TRAINING[:-1],
        "stopping_early: wallclock_cap train_time:599000ms step:9000/20000",
        "Total submission size int8+zlib: 15000000 bytes",
        "final_int8_zlib_roundtrip_exact val_loss:2.00000000 val_bpb:1.18000000",
    ]
    result = run(*RUN, *second)
    assert (result.runs, result.seed, result.val_bpb, result.artifact_bytes) == (2, 2025, 1.18, 15000000)
    assert result.train_time_ms == 599000 and result.code_bytes is None
    assert any("2 runs" in w for w in result.warnings)


def test_a_run_without_stop_line_ends_at_its_final_step() -> None:
    first = [
        "step:1000/1000 val_loss:3.0 val_bpb:1.8 train_time:5000ms step_avg:5.00ms",
        "final_int8_zlib_roundtrip_exact val_loss:3.00000000 val_bpb:1.80000000",
        "seed:9",
    ]
    result = run("seed:8", *first, "step:0/1000 val_loss:6.9 val_bpb:4.1 train_time:0ms step_avg:0.01ms")
    assert (result.runs, result.seed, result.label) == (2, 9, None)


# ---------------------------------------------------------------- bad input never crashes
def test_empty_log_gives_an_empty_result_with_a_warning() -> None:
    result = run()
    assert result.runs == 0 and result.val_bpb is None
    assert result.warnings == ["no Parameter Golf log lines found"]


def test_binary_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.ptz"
    path.write_bytes(b"\x00\x01\xff\xfe PK\x03\x04" * 200 + b"\nseed:5\n\x00\x00")
    with pytest.raises(LogParseError, match=r"model\.ptz: a binary file, not a text log$"):
        parse_log(path)


def test_text_log_with_nul_and_bad_bytes_after_its_start_gives_warnings_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "crashed.log"
    path.write_bytes(b"seed:5\n" * 2000 + b"\x00\x01\xff\xfe PK\x03\x04" * 200 + b"\n\x00\x00")
    result = parse_log(path)
    assert result.val_bpb is None and result.seed == 5
    assert any("NUL" in w for w in result.warnings) and any("UTF-8" in w for w in result.warnings)


def test_a_number_with_two_points_is_not_a_crash() -> None:
    result = run("step:5/10 train_loss:2.5 train_time:600.5ms step_avg:1.2.3ms",
                 "stopping_early: wallclock_cap train_time:1.2.3ms step:5/10",
                 "final_int8_zlib_roundtrip val_loss:2.0 val_bpb:1.2 eval_time:4.5.6ms")
    assert (result.train_time_ms, result.step_avg_ms, result.val_bpb, result.eval_time_ms) == (600.5, 120.1, 1.2, None)


def test_an_endless_line_is_cut_and_memory_stays_bounded() -> None:
    parser = LogParser()
    for _ in range(50):
        parser.feed_chunk("x" * 100_000)
    assert len(parser._partial) <= MAX_LINE_CHARS + 1
    parser.feed_chunk("\nseed:7\n")
    result = parser.result()
    assert result.seed == 7 and any("1 line(s) longer than 65,536 characters were cut" in w for w in result.warnings)
    assert parse_lines(["x" * 5_000_000, "seed:7"]).warnings == result.warnings


def test_a_long_curve_is_thinned_to_a_bounded_size_and_keeps_its_last_point() -> None:
    lines = [f"step:{i}/100000 train_loss:{1 + 1 / i:.6f} train_time:{i}ms step_avg:1.00ms" for i in range(1, 100_001)]
    result = parse_lines(lines)
    steps = [p.step for p in result.train_curve]
    assert MAX_CURVE_POINTS // 2 <= len(steps) <= MAX_CURVE_POINTS + 1
    assert steps[0] == 1 and steps[-1] == 100_000 and steps == sorted(steps)
    gaps = {b - a for a, b in itertools.pairwise(steps[:-1])}
    assert len(gaps) == 1  # evenly spaced
    assert result.steps == 100_000 and result.train_time_ms == 100_000


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_anything_but_a_regular_file_is_refused_before_opening(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        path, expected = tmp_path, "it is a directory"
    elif kind == "fifo":
        path, expected = tmp_path / "pipe", "it is a FIFO"
        os.mkfifo(path)  # opening it for reading would block forever
    else:
        path, expected = Path("/dev/zero"), "it is a character device"
    with pytest.raises(LogParseError, match=expected):
        parse_log(path)


def test_log_cut_mid_line_and_mid_run_is_reported(tmp_path: Path) -> None:
    text = "\n".join(HEADER + TRAINING[:3]) + "\nstep:300/20000 train_lo"
    (tmp_path / "cut.log").write_text(text)
    result = parse_log(tmp_path / "cut.log")
    assert (result.steps, result.seed, result.train_time_ms) == (200, 1337, 8700)
    assert any("truncated or still running" in w for w in result.warnings)
    assert any("no final score line" in w for w in result.warnings)


def test_score_less_log_names_the_last_in_training_validation() -> None:
    result = run(*HEADER, *TRAINING, *EXPORT[:5])
    assert result.val_bpb is None and result.artifact_bytes == 15863489
    assert any("no final score line" in w and "1.6774" in w for w in result.warnings)


def test_nan_losses_are_flagged() -> None:
    result = run("step:10/100 train_loss:nan train_time:100ms step_avg:10.00ms")
    assert result.nan_loss and math.isnan(result.train_curve[0].train_loss)
    assert any("NaN" in w for w in result.warnings)


def test_missing_or_unreadable_file_raises_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(LogParseError, match=r"^cannot read log .*nope\.log: no such file$"):
        parse_log(tmp_path / "nope.log")
    with pytest.raises(LogParseError, match="it is a directory"):
        parse_log(tmp_path)


# ---------------------------------------------------------------- incremental use
def test_feed_returns_one_typed_event_per_meaningful_line() -> None:
    parser = LogParser()
    kinds = [[e.kind for e in parser.feed(line)] for line in RUN]
    assert kinds == [
        [],
        [],
        ["val"],
        ["train"],
        ["train"],
        ["val"],
        ["stop"],
        ["size"],
        ["size"],
        ["size"],
        ["size"],
        ["size"],
        ["score"],
        ["score"],
    ]
    assert parser.result() == parse_lines(RUN)


def test_result_mid_stream_ignores_nothing_and_keeps_parsing() -> None:
    parser = LogParser()
    parser.feed_chunk("\n".join(RUN[:6]) + "\nstep:300/20000 train_loss:2.8 train_time:13")
    partial = parser.result()
    parser.feed_chunk("050ms step_avg:43.50ms\n" + "\n".join(RUN[6:]) + "\n")
    assert partial.steps == 300 and partial.val_bpb is None
    assert parser.result().train_curve[-1].train_time_ms == 13050


SYNTHETIC_LINES = RUN + [
    "1776142360.538 Hyperparameters:",
    "1776142360.541   seed: 3",
    "    code line",
    "DIAGNOSTIC post_ema val_loss:1.9 val_bpb:1.1",
    "quantized_ttt_phased val_loss:2.76951521 val_bpb:1.07216564 eval_time:500104ms",
    "total_eval_time:500.1s",
    "step:0/500 val_loss:6.9 val_bpb:4.0",
    "Code size (compressed): 28599 bytes",
    "budget:15993853/16000000 FITS",
    "garbage \x00 with nul",
    "caf\ufffd",
    "",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(SYNTHETIC_LINES), max_size=40), st.lists(st.integers(1, 200), max_size=30))
def test_any_chunking_gives_the_same_result_as_whole_lines(lines: list[str], cuts: list[int]) -> None:
    text = "\n".join(lines)
    parser = LogParser("train_seed42.log")
    position = 0
    for size in cuts:
        parser.feed_chunk(text[position : position + size])
        position += size
    parser.feed_chunk(text[position:])
    whole = parse_lines(text.split("\n"), file="train_seed42.log")
    assert parser.result().model_dump_json() == whole.model_dump_json()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80), st.sampled_from(SYNTHETIC_LINES)), max_size=30))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    result = parse_lines(lines)
    assert isinstance(result.warnings, list) and result.runs >= 0


def test_summary_has_exactly_the_contract_keys_in_order() -> None:
    summary = run(*RUN, file="x/train.log").summary()
    contract = ["file", "seed", "label", "val_loss", "val_bpb", "eval_time_ms", "artifact_bytes", "code_bytes",
                "model_bytes", "train_time_ms", "steps", "step_avg_ms", "runs", "warnings"]  # docs/ARCHITECTURE.md
    assert list(summary) == list(SUMMARY_KEYS) == contract
    assert summary["file"] == "x/train.log" and summary["val_bpb"] == 1.2243657
