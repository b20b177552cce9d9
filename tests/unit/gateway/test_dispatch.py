"""The gateway's request flow (dispatch.Gateway) against scripted upstreams and a counting limiter:
route, limit, authenticate, decode, call, render, and every failure as a google.rpc.Status answer."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2

from novahouse.consent.v1 import consent_pb2
from novahouse.notifier.v1 import notifier_pb2
from services.gateway.application.auth import email_token
from services.gateway.application.http import BodyTooLarge, HttpReply, HttpRequest
from services.gateway.application.ports import UpstreamError
from services.runtime.identity import CLIENT_IP_KEY, CLIENT_USER_AGENT_KEY, REQUEST_ID_KEY
from tests.unit.gateway.fakes import (
    ADMIN_KEY,
    CLIENT,
    SECRET,
    TIMEOUT,
    CountingLimiter,
    ScriptedUpstreams,
    gateway,
)

UNSUBSCRIBE = "novahouse.consent.v1.ConsentService.Unsubscribe"
STATUS = "novahouse.consent.v1.ConsentService.GetConsentStatus"
JSON = {"content-type": b"application/json"}


@pytest.fixture
def upstreams() -> ScriptedUpstreams:
    return ScriptedUpstreams()


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def gw(upstreams, limiter):
    return gateway(upstreams, limiter)


def request(method: str, path: str, body: bytes | Exception = b"", query: bytes = b"", **headers: bytes):
    async def read_body() -> bytes:
        if isinstance(body, Exception):
            raise body
        return body

    lowered = {name.replace("_", "-").lower(): value for name, value in headers.items()}
    if body and not isinstance(body, Exception):
        lowered.setdefault("content-length", str(len(body)).encode())
    return HttpRequest(method, path.encode(), query, lowered, CLIENT, read_body)


def handle(gw, *args, **kwargs) -> tuple[HttpReply, str | None]:
    return asyncio.run(gw.handle(request(*args, **kwargs)))


def error_of(reply: HttpReply) -> dict:
    return json.loads(reply.body)


def test_a_json_request_reaches_its_rpc_with_the_callers_identity_and_the_answer_is_rendered(gw, upstreams):
    upstreams.answers[UNSUBSCRIBE] = consent_pb2.UnsubscribeResponse(
        success=True, message="unsubscribed", email="anna@example.com"
    )
    reply, template = handle(
        gw, "POST", "/api/unsubscribe", b'{"email": "Anna@Example.com", "reason": "spam"}', **JSON
    )

    assert (reply.status, template) == (200, "/api/unsubscribe")
    assert json.loads(reply.body) == {"success": True, "message": "unsubscribed", "email": "anna@example.com"}
    [call] = upstreams.calls
    assert call.rpc == UNSUBSCRIBE
    assert (call.request.email, call.request.reason) == ("Anna@Example.com", "spam")
    assert dict(call.metadata) == {
        CLIENT_IP_KEY: CLIENT.key,
        CLIENT_USER_AGENT_KEY: CLIENT.user_agent,
        REQUEST_ID_KEY: CLIENT.request_id,
    }
    assert call.timeout == TIMEOUT
    headers = dict(reply.headers)
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("100", "99")
    assert headers["ratelimit-policy"] == '"api-hour";q=1000;w=3600, "api-minute";q=100;w=60'


def test_path_and_query_fields_fill_the_request(gw, upstreams):
    reply, _ = handle(
        gw,
        "GET",
        "/api/admin/dlq/entries",
        query=b"status=DEAD_LETTER_STATUS_FAILED&page_size=5",
        x_admin_api_key=ADMIN_KEY.encode(),
    )
    assert reply.status == 200
    sent = upstreams.calls[0].request
    assert (sent.status, sent.page_size) == (notifier_pb2.DEAD_LETTER_STATUS_FAILED, 5)
    handle(gw, "POST", "/api/admin/breakers/slack/reset", x_admin_api_key=ADMIN_KEY.encode())
    assert upstreams.calls[1].request.name == "slack"


def test_no_route_is_404_and_a_wrong_method_is_405_naming_the_allowed_ones(gw, upstreams):
    missing, template = handle(gw, "GET", "/api/nothing")
    assert (missing.status, template, error_of(missing)["code"]) == (404, None, code_pb2.NOT_FOUND)
    wrong, _ = handle(gw, "DELETE", "/api/unsubscribe")
    assert wrong.status == 405
    assert ("allow", "POST") in wrong.headers
    assert upstreams.calls == []


def test_a_refused_request_is_429_with_retry_after_and_never_reaches_the_service(upstreams, limiter):
    gw = gateway(upstreams, limiter, CHAT_RATE_LIMIT="2 per minute")
    answers = [
        handle(gw, "POST", "/api/chatbot/chat", b'{"session_id": "s", "message": "hi"}', **JSON)[0]
        for _ in range(3)
    ]
    assert [a.status for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert error_of(refused)["code"] == code_pb2.RESOURCE_EXHAUSTED
    assert "chat: 2 per 60s" in error_of(refused)["message"]
    assert 1 <= int(dict(refused.headers)["retry-after"]) <= 60
    assert len(upstreams.calls) == 2


def test_local_routes_are_answered_by_the_gateway_and_never_limited(upstreams, limiter):
    gw = gateway(upstreams, limiter, API_RATE_LIMIT_MINUTE="1 per minute")
    for _ in range(3):
        reply, template = handle(gw, "GET", "/api/ping")
        assert (reply.status, reply.body, template) == (200, b'{"pong":true}', "/api/ping")
    assert limiter.used == {}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "missing X-ADMIN-API-KEY header"),
        ({"x_admin_api_key": b"wrong"}, 401, "invalid X-ADMIN-API-KEY"),
    ],
)
def test_admin_routes_need_the_admin_key(gw, upstreams, headers, status, message):
    reply, _ = handle(gw, "GET", "/api/admin/dlq/stats", **headers)
    assert (reply.status, error_of(reply)["message"]) == (status, message)
    assert upstreams.calls == []
    assert handle(gw, "GET", "/api/admin/dlq/stats", x_admin_api_key=ADMIN_KEY.encode())[0].status == 200


def test_without_an_admin_key_configured_admin_routes_are_off(upstreams, limiter):
    gw = gateway(upstreams, limiter, ADMIN_API_KEY="")
    reply, _ = handle(gw, "GET", "/api/admin/dlq/stats", x_admin_api_key=b"anything")
    assert reply.status == 403
    assert upstreams.calls == []


def test_a_signed_token_opens_only_its_own_emails_status_and_is_not_passed_on(gw, upstreams):
    token = email_token(SECRET.encode(), "anna@example.com", int(time.time()) + 60).encode()
    own, _ = handle(gw, "GET", "/api/unsubscribe/status/Anna@Example.com", query=b"token=" + token)
    other, _ = handle(gw, "GET", "/api/unsubscribe/status/ola@example.com", query=b"token=" + token)
    twice, _ = handle(
        gw, "GET", "/api/unsubscribe/status/anna@example.com", query=b"token=" + token + b"&token=" + token
    )

    assert (own.status, other.status, twice.status) == (200, 403, 400)
    [call] = upstreams.calls
    assert (call.rpc, call.request.email) == (STATUS, "Anna@Example.com")


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/api/unsubscribe", b'{"email": "a@b.pl"}', {"content_type": b"text/plain"}, 415),
        ("POST", "/api/unsubscribe", b'{"email": "a@b.pl"}', {}, 415),  # a body without a type
        ("POST", "/api/unsubscribe", BodyTooLarge(), JSON, 413),
        ("POST", "/api/unsubscribe", b'{"email": ', JSON, 400),
        ("POST", "/api/unsubscribe", b'{"emali": "a@b.pl"}', JSON, 400),
        ("GET", "/api/admin/dlq/stats", b"{}", {"x_admin_api_key": ADMIN_KEY.encode()}, 415),
        ("GET", "/api/chatbot/conversations/%FF", b"", {}, 400),
        ("GET", "/api/admin/dlq/entries", b"", {"x_admin_api_key": ADMIN_KEY.encode()}, 200),
    ],
)
def test_requests_the_gateway_cannot_decode_are_refused_before_any_call(
    gw, upstreams, method, path, body, headers, status
):
    reply, _ = handle(gw, method, path, body, **headers)
    assert reply.status == status
    assert len(upstreams.calls) == (status == 200)
    if status != 200:
        assert set(error_of(reply)) == {"code", "message", "details"}


def test_an_unknown_query_parameter_names_itself(gw, upstreams):
    reply, _ = handle(
        gw, "GET", "/api/admin/dlq/entries", query=b"colour=red", x_admin_api_key=ADMIN_KEY.encode()
    )
    assert reply.status == 400
    assert "colour" in reply.body.decode()
    assert upstreams.calls == []


def test_a_services_own_error_keeps_its_message_and_field_violations(gw, upstreams):
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="email", description="is invalid")
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    upstreams.answers[UNSUBSCRIBE] = UpstreamError(
        code_pb2.INVALID_ARGUMENT, "email: is invalid", [detail], from_service=True
    )

    reply, _ = handle(gw, "POST", "/api/unsubscribe", b'{"email": "x"}', **JSON)

    body = error_of(reply)
    assert (reply.status, body["code"], body["message"]) == (
        400,
        code_pb2.INVALID_ARGUMENT,
        "email: is invalid",
    )
    [violation] = body["details"][0]["field_violations"]
    assert (violation["field"], violation["description"]) == ("email", "is invalid")
    assert "x-ratelimit-limit" in dict(reply.headers)  # a counted request says so, failed or not


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (code_pb2.UNAVAILABLE, 503, "the consent service is unavailable, try again later"),
        (code_pb2.DEADLINE_EXCEEDED, 504, "the consent service did not answer within 3s"),
        (code_pb2.INTERNAL, 500, "the consent service failed"),
    ],
)
def test_a_channel_failure_names_the_service_instead_of_grpc_internals(gw, upstreams, code, status, message):
    upstreams.answers[UNSUBSCRIBE] = UpstreamError(code, "failed to connect to all addresses; ipv4:10.0.0.1")
    reply, _ = handle(gw, "POST", "/api/unsubscribe", b'{"email": "a@b.pl"}', **JSON)
    assert (reply.status, error_of(reply)["message"]) == (status, message)


def test_an_unexpected_failure_is_a_500_without_its_trace(gw, upstreams, caplog):
    upstreams.answers[UNSUBSCRIBE] = RuntimeError("secret internals at /srv/app.py line 3")
    reply, template = handle(gw, "POST", "/api/unsubscribe", b'{"email": "a@b.pl"}', **JSON)
    assert (reply.status, template) == (500, "/api/unsubscribe")
    assert "secret internals" not in reply.body.decode()
    assert "unexpected error answering POST /api/unsubscribe" in caplog.text
