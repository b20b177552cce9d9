"""What chat holds about a person, found and erased in SQL (docs/privacy.md).

A person's conversations are those whose email is the address, whose lead's email is, or in which a
message mentions it (case-insensitive). Finding the last kind reads every message: an admin request,
not a hot path. Erasing keeps each conversation's shape (roles, times, lead score) and removes what
identifies the person: every message's text, the conversation's email, the lead's email and phone,
and the calls still waiting in the outbox whose payload names the address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.chat.adapters.tables import conversations, leads, messages, outbox
from services.runtime.db import affected_rows

ERASED_TEXT = "[erased]"


class SqlChatPrivacy:
    def __init__(self, session: Session) -> None:
        self._session = session

    def conversations_of(self, email: str) -> list[tuple[int, str]]:
        """(id, session id) of the person's conversations, locked until the transaction ends."""
        mentioned = select(messages.c.conversation_id).where(
            func.lower(messages.c.text).contains(email, autoescape=True)
        )
        by_lead = select(leads.c.conversation_id).where(func.lower(leads.c.email) == email)
        found = (
            select(conversations.c.id, conversations.c.session_id)
            .where(
                or_(
                    func.lower(conversations.c.email) == email,
                    conversations.c.id.in_(by_lead),
                    conversations.c.id.in_(mentioned),
                )
            )
            .order_by(conversations.c.id)
            .with_for_update()
        )
        return [(row.id, row.session_id) for row in self._session.execute(found)]

    def inactive(self, cutoff: dt.datetime, limit: int) -> list[tuple[int, str]]:
        """Conversations without a visitor's message since `cutoff` and not erased yet, locked."""
        found = (
            select(conversations.c.id, conversations.c.session_id)
            .where(conversations.c.last_user_message_at < cutoff, conversations.c.erased_at.is_(None))
            .order_by(conversations.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [(row.id, row.session_id) for row in self._session.execute(found)]

    def contact_addresses(self, ids: Sequence[int]) -> set[str]:
        """The addresses the conversations name in their own columns (to find their outbox calls)."""
        found = set()
        for column, table in ((conversations.c.email, conversations), (leads.c.email, leads)):
            key = conversations.c.id if table is conversations else leads.c.conversation_id
            found |= {
                value.lower()
                for value in self._session.execute(select(column).where(key.in_(ids))).scalars()
                if value
            }
        return found

    def export(self, ids: Sequence[int]) -> list[dict]:
        documents = []
        for conversation_id in ids:
            row = self._session.execute(
                select(conversations).where(conversations.c.id == conversation_id)
            ).one()
            lead = self._session.execute(
                select(leads).where(leads.c.conversation_id == conversation_id)
            ).one_or_none()
            texts = self._session.execute(
                select(messages).where(messages.c.conversation_id == conversation_id).order_by(messages.c.id)
            )
            documents.append(
                {
                    "session_id": row.session_id,
                    "email": row.email,
                    "created_at": row.created_at.isoformat(),
                    "last_user_message_at": row.last_user_message_at.isoformat(),
                    "messages": [
                        {
                            "role": message.role,
                            "text": message.text,
                            "created_at": message.created_at.isoformat(),
                            "followup_number": message.followup_number,
                        }
                        for message in texts
                    ],
                    "lead": None
                    if lead is None
                    else {
                        "email": lead.email,
                        "phone": lead.phone,
                        "score": lead.score,
                        "budget": lead.budget,
                        "area": lead.area,
                        "timeline": lead.timeline,
                        "created_at": lead.created_at.isoformat(),
                    },
                }
            )
        return documents

    def erase(self, ids: Sequence[int], addresses: set[str], now: dt.datetime) -> dict[str, int]:
        """Redacts the conversations and drops the outbox calls naming any of `addresses`."""
        ids = list(ids)
        counts = {"conversations": 0, "messages": 0, "leads": 0, "outbox_calls": 0}
        if ids:
            counts["messages"] = affected_rows(
                self._session,
                update(messages).where(messages.c.conversation_id.in_(ids)).values(text=ERASED_TEXT),
            )
            counts["leads"] = affected_rows(
                self._session,
                update(leads)
                .where(leads.c.conversation_id.in_(ids))
                .values(email=None, phone=None, updated_at=now),
            )
            counts["conversations"] = affected_rows(
                self._session,
                update(conversations).where(conversations.c.id.in_(ids)).values(email=None, erased_at=now),
            )
        for address in sorted(addresses):
            counts["outbox_calls"] += affected_rows(
                self._session,
                delete(outbox).where(func.lower(outbox.c.payload).contains(address, autoescape=True)),
            )
        return counts
