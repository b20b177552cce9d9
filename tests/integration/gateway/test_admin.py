"""Admin routes: the X-ADMIN-API-KEY header, routes off without a configured key, and the signed token
that lets a person see their own consent status and nobody else's."""

from __future__ import annotations

import time
import uuid

import httpx

from services.gateway.application.auth import email_token
from tests.support.gateway import ADMIN_KEY, UNSUBSCRIBE_SECRET

ADMIN_ROUTES = [
    ("GET", "/api/admin/dlq/entries"),
    ("GET", "/api/admin/dlq/entries/1"),
    ("GET", "/api/admin/dlq/stats"),
    ("POST", "/api/admin/dlq/retry"),
    ("POST", "/api/admin/dlq/redrive"),
    ("POST", "/api/admin/dlq/purge"),
    ("GET", "/api/admin/breakers"),
    ("POST", "/api/admin/breakers/slack/reset"),
    ("GET", "/api/admin/consent/audit-log"),
    ("GET", "/api/admin/followups/due"),
    ("POST", "/api/admin/followups/send"),
    ("POST", "/api/admin/followups/run"),
    ("GET", "/api/unsubscribe/status/someone@example.com"),
]


# Bodies the contracts require (a REQUIRED field), so that a request with the key reaches its service.
BODIES = {
    "/api/admin/dlq/purge": {"status": "DEAD_LETTER_STATUS_FAILED"},
    "/api/admin/followups/send": {"conversation_id": "9", "followup_number": 1},
}


def call(http: httpx.Client, method: str, path: str, headers: dict | None = None) -> httpx.Response:
    return http.request(method, path, headers=headers or {}, json=BODIES.get(path))


def test_admin_routes_without_a_key_or_with_a_wrong_one_are_401(http, chat, notifier):
    for method, path in ADMIN_ROUTES:
        missing = call(http, method, path)
        assert missing.status_code == 401, path
        assert missing.json() == {"code": 16, "message": "missing X-ADMIN-API-KEY header", "details": []}
        wrong = call(http, method, path, {"X-ADMIN-API-KEY": ADMIN_KEY + "x"})
        assert wrong.status_code == 401, path
        assert wrong.json()["message"] == "invalid X-ADMIN-API-KEY"
    assert chat.servicer.calls == []
    assert notifier.servicer.calls == []


def test_admin_routes_with_the_right_key_reach_their_service(http, admin, chat, notifier):
    for method, path in ADMIN_ROUTES:
        response = call(http, method, path, admin)
        assert response.status_code in (200, 404), (path, response.text)  # 404: unknown email
    assert len(notifier.servicer.calls) == 8
    assert len(chat.servicer.calls) == 3


def test_without_a_configured_key_every_admin_route_is_403(start_gateway, notifier):
    gateway = start_gateway(ADMIN_API_KEY=None)
    with httpx.Client(base_url=gateway.url) as http:
        for method, path in ADMIN_ROUTES:
            for headers in ({}, {"X-ADMIN-API-KEY": ADMIN_KEY}, {"X-ADMIN-API-KEY": ""}):
                response = call(http, method, path, headers)
                assert response.status_code == 403, (path, headers)
                assert response.json()["code"] == 7
        public = http.post("/api/chatbot/chat", json={"message": "hi", "session_id": "s"})
        assert public.status_code == 200
    assert notifier.servicer.calls == []


def test_a_person_sees_their_own_status_with_the_signed_token_and_nobody_elses(http):
    email = f"Token.{uuid.uuid4().hex[:8]}+x@Example.com"
    other = f"other.{uuid.uuid4().hex[:8]}@example.com"
    for address in (email, other):
        assert http.post("/api/unsubscribe", json={"email": address}).status_code == 200
    token = email_token(UNSUBSCRIBE_SECRET.encode(), email, int(time.time()) + 3600)
    own = http.get(f"/api/unsubscribe/status/{email.lower().replace('+', '%2B')}", params={"token": token})
    assert own.status_code == 200
    assert own.json()["email"] == email.lower()
    # the token is of the normalised email, so the address as the person typed it works too
    assert http.get(f"/api/unsubscribe/status/{email}", params={"token": token}).status_code == 200
    someone_else = http.get(f"/api/unsubscribe/status/{other}", params={"token": token})
    assert someone_else.status_code == 403
    assert someone_else.json()["message"] == "the token does not grant access to this email"
    forged = http.get(f"/api/unsubscribe/status/{email}", params={"token": "0" * 64})
    assert forged.status_code == 403
    expired = email_token(UNSUBSCRIBE_SECRET.encode(), email, int(time.time()) - 1)
    late = http.get(f"/api/unsubscribe/status/{email}", params={"token": expired})
    assert late.status_code == 403
    assert late.json()["message"] == "the token has expired"
    twice = http.get(f"/api/unsubscribe/status/{email}?token={token}&token={token}")
    assert twice.status_code == 400


def test_token_is_no_parameter_of_any_other_route(http, admin):
    admin_route = http.get("/api/admin/breakers", params={"token": "x"}, headers=admin)
    chat_route = http.post("/api/chatbot/chat", params={"token": "x"}, json={"message": "hi"})
    for response in (admin_route, chat_route):
        assert response.status_code == 400
        assert response.json()["details"][0]["field_violations"][0]["field"] == "token"


def test_tokens_are_refused_when_no_unsubscribe_secret_is_configured(start_gateway):
    gateway = start_gateway(UNSUBSCRIBE_SECRET=None)
    token = email_token(UNSUBSCRIBE_SECRET.encode(), "a@example.com", int(time.time()) + 3600)
    with httpx.Client(base_url=gateway.url) as http:
        response = http.get("/api/unsubscribe/status/a@example.com", params={"token": token})
    assert response.status_code == 403
    assert "UNSUBSCRIBE_SECRET" in response.json()["message"]
