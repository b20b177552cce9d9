"""Delivery: accepting a notification and attempting it, now and in the retry passes.

A notification is committed (claimed by the accepting call) before any delivery attempt, so nothing
accepted is lost if the process dies; a crashed claimer's entries come back when their lease ends. No
transaction stays open across a sink call: claiming a batch, and recording each outcome that reached a
sink, are transactions of their own; an outcome is committed before the next call on its channel, so a
crash repeats at most the one call in flight (docs/design.md, "How the notifier drains its queue").
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from services.notifier.application.dispatcher import Attempt, Dispatcher, Result
from services.notifier.application.escalation import Escalation
from services.notifier.application.ports import OutcomeLog, UnitOfWork
from services.notifier.domain.model import Channel, Message, Notification, Status, idempotency_key
from services.notifier.domain.retry_policy import RetryPolicy
from services.runtime.clock import utcnow
from services.runtime.leases import Claim
from services.runtime.retries import Unavailable, retry_while_unavailable

log = logging.getLogger(__name__)

CLAIM_BATCH = 100
# A batch's lease is renewed once it is shorter than a fresh one by this fraction of it (at most
# MAX_RENEW_SLACK_SECONDS): every attempt then starts with nearly a whole lease ahead of it.
RENEW_SLACK = 0.1
MAX_RENEW_SLACK_SECONDS = 5.0


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


class DeliveryService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        dispatcher: Dispatcher,
        policy: RetryPolicy,
        escalation: Escalation,
        *,
        lease_seconds: float,
        storage_unavailable: Unavailable,
        clock: Callable[[], dt.datetime] = utcnow,
        outcomes: Callable[[], OutcomeLog] | None = None,
    ) -> None:
        """`outcomes` records outcomes and renewals (by default through `unit_of_work`, a transaction
        each)."""
        self._unit_of_work = unit_of_work
        self._outcomes = outcomes or (lambda: UnitOfWorkOutcomes(unit_of_work))
        self._storage_unavailable = storage_unavailable
        self._dispatcher = dispatcher
        self._policy = policy
        self._escalation = escalation
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._renew_slack = dt.timedelta(seconds=min(lease_seconds * RENEW_SLACK, MAX_RENEW_SLACK_SECONDS))
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

        Entries are claimed in batches of CLAIM_BATCH under one claim. Each entry goes through its breaker.
        Once a breaker has rejected an entry, the rest of that channel's due entries are postponed together
        until the breaker may let a trial call through."""
        report = RetryReport()
        due_at = self._clock()
        rejected: dict[Channel, dt.datetime] = {}
        with self._outcomes() as outcomes:
            self._work_through(ids, due_at, rejected, report, outcomes)
        if rejected:
            with self._unit_of_work() as uow:
                for channel, retry_at in rejected.items():
                    uow.notifications.postpone_due(channel, due_at, retry_at, self._clock())
                uow.commit()
        self._escalation.escalate()
        return report

    def _work_through(
        self,
        ids: Sequence[int],
        due_at: dt.datetime,
        rejected: dict[Channel, dt.datetime],
        report: RetryReport,
        outcomes: OutcomeLog,
    ) -> None:
        """Claims and attempts batch after batch until none is left (or the given ids are done)."""
        while True:
            claim = self._claim()
            with self._unit_of_work() as uow:
                if ids:
                    claimed = uow.notifications.claim_ids(ids, claim)
                else:
                    claimed = uow.notifications.claim_due(
                        due_at, claim, CLAIM_BATCH, skip_channels=list(rejected)
                    )
                uow.commit()
            batch = Batch(outcomes, claim.lease_until, {n.id: n for n in claimed})
            for notification in claimed:
                if notification.channel in rejected:
                    self._policy.postponed(notification, rejected[notification.channel], self._clock())
                    batch.unsaved.append(notification)
                else:
                    attempt = self._attempt(
                        notification, wait=True, lease_until=claim.lease_until, batch=batch
                    )
                    if attempt.result is Result.BREAKER_OPEN and attempt.retry_at is not None:
                        rejected[notification.channel] = attempt.retry_at
                    report.retried += attempt.reached_sink
                    report.delivered += notification.status is Status.DELIVERED
                    report.failed += notification.status is Status.FAILED
                batch.waiting.pop(notification.id, None)
            if batch.unsaved:
                self._save(outcomes, batch.unsaved, [], batch.lease_until)
            if ids or not claimed:
                break

    def _claim(self) -> Claim:
        now = self._clock()
        return Claim(token=uuid.uuid4().hex, now=now, lease_until=now + self._lease)

    def _still_ours(self, notification: Notification, batch: Batch) -> bool:
        """Asked right before the sink call, with the channel's gate held. While the batch's lease is
        (nearly) as long as a fresh one, the entry is ours without asking the database; once the entries
        waited longer than RENEW_SLACK of the lease, every entry of the batch still waiting is renewed in
        one statement, and those another worker took over meanwhile are lost to this pass."""
        if notification.id in batch.lost:
            return False
        now = self._clock()
        if batch.lease_until - now >= self._lease - self._renew_slack:
            return True
        claim = Claim(token=notification.claim_token or "", now=now, lease_until=now + self._lease)
        entries = {notification.id: notification, **batch.waiting}
        entries.update((n.id, n) for n in batch.unsaved)
        renewed = batch.outcomes.renew_claims(list(entries.values()), claim)
        batch.lease_until = claim.lease_until
        batch.lost.update(set(entries) - set(renewed))
        return notification.id in renewed

    def _attempt(
        self,
        notification: Notification,
        *,
        wait: bool,
        lease_until: dt.datetime,
        batch: Batch | None = None,
    ) -> Attempt:
        """One attempt and its recorded outcome. In a retry pass (`batch`), the claim is checked once the
        channel is free, so the lease covers this one attempt however long the entry waited for its turn;
        an attempt that never reached the sink (an open breaker) is saved with the next outcome.

        The sink has the message before its outcome is stored, and the outcome is committed before the
        next call on the channel: if the database is away then, the save is retried until the lease ends,
        since a lost outcome means another delivery once it does."""
        still_ours = (lambda: self._still_ours(notification, batch)) if batch is not None else None
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
        if batch is not None and not attempt.reached_sink:
            batch.unsaved.append(notification)
            return attempt
        if batch is not None:
            self._save(batch.outcomes, [notification], batch.unsaved, batch.lease_until)
        else:
            with self._outcomes() as outcomes:
                self._save(outcomes, [notification], [], lease_until)
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

    def _save(
        self,
        recorder: OutcomeLog,
        outcomes: list[Notification],
        unsaved: list[Notification],
        lease_until: dt.datetime,
    ) -> None:
        """Commits the postponements waiting in `unsaved` (which it empties), then `outcomes`, retried
        while the database is unavailable until the lease ends."""
        now = self._clock()
        entries = [*unsaved, *outcomes]
        saved = retry_while_unavailable(
            lambda: [recorder.save_outcome(n, now) for n in entries],
            unavailable=self._storage_unavailable,
            deadline=lease_until,
            what=f"notifications {', '.join(str(n.id) for n in outcomes or entries)}: recording the outcome",
            clock=self._clock,
        )
        unsaved.clear()
        for notification, ok in zip(entries, saved, strict=True):
            if not ok:
                log.warning(
                    "notification %d: its claim expired during the attempt; outcome not recorded",
                    notification.id,
                )


class UnitOfWorkOutcomes:
    """An OutcomeLog through units of work: a transaction per change."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._unit_of_work = unit_of_work

    def __enter__(self) -> UnitOfWorkOutcomes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        with self._unit_of_work() as uow:
            saved = uow.notifications.save_outcome(notification, now)
            uow.commit()
        return saved

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        with self._unit_of_work() as uow:
            renewed = uow.notifications.renew_claims(notifications, claim)
            uow.commit()
        return renewed


@dataclass
class Batch:
    """The entries of one claim that a retry pass works through."""

    outcomes: OutcomeLog  # held for the pass
    lease_until: dt.datetime
    waiting: dict[int, Notification]  # claimed, not attempted yet
    lost: set[int] = field(default_factory=set)  # taken over by another worker after the lease ended
    unsaved: list[Notification] = field(default_factory=list)  # postponed, saved with the next outcome
