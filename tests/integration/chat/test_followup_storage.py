"""The SQL of the batched follow-up pass on SQLite and PostgreSQL: the batch insert records only what is
still due, for the same address, once; the batch check finds the conversations whose consent is still
in the outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from services.chat.adapters.repository import ChatUnitOfWork
from services.chat.adapters.tables import conversations, followup_events, messages
from services.chat.application.outbox_calls import CONSENT_KEY_PREFIX, RECORD_CONSENT, RecordConsentCall
from services.chat.domain.model import ChatMessage, FollowupOutcome, Role
from services.runtime.db import create_db_engine, create_session_factory
from services.runtime.identity import CallerIdentity
from tests.support.databases import query

NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
CUTOFF = NOW - dt.timedelta(minutes=1)
SENT, SKIPPED = FollowupOutcome.SENT, FollowupOutcome.SKIPPED_NO_CONSENT


@pytest.fixture
def chat_database(databases):
    url = databases("chat")
    engine = create_db_engine(url)
    yield url, engine
    engine.dispose()


def add_conversations(engine, *rows: tuple[str, str, dt.datetime]) -> list[int]:
    with engine.begin() as connection:
        return [
            connection.execute(
                insert(conversations)
                .values(session_id=session, email=email, created_at=at, last_user_message_at=at)
                .returning(conversations.c.id)
            ).scalar_one()
            for session, email, at in rows
        ]


def test_the_batch_insert_records_what_is_still_due_for_the_same_address_once(chat_database):
    url, engine = chat_database
    idle = NOW - dt.timedelta(hours=1)
    quiet, declined, recent, moved = add_conversations(
        engine,
        ("quiet", "a@example.com", idle),
        ("declined", "b@example.com", idle),
        ("recent", "c@example.com", NOW),
        ("moved", "new@example.com", idle),
    )
    unit_of_work = lambda: ChatUnitOfWork(create_session_factory(engine))  # noqa: E731
    outcomes = {
        quiet: ("a@example.com", SENT),
        declined: ("b@example.com", SKIPPED),
        recent: ("c@example.com", SENT),  # wrote again since the batch was read: not due
        moved: ("old@example.com", SENT),  # consent was asked for another address
    }
    with unit_of_work() as uow:
        due = uow.followups.due(1, CUTOFF, 0, 10)
        assert [(d.conversation_id, d.email) for d in due] == [
            (quiet, "a@example.com"),
            (declined, "b@example.com"),
            (moved, "new@example.com"),
        ]
        assert uow.followups.record_due(1, CUTOFF, outcomes, NOW) == {quiet, declined}
        uow.conversations.add_messages([(quiet, ChatMessage(Role.FOLLOWUP, "Hej?", NOW, 1))])
        uow.commit()
    with unit_of_work() as uow:
        assert uow.followups.record_due(1, CUTOFF, outcomes, NOW) == set()  # recorded before: once
        assert uow.followups.record_due(2, CUTOFF, {quiet: ("a@example.com", SENT)}, NOW) == {quiet}
        uow.commit()

    events = query(url, select(followup_events.c.conversation_id, followup_events.c.followup_number,
                               followup_events.c.status))  # fmt: skip
    assert sorted(tuple(e) for e in events) == sorted(
        [(quiet, 1, "sent"), (declined, 1, "skipped_no_consent"), (quiet, 2, "sent")]
    )
    shown = query(url, select(messages.c.conversation_id, messages.c.role, messages.c.followup_number))
    assert [tuple(m) for m in shown] == [(quiet, "followup", 1)]


def test_the_batch_check_finds_the_conversations_whose_consent_is_still_queued(chat_database):
    _, engine = chat_database
    idle = NOW - dt.timedelta(hours=1)
    waiting, handed_over, silent = add_conversations(
        engine,
        ("waiting", "a@example.com", idle),
        ("handed-over", "b@example.com", idle),
        ("silent", "c@example.com", idle),
    )
    unit_of_work = lambda: ChatUnitOfWork(create_session_factory(engine))  # noqa: E731
    with unit_of_work() as uow:
        gave = uow.conversations.add_message(waiting, ChatMessage(Role.USER, "zgoda", idle))
        uow.conversations.add_message(handed_over, ChatMessage(Role.USER, "zgoda", idle))
        call = RecordConsentCall(gave, "a@example.com", idle, "2026-11", marketing_consent=True)
        uow.outbox.add(call, CallerIdentity(), NOW)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.outbox.waiting_for_conversation(RECORD_CONSENT, CONSENT_KEY_PREFIX, waiting)
        ids = [waiting, handed_over, silent]
        assert uow.outbox.waiting_for_conversations(RECORD_CONSENT, CONSENT_KEY_PREFIX, ids) == {waiting}
        assert uow.outbox.waiting_for_conversations(RECORD_CONSENT, CONSENT_KEY_PREFIX, []) == set()
