"""The retry pass's outcome log on both databases: each outcome is committed the moment it is saved
(another connection sees it while the log still holds its own), only the current claimer's outcome
counts, and a connection dropped under the log costs one failed save, not the pass."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from services.notifier.adapters.outcomes import SqlOutcomeLog
from services.notifier.adapters.repository import NotifierUnitOfWork
from services.notifier.domain.model import SlackMessage, Status
from services.runtime.db import create_db_engine, create_session_factory
from services.runtime.leases import Claim

NOW = dt.datetime.now(dt.UTC)
HOUR_AGO = NOW - dt.timedelta(hours=1)
CLAIM = Claim(token="pass-1", now=NOW, lease_until=NOW + dt.timedelta(seconds=60))


@pytest.fixture
def store(notifier_database):
    engine = create_db_engine(notifier_database)
    sessions = create_session_factory(engine)
    with NotifierUnitOfWork(sessions) as uow:
        for n in range(3):
            uow.notifications.add(f"k{n}", SlackMessage(f"m{n}"), Claim("accepting", HOUR_AGO, HOUR_AGO))
        uow.commit()
    with NotifierUnitOfWork(sessions) as uow:
        claimed = uow.notifications.claim_due(NOW, CLAIM, limit=10)
        uow.commit()
    yield engine, sessions, claimed
    engine.dispose()


def stored(sessions, notification_id):
    with NotifierUnitOfWork(sessions) as uow:
        return uow.notifications.get(notification_id)


def test_each_outcome_is_visible_to_others_as_soon_as_it_is_saved(store):
    engine, sessions, claimed = store
    first, second, _ = claimed
    with SqlOutcomeLog(engine) as log:
        first.status, first.finished_at = Status.DELIVERED, NOW
        assert log.save_outcome(first, NOW)
        assert stored(sessions, first.id).status is Status.DELIVERED  # while the log holds its connection

        later = Claim("pass-1", NOW, NOW + dt.timedelta(seconds=120))
        assert sorted(log.renew_claims([second], later)) == [second.id]
        assert log.renew_claims([first], later) == []  # its claim ended with its outcome
        second.claim_token = "another-worker"  # a claim this worker does not hold
        assert log.renew_claims([second], later) == []
        assert not log.save_outcome(second, NOW)
    assert stored(sessions, second.id).status is Status.PENDING


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # a server connection to cut
def test_a_dropped_connection_fails_one_save_and_the_next_reconnects(store):
    engine, sessions, claimed = store
    first, second, _ = claimed
    with SqlOutcomeLog(engine) as log:
        first.status, first.finished_at = Status.DELIVERED, NOW
        assert log.save_outcome(first, NOW)
        with engine.begin() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        second.status, second.finished_at = Status.DELIVERED, NOW
        with pytest.raises(sa_exc.OperationalError):
            log.save_outcome(second, NOW)
        assert log.save_outcome(second, NOW)
    assert stored(sessions, second.id).status is Status.DELIVERED
