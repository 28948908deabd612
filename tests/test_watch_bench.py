"""The latency benchmark runs (its numbers are reported by ``python -m benchmarks``)."""

from __future__ import annotations

from benchmarks import watch_latency


def test_latency_figure_measures_every_message_without_a_423() -> None:
    result = watch_latency.measure(2)
    assert result["locked"] == 0
    assert result["lost"] == 0
    assert len(result["latencies"]) > 5
    assert all(latency >= 0 for latency in result["latencies"])
    rows = watch_latency.run(quick=True)
    assert [row.figure for row in rows] == [
        "watch latency, median (s)",
        "watch latency, p99 (s)",
    ]
