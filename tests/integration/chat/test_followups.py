"""Follow-ups: due after FOLLOWUP_DELAYS (1 s and 2 s here), sent once, only with consent."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from sqlalchemy import create_engine, func, select, update

from novahouse.chat.v1 import chat_pb2 as pb
from novahouse.chat.v1 import chat_pb2_grpc
from novahouse.consent.v1 import consent_pb2
from services.chat.adapters.tables import followup_events, messages, outbox
from tests.support.network import free_port
from tests.support.processes import ServiceProcess

SENT, ALREADY_SENT = pb.FOLLOWUP_STATUS_SENT, pb.FOLLOWUP_STATUS_ALREADY_SENT
SKIPPED, NOT_DUE = pb.FOLLOWUP_STATUS_SKIPPED_NO_CONSENT, pb.FOLLOWUP_STATUS_NOT_DUE


def open_conversation(stack, session: str, email: str, *, marketing: bool = True) -> str:
    answer = stack.chat.SendMessage(
        pb.SendMessageRequest(
            session_id=session,
            message="Dzień dobry",
            email=email,
            marketing_consent=marketing,
            rodo_consent=True,
        )
    )
    return answer.conversation_id


def wait_for_consent(stack, emails: list[str], timeout: float = 30.0) -> None:
    """Consent reaches the consent service through the outbox relay."""
    deadline = time.monotonic() + timeout
    remaining = set(emails)
    while remaining:
        assert time.monotonic() < deadline, f"consent not recorded for {len(remaining)} emails"
        for email in list(remaining):
            request = consent_pb2.CheckConsentRequest(
                email=email, purpose=consent_pb2.CONSENT_PURPOSE_PROCESSING
            )
            if stack.consent.CheckConsent(request).allowed:
                remaining.discard(email)
        time.sleep(0.05)


CONFIRM_LINK = re.compile(r"/api/consent/confirm/([A-Za-z0-9_.-]+)")


def confirm_through_link(stack, smtp, email: str) -> None:
    """The mailbox owner opens the confirmation email and confirms (double opt-in), as the gateway's
    confirm page would; the confirmation email is then forgotten."""
    deadline = time.monotonic() + 15
    while not (mails := [m for m in smtp.messages if m.recipients == [email]]):
        assert time.monotonic() < deadline, f"no confirmation email to {email}"
        time.sleep(0.05)
    (token,) = CONFIRM_LINK.findall(mails[0].body)
    stack.consent.ConfirmConsent(consent_pb2.ConfirmConsentRequest(token=token))
    smtp.clear()


def send(stack, conversation_id: str, number: int) -> int:
    request = pb.SendFollowupRequest(conversation_id=conversation_id, followup_number=number)
    return stack.chat.SendFollowup(request).status


def followups_of(stack, session: str) -> list[tuple[int, str]]:
    conversation = stack.chat.GetConversation(pb.GetConversationRequest(session_id=session))
    return [(m.followup_number, m.text) for m in conversation.messages if m.role == pb.MESSAGE_ROLE_FOLLOWUP]


def test_follow_ups_are_sent_when_due_once_each_and_emailed_with_marketing_consent(stack, smtp):
    conversation_id = open_conversation(stack, "quiet-1", "ola@example.com")
    wait_for_consent(stack, ["ola@example.com"])
    confirm_through_link(stack, smtp, "ola@example.com")
    assert send(stack, conversation_id, 1) in (NOT_DUE, SENT)  # depending on how long the relay took
    time.sleep(1.1)
    assert send(stack, conversation_id, 1) in (SENT, ALREADY_SENT)
    assert send(stack, conversation_id, 1) == ALREADY_SENT
    time.sleep(1.0)
    assert send(stack, conversation_id, 2) == SENT
    assert [n for n, _ in followups_of(stack, "quiet-1")] == [1, 2]
    mails = smtp.wait_for(2)
    time.sleep(0.5)
    assert [m.recipients for m in smtp.messages] == [["ola@example.com"], ["ola@example.com"]]
    assert {m.body.split("\n")[0] for m in mails} == {text for _, text in followups_of(stack, "quiet-1")}


def test_without_marketing_consent_a_follow_up_is_shown_but_not_emailed(stack, smtp):
    conversation_id = open_conversation(stack, "quiet-2", "piotr@example.com", marketing=False)
    wait_for_consent(stack, ["piotr@example.com"])
    time.sleep(1.1)
    assert send(stack, conversation_id, 1) == SENT
    assert [n for n, _ in followups_of(stack, "quiet-2")] == [1]
    time.sleep(0.5)
    assert smtp.messages == []


def test_revoked_consent_stops_further_follow_ups(stack, smtp):
    conversation_id = open_conversation(stack, "quiet-3", "ewa@example.com")
    wait_for_consent(stack, ["ewa@example.com"])
    confirm_through_link(stack, smtp, "ewa@example.com")
    time.sleep(1.1)
    assert send(stack, conversation_id, 1) == SENT
    stack.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(email="ewa@example.com", reason="stop"))
    time.sleep(1.0)
    assert send(stack, conversation_id, 2) == SKIPPED
    assert send(stack, conversation_id, 2) == ALREADY_SENT  # the skip is recorded: never sent later
    assert [n for n, _ in followups_of(stack, "quiet-3")] == [1]
    smtp.wait_for(1)
    time.sleep(0.5)
    assert len(smtp.messages) == 1


def test_with_the_consent_service_down_nothing_is_recorded_and_it_is_sent_once_it_is_back(stack):
    conversation_id = open_conversation(stack, "quiet-4", "adam@example.com", marketing=False)
    wait_for_consent(stack, ["adam@example.com"])
    time.sleep(1.1)
    stack.stop_consent()
    report = stack.chat.RunDueFollowups(pb.RunDueFollowupsRequest())
    # Follow-up 2 (due after 2 s) may be due as well on a busy machine.
    assert report.sent == 0
    assert report.deferred in (1, 2)
    with pytest.raises(grpc.RpcError) as caught:
        send(stack, conversation_id, 1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert followups_of(stack, "quiet-4") == []
    due = stack.chat.ListDueFollowups(pb.ListDueFollowupsRequest()).followups
    assert (conversation_id, 1) in [(d.conversation_id, d.followup_number) for d in due]

    stack.start_consent()
    deadline = time.monotonic() + 10  # the next scheduled run, once chat has reconnected
    while (report := stack.chat.RunDueFollowups(pb.RunDueFollowupsRequest())).deferred:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert report.sent in (1, 2)
    assert [n for n, _ in followups_of(stack, "quiet-4")] in ([1], [1, 2])


def test_a_follow_up_waits_while_the_conversations_consent_is_still_in_the_outbox(stack):
    stack.stop_consent()
    conversation_id = open_conversation(stack, "quiet-5", "iga@example.com", marketing=False)
    database = create_engine(stack.chat_environ["CHAT_DATABASE_URL"])
    far = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with database.begin() as connection:  # as if a replica that died had claimed it
        connection.execute(update(outbox).values(claim_token="dead", leased_until=far))
    stack.start_consent()
    open_conversation(stack, "quiet-6", "olek@example.com", marketing=False)  # its consent arrives at once
    wait_for_consent(stack, ["olek@example.com"])
    time.sleep(1.1)

    report = stack.chat.RunDueFollowups(pb.RunDueFollowupsRequest())
    assert (report.sent, report.skipped_no_consent) == (1, 0)  # the others go on
    assert report.deferred in (1, 2)  # iga's follow-up 2 (due after 2 s) too, on a busy machine
    with pytest.raises(grpc.RpcError) as caught:
        send(stack, conversation_id, 1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "consent" in caught.value.details()

    with database.begin() as connection:  # the lease ends; the relay hands the consent over
        connection.execute(update(outbox).values(claim_token=None, leased_until=None))
    database.dispose()
    wait_for_consent(stack, ["iga@example.com"])
    assert send(stack, conversation_id, 1) == SENT


def test_follow_up_requests_are_checked(stack):
    conversation_id = open_conversation(stack, "quiet-5", "kasia@example.com")
    with pytest.raises(grpc.RpcError) as invalid:
        send(stack, conversation_id, 0)  # the contract: followup_number >= 1
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as past:
        send(stack, conversation_id, 3)  # FOLLOWUP_DELAYS has two: there is no third here
    assert past.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as missing:
        send(stack, "987654", 1)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert send(stack, conversation_id, 2) == NOT_DUE


def test_many_callers_on_several_processes_make_exactly_one_follow_up_per_due_number(stack, smtp, tmp_path):
    conversations = 200
    sessions = [f"bulk-{i}" for i in range(conversations)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda i: open_conversation(stack, sessions[i], f"bulk{i}@example.com", marketing=False),
                range(conversations),
            )
        )
    wait_for_consent(stack, [f"bulk{i}@example.com" for i in range(conversations)], timeout=60)
    for i in range(conversations):  # marketing consent proven elsewhere (e.g. a confirmed form)
        grant = consent_pb2.RecordConsentRequest(email=f"bulk{i}@example.com", marketing_consent=True)
        stack.consent.RecordConsent(grant)

    processes = []
    for _ in range(2):
        port = free_port()
        environ = {**stack.chat_environ, "CHAT_PORT": str(port)}
        processes.append(ServiceProcess("chat", environ, port=port).start())
    channels = []
    try:
        for process in processes:
            process.wait_serving()
            channels.append(grpc.insecure_channel(process.address))
        stubs = [chat_pb2_grpc.ChatServiceStub(c) for c in channels] + [stack.chat]
        time.sleep(2.1)  # both follow-ups are due everywhere now
        barrier = threading.Barrier(8)

        def hammer(worker: int) -> Counter:
            rng = random.Random(worker)
            outcomes = Counter()
            barrier.wait()
            for _ in range(40):
                stub = rng.choice(stubs)
                if rng.random() < 0.1:
                    report = stub.RunDueFollowups(pb.RunDueFollowupsRequest(), timeout=120)
                    outcomes["sent"] += report.sent
                else:
                    request = pb.SendFollowupRequest(
                        conversation_id=rng.choice(ids), followup_number=rng.choice((1, 2))
                    )
                    outcomes["sent"] += stub.SendFollowup(request, timeout=60).status == SENT
            return outcomes

        with ThreadPoolExecutor(8) as pool:
            sent = sum((result["sent"] for result in pool.map(hammer, range(8))), 0)
        sent += stack.chat.RunDueFollowups(pb.RunDueFollowupsRequest(), timeout=120).sent
    finally:
        for channel in channels:
            channel.close()
        for process in processes:
            assert process.stop() == 0  # graceful: its relay gives back what it had not handed over
            process.close()

    assert sent == 2 * conversations  # every caller that answered SENT really was the one that sent it
    engine = create_engine(
        stack.chat_environ["CHAT_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://")
    )
    try:
        with engine.connect() as connection:
            events = connection.execute(
                select(followup_events.c.conversation_id, followup_events.c.followup_number)
            ).all()
            shown = connection.execute(
                select(messages.c.conversation_id, messages.c.followup_number, func.count())
                .where(messages.c.role == "followup")
                .group_by(messages.c.conversation_id, messages.c.followup_number)
            ).all()
    finally:
        engine.dispose()
    assert len(events) == len(set(events)) == 2 * conversations
    assert len(shown) == 2 * conversations
    assert {count for _, _, count in shown} == {1}
    mails = smtp.wait_for(2 * conversations, timeout=60)
    time.sleep(1.0)
    per_recipient = Counter(m.recipients[0] for m in smtp.messages)
    assert len(mails) == 2 * conversations
    assert set(per_recipient.values()) == {2}
