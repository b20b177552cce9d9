"""Every route of docs/api.md over real HTTP: what reached the service, and what the client got back, in
the old Flask JSON shapes (proto field names, defaults printed), matching the served OpenAPI document."""

from __future__ import annotations

import uuid

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from novahouse.chat.v1 import chat_pb2
from novahouse.notifier.v1 import notifier_pb2
from tests.support.gateway import ADMIN_KEY as _DEEP_KEY

DEEP = {"X-ADMIN-API-KEY": _DEEP_KEY}  # the full report needs the admin key


def new_email(label: str = "route") -> str:
    return f"{label}.{uuid.uuid4().hex[:8]}+news@Example.com"


def test_chat_message_reaches_the_chat_service_with_the_callers_identity(http, chat):
    response = http.post(
        "/api/chatbot/chat",
        json={"message": "Ile kosztuje remont?", "session_id": "s-1", "marketing_consent": False},
        headers={
            "User-Agent": "Mozilla/5.0 (zażółć)".encode(),
            "X-Request-ID": "req-chat-1",
            "X-Session-Token": "the-visitors-token",
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "conversation_id": "conv-s-1",
        "session_id": "s-1",
        "reply": "You said: Ile kosztuje remont?",
        "lead_id": "",
        "lead_score": 0,
        "session_token": "",
    }
    assert response.headers["x-request-id"] == "req-chat-1"
    received = chat.servicer.last("SendMessage")
    assert received.request.session_id == "s-1"
    assert received.request.HasField("marketing_consent")
    assert not received.request.marketing_consent
    assert not received.request.HasField("rodo_consent")
    assert received.metadata["x-client-ip"] == "127.0.0.1"
    assert received.metadata["x-client-user-agent"] == "Mozilla/5.0 (za%C5%BC%C3%B3%C5%82%C4%87)"
    assert received.metadata["x-request-id"] == "req-chat-1"
    assert received.metadata["x-session-token"] == "the-visitors-token"  # the chat service checks it
    assert "x-admin-api-key" not in received.metadata


def test_a_request_id_is_generated_when_the_client_sends_none_or_a_bad_one(http, chat):
    first = http.post("/api/chatbot/chat", json={"message": "a", "session_id": "s"})
    second = http.post(
        "/api/chatbot/chat", json={"message": "a", "session_id": "s"}, headers={"X-Request-ID": "x" * 500}
    )
    generated = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(value) == 32 for value in generated)
    assert generated[0] != generated[1]
    assert [call.metadata["x-request-id"] for call in chat.servicer.calls] == generated


def test_conversation_by_session(http, chat):
    response = http.get("/api/chatbot/conversations/s-42")
    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == "s-42"
    assert body["email"] == ""
    assert body["messages"][0] == {
        "role": "MESSAGE_ROLE_USER",
        "text": "Hi",
        "created_at": "2023-11-14T22:13:20Z",
        "followup_number": 0,
    }
    assert chat.servicer.last("GetConversation").request == chat_pb2.GetConversationRequest(session_id="s-42")
    missing = http.get("/api/chatbot/conversations/unknown")
    assert missing.status_code == 404
    assert missing.json() == {"code": 5, "message": "no conversation for this session", "details": []}


def test_unsubscribe_revoke_and_status_through_the_real_consent_service(http, admin):
    email = new_email()
    normalised = email.lower()
    unsubscribed = http.post("/api/unsubscribe", json={"email": email, "reason": "Too many emails"})
    assert unsubscribed.status_code == 200
    assert unsubscribed.json() == {
        "success": True,
        "message": "Successfully unsubscribed from marketing emails",
        "email": normalised,
    }
    revoked = http.post("/api/revoke-consent", json={"email": email})
    assert revoked.status_code == 200
    assert revoked.json() == {
        "success": True,
        "message": "All consents revoked. Your data will not be processed.",
        "email": normalised,
        "affected_records": 0,
    }
    # '+' and '%40' in the path: matched on the raw path, then unescaped
    status = http.get(f"/api/unsubscribe/status/{normalised.replace('@', '%40')}", headers=admin)
    assert status.status_code == 200
    body = status.json()
    assert body.pop("last_action_at").endswith("Z")
    assert body == {
        "email": normalised,
        "is_unsubscribed": True,
        "marketing_consent": False,
        "rodo_consent": False,
        "last_action": "revoke-consent",
    }
    unknown = http.get(f"/api/unsubscribe/status/{new_email('nobody')}", headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == 5


def test_consent_audit_log_records_the_real_client_ip_user_agent_and_request_id(http, admin):
    email = new_email("audit")
    http.post(
        "/api/unsubscribe",
        json={"email": email, "reason": "audit"},
        headers={"User-Agent": "audit-test/1.0", "X-Request-ID": "req-audit-1"},
    )
    response = http.get(
        "/api/admin/consent/audit-log",
        params={"email": email.lower(), "action": "unsubscribe", "page_size": 5},
        headers=admin,
    )
    assert response.status_code == 200
    [entry] = response.json()["entries"]
    assert entry["ip_address"] == "127.0.0.1"
    assert entry["user_agent"] == "audit-test/1.0"
    assert entry["request_id"] == "req-audit-1"
    assert entry["source"] == "api"
    assert isinstance(entry["id"], str)  # int64 in proto3 JSON
    assert response.json()["next_page_token"] == ""


def test_follow_up_admin_routes(http, admin, chat):
    sent = http.post(
        "/api/admin/followups/send", json={"conversation_id": "9", "followup_number": 2}, headers=admin
    )
    assert sent.status_code == 200
    assert sent.json() == {"status": "FOLLOWUP_STATUS_SENT"}
    assert chat.servicer.last("SendFollowup").request == chat_pb2.SendFollowupRequest(
        conversation_id="9", followup_number=2
    )
    due = http.get("/api/admin/followups/due", params={"page_size": 10}, headers=admin)
    assert due.json()["followups"][0]["idle_seconds"] == 1900.5
    assert chat.servicer.last("ListDueFollowups").request.page_size == 10
    run = http.post("/api/admin/followups/run", headers=admin)
    assert run.json() == {"sent": 1, "already_sent": 0, "skipped_no_consent": 0, "deferred": 0}


def test_dead_letter_admin_routes(http, admin, notifier):
    listed = http.get(
        "/api/admin/dlq/entries",
        params={"status": "DEAD_LETTER_STATUS_PENDING", "channel": "CHANNEL_SLACK", "page_size": 20},
        headers=admin,
    )
    assert listed.status_code == 200
    assert listed.json()["entries"][0]["channel"] == "CHANNEL_SLACK"
    assert notifier.servicer.last("ListDeadLetters").request == notifier_pb2.ListDeadLettersRequest(
        status=notifier_pb2.DEAD_LETTER_STATUS_PENDING, channel=notifier_pb2.CHANNEL_SLACK, page_size=20
    )
    entry = http.get("/api/admin/dlq/entries/7", headers=admin)
    assert entry.json()["entry"]["id"] == "7"
    assert entry.json()["entry"]["last_error_status"] == 0
    assert http.get("/api/admin/dlq/entries/404", headers=admin).status_code == 404
    stats = http.get("/api/admin/dlq/stats", headers=admin).json()
    assert stats["counts"] == [
        {"status": "DEAD_LETTER_STATUS_PENDING", "channel": "CHANNEL_SLACK", "count": "3"}
    ]
    assert (stats["pending"], stats["failed"]) == ("3", "0")
    retried = http.post("/api/admin/dlq/retry", json={"ids": ["1", "2"]}, headers=admin)
    assert retried.json() == {"retried": 2, "delivered": 2, "failed": 0}
    assert list(notifier.servicer.last("RetryDeadLetters").request.ids) == ["1", "2"]
    assert http.post("/api/admin/dlq/redrive", json={}, headers=admin).json() == {"redriven": 0}
    purged = http.post(
        "/api/admin/dlq/purge",
        json={"status": "DEAD_LETTER_STATUS_DELIVERED", "older_than_days": 30},
        headers=admin,
    )
    assert purged.json() == {"purged": 4}
    assert notifier.servicer.last("PurgeDeadLetters").request.older_than_days == 30


def test_breaker_admin_routes(http, admin, notifier):
    breakers = http.get("/api/admin/breakers", headers=admin).json()["breakers"]
    assert [b["name"] for b in breakers] == ["slack", "monday", "email"]
    assert breakers[0]["state"] == "BREAKER_STATE_CLOSED"
    assert breakers[0]["fail_counter"] == 0
    reset = http.post("/api/admin/breakers/slack/reset", headers=admin)
    assert reset.status_code == 200
    assert reset.json()["breaker"]["name"] == "slack"
    assert notifier.servicer.last("ResetBreaker").request.name == "slack"
    assert http.post("/api/admin/breakers/fax/reset", headers=admin).status_code == 404


def test_liveness_calls_no_upstream_and_is_never_rate_limited(start_gateway, chat, notifier):
    gateway = start_gateway(API_RATE_LIMIT_MINUTE="2 per minute", CONSENT_ADDR="127.0.0.1:1")
    with httpx.Client(base_url=gateway.url) as client:
        answers = [client.get("/api/health") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {"status": "ok"}
    assert "x-ratelimit-limit" not in answers[0].headers
    assert chat.servicer.calls == []
    assert notifier.servicer.calls == []


def test_deep_health_reports_every_service_breakers_dead_letters_and_rate_limit_storage(http, notifier):
    notifier.servicer.breaker_state = notifier_pb2.BREAKER_STATE_OPEN
    response = http.get("/api/health/deep", headers=DEEP)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert set(body["services"]) == {"consent", "notifier", "chat"}
    consent = body["services"]["consent"]
    assert consent["health"] == "SERVING"
    assert consent["diagnostics"]["dependencies"][0]["name"] == "database"
    assert consent["diagnostics"]["dependencies"][0]["reachable"] is True
    assert body["services"]["notifier"]["breakers"]["breakers"][0]["state"] == "BREAKER_STATE_OPEN"
    assert body["services"]["notifier"]["dead_letters"]["pending"] == "3"
    # An open breaker is a degradation, not an outage: alerts wait in the dead-letter queue.
    assert "notifier.breaker.slack" in body["degraded"]
    assert body["rate_limits"]["storage"] in ("redis", "memory")
    assert body["rate_limits"]["strategy"] == "sliding-window-counter"


def response_schema(document: dict, template: str, method: str, status: int) -> dict:
    responses = document["paths"][template][method.lower()]["responses"]
    answer = responses.get(str(status), responses.get("default"))
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return {"components": document["components"], **answer["content"]["application/json"]["schema"]}


CALLS = [
    ("POST", "/api/chatbot/chat", "/api/chatbot/chat", {"json": {"message": "x", "session_id": "s"}}, 200),
    ("POST", "/api/chatbot/chat", "/api/chatbot/chat", {"json": {"message": 1}}, 400),
    ("GET", "/api/chatbot/conversations/s-1", "/api/chatbot/conversations/{session_id}", {}, 200),
    ("GET", "/api/chatbot/conversations/unknown", "/api/chatbot/conversations/{session_id}", {}, 404),
    ("POST", "/api/unsubscribe", "/api/unsubscribe", {"json": {"email": "schema@example.com"}}, 200),
    ("POST", "/api/unsubscribe", "/api/unsubscribe", {"json": {"email": "not-an-email"}}, 400),
    ("POST", "/api/revoke-consent", "/api/revoke-consent", {"json": {"email": "schema@example.com"}}, 200),
    (
        "GET",
        "/api/unsubscribe/status/schema@example.com",
        "/api/unsubscribe/status/{email}",
        {"admin": 1},
        200,
    ),
    ("GET", "/api/unsubscribe/status/schema@example.com", "/api/unsubscribe/status/{email}", {}, 401),
    ("GET", "/api/admin/consent/audit-log", "/api/admin/consent/audit-log", {"admin": 1}, 200),
    ("GET", "/api/admin/consent/audit-log/verify", "/api/admin/consent/audit-log/verify", {"admin": 1}, 200),
    (
        "POST",
        "/api/admin/privacy/export",
        "/api/admin/privacy/export",
        {"admin": 1, "json": {"email": "schema@example.com"}},
        200,
    ),
    (
        "POST",
        "/api/admin/privacy/erase",
        "/api/admin/privacy/erase",
        {"admin": 1, "json": {"email": "schema@example.com"}},
        200,
    ),
    (
        "POST",
        "/api/admin/followups/send",
        "/api/admin/followups/send",
        {"admin": 1, "json": {"conversation_id": "9", "followup_number": 1}},
        200,
    ),
    ("GET", "/api/admin/followups/due", "/api/admin/followups/due", {"admin": 1}, 200),
    ("POST", "/api/admin/followups/run", "/api/admin/followups/run", {"admin": 1}, 200),
    ("GET", "/api/admin/dlq/entries", "/api/admin/dlq/entries", {"admin": 1}, 200),
    ("GET", "/api/admin/dlq/entries/1", "/api/admin/dlq/entries/{id}", {"admin": 1}, 200),
    ("GET", "/api/admin/dlq/stats", "/api/admin/dlq/stats", {"admin": 1}, 200),
    ("POST", "/api/admin/dlq/retry", "/api/admin/dlq/retry", {"admin": 1, "json": {"ids": ["1"]}}, 200),
    ("POST", "/api/admin/dlq/redrive", "/api/admin/dlq/redrive", {"admin": 1, "json": {}}, 200),
    (
        "POST",
        "/api/admin/dlq/purge",
        "/api/admin/dlq/purge",
        {"admin": 1, "json": {"status": "DEAD_LETTER_STATUS_FAILED"}},
        200,
    ),
    ("GET", "/api/admin/breakers", "/api/admin/breakers", {"admin": 1}, 200),
    ("POST", "/api/admin/breakers/slack/reset", "/api/admin/breakers/{name}/reset", {"admin": 1}, 200),
    ("GET", "/api/health", "/api/health", {}, 200),
    ("GET", "/api/health/deep", "/api/health/deep", {}, 200),
]


def test_every_route_is_in_the_openapi_document_and_answers_as_it_says(http, admin):
    document = http.get("/api/openapi.json").json()
    validate(document)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    # The signed-link routes answer HTML pages, not JSON: tests/integration/gateway/test_email_links.py.
    links = {
        (method, f"/api/{path}/{{token}}")
        for method in ("GET", "POST")
        for path in ("unsubscribe/one-click", "consent/confirm")
    }
    assert (
        documented
        == {(method, template) for method, _, template, _, _ in CALLS}
        | {("GET", "/api/openapi.json")}
        | links
    )
    for method, path, template, options, expected in CALLS:
        headers = admin if options.get("admin") else {}
        response = http.request(method, path, json=options.get("json"), headers=headers)
        assert response.status_code == expected, (method, path, response.text)
        schema = response_schema(document, template, method, response.status_code)
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(response.json())
        if template.startswith(("/api/health", "/api/admin/privacy/")):  # the gateway's own routes
            continue
        assert {"x-ratelimit-limit", "ratelimit-policy", "ratelimit"} <= set(response.headers)


@pytest.mark.parametrize(
    ("template", "required"), [("/api/unsubscribe", ["email"]), ("/api/admin/dlq/retry", None)]
)
def test_request_bodies_are_documented_as_the_gateway_checks_them(http, template, required):
    document = http.get("/api/openapi.json").json()
    body = document["paths"][template]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[1]
    schema = document["components"]["schemas"][name]
    assert schema["additionalProperties"] is False
    assert schema.get("required") == required  # what the contract declares REQUIRED
