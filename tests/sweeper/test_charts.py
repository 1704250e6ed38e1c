"""The shared figure builders: headroom window, robust curve range, reference lines and escaped labels."""

from __future__ import annotations

from sweeper.charts.figures import RefLine, SeedPoint, headroom, label, robust_range, seed_strip


def test_headroom_shows_the_last_bytes_below_the_cap_and_pins_small_artifacts() -> None:
    fig = headroom(["a", "b", "c"], [9_000_000, 15_950_000, 16_000_500], ["a", "b", "c"], 16_000_000, "sizes")
    low, high = fig.layout.yaxis.range
    assert 15_790_000 <= low < 15_800_000 and 16_000_500 < high <= 16_021_000
    trace = fig.data[0]
    assert list(trace.y) == [15_800_000, 15_950_000, 16_000_500]
    assert list(trace.marker.symbol) == ["triangle-down", "circle", "circle"]
    assert trace.marker.color[2] != trace.marker.color[1]  # over the cap stands out
    assert "9,000,000 bytes" in trace.hovertext[0] and "headroom -500 bytes" in trace.hovertext[2]


def test_robust_range_ignores_the_first_steps_spike() -> None:
    losses = [14.8, 8.1, 6.9, *[2.0 + 0.01 * i for i in range(30)]]
    low, high = robust_range(losses) or (0.0, 0.0)
    assert low < 2.0 and 2.3 < high < 4.0
    assert robust_range([1.0, 2.0]) is None


def test_seed_strip_keeps_every_seed_and_reference_in_view_and_labels_stay_text() -> None:
    points = [SeedPoint("x", 1.21, "s1"), SeedPoint("x", 1.22, "s2")]
    fig = seed_strip(points, "t", "val_bpb", refs=[RefLine("SOTA", 1.30)], bars={"x": 1.25})
    low, high = fig.layout.yaxis.range
    assert low < 1.21 and high > 1.30
    assert [s.y0 for s in fig.layout.shapes] == [1.30]
    assert label("<b>" + "x" * 60) == "&lt;b&gt;" + "x" * 36 + "…"  # 39 characters of the raw text, escaped
