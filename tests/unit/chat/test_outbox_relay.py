"""The outbox relay against memory: every queued call handed over once, failures backed off, claims
respected, and a done mark that survives a short database outage."""

from __future__ import annotations

import dataclasses

from services.chat.application.conversations import VisitorMessage
from services.runtime.identity import CallerIdentity
from tests.unit.chat.fakes import Chat

HOT = "anna@example.com, tel. 601 234 567, budżet 120 tys zł"


def hot_leads(chat: Chat, count: int) -> None:
    for n in range(count):
        chat.conversations.send_message(VisitorMessage(f"s-{n}", HOT), CallerIdentity("203.0.113.1"))


def test_every_queued_call_is_handed_over_once_and_removed():
    chat = Chat()
    hot_leads(chat, 2)
    queued = chat.uow.outbox_items()

    report = chat.relay.run_once()

    assert (report.handed_over, report.failed) == (4, 0)
    assert [item.key for item in chat.upstream.handed] == [item.key for item in queued]
    assert chat.upstream.handed[0].identity.ip_address == "203.0.113.1"
    assert chat.relay.pending() == 0
    assert chat.relay.run_once().handed_over == 0


def test_a_failed_hand_over_is_retried_after_its_backoff():
    chat = Chat()
    hot_leads(chat, 1)
    chat.upstream.failing = True

    report = chat.relay.run_once()

    assert (report.handed_over, report.failed) == (0, 2)
    rows = list(chat.uow.stored.outbox.values())
    assert [row.item.attempts for row in rows] == [1, 1]
    assert all(row.next_attempt_at > chat.clock.now and row.leased_until is None for row in rows)
    assert "notifier is down" in rows[0].last_error
    chat.upstream.failing = False
    assert chat.relay.run_once().handed_over == 0  # still backing off
    chat.clock.advance(10)
    assert chat.relay.run_once().handed_over == 2
    assert chat.relay.pending() == 0


def test_an_item_another_replica_took_over_is_not_handed_over_again():
    chat = Chat()
    hot_leads(chat, 1)
    first, second = chat.uow.stored.outbox.values()

    def taken_over() -> None:
        # while the first call runs, our lease on the second ends and another replica claims it
        row = chat.uow.stored.outbox[second.item.id]
        row.item = dataclasses.replace(row.item, claim_token="other-replica")
        chat.upstream.during = None

    chat.upstream.during = taken_over
    report = chat.relay.run_once()

    assert [item.key for item in chat.upstream.handed] == [first.item.key]
    assert report.handed_over == 2  # the second counts as gone: it is the other replica's now
    assert list(chat.uow.stored.outbox) == [second.item.id]


def test_a_hand_over_is_marked_done_once_the_database_is_back_within_the_lease():
    chat = Chat()
    chat.conversations.send_message(
        VisitorMessage("s-1", "hi", email="anna@example.com", rodo_consent=True), CallerIdentity()
    )

    def outage() -> None:
        chat.uow.unavailable = 1  # the first attempt to mark it done fails

    chat.upstream.during = outage
    assert chat.relay.run_once().handed_over == 1
    assert len(chat.upstream.handed) == 1
    assert chat.relay.pending() == 0
