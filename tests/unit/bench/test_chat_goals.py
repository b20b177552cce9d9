"""The chat message's goal rows (scenario 2) in the bench's goal table."""

from __future__ import annotations

from bench.report import goals

RUNS = {
    "gateway_limits_memory": {"cpu_ms_per_request": 2.0, "rps": 400, "p99_ms": 30,
                              "processes": {"gateway": {"cpu_ms_per_request": 1.0}}},
    "flask_baseline": {"cpu_ms_per_request": 5.0, "rps": 100, "p99_ms": 50, "processes": {}},
    "direct_grpc": {"cpu_ms_per_request": 1.0, "rps": 500, "p99_ms": 20, "processes": {}},
    "bare_starlette": {"processes": {"bare": {"cpu_ms_per_request": 0.5}}, "p99_ms": 1, "rps": 9000},
}  # fmt: skip


def chat_rows(chat: dict) -> list[tuple[float | None, str]]:
    return [(g.value, g.verdict) for g in goals({**RUNS, "chat_gateway": chat}) if "chat message" in g.name]


def test_the_chat_rows_judge_cpu_per_message_and_the_tail_against_flasks():
    assert chat_rows({"cpu_ms_per_request": 1.9, "p99_ms": 45}) == [(1.9, "met"), (0.9, "met")]
    assert chat_rows({"cpu_ms_per_request": 2.4, "p99_ms": 120}) == [(2.4, "MISSED"), (2.4, "MISSED")]


def test_without_the_chat_scenario_the_rows_say_so():
    assert [verdict for _, verdict in chat_rows({})] == ["not measured", "not measured"]
