"""SQL storage of follow-up events: which follow-ups are due, and recording them once each (under
UNIQUE(conversation_id, followup_number)), one by one or a pass's batch in one statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import ColumnElement, Integer, and_, case, exists, func, literal, select, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.chat.adapters.tables import conversations, followup_events
from services.chat.application.ports import DueFollowup
from services.runtime.unit_of_work import insert_ignoring_conflict


class SqlFollowupRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def exists(self, conversation_id: int, number: int) -> bool:
        found = select(followup_events.c.id).where(
            followup_events.c.conversation_id == conversation_id, followup_events.c.followup_number == number
        )
        return self._session.execute(found).first() is not None

    def record(self, conversation_id: int, number: int, status: str, now: dt.datetime) -> bool:
        return insert_ignoring_conflict(
            self._session,
            followup_events,
            {
                "conversation_id": conversation_id,
                "followup_number": number,
                "status": str(status),
                "created_at": now,
            },
            "conversation_id",
            "followup_number",
        )

    def _due_condition(
        self, number: int, cutoff: dt.datetime, after_id: int, before_id: int | None
    ) -> ColumnElement[bool]:
        sent = exists().where(
            followup_events.c.conversation_id == conversations.c.id,
            followup_events.c.followup_number == number,
        )
        return and_(
            conversations.c.email.is_not(None),
            conversations.c.last_user_message_at <= cutoff,
            conversations.c.id > after_id,
            conversations.c.id < before_id if before_id is not None else true(),
            ~sent,
        )

    def due(
        self,
        number: int,
        cutoff: dt.datetime,
        after_id: int,
        limit: int,
        *,
        before_id: int | None = None,
        descending: bool = False,
    ) -> list[DueFollowup]:
        rows = self._session.execute(
            select(
                conversations.c.id,
                conversations.c.session_id,
                conversations.c.last_user_message_at,
                conversations.c.email,
            )
            .where(self._due_condition(number, cutoff, after_id, before_id))
            .order_by(conversations.c.id.desc() if descending else conversations.c.id)
            .limit(limit)
        )
        return [
            DueFollowup(row.id, row.session_id, number, row.last_user_message_at, row.email) for row in rows
        ]

    def record_due(
        self, number: int, cutoff: dt.datetime, outcomes: Mapping[int, tuple[str, str]], now: dt.datetime
    ) -> set[int]:
        if not outcomes:
            return set()
        ids = sorted(outcomes)
        status = case({i: str(outcomes[i][1]) for i in ids}, value=conversations.c.id)
        still_due = (
            select(
                conversations.c.id,
                literal(number, Integer()),
                status,
                literal(now, followup_events.c.created_at.type),
            )
            .where(
                tuple_(conversations.c.id, conversations.c.email).in_([(i, outcomes[i][0]) for i in ids]),
                conversations.c.last_user_message_at <= cutoff,
            )
            .order_by(conversations.c.id)
        )
        dialect = postgresql if self._session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(followup_events)
            .from_select(["conversation_id", "followup_number", "status", "created_at"], still_due)
            .on_conflict_do_nothing(index_elements=["conversation_id", "followup_number"])
            .returning(followup_events.c.conversation_id)
        )
        return set(self._session.execute(statement).scalars())

    def count_due(self, number: int, cutoff: dt.datetime, after_id: int, before_id: int | None = None) -> int:
        return self._session.execute(
            select(func.count())
            .select_from(conversations)
            .where(self._due_condition(number, cutoff, after_id, before_id))
        ).scalar_one()
