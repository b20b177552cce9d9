"""Export and erasure of one person through the gateway's admin routes, against the real consent,
notifier and chat services (fake Slack, Monday and SMTP; Redis for the session cache), on SQLite and
PostgreSQL: afterwards a dump of every service's database holds the address nowhere."""

from __future__ import annotations

import re
import shutil
import time
import uuid

import httpx
import pytest
import redis

from novahouse.chat.v1 import chat_pb2
from novahouse.consent.v1 import consent_pb2
from services.runtime import consent_texts
from tests.support.databases import dump_text
from tests.support.gateway import ADMIN_KEY, gateway_in_front_of
from tests.support.polling import eventually
from tests.support.stack import ChatStack

ADMIN = {"X-ADMIN-API-KEY": ADMIN_KEY}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11)", "X-Forwarded-For": "198.51.100.23"}
ADDRESS = "anna.kowalska@example.com"
WRITTEN = "Anna.Kowalska@Example.COM"  # as the visitor typed it
CONFIRM_LINK = re.compile(r"/api/consent/confirm/([A-Za-z0-9_.-]+)")


@pytest.fixture
def cache_prefix():
    return f"test-privacy-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def stack(databases, tmp_path, sinks_environ, redis_url, cache_prefix):
    running = ChatStack(
        databases,
        str(tmp_path),
        sinks_environ,
        {"DLQ_RETRY_MINUTES": "60"},
        FOLLOWUP_DELAYS="1s,1h",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=cache_prefix,
    )
    yield running
    running.close()


@pytest.fixture
def gateway(stack):
    server = gateway_in_front_of(stack.addresses)
    yield server
    server.stop()


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        yield client


def _dump(url) -> str:
    if url.get_backend_name() == "postgresql" and shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is not installed")
    return dump_text(url)


def _redis_values(redis_url: str, prefix: str) -> str:
    client = redis.Redis.from_url(redis_url)
    try:
        return "\n".join(
            f"{key!r} {client.get(key)!r}"
            for key in client.scan_iter(f"{prefix}:*")
            if client.type(key) == b"string"
        )
    finally:
        client.close()


def _a_visitor_in_chat_consent_and_notifications(http, stack, slack, smtp) -> None:
    http.post("/api/chatbot/chat", json={"message": "Dzień dobry", "session_id": "gdpr-1"}, headers=BROWSER)
    hot = http.post(
        "/api/chatbot/chat",
        json={
            "message": f"Proszę o kontakt: {WRITTEN}, 601 234 567, budżet 200 tys zł",
            "session_id": "gdpr-1",
            "email": WRITTEN,
            "marketing_consent": True,
            "rodo_consent": True,
        },
        headers=BROWSER,
    )
    assert hot.status_code == 200, hot.text
    assert hot.json()["lead_score"] == 70
    slack.wait_for(1)  # "Hot lead … anna.kowalska@…"
    processing = consent_pb2.CheckConsentRequest(
        email=ADDRESS, purpose=consent_pb2.CONSENT_PURPOSE_PROCESSING
    )
    eventually(lambda: stack.consent.CheckConsent(processing).allowed, bool)
    # Marketing consent given in the chat waits for the mailbox owner (double opt-in): she confirms
    # through the emailed link, an email addressed to her.
    confirmation = eventually(lambda: [m for m in smtp.messages if m.recipients == [ADDRESS]], bool)
    (token,) = CONFIRM_LINK.findall(confirmation[0].body)
    stack.consent.ConfirmConsent(consent_pb2.ConfirmConsentRequest(token=token))
    marketing = consent_pb2.CheckConsentRequest(email=ADDRESS, purpose=consent_pb2.CONSENT_PURPOSE_MARKETING)
    assert stack.consent.CheckConsent(marketing).allowed
    time.sleep(1.1)  # idle past the first follow-up delay: a follow-up email addressed to her
    assert stack.chat.RunDueFollowups(chat_pb2.RunDueFollowupsRequest()).sent == 1
    smtp.wait_for(2)


def test_export_then_erasure_leaves_the_address_nowhere(http, stack, slack, smtp, redis_url, cache_prefix):
    _a_visitor_in_chat_consent_and_notifications(http, stack, slack, smtp)

    exported = http.post("/api/admin/privacy/export", json={"email": WRITTEN}, headers=ADMIN)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["email"] == ADDRESS
    (conversation,) = document["chat"]["conversations"]
    texts = [message["text"] for message in conversation["messages"]]
    assert any(WRITTEN in text for text in texts)
    assert conversation["lead"]["phone"]
    assert conversation["lead"]["score"] == 70
    assert document["consent"]["consent"]["marketing_consent"] is True
    actions = [entry["action"] for entry in document["consent"]["audit_log"]]  # newest first
    assert actions[0] == "consent-confirmed"
    assert "consent-pending" in actions
    given = document["consent"]["audit_log"][-1]
    assert (given["ip_address"], given["user_agent"], given["consent_text_version"]) == (
        "198.51.100.23",
        "Mozilla/5.0 (X11)",
        consent_texts.catalogue().current.version,  # chat's default: the texts the widget shows now
    )
    channels = sorted(n["channel"] for n in document["notifier"]["notifications"])
    assert channels == ["email", "email", "monday", "slack"]  # confirmation, follow-up, lead alerts
    assert ADDRESS in _redis_values(redis_url, cache_prefix).lower()
    for service in ("consent", "chat", "notifier"):  # the dumps can find it
        assert ADDRESS in _dump(stack.database_urls[service]).lower(), service

    erased = http.post(
        "/api/admin/privacy/erase",
        json={"email": ADDRESS, "reason": "Art. 17 request, ticket 42"},
        headers=ADMIN,
    )
    assert erased.status_code == 200, erased.text
    counts = erased.json()["erased"]
    assert int(counts["chat"]["conversations"]) == 1
    assert int(counts["notifier"]["notifications"]) == 4
    assert int(counts["consent"]["subjects_erased"]) == 1

    for service in ("consent", "chat", "notifier"):
        assert ADDRESS not in _dump(stack.database_urls[service]).lower(), service
    assert ADDRESS not in _redis_values(redis_url, cache_prefix).lower()

    # The suppression holds when the address comes back with consent, and the trail still verifies.
    stack.consent.RecordConsent(consent_pb2.RecordConsentRequest(email=ADDRESS, marketing_consent=True))
    assert not stack.consent.CheckConsent(
        consent_pb2.CheckConsentRequest(email=ADDRESS, purpose=consent_pb2.CONSENT_PURPOSE_MARKETING)
    ).allowed
    verified = http.get("/api/admin/consent/audit-log/verify", headers=ADMIN)
    assert verified.status_code == 200
    assert verified.json()["ok"] is True
    actions = [e["action"] for e in http.get("/api/admin/consent/audit-log", headers=ADMIN).json()["entries"]]
    assert "erase" in actions

    again = http.post("/api/admin/privacy/erase", json={"email": ADDRESS, "reason": "repeat"}, headers=ADMIN)
    assert again.status_code == 200
    assert int(again.json()["erased"]["chat"]["conversations"]) == 0
    assert int(again.json()["erased"]["notifier"]["notifications"]) == 0


@pytest.mark.parametrize("route", ["/api/admin/privacy/export", "/api/admin/privacy/erase"])
def test_bad_input_and_missing_key(http, route):
    assert http.post(route, json={"email": ADDRESS}).status_code == 401
    assert http.post(route, json={"email": ADDRESS}, headers={"X-ADMIN-API-KEY": "wrong"}).status_code == 401
    for body in ({"email": "not-an-address"}, {"email": ""}, {}, {"email": 7}):
        answer = http.post(route, json=body, headers=ADMIN)
        assert answer.status_code == 400, body
        assert answer.json()["details"][0]["field_violations"][0]["field"] == "email"
    assert (
        http.post(route, content=b"[1]", headers={**ADMIN, "Content-Type": "application/json"}).status_code
        == 400
    )
    assert (
        http.post(route, content=b"email=x", headers={**ADMIN, "Content-Type": "text/plain"}).status_code
        == 415
    )


def test_an_unknown_address_answers_zero_counts_and_is_still_suppressed(http, stack):
    unknown = "nobody.known@example.com"
    exported = http.post("/api/admin/privacy/export", json={"email": unknown}, headers=ADMIN).json()
    assert exported["chat"] == {"conversations": []}
    assert exported["notifier"] == {"notifications": []}
    assert (exported["consent"]["consent"], exported["consent"]["audit_log"]) == (None, [])
    erased = http.post("/api/admin/privacy/erase", json={"email": unknown}, headers=ADMIN)
    assert erased.status_code == 200
    counts = erased.json()["erased"]
    assert int(counts["chat"]["conversations"]) == 0
    assert int(counts["notifier"]["notifications"]) == 0
    assert int(counts["consent"]["subjects_erased"]) == 0
    stack.consent.RecordConsent(consent_pb2.RecordConsentRequest(email=unknown, marketing_consent=True))
    marketing = consent_pb2.CheckConsentRequest(email=unknown, purpose=consent_pb2.CONSENT_PURPOSE_MARKETING)
    assert not stack.consent.CheckConsent(marketing).allowed
    assert http.post("/api/admin/privacy/export", json={"email": unknown}, headers=ADMIN).json()["consent"][
        "suppressed"
    ]


def test_a_service_that_is_down_is_named_and_a_repeat_completes_the_erasure(http, stack, slack, smtp):
    _a_visitor_in_chat_consent_and_notifications(http, stack, slack, smtp)
    stack.stop_consent()
    exported = http.post("/api/admin/privacy/export", json={"email": ADDRESS}, headers=ADMIN)
    assert exported.status_code == 503
    assert exported.json()["not_exported"] == ["consent"]
    erased = http.post(
        "/api/admin/privacy/erase", json={"email": ADDRESS, "reason": "Art. 17"}, headers=ADMIN
    )
    assert erased.status_code == 503
    body = erased.json()
    assert body["not_erased"] == ["consent"]
    assert "consent" in body["message"]
    assert int(body["erased"]["chat"]["conversations"]) == 1
    assert ADDRESS in _dump(stack.database_urls["consent"]).lower()

    stack.start_consent()
    # The operator repeats the request; the gateway's channel reconnects within seconds.
    repeated = eventually(
        lambda: http.post(
            "/api/admin/privacy/erase", json={"email": ADDRESS, "reason": "Art. 17"}, headers=ADMIN
        ),
        lambda answer: answer.status_code != 503,
    )
    assert repeated.status_code == 200, repeated.text
    assert int(repeated.json()["erased"]["consent"]["subjects_erased"]) == 1
    for service in ("consent", "chat", "notifier"):
        assert ADDRESS not in _dump(stack.database_urls[service]).lower(), service
