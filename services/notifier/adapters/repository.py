"""SQL storage of notifications, and the notifier's unit of work.

Claiming goes through services.runtime.claims: a token and a lease per claim, FOR UPDATE SKIP LOCKED
on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Row, Select, and_, delete, func, select, update
from sqlalchemy.orm import Session

from services.notifier.adapters.outcomes import renew_claims, save_outcome
from services.notifier.adapters.privacy import SqlNotifierPrivacy
from services.notifier.adapters.tables import notifications as t
from services.notifier.application.ports import Stats
from services.notifier.domain.model import (
    Channel,
    ErrorInfo,
    Message,
    Notification,
    Status,
    message_from_payload,
    message_payload,
)
from services.runtime.claims import claim_rows, unleased
from services.runtime.db import affected_rows
from services.runtime.leases import Claim
from services.runtime.unit_of_work import SqlUnitOfWork, insert_ignoring_conflict


class SqlNotificationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: str, message: Message, claim: Claim) -> int | None:
        inserted = insert_ignoring_conflict(
            self._session,
            t,
            {
                "idempotency_key": key,
                "channel": message.channel.value,
                "payload": json.dumps(message_payload(message), ensure_ascii=False),
                "status": Status.PENDING.value,
                "attempts": 0,
                "next_attempt_at": claim.now,
                "claim_token": claim.token,
                "leased_until": claim.lease_until,
                "created_at": claim.now,
                "updated_at": claim.now,
            },
            "idempotency_key",
        )
        return self.id_for_key(key) if inserted else None

    def id_for_key(self, key: str) -> int:
        return self._session.execute(select(t.c.id).where(t.c.idempotency_key == key)).scalar_one()

    def get(self, notification_id: int) -> Notification | None:
        row = self._session.execute(select(t).where(t.c.id == notification_id)).one_or_none()
        return _notification(row) if row else None

    def claim_due(
        self, due_at: dt.datetime, claim: Claim, limit: int, skip_channels: Sequence[Channel] = ()
    ) -> list[Notification]:
        candidates = (
            select(t.c.id)
            .where(_due(due_at, claim.now), t.c.channel.not_in([c.value for c in skip_channels]))
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        return self._claim(candidates, claim)

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        return renew_claims(self._session.connection(), notifications, claim)

    def postpone_due(
        self, channel: Channel, due_at: dt.datetime, until: dt.datetime, now: dt.datetime
    ) -> int:
        return affected_rows(
            self._session,
            update(t)
            .where(_due(due_at, now), t.c.channel == channel.value)
            .values(next_attempt_at=until, updated_at=now),
        )

    def claim_ids(self, ids: Sequence[int], claim: Claim) -> list[Notification]:
        candidates = select(t.c.id).where(
            t.c.id.in_(list(ids)), t.c.status == Status.PENDING.value, unleased(t, claim.now)
        )
        return self._claim(candidates, claim)

    def _claim(self, candidates: Select, claim: Claim) -> list[Notification]:
        claimed = claim_rows(self._session, t, candidates, claim)
        return sorted((_notification(row) for row in claimed), key=lambda n: (n.next_attempt_at, n.id))

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        return save_outcome(self._session.connection(), notification, now)

    def unescalated_failures(self, limit: int) -> list[Notification]:
        rows = self._session.execute(
            select(t)
            .where(t.c.status == Status.FAILED.value, t.c.escalated_at.is_(None))
            .order_by(t.c.id)
            .limit(limit)
        )
        return [_notification(row) for row in rows]

    def mark_escalated(self, ids: Sequence[int], now: dt.datetime) -> None:
        self._session.execute(update(t).where(t.c.id.in_(list(ids))).values(escalated_at=now, updated_at=now))

    def redrive(self, ids: Sequence[int], now: dt.datetime) -> int:
        condition = t.c.status == Status.FAILED.value
        if ids:
            condition = and_(condition, t.c.id.in_(list(ids)))
        return affected_rows(
            self._session,
            update(t)
            .where(condition)
            .values(
                status=Status.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                finished_at=None,
                escalated_at=None,
                updated_at=now,
            ),
        )

    def purge(self, status: Status, finished_before: dt.datetime) -> int:
        return affected_rows(
            self._session,
            delete(t).where(t.c.status == status.value, t.c.finished_at < finished_before),
        )

    def page(
        self, status: Status | None, channel: Channel | None, before_id: int | None, limit: int
    ) -> list[Notification]:
        statement = select(t).order_by(t.c.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(t.c.status == status.value)
        if channel is not None:
            statement = statement.where(t.c.channel == channel.value)
        if before_id is not None:
            statement = statement.where(t.c.id < before_id)
        return [_notification(row) for row in self._session.execute(statement)]

    def stats(self) -> Stats:
        stats = Stats()
        grouped = self._session.execute(
            select(t.c.status, t.c.channel, func.count()).group_by(t.c.status, t.c.channel)
        )
        for status, channel, count in grouped:
            stats.counts[(Status(status), Channel(channel))] = count
        oldest = self._session.execute(
            select(t.c.channel, func.min(t.c.created_at))
            .where(t.c.status == Status.PENDING.value)
            .group_by(t.c.channel)
        )
        for channel, created_at in oldest:
            stats.oldest_pending_by_channel[Channel(channel)] = created_at
        if stats.oldest_pending_by_channel:
            stats.oldest_pending_created_at = min(stats.oldest_pending_by_channel.values())
        return stats


def _due(due_at: dt.datetime, now: dt.datetime) -> ColumnElement[bool]:
    return and_(t.c.status == Status.PENDING.value, t.c.next_attempt_at <= due_at, unleased(t, now))


def _notification(row: Row) -> Notification:
    channel = Channel(row.channel)
    error = None
    if row.last_error_class is not None:
        error = ErrorInfo(row.last_error_class, row.last_error_status or 0, row.last_error_text or "")
    return Notification(
        id=row.id,
        idempotency_key=row.idempotency_key,
        message=message_from_payload(channel, json.loads(row.payload)),
        status=Status(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == Status.PENDING.value else None,
        finished_at=row.finished_at,
        last_error=error,
        claim_token=row.claim_token,
    )


class NotifierUnitOfWork(SqlUnitOfWork):
    notifications: SqlNotificationRepository
    privacy: SqlNotifierPrivacy

    def bind_repositories(self, session: Session) -> None:
        self.notifications = SqlNotificationRepository(session)
        self.privacy = SqlNotifierPrivacy(session)
