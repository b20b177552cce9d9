"""The outbox relay when the database goes away right after a call went through: the row is still
marked done (within its lease), so the call is not made again."""

from __future__ import annotations

import datetime as dt

from services.chat.adapters.repository import ChatUnitOfWork
from services.chat.application.outbox_calls import NotifyCall, SlackText
from services.chat.application.relay import OutboxRelay
from services.runtime.db import DATABASE_UNAVAILABLE, create_db_engine, create_session_factory
from services.runtime.identity import CallerIdentity
from tests.support.outages import FlakyDatabase


class RecordingUpstream:
    def __init__(self, database: FlakyDatabase) -> None:
        self.keys = []
        self._database = database

    def hand_over(self, item) -> None:
        self.keys.append(item.key)
        self._database.go_away(3)  # the call went through; then the database went away


def test_a_call_that_went_through_is_marked_done_once_the_database_is_back(databases, monkeypatch):
    monkeypatch.setattr("services.runtime.retries.RETRY_PAUSE_SECONDS", 0.01)
    engine = create_db_engine(databases("chat"))
    database = FlakyDatabase(lambda: ChatUnitOfWork(create_session_factory(engine)))
    upstream = RecordingUpstream(database)
    relay = OutboxRelay(
        database,
        upstream,
        interval_seconds=1,
        lease_seconds=30,
        backoff_base=0.01,
        backoff_max=0.01,
        storage_unavailable=DATABASE_UNAVAILABLE,
    )
    try:
        with database() as uow:
            call = NotifyCall("lead:1:slack", SlackText("Hot lead #1"))
            uow.outbox.add(call, CallerIdentity(), dt.datetime.now(dt.UTC))
            uow.commit()

        assert relay.run_once().handed_over == 1
        assert database.refused == 3
        assert relay.pending() == 0
        assert relay.run_once().handed_over == 0
        assert upstream.keys == ["lead:1:slack"]
    finally:
        engine.dispose()
