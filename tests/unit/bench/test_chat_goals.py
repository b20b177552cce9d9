"""The chat message's goal rows (scenario 2) in the bench's goal table."""

from __future__ import annotations

from bench.report import chat_goals

FLASK = {"flask_baseline": {"p99_ms": 50}}


def chat_rows(chat: dict) -> list[tuple[float | None, str]]:
    return [(g.value, g.verdict) for g in chat_goals({**FLASK, "chat_gateway": chat})]


def test_the_chat_rows_judge_cpu_per_message_and_the_tail_against_flasks():
    assert chat_rows({"cpu_ms_per_request": 1.9, "p99_ms": 45}) == [(1.9, "met"), (0.9, "met")]
    assert chat_rows({"cpu_ms_per_request": 2.4, "p99_ms": 120}) == [(2.4, "MISSED"), (2.4, "MISSED")]


def test_without_the_chat_scenario_the_rows_say_so():
    assert [verdict for _, verdict in chat_rows({})] == ["not measured", "not measured"]
