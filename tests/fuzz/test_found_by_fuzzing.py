"""What the fuzzing found, pinned as plain tests on each backend: malformed ids and page tokens, and day
counts past the calendar, answered 500 instead of a 400 naming the field (or a plain answer)."""

from __future__ import annotations

import base64

import pytest

from tests.support.polling import eventually

# Not ids: past int64 (SQLite cannot even bind them), negative, and digits that are not ASCII ('²' made
# int() raise; Arabic-Indic and fullwidth digit one were silently read as 1).
NOT_IDS = ["99999999999999999999999", "9223372036854775808", "-1", "1.5", " 1", "\u00b2", "\u0661", "\uff11"]


def page_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def field_violations(response) -> list[str]:
    assert response.status_code == 400, response.text
    [detail] = response.json()["details"]
    return [violation["field"] for violation in detail["field_violations"]]


@pytest.mark.parametrize("not_an_id", NOT_IDS)
def test_a_malformed_id_is_a_400_naming_the_field(admin, not_an_id):
    path_id = not_an_id.replace(" ", "%20")
    assert field_violations(admin.get(f"/api/admin/dlq/entries/{path_id}")) == ["id"]
    assert field_violations(admin.post("/api/admin/dlq/retry", json={"ids": ["1", not_an_id]})) == ["ids[1]"]
    assert field_violations(admin.post("/api/admin/dlq/redrive", json={"ids": [not_an_id]})) == ["ids[0]"]
    followup = {"conversation_id": not_an_id, "followup_number": 1}
    assert field_violations(admin.post("/api/admin/followups/send", json=followup)) == ["conversation_id"]


def test_a_page_token_with_an_id_out_of_range_is_a_400_naming_the_field(admin):
    for token in (page_token("before:99999999999999999999999"), page_token("before:\uff11")):
        for route in ("/api/admin/dlq/entries", "/api/admin/consent/audit-log"):
            assert field_violations(admin.get(route, params={"page_token": token})) == ["page_token"]


def test_purging_entries_older_than_the_calendar_purges_nothing(admin, slack):
    admin.post(
        "/api/chatbot/chat",
        json={"message": "ola@example.com 601 234 567 budżet 200 tys zł", "session_id": "fuzz-purge"},
    )
    slack.wait_for(1)
    delivered = {"status": "DEAD_LETTER_STATUS_DELIVERED"}
    listed = eventually(lambda: admin.get("/api/admin/dlq/entries", params=delivered).json()["entries"], bool)
    for days in (2**31 - 1, 1_000_000):
        purge = admin.post("/api/admin/dlq/purge", json={**delivered, "older_than_days": days})
        assert (purge.status_code, purge.json()) == (200, {"purged": 0})
    # Still there (the lead's other alert may have been delivered meanwhile and listed too).
    after = admin.get("/api/admin/dlq/entries", params=delivered).json()["entries"]
    assert {entry["id"] for entry in listed} <= {entry["id"] for entry in after}
