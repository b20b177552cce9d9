"""Dead-letter administration: what operators do with the queue (inspect, redrive, purge) and with
the channels' breakers."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.notifier.application.dispatcher import Dispatcher
from services.notifier.application.ports import Stats, UnitOfWork
from services.notifier.domain.model import Channel, Notification, Status
from services.runtime.circuit import BreakerStatus
from services.runtime.clock import utcnow
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.pagination import decode_page_token, encode_page_token, page_limit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    entries: list[Notification]
    next_page_token: str


class DeadLetterAdmin:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        dispatcher: Dispatcher,
        *,
        cleanup_days: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._dispatcher = dispatcher
        self._cleanup_days = cleanup_days
        self._clock = clock

    def redrive(self, ids: Sequence[int]) -> int:
        with self._unit_of_work() as uow:
            count = uow.notifications.redrive(ids, self._clock())
            uow.commit()
        log.info("redrove %d failed notifications back to pending", count)
        return count

    def purge(self, status: Status | None, older_than_days: int) -> int:
        if status not in (Status.DELIVERED, Status.FAILED):
            raise InvalidArgument("status", "must be DELIVERED or FAILED; pending entries are never purged")
        if older_than_days < 0:
            raise InvalidArgument("older_than_days", "must not be negative")
        try:
            cutoff = self._clock() - dt.timedelta(days=older_than_days)
        except OverflowError:
            # Before the first day of the calendar: nothing can have finished then.
            log.info("purged no %s notifications: %d days ago is before year 1", status, older_than_days)
            return 0
        with self._unit_of_work() as uow:
            count = uow.notifications.purge(status, cutoff)
            uow.commit()
        log.info("purged %d %s notifications finished before %s", count, status, cutoff.isoformat())
        return count

    def cleanup(self) -> int:
        """The daily job: delivered entries older than DLQ_CLEANUP_DAYS go."""
        return self.purge(Status.DELIVERED, self._cleanup_days)

    def get(self, notification_id: int) -> Notification:
        with self._unit_of_work() as uow:
            notification = uow.notifications.get(notification_id)
        if notification is None:
            raise NotFound(f"no notification with id {notification_id}")
        return notification

    def page(self, status: Status | None, channel: Channel | None, page_size: int, page_token: str) -> Page:
        limit = page_limit(page_size)
        before_id = decode_page_token(page_token)
        with self._unit_of_work() as uow:
            entries = uow.notifications.page(status, channel, before_id, limit + 1)
        if len(entries) <= limit:
            return Page(entries, "")
        return Page(entries[:limit], encode_page_token(entries[limit - 1].id))

    def stats(self) -> Stats:
        with self._unit_of_work() as uow:
            return uow.notifications.stats()

    def breakers(self) -> list[BreakerStatus]:
        return self._dispatcher.breakers()

    def reset_breaker(self, name: str) -> BreakerStatus:
        return self._dispatcher.reset_breaker(name)
