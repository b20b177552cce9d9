"""Bad input gets the documented status and a google.rpc.Status body naming the problem; nothing of
it reaches a service."""

from __future__ import annotations

import socket

import httpx
import pytest

CHAT = "/api/chatbot/chat"


def violations(response) -> dict[str, str]:
    [detail] = response.json()["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return {v["field"]: v["description"] for v in detail["field_violations"]}


def post_raw(http, path: str, body: bytes, content_type: str | None = "application/json", **headers: str):
    if content_type is not None:
        headers["Content-Type"] = content_type
    return http.post(path, content=body, headers=headers)


def test_invalid_json_is_400(http, chat):
    response = post_raw(http, CHAT, b'{"message": "hi",')
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert response.json()["message"].startswith("body: is not valid JSON")
    assert chat.servicer.calls == []


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        (b'{"message": 5, "session_id": "s"}', "message", "expected a string, got a number"),
        (b'{"message": "hi", "rodo_consent": "yes"}', "rodo_consent", "expected true or false, got a string"),
        (b'{"message": "hi", "session_id": ["s"]}', "session_id", "expected a string, got an array"),
        (b'["message"]', "body", "expected a JSON object, got an array"),
        (b'{"message": NaN}', "body", "is not valid JSON: NaN is not a JSON value"),
    ],
)
def test_a_json_value_of_the_wrong_type_is_400_naming_the_field(http, chat, body, field, description):
    response = post_raw(http, CHAT, body)
    assert response.status_code == 400
    assert violations(response) == {field: description}
    assert chat.servicer.calls == []


def test_wrong_types_deeper_in_the_request_name_their_path(http, admin, notifier):
    response = http.post("/api/admin/dlq/retry", json={"ids": ["a", 7]}, headers=admin)
    assert response.status_code == 400
    assert violations(response) == {"ids[1]": "expected a string, got a number"}
    purge = http.post(
        "/api/admin/dlq/purge", json={"status": "GONE", "older_than_days": 2**40}, headers=admin
    )
    assert set(violations(purge)) == {"status", "older_than_days"}
    assert "DEAD_LETTER_STATUS_DELIVERED" in violations(purge)["status"]
    assert notifier.servicer.calls == []


def test_an_unknown_field_is_400(http, chat):
    response = http.post(CHAT, json={"message": "hi", "session_id": "s", "sessionId": "s", "admin": True})
    assert response.status_code == 400
    assert violations(response) == {"sessionId": "unknown field", "admin": "unknown field"}
    assert chat.servicer.calls == []


def test_a_service_side_validation_error_keeps_the_services_field_violation(http):
    response = http.post("/api/unsubscribe", json={"email": "not-an-email"})
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert list(violations(response)) == ["email"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(http, chat, content_type):
    response = post_raw(http, CHAT, b"message=hi", content_type)
    assert response.status_code == 415
    assert response.json() == {"code": 3, "message": "Content-Type must be application/json", "details": []}
    assert chat.servicer.calls == []


def test_json_with_a_charset_is_accepted(http, chat):
    response = post_raw(
        http, CHAT, b'{"message": "hi", "session_id": "s"}', "application/json; charset=UTF-8"
    )
    assert response.status_code == 200


def test_a_body_on_a_route_that_takes_none_is_415(http, admin, chat):
    response = post_raw(http, "/api/admin/followups/run", b'{"all": true}', **admin)
    assert response.status_code == 415
    assert response.json()["message"] == "this route takes no request body"
    get_with_body = http.request(
        "GET", "/api/chatbot/conversations/s", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert get_with_body.status_code == 415
    assert chat.servicer.calls == []


def test_an_empty_body_counts_as_an_empty_request(http, chat):
    # Not "body: is not valid JSON": the gateway sends an empty request, whose REQUIRED message the
    # contract's rules (checked by the service before its servicer) refuse.
    response = post_raw(http, CHAT, b"")
    assert response.status_code == 400
    assert violations(response) == {"message": "is required"}
    assert chat.servicer.calls == []


def test_a_body_over_the_limit_is_413(start_gateway, chat):
    gateway = start_gateway(MAX_BODY_BYTES="1024")
    big = b'{"message": "' + b"x" * 2000 + b'"}'
    with httpx.Client(base_url=gateway.url) as http:
        declared = post_raw(http, CHAT, big)
        assert declared.status_code == 413
        assert declared.json() == {"code": 3, "message": "request body exceeds 1024 bytes", "details": []}

        def chunks():
            yield big[:500]
            yield big[500:]

        streamed = http.post(CHAT, content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert post_raw(http, CHAT, b'{"message": "' + b"x" * 900 + b'"}').status_code == 200
    assert chat.servicer.count("SendMessage") == 1


def test_an_oversized_chunked_body_is_refused_before_the_client_finishes_sending(start_gateway, chat):
    """The limit is enforced while reading: 413 arrives although the request never ended."""
    gateway = start_gateway(MAX_BODY_BYTES="1024")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as connection:
        connection.sendall(
            b"POST /api/chatbot/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        connection.sendall(b"800\r\n" + b"x" * 0x800 + b"\r\n")  # 2 KiB, and no last chunk ever
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")
    assert chat.servicer.calls == []


def test_an_unknown_path_is_404(http):
    for path in ("/api/nothing", "/api/chatbot/chat/", "/nothing", "/api/chatbot/conversations/a/b"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"code": 5, "message": "no route for this path", "details": []}


def test_a_wrong_method_is_405_with_allow(http):
    response = http.get(CHAT)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == 12
    assert http.delete("/api/unsubscribe/status/a@example.com").headers["allow"] == "GET"
    assert http.post("/api/health").status_code == 405


def test_an_unknown_query_parameter_is_400(http, admin, notifier):
    response = http.get("/api/admin/dlq/entries", params={"page_size": 5, "sort": "asc"}, headers=admin)
    assert response.status_code == 400
    assert violations(response) == {"sort": "unknown query parameter"}
    bad_value = http.get("/api/admin/dlq/entries", params={"page_size": "five"}, headers=admin)
    assert violations(bad_value) == {"page_size": "expected an integer from -2147483648 to 2147483647"}
    twice = http.get("/api/admin/dlq/entries?page_size=1&page_size=2", headers=admin)
    assert violations(twice) == {"page_size": "given more than once"}
    on_a_body_route = http.post(CHAT, params={"session_id": "s"}, json={"message": "hi"})
    assert violations(on_a_body_route) == {"session_id": "unknown query parameter"}
    assert notifier.servicer.calls == []


def test_query_parameters_fill_nested_and_well_known_fields(http, admin):
    response = http.get(
        "/api/admin/consent/audit-log",
        params={"since": "2026-01-01T00:00:00Z", "until": "yesterday"},
        headers=admin,
    )
    assert response.status_code == 400
    assert list(violations(response)) == ["until"]
    fine = http.get("/api/admin/consent/audit-log", params={"since": "2026-01-01T00:00:00Z"}, headers=admin)
    assert fine.status_code == 200


def test_path_variables_are_unescaped_after_matching(http, admin, notifier):
    # (a breaker's name has no pattern in its contract; a session id's would refuse these)
    for escaped in ("a%2Fb", "caf%C3%A9"):
        assert http.post(f"/api/admin/breakers/{escaped}/reset", headers=admin).status_code == 404
    broken = http.post("/api/admin/breakers/%FF/reset", headers=admin)
    assert broken.status_code == 400
    assert violations(broken) == {"name": "is not valid percent-encoded UTF-8"}
    assert [c.request.name for c in notifier.servicer.calls] == ["a/b", "café"]
