"""The data-subject rights on the notifier's side: export and erasure of the notifications that name an
address (queued, failed and delivered)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from services.notifier.application.ports import UnitOfWork
from services.runtime.db import utcnow
from services.runtime.emails import normalise_email


class NotifierPrivacy:
    def __init__(
        self, unit_of_work: Callable[[], UnitOfWork], clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    def export(self, email: str) -> dict:
        address = normalise_email(email)
        with self._unit_of_work() as uow:
            return {"notifications": uow.privacy.export(address)}

    def erase(self, email: str) -> dict[str, int]:
        address = normalise_email(email)
        with self._unit_of_work() as uow:
            erased = uow.privacy.erase(address, self._clock())
            uow.commit()
        return {"notifications": erased}
