"""The outbox relay: hands queued calls to the consent service and the notifier.

A worker thread wakes right after a transaction queues work, and sweeps every OUTBOX_RELAY_SECONDS for
anything left (a call that failed, or rows a crashed replica had claimed). Rows are claimed with a
lease, renewed just before each call, so replicas never hand one row over at the same time. A call
that fails is retried with backoff until it goes through; the notifier's idempotency keys make a
repeated hand-over harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from services.chat.application.metrics import HANDOVERS
from services.chat.application.ports import OutboxItem, UnitOfWork
from services.runtime import tracing
from services.runtime.backoff import backoff_seconds
from services.runtime.claims import Claim
from services.runtime.db import retry_while_database_unavailable, utcnow
from services.runtime.emails import mask_emails

log = logging.getLogger(__name__)

BATCH = 50


class HandOverFailed(Exception):
    """The receiving service did not take the call; it is tried again later."""


class Upstream(Protocol):
    def hand_over(self, item: OutboxItem) -> None:
        """Makes the queued call; raises HandOverFailed when it did not go through."""
        ...


@dataclass
class RelayReport:
    handed_over: int = 0
    failed: int = 0


class OutboxRelay:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        upstream: Upstream,
        *,
        interval_seconds: float,
        lease_seconds: float,
        backoff_base: float,
        backoff_max: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._upstream = upstream
        self._interval = interval_seconds
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._backoff = (backoff_base, backoff_max)
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> RelayReport:
        """Hands over every item due now, batch by batch."""
        report = RelayReport()
        while not self._stopping.is_set():
            with self._unit_of_work() as uow:
                batch = uow.outbox.claim_due(self._claim(), BATCH)
                uow.commit()
            if not batch:
                break
            for index, item in enumerate(batch):
                if self._stopping.is_set():
                    self._release(batch[index:])  # a stopping relay gives back what it had not started
                    return report
                if self._hand_over(item):
                    report.handed_over += 1
                else:
                    report.failed += 1
            if report.failed:
                break  # what failed waits for its backoff; don't spin on a service that is down
        return report

    def pending(self) -> int:
        with self._unit_of_work() as uow:
            return uow.outbox.pending()

    def _claim(self) -> Claim:
        now = self._clock()
        return Claim(uuid.uuid4().hex, now, now + self._lease)

    def _release(self, items: list[OutboxItem]) -> None:
        with self._unit_of_work() as uow:
            for item in items:
                uow.outbox.release(item)
            uow.commit()

    def _hand_over(self, item: OutboxItem) -> bool:
        claim = self._claim()
        with self._unit_of_work() as uow:
            still_ours = uow.outbox.renew(item, claim)
            uow.commit()
        if not still_ours:
            return True  # another replica took it over after our lease ended
        try:
            # The hand-over continues the trace of the request that queued it (its parent).
            with tracing.continued_span(f"outbox.hand_over {item.kind}", item.trace_context):
                self._upstream.hand_over(item)
        except HandOverFailed as error:
            HANDOVERS.labels(item.kind, "failed").inc()
            delay = backoff_seconds(item.attempts + 1, *self._backoff)
            log.warning(
                "outbox %s (%s) not handed over, retry in %.1fs: %s", item.key, item.kind, delay, error
            )
            with self._unit_of_work() as uow:
                at = self._clock() + dt.timedelta(seconds=delay)
                uow.outbox.retry_later(item, at, mask_emails(str(error)))
                uow.commit()
            return False

        HANDOVERS.labels(item.kind, "ok").inc()

        def done() -> None:
            with self._unit_of_work() as uow:
                uow.outbox.done(item)
                uow.commit()

        # The call went through: if the database is away now, keep trying to mark it done while the
        # lease holds, or the row is handed over again once it ends.
        retry_while_database_unavailable(
            done, deadline=claim.lease_until, what=f"outbox {item.key}: marking it done", clock=self._clock
        )
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.run_once()
            except Exception:  # a database outage must not end the relay; it tries again next round
                log.exception("outbox relay round failed")
