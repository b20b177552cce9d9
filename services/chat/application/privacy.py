"""The data-subject rights on chat's side: export and erasure of what chat holds about an address,
and the retention job erasing conversations idle for CHAT_RETENTION_DAYS the same way."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from services.chat.application.ports import SessionCache, UnitOfWork
from services.runtime.db import utcnow
from services.runtime.emails import normalise_email

log = logging.getLogger(__name__)

RETENTION_BATCH = 200


class ChatPrivacy:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        cache: SessionCache,
        *,
        retention_days: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._cache = cache
        self._retention = dt.timedelta(days=retention_days)
        self._clock = clock

    def export(self, email: str) -> dict:
        address = normalise_email(email)
        with self._unit_of_work() as uow:
            found = uow.privacy.conversations_of(address)
            return {"conversations": uow.privacy.export([conversation_id for conversation_id, _ in found])}

    def erase(self, email: str) -> dict[str, int]:
        """Erases the person's conversations in one transaction; the cached contexts are dropped before
        it commits, so a Redis that is down leaves everything as it was (Unavailable) for a repeat."""
        address = normalise_email(email)
        with self._unit_of_work() as uow:
            found = uow.privacy.conversations_of(address)
            counts = self._erase(uow, found, {address})
            uow.commit()
        return counts

    def erase_inactive(self) -> int:
        """The retention job: erases conversations (and their leads) idle for the retention period,
        a batch per transaction; answers how many."""
        cutoff = self._clock() - self._retention
        total = 0
        while True:
            with self._unit_of_work() as uow:
                found = uow.privacy.inactive(cutoff, RETENTION_BATCH)
                if not found:
                    break
                ids = [conversation_id for conversation_id, _ in found]
                self._erase(uow, found, uow.privacy.contact_addresses(ids))
                uow.commit()
            total += len(found)
        if total:
            log.info("retention: erased %d conversations idle since %s", total, cutoff.date().isoformat())
        return total

    def _erase(self, uow: UnitOfWork, found: list[tuple[int, str]], addresses: set[str]) -> dict[str, int]:
        for _, session_id in found:
            self._cache.delete(session_id)
        counts = uow.privacy.erase(
            [conversation_id for conversation_id, _ in found], addresses, self._clock()
        )
        counts["cached_sessions"] = len(found)
        return counts
