"""Per-client rate limits: budgets, headers, the client key behind proxies, strategies, and Redis going
away and coming back (on a private redis-server; the shared one is never stopped)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import redis

from services.gateway.application.health import REPORT_TTL_SECONDS
from tests.support.gateway import ADMIN_KEY as _DEEP_KEY

DEEP = {"X-ADMIN-API-KEY": _DEEP_KEY}  # the full report needs the admin key

CHAT = "/api/chatbot/chat"
MESSAGE = {"message": "Dzień dobry", "session_id": "s-limits"}


def test_35_chat_messages_from_one_client_get_30_answers_and_5_refusals(start_gateway, chat):
    gateway = start_gateway(CHAT_RATE_LIMIT=None)  # the default: 30 per minute
    with httpx.Client(base_url=gateway.url) as http:
        answers = [http.post(CHAT, json=MESSAGE) for _ in range(35)]
    assert [a.status_code for a in answers] == [200] * 30 + [429] * 5
    assert chat.servicer.count("SendMessage") == 30
    first, last_allowed, _refused = answers[0], answers[29], answers[30]
    assert first.headers["x-ratelimit-limit"] == "30"
    assert first.headers["x-ratelimit-remaining"] == "29"
    assert last_allowed.headers["x-ratelimit-remaining"] == "0"
    assert int(first.headers["x-ratelimit-reset"]) >= int(time.time())
    assert first.headers["ratelimit-policy"] == '"chat";q=30;w=60'
    assert first.headers["ratelimit"].startswith('"chat";r=29;t=')
    for answer in answers[30:]:
        assert 1 <= int(answer.headers["retry-after"]) <= 60
        assert answer.headers["x-ratelimit-remaining"] == "0"
        body = answer.json()
        assert body["code"] == 8  # RESOURCE_EXHAUSTED
        assert body["message"].startswith("rate limit exceeded (chat: 30 per 60s); retry in ")
    assert "retry-after" not in first.headers


def test_api_routes_share_the_hour_and_minute_budgets_and_show_the_tightest(start_gateway, admin):
    gateway = start_gateway(API_RATE_LIMIT_HOUR="4 per hour", API_RATE_LIMIT_MINUTE="10 per minute")
    with httpx.Client(base_url=gateway.url, headers=admin) as http:
        answers = [
            http.get("/api/admin/breakers"),
            http.get("/api/admin/dlq/stats"),
            http.get("/api/chatbot/conversations/s-1"),
            http.post("/api/unsubscribe", json={"email": "budget@example.com"}),
            http.get("/api/admin/breakers"),
        ]
        chat_still_open = http.post(CHAT, json=MESSAGE)
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "4"  # the hour budget is the tighter one
    assert answers[0].headers["x-ratelimit-remaining"] == "3"
    assert answers[0].headers["ratelimit-policy"] == '"api-hour";q=4;w=3600, "api-minute";q=10;w=60'
    assert answers[0].headers["ratelimit"].startswith('"api-hour";r=3;t=')
    assert '"api-minute";r=9;t=' in answers[0].headers["ratelimit"]
    assert "api-hour: 4 per 3600s" in answers[4].json()["message"]
    assert chat_still_open.status_code == 200  # the chat route has a budget of its own


def test_health_and_openapi_are_exempt(start_gateway):
    gateway = start_gateway(API_RATE_LIMIT_MINUTE="1 per minute")
    with httpx.Client(base_url=gateway.url) as http:
        for path in ("/api/health", "/api/openapi.json", "/api/health/deep"):
            statuses = {http.get(path).status_code for _ in range(3)}
            assert statuses <= {200, 503}, path
            assert 429 not in statuses


def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing(start_gateway, chat):
    gateway = start_gateway(CHAT_RATE_LIMIT="2 per hour", TRUSTED_PROXIES=None)
    with httpx.Client(base_url=gateway.url) as http:
        statuses = [
            http.post(CHAT, json=MESSAGE, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(1, 4)
        ]
    assert statuses == [200, 200, 429]
    assert {call.metadata["x-client-ip"] for call in chat.servicer.calls} == {"127.0.0.1"}


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(start_gateway, chat):
    gateway = start_gateway(CHAT_RATE_LIMIT="2 per hour", TRUSTED_PROXIES="127.0.0.1/32, 10.0.0.0/8")
    with httpx.Client(base_url=gateway.url) as http:

        def send(forwarded_for: str) -> int:
            return http.post(CHAT, json=MESSAGE, headers={"X-Forwarded-For": forwarded_for}).status_code

        # The left-most entry is whatever the client wrote; the right-most untrusted one is the client.
        first_client = [send("198.51.100.1, 203.0.113.7"), send("6.6.6.6, 203.0.113.7, 10.1.2.3")]
        first_client.append(send("203.0.113.7"))
        second_client = send("203.0.113.8")
    assert first_client == [200, 200, 429]
    assert second_client == 200
    assert [call.metadata["x-client-ip"] for call in chat.servicer.calls] == [
        "203.0.113.7",
        "203.0.113.7",
        "203.0.113.8",
    ]


@pytest.mark.parametrize("strategy", ["sliding-window", "fixed-window", "moving-window"])
@pytest.mark.parametrize("storage", ["redis", "memory"])
def test_every_strategy_enforces_the_limit_in_every_storage(start_gateway, request, strategy, storage):
    redis_url = request.getfixturevalue("redis_url") if storage == "redis" else None
    gateway = start_gateway(CHAT_RATE_LIMIT="3 per hour", RATE_LIMIT_STRATEGY=strategy, REDIS_URL=redis_url)
    with httpx.Client(base_url=gateway.url) as http:
        answers = [http.post(CHAT, json=MESSAGE) for _ in range(4)]
        health = http.get("/api/health/deep", headers=DEEP).json()["rate_limits"]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert health["storage"] == storage


def test_redis_stopped_mid_run_limits_continue_in_memory_then_return_to_redis(
    start_gateway, chat, caplog, private_redis
):
    caplog.set_level(logging.INFO, logger="services.gateway")
    prefix = "test:gateway:failover"
    gateway = start_gateway(
        REDIS_URL=private_redis.url,
        REDIS_KEY_PREFIX=prefix,
        RATE_LIMIT_REDIS_RECHECK_SECONDS="0.2",
        CHAT_RATE_LIMIT="3 per hour",
    )
    with httpx.Client(base_url=gateway.url) as http:

        def storage() -> tuple[int, dict]:
            deep = http.get("/api/health/deep", headers=DEEP)
            return deep.status_code, deep.json()

        assert [http.post(CHAT, json=MESSAGE).status_code for _ in range(2)] == [200, 200]
        assert private_redis.keys(f"{prefix}:*")
        assert storage()[1]["rate_limits"]["storage"] == "redis"

        private_redis.stop()
        # Redis is gone: answered from memory (a fresh budget of 3), never a 5xx, never unlimited.
        during_outage = [http.post(CHAT, json=MESSAGE) for _ in range(4)]
        assert [a.status_code for a in during_outage] == [200, 200, 200, 429]
        assert all("x-ratelimit-limit" in a.headers for a in during_outage)
        time.sleep(REPORT_TTL_SECONDS)  # the report cached a second ago said Redis
        status, deep = storage()
        assert status == 503
        assert deep["rate_limits"]["storage"] == "memory"
        assert deep["rate_limits"]["redis"]["reachable"] is False
        assert "redis" in deep["down"]

        private_redis.start()  # same port, empty: the budget in Redis starts again
        deadline = time.monotonic() + 10
        while storage()[1]["rate_limits"]["storage"] != "redis":
            assert time.monotonic() < deadline, "never switched back to Redis"
            time.sleep(0.1)
        time.sleep(REPORT_TTL_SECONDS)
        assert storage()[0] == 200
        assert http.post(CHAT, json=MESSAGE).status_code == 200
        assert private_redis.keys(f"{prefix}:*")
    messages = [r.getMessage() for r in caplog.records if r.name == "services.gateway.adapters.ratelimit"]
    assert sum("rate limits are counted in memory" in m for m in messages) == 1
    assert sum("rate limits are counted in Redis" in m for m in messages) == 1


def test_a_redis_that_is_down_at_start_is_no_reason_not_to_serve(start_gateway, chat):
    gateway = start_gateway(REDIS_URL="redis://127.0.0.1:1/0", CHAT_RATE_LIMIT="1 per hour")
    with httpx.Client(base_url=gateway.url) as http:
        assert [http.post(CHAT, json=MESSAGE).status_code for _ in range(2)] == [200, 429]
        assert http.get("/api/health/deep", headers=DEEP).json()["rate_limits"]["storage"] == "memory"


def test_every_limit_of_a_route_costs_one_redis_round_trip_headers_included(
    start_gateway, admin, private_redis
):
    gateway = start_gateway(
        REDIS_URL=private_redis.url, API_RATE_LIMIT_HOUR="100 per hour", API_RATE_LIMIT_MINUTE="3 per minute"
    )
    counter = redis.Redis.from_url(private_redis.url)
    counter.config_resetstat()
    with httpx.Client(base_url=gateway.url, headers=admin) as http:
        answers = [http.get("/api/admin/breakers") for _ in range(4)]
    calls = {
        name.removeprefix("cmdstat_"): stat["calls"] for name, stat in counter.info("commandstats").items()
    }
    counter.close()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].headers["ratelimit"].startswith('"api-hour";r=97;t=')
    assert answers[3].headers["retry-after"]
    # One EVALSHA per request; everything else the server ran was inside that script.
    assert calls.pop("evalsha") == 4
    calls.pop("config|resetstat")
    assert set(calls) <= {
        "time",
        "get",
        "pttl",
        "incr",
        "pexpire",
        "zadd",
        "zcard",
        "zrange",
        "zremrangebyscore",
    }


def test_limits_switched_off_neither_refuse_nor_announce(start_gateway, chat):
    gateway = start_gateway(CHAT_RATE_LIMIT="1 per hour", RATE_LIMIT_ENABLED="false")
    with httpx.Client(base_url=gateway.url) as http:
        answers = [http.post(CHAT, json=MESSAGE) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert chat.servicer.count("SendMessage") == 3
    assert not any(name.startswith(("x-ratelimit", "ratelimit")) for name in answers[0].headers)
