"""A visitor's whole journey through the running system: chat, hot lead, follow-ups, unsubscribe."""

from __future__ import annotations

import re
import time
from contextlib import ExitStack

import pytest

from tests.support.polling import eventually
from tests.support.system import ADMIN, Stack

EMAIL = "klient@example.com"
PHONE = "601 234 567"
FIRST = "Dzień dobry, ile kosztuje wykończenie mieszkania 70 m2?"
HOT = f"Mój telefon {PHONE}, budżet 150 tys zł"
REASON = "Za dużo wiadomości"
VISITOR = {"X-Forwarded-For": "203.0.113.50", "User-Agent": "Mozilla/5.0 (e2e visitor)"}
CONSENT = "novahouse.consent.v1.ConsentService"
CHAT = "novahouse.chat.v1.ChatService"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    with ExitStack() as exits:
        running = Stack(
            exits, str(tmp_path_factory.mktemp("e2e")), sinks_environ, chat={"FOLLOWUP_DELAYS": "4s,8s,16s"}
        )
        yield running
        running.close()


def followups(http) -> list[int]:
    messages = http.get("/api/chatbot/conversations/journey").json()["messages"]
    return [m["followup_number"] for m in messages if m["role"] == "MESSAGE_ROLE_FOLLOWUP"]


def emails_to(smtp, address: str) -> list[str]:
    return [mail.body.split("\n")[0] for mail in smtp.messages if mail.recipients == [address]]


def test_a_visitor_chats_leaves_an_email_with_consent_and_becomes_a_hot_lead(stack, http, sinks):
    slack, monday, _ = sinks
    first = http.post(
        "/api/chatbot/chat",
        json={"message": FIRST, "session_id": "journey"},
        headers=VISITOR,
    )
    assert first.status_code == 200
    assert "zł za m²" in first.json()["reply"]
    lead = http.post(
        "/api/chatbot/chat",
        json={
            "message": HOT,
            "session_id": "journey",
            "email": EMAIL,
            "marketing_consent": True,
            "rodo_consent": True,
        },
        headers=VISITOR,
    ).json()
    assert lead["lead_score"] == 85  # email, phone, budget and the 70 m2 said before

    [alert] = slack.wait_for(1)
    assert f"Hot lead #{lead['lead_id']} (score 85)" in alert["text"]
    [item] = monday.wait_for(1)
    assert EMAIL in item["variables"]["name"]
    http.post(
        "/api/chatbot/chat",
        json={"message": f"Mój telefon {PHONE}", "session_id": "journey"},
        headers=VISITOR,
    )
    time.sleep(1.0)  # the relay runs right away and sweeps every 0.3 s: time enough for a second alert
    assert (len(slack.delivered()), len(monday.delivered())) == (1, 1)

    # Double opt-in: the mailbox owner confirms through the link in the one confirmation email.
    _, _, smtp = sinks
    [confirmation] = smtp.wait_for(1)
    link = re.search(r"http://\S+/api/consent/confirm/\S+", confirmation.body).group(0)
    assert (
        http.post(link.removeprefix(stack.url), data={"confirm": "yes"}, headers=VISITOR).status_code == 200
    )
    smtp.clear()

    consent = stack.grpc("consent")  # as grpcurl would, through reflection
    allowed = eventually(
        lambda: consent.call(
            f"{CONSENT}/CheckConsent", {"email": EMAIL, "purpose": "CONSENT_PURPOSE_MARKETING"}
        ),
        lambda answer: answer["allowed"],
    )
    assert allowed["allowed"] is True
    assert allowed["unsubscribe_token"]
    confirmed, recorded = consent.call(f"{CONSENT}/ListAuditLog", {"email": EMAIL})["entries"]
    assert (recorded["action"], recorded["source"], recorded["ip_address"], recorded["user_agent"]) == (
        "consent-pending",
        "chat",
        "203.0.113.50",
        "Mozilla/5.0 (e2e visitor)",
    )
    assert (confirmed["action"], confirmed["source"], confirmed["ip_address"]) == (
        "consent-confirmed",
        "email-confirmation",
        "203.0.113.50",
    )


def test_the_quiet_visitor_gets_follow_ups_1_and_2_once_each(stack, http, sinks):
    _, _, smtp = sinks
    assert eventually(lambda: followups(http), lambda found: found == [1, 2], timeout=30) == [1, 2]
    emails = eventually(lambda: emails_to(smtp, EMAIL), lambda found: len(found) >= 2)
    owner = (("x-session-token", http.tokens["journey"]),)
    conversation = stack.grpc("chat").call(
        f"{CHAT}/GetConversation", {"session_id": "journey"}, metadata=owner
    )
    texts = {
        m["followup_number"]: m["text"]
        for m in conversation["messages"]
        if m["role"] == "MESSAGE_ROLE_FOLLOWUP"
    }
    assert sorted(emails) == sorted(texts.values())
    time.sleep(1.0)  # several scans later: still one of each
    assert followups(http) == [1, 2]
    assert len(emails_to(smtp, EMAIL)) == 2


def test_unsubscribing_through_the_gateway_is_audited_and_stops_follow_up_emails(stack, http, sinks):
    _, _, smtp = sinks
    reader = {"X-Forwarded-For": "198.51.100.77", "User-Agent": "NovaHouse-Mail-Link/1.0"}
    answer = http.post("/api/unsubscribe", json={"email": EMAIL, "reason": REASON}, headers=reader)
    assert answer.json() == {
        "success": True,
        "message": "Successfully unsubscribed from marketing emails",
        "email": EMAIL,
    }

    log = http.get("/api/admin/consent/audit-log", params={"email": EMAIL}, headers=ADMIN).json()["entries"]
    assert (log[0]["action"], log[0]["ip_address"], log[0]["user_agent"], log[0]["reason"]) == (
        "unsubscribe",
        "198.51.100.77",
        "NovaHouse-Mail-Link/1.0",
        REASON,
    )
    status = http.get(f"/api/unsubscribe/status/{EMAIL}", headers=ADMIN).json()
    assert (status["is_unsubscribed"], status["marketing_consent"], status["rodo_consent"]) == (
        True,
        False,
        True,
    )

    # Follow-up 3 still comes (processing consent stands) but is no longer emailed.
    assert eventually(lambda: followups(http), lambda found: found == [1, 2, 3], timeout=30) == [1, 2, 3]
    time.sleep(1.5)  # the relay would have handed an email over by now
    assert len(emails_to(smtp, EMAIL)) == 2


def test_someone_elses_session_id_reads_and_changes_nothing(stack, http):
    stranger = {"X-Forwarded-For": "198.51.100.99"}
    assert (
        http.get(
            "/api/chatbot/conversations/journey", headers={**stranger, "X-Session-Token": "x" * 43}
        ).status_code
        == 404
    )
    hijack = http.post(
        "/api/chatbot/chat",
        json={"message": "hijack", "session_id": "journey"},
        headers={**stranger, "X-Session-Token": "x" * 43},
    )
    assert hijack.status_code == 404
    texts = [m["text"] for m in http.get("/api/chatbot/conversations/journey").json()["messages"]]
    assert "hijack" not in texts


def test_no_personal_data_reached_the_logs(stack, http):
    """The logs of every process of this whole journey (and one mistyped unsubscribe link and a
    refused message) hold no email address, phone number or message text the visitor used."""
    http.get(f"/api/unsubscribe/{EMAIL}/oops")
    refused = http.post("/api/chatbot/chat", json={"message": f"{HOT}\u0000", "session_id": "journey"})
    assert refused.status_code == 400
    assert refused.json()["details"][0]["field_violations"][0]["field"] == "message"
    logs = {name: process.output() for name, process in stack.processes.items()}
    assert all("rpc " in logs[name] for name in ("consent", "notifier", "chat"))  # the logs were captured
    assert "http POST /api/chatbot/chat 200" in logs["gateway"]
    digits = PHONE.replace(" ", "")
    for needle in (EMAIL, EMAIL.split("@")[0], PHONE, digits, f"+48{digits}", FIRST, HOT, REASON, "70 m2"):
        for name, output in logs.items():
            assert needle not in output, f"{needle!r} in the {name} log"
