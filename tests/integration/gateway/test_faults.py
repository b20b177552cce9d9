"""Upstream faults: a stopped service is 503 on its routes and in /api/health/deep, a slow one 504,
and a service's own error statuses are mapped by the grpc-gateway table with their details."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest

from services.gateway.application.health import REPORT_TTL_SECONDS
from tests.support.gateway import ADMIN_KEY as _DEEP_KEY
from tests.support.services import start_sqlite_consent

DEEP = {"X-ADMIN-API-KEY": _DEEP_KEY}  # the full report needs the admin key


@pytest.fixture
def own_consent(tmp_path):
    """A consent service this test may stop."""
    running = start_sqlite_consent(str(tmp_path))
    yield running
    running.stop()


def test_a_stopped_service_is_503_on_its_routes_and_in_deep_health(start_gateway, own_consent, chat):
    gateway = start_gateway(CONSENT_ADDR=f"127.0.0.1:{own_consent.port}")
    with httpx.Client(base_url=gateway.url) as http:
        assert http.post("/api/unsubscribe", json={"email": "stop@example.com"}).status_code == 200
        assert http.get("/api/health/deep", headers=DEEP).status_code == 200
        own_consent.stop()
        started = time.monotonic()
        for path in ("/api/unsubscribe", "/api/revoke-consent"):
            response = http.post(path, json={"email": "stop@example.com"})
            assert response.status_code == 503
            assert response.json() == {
                "code": 14,
                "message": "the consent service is unavailable, try again later",
                "details": [],
            }
        assert time.monotonic() - started < 3  # refused at once, not held until the deadline
        time.sleep(REPORT_TTL_SECONDS)  # the report cached before the stop said "ok"
        public = http.get("/api/health/deep")
        assert (public.status_code, public.json()) == (
            503,
            {"status": "down", "services": {"chat": "up", "consent": "down", "notifier": "up"}},
        )
        deep = http.get("/api/health/deep", headers=DEEP)
        assert deep.status_code == 503
        body = deep.json()
        assert body["status"] == "down"
        assert body["down"] == ["consent"]
        assert body["services"]["consent"]["health"] == "UNREACHABLE"
        assert body["services"]["chat"]["health"] == "SERVING"
        # the other services' routes are unaffected
        assert http.post("/api/chatbot/chat", json={"message": "hi", "session_id": "s"}).status_code == 200


def test_a_stopped_fake_service_is_named_in_deep_health(start_gateway, notifier, admin):
    gateway = start_gateway()
    notifier.stop()
    with httpx.Client(base_url=gateway.url) as http:
        assert http.get("/api/admin/breakers", headers=admin).status_code == 503
        deep = http.get("/api/health/deep", headers=DEEP).json()
    assert deep["down"] == ["notifier"]
    assert deep["services"]["notifier"]["breakers"] == {
        "error": "the notifier service is unavailable, try again later"
    }


def test_a_slow_service_is_504_after_the_upstream_timeout(start_gateway, chat):
    gateway = start_gateway(UPSTREAM_TIMEOUT_SECONDS="0.3")
    chat.servicer.behaviour.delay_seconds = 1.0
    with httpx.Client(base_url=gateway.url) as http:
        started = time.monotonic()
        response = http.post("/api/chatbot/chat", json={"message": "hi", "session_id": "s"})
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {
        "code": 4,
        "message": "the chat service did not answer within 0.3s",
        "details": [],
    }
    assert 0.25 < elapsed < 0.9


def test_a_required_dependency_that_is_down_makes_deep_health_503(start_gateway, chat):
    chat.diagnostics.add_probe("database", lambda: (_ for _ in ()).throw(ConnectionError("refused")))
    chat.diagnostics.add_probe(
        "redis", lambda: (_ for _ in ()).throw(ConnectionError("refused")), required=False
    )
    gateway = start_gateway()
    with httpx.Client(base_url=gateway.url) as http:
        deep = http.get("/api/health/deep", headers=DEEP)
    assert deep.status_code == 503
    assert deep.json()["down"] == ["chat.database"]
    assert "chat.redis" in deep.json()["degraded"]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_service_statuses_map_by_the_grpc_gateway_table(http, chat, code, status):
    chat.servicer.behaviour.fail_with = (code, "Traceback (most recent call last): secret internals")
    response = http.post("/api/chatbot/chat", json={"message": "hi", "session_id": "s"})
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code.value[0]
    if status in (500, 503, 504):  # made up by the channel or a crash: the service's text is not shown
        assert "Traceback" not in body["message"]


def test_a_servicer_that_crashes_never_shows_its_traceback(http, chat):
    chat.servicer.behaviour.crash_with = RuntimeError("boom at /srv/app/secret.py line 3")
    response = http.post("/api/chatbot/chat", json={"message": "hi", "session_id": "s"})
    assert response.status_code == 500
    assert response.json() == {"code": 13, "message": "internal error", "details": []}
