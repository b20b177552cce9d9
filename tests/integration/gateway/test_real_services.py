"""Every route of docs/api.md through the gateway to the real consent, notifier and chat services
(in-process gRPC servers, fake Slack/Monday/SMTP behind the notifier), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import httpx
import pytest

from services.gateway.application.auth import email_token
from tests.support.gateway import ADMIN_KEY, UNSUBSCRIBE_SECRET, gateway_in_front_of
from tests.support.polling import eventually
from tests.support.stack import ChatStack

ADMIN = {"X-ADMIN-API-KEY": ADMIN_KEY}
BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh)", "X-Forwarded-For": "198.51.100.7"}


@pytest.fixture
def stack(databases, tmp_path, sinks_environ):
    # The notifier's own retry job stays out of the way of the admin routes under test.
    slow_retries = {"DLQ_RETRY_MINUTES": "60", "ADMIN_API_KEY": ADMIN_KEY}
    chat = {"FOLLOWUP_DELAYS": "1s,1h", "ADMIN_API_KEY": ADMIN_KEY}
    running = ChatStack(databases, str(tmp_path), sinks_environ, slow_retries, **chat)
    yield running
    running.close()


@pytest.fixture
def http(stack):
    gateway = gateway_in_front_of(stack.addresses, UNSUBSCRIBE_SECRET=UNSUBSCRIBE_SECRET)
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        yield client
    gateway.stop()


def test_the_chat_routes(http, slack):
    first = http.post(
        "/api/chatbot/chat", json={"message": "Dzień dobry", "session_id": "web-1"}, headers=BROWSER
    )
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"conversation_id", "session_id", "reply", "lead_id", "lead_score", "session_token"}
    assert (body["session_id"], body["lead_id"], body["lead_score"]) == ("web-1", "", 0)
    owner = {**BROWSER, "X-Session-Token": body["session_token"]}
    hot = http.post(
        "/api/chatbot/chat",
        json={"message": "anna@example.com, 601 234 567, budżet 200 tys zł", "session_id": "web-1"},
        headers=owner,
    ).json()
    assert hot["lead_score"] == 70
    assert hot["conversation_id"] == body["conversation_id"]
    slack.wait_for(1)

    conversation = http.get("/api/chatbot/conversations/web-1", headers=owner).json()
    assert conversation["email"] == "anna@example.com"
    assert [m["role"] for m in conversation["messages"]] == ["MESSAGE_ROLE_USER", "MESSAGE_ROLE_BOT"] * 2
    assert http.get("/api/chatbot/conversations/web-1", headers=ADMIN).json() == conversation
    unknown = http.get("/api/chatbot/conversations/nobody")
    assert unknown.status_code == 404
    guessed = http.get("/api/chatbot/conversations/web-1")
    assert guessed.status_code == 404
    assert guessed.json()["message"] == unknown.json()["message"].replace("nobody", "web-1")
    stolen = http.post(
        "/api/chatbot/chat",
        json={"message": "evil@example.com", "session_id": "web-1"},
        headers={"X-Session-Token": "x" * 43},
    )
    assert stolen.status_code == 404
    bad = http.post("/api/chatbot/chat", json={"message": "", "session_id": "web-1"})
    assert bad.status_code == 400
    assert bad.json()["details"][0]["field_violations"][0]["field"] == "message"


def test_the_consent_routes_and_the_audit_trail(http):
    email = "maria+news@example.com"
    unsubscribed = http.post(
        "/api/unsubscribe", json={"email": email, "reason": "Too many emails"}, headers=BROWSER
    )
    assert unsubscribed.json() == {
        "success": True,
        "message": "Successfully unsubscribed from marketing emails",
        "email": email,
    }
    revoked = http.post(
        "/api/revoke-consent", json={"email": email, "reason": "forget me"}, headers=BROWSER
    ).json()
    assert (revoked["success"], revoked["affected_records"]) == (True, 0)

    path = "/api/unsubscribe/status/maria%2Bnews%40example.com"
    assert http.get(path).status_code == 401
    status = http.get(path, headers=ADMIN).json()
    assert (status["email"], status["is_unsubscribed"], status["last_action"]) == (
        email,
        True,
        "revoke-consent",
    )
    token = email_token(UNSUBSCRIBE_SECRET.encode(), email, int(time.time()) + 60)
    assert http.get(f"{path}?token={token}").json()["is_unsubscribed"] is True

    log = http.get("/api/admin/consent/audit-log", params={"email": email}, headers=ADMIN).json()
    assert [e["action"] for e in log["entries"]] == ["revoke-consent", "unsubscribe"]
    assert {(e["ip_address"], e["user_agent"]) for e in log["entries"]} == {
        ("198.51.100.7", "Mozilla/5.0 (Macintosh)")
    }


def test_the_dead_letter_and_breaker_admin_routes(http, slack):
    slack.answer("error")
    http.post(
        "/api/chatbot/chat",
        json={"message": "ola@example.com 601 234 567 budżet 90 tys", "session_id": "dlq-1"},
    )

    def failed_slack_entries() -> list[dict]:
        """Pending Slack entries whose first attempt is over (an entry is pending from the moment it is
        accepted, before that attempt)."""
        pending = {"status": "DEAD_LETTER_STATUS_PENDING"}
        entries = http.get("/api/admin/dlq/entries", params=pending, headers=ADMIN).json()["entries"]
        return [e for e in entries if e["channel"] == "CHANNEL_SLACK" and e["attempts"] >= 1]

    [entry] = eventually(failed_slack_entries, lambda found: len(found) == 1)
    assert (entry["attempts"], entry["last_error_status"]) == (1, 500)
    stats = http.get("/api/admin/dlq/stats", headers=ADMIN).json()
    assert int(stats["pending"]) == 1
    assert stats["oldest_pending_age_seconds"] >= 0
    assert (
        http.get(f"/api/admin/dlq/entries/{entry['id']}", headers=ADMIN).json()["entry"]["id"] == entry["id"]
    )
    breakers = http.get("/api/admin/breakers", headers=ADMIN).json()["breakers"]
    assert {b["name"] for b in breakers} == {"slack", "monday", "email"}

    slack.answer("ok")
    assert (
        http.post("/api/admin/breakers/slack/reset", headers=ADMIN).json()["breaker"]["state"]
        == "BREAKER_STATE_CLOSED"
    )
    retried = http.post("/api/admin/dlq/retry", json={"ids": [entry["id"]]}, headers=ADMIN).json()
    assert (retried["retried"], retried["delivered"]) == (1, 1)
    assert len(slack.delivered()) == 1
    purge = http.post("/api/admin/dlq/purge", json={"status": "DEAD_LETTER_STATUS_PENDING"}, headers=ADMIN)
    assert purge.status_code == 400
    assert http.post("/api/admin/dlq/redrive", json={}, headers=ADMIN).json() == {"redriven": 0}


def test_the_follow_up_admin_routes(http, stack):
    http.post(
        "/api/chatbot/chat",
        json={
            "message": "Proszę o ofertę",
            "session_id": "f-1",
            "email": "jan@example.com",
            "rodo_consent": True,
        },
    )
    due = eventually(
        lambda: http.get("/api/admin/followups/due", headers=ADMIN).json()["followups"],
        lambda found: len(found) == 1,
    )
    assert (due[0]["session_id"], due[0]["followup_number"]) == ("f-1", 1)
    run = eventually(
        lambda: http.post("/api/admin/followups/run", headers=ADMIN).json(),
        lambda r: r["sent"] == 1 or r["deferred"] == 0,
    )
    assert (run["sent"], run["deferred"]) == (1, 0)
    again = http.post(
        "/api/admin/followups/send",
        json={"conversation_id": due[0]["conversation_id"], "followup_number": 1},
        headers=ADMIN,
    )
    assert again.json() == {"status": "FOLLOWUP_STATUS_ALREADY_SENT"}


def test_health_reports_the_real_services(http):
    assert http.get("/api/health").json() == {"status": "ok"}
    deep = http.get("/api/health/deep", headers=ADMIN)
    assert deep.status_code == 200, deep.text
    services = deep.json()["services"]
    assert set(services) == {"consent", "notifier", "chat"}
    assert deep.json()["down"] == []
    for report in services.values():
        assert report["health"] == "SERVING"
        assert report["diagnostics"]["dependencies"][0]["reachable"] is True
    jobs = {job["id"] for job in services["notifier"]["diagnostics"]["jobs"]}
    assert jobs == {"dlq_retry", "dlq_cleanup"}
