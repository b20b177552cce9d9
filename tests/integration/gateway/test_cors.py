"""CORS for the origins in CORS_ORIGINS, preflight included; other origins get no CORS headers."""

from __future__ import annotations

import httpx
import pytest

SITE = "https://novahouse.pl"


@pytest.fixture
def cors_http(start_gateway):
    gateway = start_gateway(CORS_ORIGINS=f"{SITE}, https://www.novahouse.pl")
    with httpx.Client(base_url=gateway.url) as client:
        yield client


def preflight(http: httpx.Client, origin: str, method: str = "POST", headers: str = "content-type"):
    return http.options(
        "/api/chatbot/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_preflight_from_an_allowed_origin(cors_http, chat):
    response = preflight(cors_http, SITE, headers="content-type, x-request-id")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "X-Request-ID" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "600"
    assert "x-request-id" in response.headers
    assert chat.servicer.calls == []


def test_preflight_from_another_origin_is_refused_in_the_error_format(cors_http):
    response = preflight(cors_http, "https://evil.example")
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert response.json() == {"code": 3, "message": "Disallowed CORS origin", "details": []}


def test_simple_requests_carry_cors_headers_for_allowed_origins_only(cors_http):
    allowed = cors_http.post(
        "/api/chatbot/chat", json={"message": "hi", "session_id": "s"}, headers={"Origin": SITE}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SITE
    exposed = allowed.headers["access-control-expose-headers"]
    assert "Retry-After" in exposed
    assert "X-RateLimit-Remaining" in exposed
    assert "RateLimit" in exposed
    other = cors_http.post(
        "/api/chatbot/chat",
        json={"message": "hi", "session_id": "s"},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_without_cors_origins_there_are_no_cors_headers(http):
    response = preflight(http, SITE)
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    simple = http.get("/api/health", headers={"Origin": SITE})
    assert "access-control-allow-origin" not in simple.headers
