"""The notifier's goal rows (scenario 5) in the bench's goal table."""

from __future__ import annotations

from bench.report import goals

RUNS = {
    "gateway_limits_memory": {"cpu_ms_per_request": 2.0, "rps": 400, "p99_ms": 30,
                              "processes": {"gateway": {"cpu_ms_per_request": 1.0}}},
    "flask_baseline": {"cpu_ms_per_request": 5.0, "rps": 100, "p99_ms": 50, "processes": {}},
    "direct_grpc": {"cpu_ms_per_request": 1.0, "rps": 500, "p99_ms": 20, "processes": {}},
    "bare_starlette": {"processes": {"bare": {"cpu_ms_per_request": 0.5}}, "p99_ms": 1, "rps": 9000},
}  # fmt: skip


def notifier_rows(notifier: dict) -> dict[str, tuple[float | None, str]]:
    return {g.name: (g.value, g.verdict) for g in goals(RUNS, notifier=notifier) if "notifier" in g.name}


def test_the_notifier_rows_judge_rate_losses_doubles_and_cost_against_size():
    met = notifier_rows(
        {
            "deliveries_per_second": 1200.0,
            "lost": 0,
            "doubled": 0,
            "cpu_per_delivery_ratio_largest_to_smallest": 1.1,
        }
    )
    assert [verdict for _, verdict in met.values()] == ["met"] * 4

    missed = notifier_rows(
        {
            "deliveries_per_second": 400.0,
            "lost": 1,
            "doubled": 2,
            "cpu_per_delivery_ratio_largest_to_smallest": 1.6,
        }
    )
    assert [value for value, _ in missed.values()] == [400.0, 1, 2, 1.6]
    assert [verdict for _, verdict in missed.values()] == ["MISSED"] * 4


def test_a_size_comparison_that_could_not_run_is_not_measured_and_no_notifier_result_adds_no_rows():
    rows = notifier_rows({"deliveries_per_second": 1200.0, "lost": 0, "doubled": 0,
                          "cpu_per_delivery_ratio_largest_to_smallest": None})  # fmt: skip
    assert list(rows.values())[-1] == (None, "not measured")
    assert [g for g in goals(RUNS) if "notifier" in g.name] == []
