"""The notifier's ports in memory: the notification store behind a unit of work, and scripted sinks.

The store keeps what the SQL repository keeps, with the same rules (a claim token and a lease per
claimed entry, an outcome saved only by the current claimer), and a unit of work that works on a copy:
only `commit` makes changes visible, so a use case that forgets to commit loses them here as well.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from services.notifier.application.dead_letters import DeadLetterAdmin
from services.notifier.application.delivery import DeliveryService
from services.notifier.application.dispatcher import Dispatcher, Route
from services.notifier.application.escalation import Escalation
from services.notifier.application.ports import Stats
from services.notifier.domain.model import (
    Channel,
    Message,
    Notification,
    PermanentFailure,
    RateLimited,
    Status,
)
from services.notifier.domain.retry_policy import RetryPolicy
from services.runtime.breakers import Breaker, BreakerSettings
from services.runtime.leases import Claim
from tests.support.clock import FakeClock


@dataclasses.dataclass
class Row:
    notification: Notification
    leased_until: dt.datetime | None = None
    escalated_at: dt.datetime | None = None

    def unleased(self, now: dt.datetime) -> bool:
        return self.leased_until is None or self.leased_until < now

    def due(self, due_at: dt.datetime, now: dt.datetime) -> bool:
        n = self.notification
        return n.status is Status.PENDING and n.next_attempt_at <= due_at and self.unleased(now)


class MemoryNotifications:
    """NotificationRepository over a dict of rows (the unit of work's working copy)."""

    def __init__(self, rows: dict[int, Row], ids: itertools.count, renewals: list[list[int]]) -> None:
        self.rows = rows
        self._ids = ids
        self.renewals = renewals  # the ids of each renew_claims call, shared by every unit of work

    def add(self, key: str, message: Message, claim: Claim) -> int | None:
        if any(row.notification.idempotency_key == key for row in self.rows.values()):
            return None
        notification_id = next(self._ids)
        self.rows[notification_id] = Row(
            Notification(
                id=notification_id,
                idempotency_key=key,
                message=message,
                status=Status.PENDING,
                attempts=0,
                created_at=claim.now,
                next_attempt_at=claim.now,
                claim_token=claim.token,
            ),
            leased_until=claim.lease_until,
        )
        return notification_id

    def id_for_key(self, key: str) -> int:
        return next(i for i, row in self.rows.items() if row.notification.idempotency_key == key)

    def get(self, notification_id: int) -> Notification | None:
        row = self.rows.get(notification_id)
        return _view(row) if row else None

    def claim_due(
        self, due_at: dt.datetime, claim: Claim, limit: int, skip_channels: Sequence[Channel] = ()
    ) -> list[Notification]:
        due = [
            row
            for row in self.rows.values()
            if row.due(due_at, claim.now) and row.notification.channel not in skip_channels
        ]
        due.sort(key=lambda row: (row.notification.next_attempt_at, row.notification.id))
        return self._claim(due[:limit], claim)

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        self.renewals.append([n.id for n in notifications])
        renewed = []
        for notification in notifications:
            row = self.rows.get(notification.id)
            if row is None or notification.claim_token is None:
                continue
            if row.notification.claim_token != notification.claim_token:
                continue
            row.leased_until = claim.lease_until
            renewed.append(notification.id)
        return renewed

    def postpone_due(
        self, channel: Channel, due_at: dt.datetime, until: dt.datetime, now: dt.datetime
    ) -> int:
        postponed = [
            row for row in self.rows.values() if row.due(due_at, now) and row.notification.channel is channel
        ]
        for row in postponed:
            row.notification.next_attempt_at = until
        return len(postponed)

    def claim_ids(self, ids: Sequence[int], claim: Claim) -> list[Notification]:
        wanted = [
            row
            for i, row in self.rows.items()
            if i in ids and row.notification.status is Status.PENDING and row.unleased(claim.now)
        ]
        return self._claim(wanted, claim)

    def _claim(self, rows: list[Row], claim: Claim) -> list[Notification]:
        for row in rows:
            row.notification.claim_token = claim.token
            row.leased_until = claim.lease_until
        claimed = [_view(row) for row in rows]
        return sorted(claimed, key=lambda n: (n.next_attempt_at, n.id))

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        row = self.rows.get(notification.id)
        if row is None or notification.claim_token is None:
            return False
        if row.notification.claim_token != notification.claim_token:
            return False
        row.notification = dataclasses.replace(notification, claim_token=None)
        row.leased_until = None
        return True

    def unescalated_failures(self, limit: int) -> list[Notification]:
        failed = [
            _view(row)
            for _, row in sorted(self.rows.items())
            if row.notification.status is Status.FAILED and row.escalated_at is None
        ]
        return failed[:limit]

    def mark_escalated(self, ids: Sequence[int], now: dt.datetime) -> None:
        for i in ids:
            self.rows[i].escalated_at = now

    def redrive(self, ids: Sequence[int], now: dt.datetime) -> int:
        chosen = [
            row
            for i, row in self.rows.items()
            if row.notification.status is Status.FAILED and (not ids or i in ids)
        ]
        for row in chosen:
            n = row.notification
            n.status, n.attempts, n.next_attempt_at, n.finished_at = Status.PENDING, 0, now, None
            row.escalated_at = None
        return len(chosen)

    def purge(self, status: Status, finished_before: dt.datetime) -> int:
        gone = [
            i
            for i, row in self.rows.items()
            if row.notification.status is status
            and row.notification.finished_at is not None
            and row.notification.finished_at < finished_before
        ]
        for i in gone:
            del self.rows[i]
        return len(gone)

    def page(
        self, status: Status | None, channel: Channel | None, before_id: int | None, limit: int
    ) -> list[Notification]:
        found = [
            _view(row)
            for i, row in sorted(self.rows.items(), reverse=True)
            if (status is None or row.notification.status is status)
            and (channel is None or row.notification.channel is channel)
            and (before_id is None or i < before_id)
        ]
        return found[:limit]

    def stats(self) -> Stats:
        stats = Stats()
        for row in self.rows.values():
            key = (row.notification.status, row.notification.channel)
            stats.counts[key] = stats.counts.get(key, 0) + 1
        pending = [
            r.notification.created_at for r in self.rows.values() if r.notification.status is Status.PENDING
        ]
        stats.oldest_pending_created_at = min(pending, default=None)
        return stats


def _view(row: Row) -> Notification:
    """What a read returns: a copy, with next_attempt_at only while pending (as the SQL store)."""
    n = copy.deepcopy(row.notification)
    if n.status is not Status.PENDING:
        n.next_attempt_at = None
    return n


class MemoryUnitOfWork:
    """One store shared by every unit of work made by `__call__`; each works on a copy until commit.

    `unavailable` > 0 makes that many next transactions fail as a database outage would (at commit)."""

    def __init__(self) -> None:
        self.stored: dict[int, Row] = {}
        self.commits = 0
        self.unavailable = 0
        self._ids = itertools.count(1)
        self.renewals: list[list[int]] = []
        self.notifications = MemoryNotifications({}, self._ids, self.renewals)

    def __call__(self) -> MemoryUnitOfWork:
        return self

    def __enter__(self) -> MemoryUnitOfWork:
        self.notifications = MemoryNotifications(copy.deepcopy(self.stored), self._ids, self.renewals)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def commit(self) -> None:
        if self.unavailable > 0:
            self.unavailable -= 1
            raise OperationalError("COMMIT", {}, Exception("the database is away (a test's outage)"))
        self.stored = self.notifications.rows
        self.commits += 1

    def row(self, notification_id: int) -> Notification:
        return self.stored[notification_id].notification


class ScriptedSink:
    """A sink that answers from a script: each call takes the next outcome (None: delivered, an
    exception: raised); once the script is used up every call is delivered. `during` runs inside the
    call, for a test that acts while the sink has the message."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[Message] = []
        self.delivered: list[Message] = []
        self.during = None

    def answer(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)

    def deliver(self, message: Message) -> None:
        self.calls.append(message)
        if self.during is not None:
            self.during()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.delivered.append(message)


LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 3
ESCALATION = "ops@novahouse.example.com"


class Notifier:
    """The use cases wired to memory: one store, scripted Slack and SMTP sinks, a clock moved by hand."""

    def __init__(self, *, fail_max: int = 5, escalation_email: str | None = ESCALATION, email: bool = True):
        self.uow = MemoryUnitOfWork()
        self.clock = FakeClock()
        self.slack = ScriptedSink()
        self.smtp = ScriptedSink()
        sinks = (
            {Channel.SLACK: self.slack, Channel.EMAIL: self.smtp} if email else {Channel.SLACK: self.slack}
        )
        self.routes = {
            channel: Route(
                sink,
                Breaker(
                    channel.value,
                    BreakerSettings(fail_max=fail_max, reset_timeout=30),
                    exclude=(PermanentFailure, RateLimited),
                ),
                threading.Lock(),
            )
            for channel, sink in sinks.items()
        }
        missing = {Channel.MONDAY: "MONDAY_API_URL"} | ({} if email else {Channel.EMAIL: "SMTP_HOST"})
        dispatcher = Dispatcher(self.routes, missing)
        self.delivery = DeliveryService(
            self.uow,
            dispatcher,
            RetryPolicy(MAX_ATTEMPTS, backoff_base=10, backoff_max=100),
            Escalation(self.uow, dispatcher, escalation_email, clock=self.clock),
            lease_seconds=LEASE_SECONDS,
            storage_unavailable=(OperationalError,),
            clock=self.clock,
        )
        self.dead_letters = DeadLetterAdmin(self.uow, dispatcher, cleanup_days=30, clock=self.clock)
