"""The follow-up rows of the bench's goals (issue 19): rate, duplicates, consent CPU per follow-up."""

from __future__ import annotations

from bench.report import followup_goals


def scenario(rate: float, duplicates: int, consent_ms: float) -> dict:
    return {
        "followups_per_second": rate,
        "duplicates": duplicates,
        "processes": {"chat_1": {"cpu_ms_per_followup": 0.1}, "consent": {"cpu_ms_per_followup": consent_ms}},
    }


def test_the_followup_goals_are_judged_from_scenario_4():
    met = followup_goals(scenario(1600, 0, 0.09))
    assert [(g.value, g.verdict) for g in met] == [(1600, "met"), (0, "met"), (0.09, "met")]
    missed = followup_goals(scenario(98, 1, 4.1))
    assert [g.verdict for g in missed] == ["MISSED"] * 3


def test_without_scenario_4_there_are_no_followup_rows():
    assert followup_goals(None) == []
