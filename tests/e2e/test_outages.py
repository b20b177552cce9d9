"""Outages in the running system: Slack down and back, services killed and restarted."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from tests.support.polling import eventually
from tests.support.system import ADMIN, Stack, alerted_leads, hot_lead
from tests.support.system import ADMIN as DEEP

NOTIFIER = "novahouse.notifier.v1.NotifierService"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    with ExitStack() as exits:
        running = Stack(exits, str(tmp_path_factory.mktemp("e2e")), sinks_environ)
        yield running
        running.close()


def slack_breaker(http) -> str:
    breakers = http.get("/api/admin/breakers", headers=ADMIN).json()["breakers"]
    return next(b["state"] for b in breakers if b["name"] == "slack")


def test_slack_goes_down_alerts_queue_the_breaker_opens_and_the_queue_drains_exactly_once(stack, http, sinks):
    slack, monday, _ = sinks
    slack.answer("error")
    leads = [hot_lead(http, f"outage-{n}", n)["lead_id"] for n in range(5)]

    assert (
        eventually(lambda: slack_breaker(http), lambda state: state == "BREAKER_STATE_OPEN")
        == "BREAKER_STATE_OPEN"
    )
    stats = eventually(
        lambda: http.get("/api/admin/dlq/stats", headers=ADMIN).json(), lambda s: int(s["pending"]) == 5
    )
    assert int(stats["pending"]) == 5
    hits_while_open = slack.hits()
    assert hits_while_open < 5 + 3  # the breaker kept the notifier off the sink (bar trial calls)
    monday.wait_for(5)  # the other channel was never affected

    slack.answer("ok")
    eventually(lambda: sorted(alerted_leads(slack)), lambda found: found == sorted(leads), timeout=30)
    time.sleep(1.5)  # more retry passes: nothing is delivered twice
    assert sorted(alerted_leads(slack)) == sorted(leads)
    assert (
        eventually(lambda: slack_breaker(http), lambda state: state == "BREAKER_STATE_CLOSED")
        == "BREAKER_STATE_CLOSED"
    )
    assert int(http.get("/api/admin/dlq/stats", headers=ADMIN).json()["pending"]) == 0


def test_a_killed_chat_service_is_reported_and_recovers_with_its_conversations(stack, http):
    before = http.get("/api/chatbot/conversations/outage-0").json()["messages"]
    stack.kill("chat")
    down = http.post("/api/chatbot/chat", json={"message": "Halo?", "session_id": "outage-0"})
    assert down.status_code == 503
    assert "chat" in down.json()["message"]
    deep = http.get("/api/health/deep", headers=DEEP)
    assert deep.status_code == 503
    assert "chat" in str(deep.json()["down"])

    stack.start("chat")
    eventually(  # the gateway's channel reconnects within seconds; a refused attempt stores nothing
        lambda: http.post("/api/chatbot/chat", json={"message": "Halo?", "session_id": "outage-0"}),
        lambda response: response.status_code == 200,
    )
    after = http.get("/api/chatbot/conversations/outage-0").json()["messages"]
    assert after[: len(before)] == before  # nothing written before the kill was lost
    new_user, new_reply = after[len(before) :]
    assert (new_user["role"], new_user["text"], new_reply["role"]) == (
        "MESSAGE_ROLE_USER",
        "Halo?",
        "MESSAGE_ROLE_BOT",
    )
    assert eventually(lambda: deep_health(http).status_code, lambda status: status == 200) == 200


def test_a_notifier_killed_with_work_queued_delivers_everything_once_after_restart(stack, http, sinks):
    slack, _, _ = sinks
    slack.answer("error")
    queued = hot_lead(http, "kill-1", 101)["lead_id"]
    eventually(
        lambda: stack.grpc("notifier").call(f"{NOTIFIER}/GetDeadLetterStats", {}),
        lambda s: int(s["pending"]) >= 1,
    )
    stack.kill("notifier")
    waiting = hot_lead(http, "kill-2", 102)[
        "lead_id"
    ]  # accepted while the notifier is down: in chat's outbox
    slack.answer("ok")
    stack.start("notifier")

    delivered = eventually(
        lambda: alerted_leads(slack), lambda found: {queued, waiting} <= set(found), timeout=30
    )
    time.sleep(1.5)
    delivered = alerted_leads(slack)
    assert delivered.count(queued) == 1
    assert delivered.count(waiting) == 1


def deep_health(http):
    """The full /api/health/deep report (the admin key's view)."""
    return http.get("/api/health/deep", headers=DEEP)
