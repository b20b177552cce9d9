"""Escalation: failures that ran out of attempts, or were refused for good, reported to an operator."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from services.notifier.application.dispatcher import Dispatcher, Result
from services.notifier.application.ports import UnitOfWork
from services.notifier.domain.model import Channel, EmailMessage, Notification
from services.runtime.clock import utcnow

log = logging.getLogger(__name__)

ESCALATION_BATCH = 500


class Escalation:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        dispatcher: Dispatcher,
        escalation_email: str | None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._dispatcher = dispatcher
        self._escalation_email = escalation_email
        self._clock = clock

    def escalate(self) -> None:
        """At most one email per pass listing every failure not escalated yet. Each failure is
        escalated once: if the email itself fails it is logged, and not escalated again."""
        with self._unit_of_work() as uow:
            failures = uow.notifications.unescalated_failures(ESCALATION_BATCH)
        if not failures:
            return
        ids = [n.id for n in failures]
        if self._escalation_email is None or not self._dispatcher.configured(Channel.EMAIL):
            log.error(
                "%d notifications failed and cannot be escalated (ESCALATION_EMAIL or SMTP not set): %s",
                len(ids),
                ids,
            )
        else:
            attempt = self._dispatcher.attempt(
                _escalation(self._escalation_email, failures), wait=True, now=self._clock()
            )
            if attempt.result is Result.DELIVERED:
                log.warning("escalated %d failed notifications to %s", len(ids), self._escalation_email)
            else:
                log.error(
                    "escalation email about notifications %s failed (%s): %s",
                    ids,
                    attempt.result.value,
                    attempt.error,
                )
        with self._unit_of_work() as uow:
            uow.notifications.mark_escalated(ids, self._clock())
            uow.commit()


def _escalation(to: str, failures: list[Notification]) -> EmailMessage:
    lines = [
        f"{len(failures)} notification(s) could not be delivered and need an operator.",
        "Inspect them: GET /api/admin/dlq/entries?status=DEAD_LETTER_STATUS_FAILED",
        "Once the cause is fixed, send them again: POST /api/admin/dlq/redrive",
        "",
    ]
    for n in failures:
        error = n.last_error
        reason = f"{error.kind} {error.status}: {error.text[:200]}" if error else "unknown"
        lines.append(
            f"- #{n.id} {n.channel} key={n.idempotency_key} attempts={n.attempts} last error: {reason}"
        )
    return EmailMessage(
        to=to, subject=f"[NovaHouse notifier] {len(failures)} notification(s) failed", body="\n".join(lines)
    )
