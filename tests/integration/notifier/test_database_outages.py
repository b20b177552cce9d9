"""A database that goes away while a sink has the message: the outcome is still recorded (within the
claim's lease), so the notification is neither lost nor delivered again."""

from __future__ import annotations

import threading

import pytest

from services.notifier.adapters.repository import NotifierUnitOfWork
from services.notifier.application.dead_letters import DeadLetterAdmin
from services.notifier.application.delivery import DeliveryService, NotifyStatus
from services.notifier.application.dispatcher import Dispatcher, Route
from services.notifier.application.escalation import Escalation
from services.notifier.domain.model import Channel, SlackMessage, Status
from services.notifier.domain.retry_policy import RetryPolicy
from services.runtime.breakers import Breaker, BreakerSettings
from services.runtime.db import DATABASE_UNAVAILABLE, create_db_engine, create_session_factory
from tests.support.outages import FlakyDatabase


class RecordingSink:
    def __init__(self, database: FlakyDatabase, failures: int) -> None:
        self.messages = []
        self._database = database
        self._failures = failures

    def deliver(self, message) -> None:
        self.messages.append(message)
        self._database.go_away(self._failures)  # the sink took it; then the database went away


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr("services.runtime.retries.RETRY_PAUSE_SECONDS", 0.01)


def notifier_with(databases, failures: int, lease_seconds: float):
    engine = create_db_engine(databases("notifier"))
    database = FlakyDatabase(lambda: NotifierUnitOfWork(create_session_factory(engine)))
    sink = RecordingSink(database, failures)
    route = Route(sink, Breaker("slack", BreakerSettings(fail_max=5, reset_timeout=1)), threading.Lock())
    dispatcher = Dispatcher({Channel.SLACK: route}, {})
    delivery = DeliveryService(
        database,
        dispatcher,
        RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_max=0.01),
        Escalation(database, dispatcher, None),
        lease_seconds=lease_seconds,
        storage_unavailable=DATABASE_UNAVAILABLE,
    )
    return delivery, DeadLetterAdmin(database, dispatcher, cleanup_days=7), sink, engine


def test_an_outcome_is_recorded_once_the_database_is_back_within_the_lease(databases, fast_retries):
    delivery, dead_letters, sink, engine = notifier_with(databases, failures=3, lease_seconds=30)
    try:
        notification_id, status = delivery.notify("lead:1:slack", SlackMessage("Hot lead #1"))

        assert status is NotifyStatus.DELIVERED
        assert dead_letters.get(notification_id).status is Status.DELIVERED
        assert delivery.retry().retried == 0  # nothing left to deliver again
        assert len(sink.messages) == 1
    finally:
        engine.dispose()


def test_a_database_away_longer_than_the_lease_leaves_the_entry_to_whoever_claims_it_next(
    databases, fast_retries
):
    delivery, _, sink, engine = notifier_with(databases, failures=10_000, lease_seconds=0.2)
    try:
        with pytest.raises(Exception, match="server closed the connection"):
            delivery.notify("lead:2:slack", SlackMessage("Hot lead #2"))
        assert len(sink.messages) == 1
    finally:
        engine.dispose()
