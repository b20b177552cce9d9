"""Redis killed and restarted under load: nothing needs it, so nothing fails."""

from __future__ import annotations

from tests.support.load import ChatLoad
from tests.support.polling import eventually
from tests.support.system import ADMIN as DEEP
from tests.support.system import alerted_leads, dependency, hot_lead


def test_redis_killed_under_load_costs_no_answer_and_is_used_again_once_back(
    start_stack, http_client, private_redis, slack
):
    stack = start_stack()
    http = http_client(stack)
    prefix = stack.environ["gateway"]["REDIS_KEY_PREFIX"]
    with ChatLoad(stack.url, label="redis") as load:
        load.wait_for_answers(10)
        assert private_redis.keys(f"{prefix}*")  # limits and sessions are in Redis

        private_redis.stop()
        load.wait_for_answers(20)  # the gateway counts limits in memory, chat caches sessions in memory
        deep = http.get("/api/health/deep", headers=DEEP).json()
        assert "redis" in deep["down"]
        assert "rate_limits.memory_fallback" in deep["degraded"]
        assert deep["rate_limits"]["storage"] == "memory"
        during = hot_lead(http, "redis-down", 1)["lead_id"]  # the notifier's breakers work without it
        assert dependency(stack, "notifier", "redis")["reachable"] is False
        assert dependency(stack, "chat", "session_cache")["detail"] == "memory"

        private_redis.start()  # empty, on the same port
        # Chat tries Redis again within 5 s of its last failure (on use); the gateway within 0.5 s.
        eventually(lambda: dependency(stack, "chat", "session_cache")["detail"], lambda mode: mode == "redis")
        assert private_redis.keys(f"{prefix}:chat:session:*")
        eventually(
            lambda: deep_health(http).json()["rate_limits"]["storage"],
            lambda s: s == "redis",
        )
        load.wait_for_answers(10)

    assert set(load.statuses()) == {200}, load.statuses()
    eventually(lambda: alerted_leads(slack), lambda found: during in found)
    assert eventually(lambda: deep_health(http).status_code, lambda s: s == 200) == 200
    assert dependency(stack, "notifier", "redis")["reachable"] is True


def deep_health(http):
    """The full /api/health/deep report (the admin key's view)."""
    return http.get("/api/health/deep", headers=DEEP)
