"""The table of several bench runs' goal rows: one column per run, the median, how often a goal held."""

from __future__ import annotations

from bench.spread import holds, table


def run(started: str, value: float | None, verdict: str, metrics: float) -> dict:
    return {
        "started_at": f"2026-12-02T{started}:00+00:00",
        "goals": [{"name": "req/s ÷ Flask", "value": value, "goal": "≥ 2", "verdict": verdict}],
        "observability": {
            "goal": {"name": "metrics cost", "value": metrics, "goal": "≤ 1.10", "verdict": "met"}
        },
    }


def test_each_goal_shows_every_run_the_median_and_how_often_it_held():
    lines = table(
        [
            run("18:52", 1.0, "MISSED", 1.02),
            run("18:57", 2.5, "met", 1.04),
            run("19:02", None, "not measured", 0.99),
        ]
    )
    assert lines.splitlines()[0] == "| goal | 18:52 | 18:57 | 19:02 | median | goal | verdict |"
    assert "| req/s ÷ Flask | 1.00 | 2.50 | n/a | 1.75 | ≥ 2 | MISSED (met in 1 of 3 runs) |" in lines
    assert "| metrics cost | 1.02 | 1.04 | 0.99 | 1.02 | ≤ 1.10 | met (met in 3 of 3 runs) |" in lines


def test_goals_are_read_as_the_report_spells_them():
    assert holds(0.4, "≤ 0.5")
    assert not holds(0.6, "≤ 0.5")
    assert holds(2.0, "≥ 2")
    assert not holds(1.9, "≥ 2")
    assert holds(0, "0")
    assert not holds(1, "0")
    assert holds(1.2, "≤ 1.25 (flat within noise)")
