"""The bench's own arithmetic and what it reads from /proc: a wrong percentile or ratio would make
every table wrong without failing anything else."""

from __future__ import annotations

import os
import time

import pytest

from bench.measure import CpuMeter, cpu_seconds, peak_rss_mib, percentile, ratio
from bench.report import goals, unsubscribe_goals


def test_percentiles_are_observed_values_by_nearest_rank():
    latencies = [float(n) for n in range(100, 0, -1)]  # unordered on purpose
    assert percentile(latencies, 50) == 50
    assert percentile(latencies, 95) == 95
    assert percentile(latencies, 99) == 99
    assert percentile(latencies, 100) == 100
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [0, -1, 101])
def test_a_percentile_outside_0_to_100_is_refused(q):
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], q)


def test_ratios_without_a_denominator_are_none_not_infinite():
    assert ratio(3.0, 6.0) == 0.5
    assert ratio(3.0, 0.0) is None
    assert ratio(None, 2.0) is None


def test_cpu_time_and_peak_memory_come_from_proc():
    before = cpu_seconds(os.getpid())
    meter = CpuMeter({"me": [os.getpid()]}).start()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    usage = meter.stop()["me"]
    assert cpu_seconds(os.getpid()) - before >= 0.15
    assert usage.cpu_seconds >= 0.15
    assert usage.peak_rss_mib == peak_rss_mib(os.getpid()) > 1


def test_goals_compare_the_right_runs():
    def run(cpu, rps, p99, gateway_cpu=None, round_trips=None):
        processes = {"gateway": {"cpu_ms_per_request": gateway_cpu}} if gateway_cpu else {}
        return {"cpu_ms_per_request": cpu, "rps": rps, "p99_ms": p99, "processes": processes,
                "redis_round_trips_per_request": round_trips}  # fmt: skip

    runs = {
        "gateway_limits_redis": run(2.0, 400, 30, gateway_cpu=1.0, round_trips=1.0),
        "flask_baseline": run(5.0, 100, 50),
        "direct_grpc": run(1.0, 500, 20),
        "bare_starlette": {"processes": {"bare": {"cpu_ms_per_request": 0.5}}, "p99_ms": 1, "rps": 9000},
    }
    assert [(round(g.value, 2), g.verdict) for g in goals(runs)[:5]] == [
        (0.4, "met"),
        (4.0, "met"),
        (2.0, "met"),
        (1.5, "met"),
        (1.0, "met"),
    ]
    runs["gateway_limits_redis"]["redis_round_trips_per_request"] = 4.0
    assert goals(runs)[4].verdict == "MISSED"


def test_unsubscribe_goals_compare_gateway_and_flask_and_the_two_sizes():
    runs = {
        "gateway_limits_redis": {"p99_ms": 40, "postgres_cpu_ms_per_request": 0.4,
                                 "postgres_round_trips_per_request": 5.0},
        "flask_baseline": {"p99_ms": 50, "postgres_cpu_ms_per_request": 0.5,
                           "postgres_round_trips_per_request": 4.0},
        "gateway_distinct": {"rps": 500},
        "flask_distinct": {"rps": 200},
        "size_10000": {"cpu_ms_per_request": 1.0, "postgres_cpu_ms_per_request": 0.5},
        "size_1000000": {"cpu_ms_per_request": 1.2, "postgres_cpu_ms_per_request": 0.6},
    }  # fmt: skip
    assert [(round(g.value, 2), g.verdict) for g in unsubscribe_goals(runs)] == [
        (0.8, "met"),
        (0.8, "met"),
        (1.25, "MISSED"),
        (2.5, "met"),
        (1.2, "met"),
    ]
    assert {g.verdict for g in unsubscribe_goals({})} == {"not measured"}
