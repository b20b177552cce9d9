"""Claiming on both databases: concurrent claimers never share an entry, and leases expire."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from services.notifier.adapters.repository import NotifierUnitOfWork
from services.notifier.domain.model import SlackMessage
from services.runtime.db import create_db_engine, create_session_factory
from services.runtime.leases import Claim

NOW = dt.datetime.now(dt.UTC)


def claim(token: str, now: dt.datetime = NOW, lease: float = 60) -> Claim:
    return Claim(token=token, now=now, lease_until=now + dt.timedelta(seconds=lease))


def test_concurrent_claimers_get_disjoint_entries_and_leases_expire(notifier_database):
    engine = create_db_engine(notifier_database)
    sessions = create_session_factory(engine)
    try:
        with NotifierUnitOfWork(sessions) as uow:
            for i in range(200):
                uow.notifications.add(
                    f"k{i}", SlackMessage(f"m{i}"), claim("creator", NOW - dt.timedelta(hours=1), 1)
                )
            uow.commit()
        barrier = threading.Barrier(4)

        def claim_all(worker: int) -> list[int]:
            barrier.wait()
            taken = []
            while True:
                with NotifierUnitOfWork(sessions) as uow:
                    batch = uow.notifications.claim_due(NOW, claim(f"w{worker}"), limit=7)
                    uow.commit()
                if not batch:
                    return taken
                taken.extend(n.id for n in batch)

        with ThreadPoolExecutor(4) as pool:
            claimed = list(pool.map(claim_all, range(4)))
        every = [i for ids in claimed for i in ids]
        assert len(every) == len(set(every)) == 200

        with NotifierUnitOfWork(sessions) as uow:
            assert uow.notifications.claim_due(NOW, claim("again"), limit=500) == []  # all leased
            later = NOW + dt.timedelta(seconds=61)
            assert len(uow.notifications.claim_due(later, claim("after-lease", later), limit=500)) == 200
    finally:
        engine.dispose()


def test_an_outcome_is_saved_only_by_the_current_claimer(notifier_database):
    engine = create_db_engine(notifier_database)
    sessions = create_session_factory(engine)
    try:
        with NotifierUnitOfWork(sessions) as uow:
            uow.notifications.add("k", SlackMessage("m"), claim("first", NOW - dt.timedelta(hours=1), 1))
            uow.commit()
        with NotifierUnitOfWork(sessions) as uow:
            [stale] = uow.notifications.claim_due(NOW, claim("first-retry"), limit=1)
            uow.commit()
        later = NOW + dt.timedelta(minutes=5)
        with NotifierUnitOfWork(sessions) as uow:
            [current] = uow.notifications.claim_due(later, claim("second", later), limit=1)
            uow.commit()
        stale.attempts = 1
        with NotifierUnitOfWork(sessions) as uow:
            assert not uow.notifications.save_outcome(stale, later)
            assert uow.notifications.save_outcome(current, later)
            uow.commit()
    finally:
        engine.dispose()
