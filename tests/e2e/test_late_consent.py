"""Issue 11, point 1, from outside against the four service processes (PostgreSQL when the run has
it): chat runs while consent is down, the visitor gives consent, then revokes it once consent is back
and before the outbox retries; the older grant arrives last and changes nothing: consent stays
revoked and no follow-up is sent or emailed."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from tests.support.polling import eventually
from tests.support.system import ADMIN, Stack

EMAIL = "spozniony@example.com"
VISITOR = {"X-Forwarded-For": "203.0.113.61", "User-Agent": "Mozilla/5.0 (late visitor)"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    # The relay's first retry comes 5 to 10 s after the failed hand-over: the revoke is made before it.
    chat = {"FOLLOWUP_DELAYS": "3s", "OUTBOX_BACKOFF_SECONDS": "10", "OUTBOX_BACKOFF_MAX_SECONDS": "10"}
    with ExitStack() as exits:
        running = Stack(exits, str(tmp_path_factory.mktemp("e2e-late")), sinks_environ, chat=chat)
        yield running
        running.close()


def test_a_grant_handed_over_after_the_revoke_changes_nothing(stack, http, sinks):
    _, _, smtp = sinks
    stack.kill("consent")
    answer = http.post(
        "/api/chatbot/chat",
        json={
            "message": "Proszę o wycenę",
            "session_id": "late",
            "email": EMAIL,
            "marketing_consent": True,
            "rodo_consent": True,
        },
        headers=VISITOR,
    )
    assert answer.status_code == 200  # consent being down never fails the visitor
    time.sleep(1.0)  # the relay tried and failed; its retry waits
    stack.start("consent")
    revoked = http.post("/api/revoke-consent", json={"email": EMAIL}, headers=VISITOR)
    assert revoked.status_code == 200

    def audit() -> list[dict]:
        return http.get("/api/admin/consent/audit-log", params={"email": EMAIL}, headers=ADMIN).json()[
            "entries"
        ]

    entries = eventually(audit, lambda found: len(found) == 2, timeout=30)
    assert [entry["action"] for entry in entries] == ["consent-superseded", "revoke-consent"]
    status = http.get(f"/api/unsubscribe/status/{EMAIL}", headers=ADMIN).json()
    assert (status["marketing_consent"], status["rodo_consent"], status["is_unsubscribed"]) == (
        False,
        False,
        True,
    )

    time.sleep(4.0)  # the follow-up is due and the scheduler scans every 0.5 s
    messages = http.get("/api/chatbot/conversations/late").json()["messages"]
    assert [m for m in messages if m["role"] == "MESSAGE_ROLE_FOLLOWUP"] == []
    assert [mail for mail in smtp.messages if mail.recipients == [EMAIL]] == []
