"""How a delivery attempt's outcome changes a notification: the dead-letter queue's rules."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from services.notifier.domain.model import ErrorInfo, Notification, Status
from services.runtime.backoff import MIN_DELAY_SECONDS, backoff_seconds


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` real attempts at the sink; between them exponential backoff with jitter."""

    max_attempts: int
    backoff_base: float
    backoff_max: float

    def backoff(self, attempts: int, rng: random.Random | None = None) -> float:
        return backoff_seconds(attempts, self.backoff_base, self.backoff_max, rng)

    def delivered(self, notification: Notification, now: dt.datetime) -> None:
        notification.status = Status.DELIVERED
        notification.finished_at = now
        notification.next_attempt_at = None

    def failed_permanently(self, notification: Notification, error: ErrorInfo, now: dt.datetime) -> None:
        notification.attempts += 1
        notification.last_error = error
        self._fail(notification, now)

    def failed_retryably(
        self, notification: Notification, error: ErrorInfo, now: dt.datetime, rng: random.Random | None = None
    ) -> None:
        notification.attempts += 1
        notification.last_error = error
        if notification.attempts >= self.max_attempts:
            self._fail(notification, now)
        else:
            notification.next_attempt_at = now + dt.timedelta(
                seconds=self.backoff(notification.attempts, rng)
            )

    def postponed(
        self, notification: Notification, until: dt.datetime, now: dt.datetime, error: ErrorInfo | None = None
    ) -> None:
        """Not attempted (open breaker) or asked to wait (429): no attempt is used."""
        if error is not None:
            notification.last_error = error
        notification.next_attempt_at = max(until, now + dt.timedelta(seconds=MIN_DELAY_SECONDS))

    @staticmethod
    def _fail(notification: Notification, now: dt.datetime) -> None:
        notification.status = Status.FAILED
        notification.finished_at = now
        notification.next_attempt_at = None
