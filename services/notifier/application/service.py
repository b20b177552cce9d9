"""The notifier's use cases.

A notification is committed (claimed by the accepting call) before any delivery attempt, so nothing
accepted is lost if the process dies; a crashed claimer's entries come back when their lease ends. No
transaction stays open across a sink call: claiming, and recording each outcome, are transactions of
their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from services.notifier.application.dispatcher import Attempt, Dispatcher, Result
from services.notifier.application.ports import Stats, UnitOfWork
from services.notifier.domain.model import (
    Channel,
    EmailMessage,
    Message,
    Notification,
    Status,
    idempotency_key,
)
from services.notifier.domain.retry_policy import RetryPolicy
from services.runtime.breakers import BreakerStatus
from services.runtime.claims import Claim
from services.runtime.db import retry_while_database_unavailable, utcnow
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.pagination import decode_page_token, encode_page_token, page_limit

log = logging.getLogger(__name__)

CLAIM_BATCH = 100
ESCALATION_BATCH = 500


class NotifyStatus(Enum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass
class RetryReport:
    retried: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Page:
    entries: list[Notification]
    next_page_token: str


class NotifierService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        dispatcher: Dispatcher,
        policy: RetryPolicy,
        *,
        lease_seconds: float,
        cleanup_days: int,
        escalation_email: str | None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._dispatcher = dispatcher
        self._policy = policy
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._cleanup_days = cleanup_days
        self._escalation_email = escalation_email
        self._clock = clock

    def notify(self, key: str, message: Message) -> tuple[int, NotifyStatus]:
        """Accepts a notification once per key and tries to deliver it now, without waiting behind
        another attempt on the same channel."""
        key = idempotency_key(key)
        self._dispatcher.require(message.channel)
        claim = self._claim()
        with self._unit_of_work() as uow:
            notification_id = uow.notifications.add(key, message, claim)
            if notification_id is None:
                return uow.notifications.id_for_key(key), NotifyStatus.DUPLICATE
            uow.commit()
        notification = Notification(
            id=notification_id,
            idempotency_key=key,
            message=message,
            status=Status.PENDING,
            attempts=0,
            created_at=claim.now,
            claim_token=claim.token,
        )
        self._attempt(notification, wait=False, lease_until=claim.lease_until)
        if notification.status is Status.DELIVERED:
            return notification_id, NotifyStatus.DELIVERED
        if notification.status is Status.FAILED:
            return notification_id, NotifyStatus.FAILED
        return notification_id, NotifyStatus.QUEUED

    def retry(self, ids: Sequence[int] = ()) -> RetryReport:
        """One pass: the given pending entries, or every entry that was due when the pass began
        (entries it postpones are left for a later pass), then one escalation for what failed.

        Each entry goes through its breaker. Once a breaker has rejected an entry, the rest of that
        channel's due entries are postponed together until the breaker may let a trial call through."""
        report = RetryReport()
        due_at = self._clock()
        rejected: dict[Channel, dt.datetime] = {}
        while True:
            claim = self._claim()
            with self._unit_of_work() as uow:
                if ids:
                    batch = uow.notifications.claim_ids(ids, claim)
                else:
                    batch = uow.notifications.claim_due(
                        due_at, claim, CLAIM_BATCH, skip_channels=list(rejected)
                    )
                uow.commit()
            for notification in batch:
                if notification.channel in rejected:
                    self._postpone(notification, rejected[notification.channel])
                    continue
                attempt = self._attempt(notification, wait=True, lease_until=claim.lease_until, renew=True)
                if attempt.result is Result.BREAKER_OPEN and attempt.retry_at is not None:
                    rejected[notification.channel] = attempt.retry_at
                report.retried += attempt.reached_sink
                report.delivered += notification.status is Status.DELIVERED
                report.failed += notification.status is Status.FAILED
            if ids or not batch:
                break
        if rejected:
            with self._unit_of_work() as uow:
                for channel, retry_at in rejected.items():
                    uow.notifications.postpone_due(channel, due_at, retry_at, self._clock())
                uow.commit()
        self._escalate()
        return report

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

    def _claim(self) -> Claim:
        now = self._clock()
        return Claim(token=uuid.uuid4().hex, now=now, lease_until=now + self._lease)

    def _renew(self, notification: Notification, renewed_until: list[dt.datetime]) -> bool:
        claim = self._claim()
        with self._unit_of_work() as uow:
            renewed = uow.notifications.renew(notification, claim)
            uow.commit()
        if renewed:
            renewed_until.append(claim.lease_until)
        return renewed

    def _postpone(self, notification: Notification, until: dt.datetime) -> None:
        now = self._clock()
        self._policy.postponed(notification, until, now)
        with self._unit_of_work() as uow:
            uow.notifications.save_outcome(notification, now)
            uow.commit()

    def _attempt(
        self, notification: Notification, *, wait: bool, lease_until: dt.datetime, renew: bool = False
    ) -> Attempt:
        """One attempt and its recorded outcome. With `renew`, the claim is renewed once the channel is
        free, so the lease covers this one attempt however long the entry waited for its turn.

        The sink has the message before its outcome is stored: if the database is away then, the save is
        retried until the lease ends, since a lost outcome means another delivery once it does."""
        renewed_until: list[dt.datetime] = []
        still_ours = (lambda: self._renew(notification, renewed_until)) if renew else None
        attempt = self._dispatcher.attempt(
            notification.message, wait=wait, now=self._clock(), still_ours=still_ours
        )
        if attempt.result is Result.LOST:
            log.info("notification %d was claimed by another worker meanwhile; skipped", notification.id)
            return attempt
        now = self._clock()
        policy = self._policy
        if attempt.result is Result.DELIVERED:
            policy.delivered(notification, now)
        elif attempt.result is Result.PERMANENT:
            policy.failed_permanently(notification, attempt.failure, now)
        elif attempt.result is Result.RETRYABLE:
            policy.failed_retryably(notification, attempt.failure, now)
        else:
            policy.postponed(notification, attempt.retry_at or now, now, attempt.error)

        def save() -> bool:
            with self._unit_of_work() as uow:
                saved = uow.notifications.save_outcome(notification, now)
                uow.commit()
            return saved

        saved = retry_while_database_unavailable(
            save,
            deadline=max([lease_until, *renewed_until]),
            what=f"notification {notification.id}: recording its outcome",
            clock=self._clock,
        )
        if not saved:
            log.warning(
                "notification %d: its claim expired during the attempt; outcome not recorded", notification.id
            )
        if notification.status is Status.FAILED:
            log.error(
                "notification %d (%s, key %s) failed after %d attempts: %s",
                notification.id,
                notification.channel,
                notification.idempotency_key,
                notification.attempts,
                notification.last_error,
            )
        return attempt

    def _escalate(self) -> None:
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
