"""What the notifier holds about a person: notifications whose payload or last error names the address
(case-insensitive), e.g. a Slack "hot lead" text or an email's recipient. Found by reading every entry:
an admin request, not a hot path (delivered entries expire after DLQ_CLEANUP_DAYS anyway)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from services.notifier.adapters.tables import notifications as t
from services.notifier.domain.model import Channel, Status

ERASED_TEXT = "[erased]"
_REDACTED = {
    Channel.SLACK: {"text": ERASED_TEXT},
    Channel.MONDAY: {"item_name": ERASED_TEXT, "column_values": {}},
    Channel.EMAIL: {"to": "", "subject": ERASED_TEXT, "body": ERASED_TEXT},
}


def _naming(address: str) -> ColumnElement[bool]:
    return or_(
        func.lower(t.c.payload).contains(address, autoescape=True),
        func.lower(t.c.last_error_text).contains(address, autoescape=True),
    )


class SqlNotifierPrivacy:
    def __init__(self, session: Session) -> None:
        self._session = session

    def export(self, address: str) -> list[dict]:
        rows = self._session.execute(select(t).where(_naming(address)).order_by(t.c.id))
        return [
            {
                "id": str(row.id),
                "channel": row.channel,
                "status": row.status,
                "payload": json.loads(row.payload),
                "attempts": row.attempts,
                "last_error": row.last_error_text,
                "created_at": row.created_at.isoformat(),
                "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            }
            for row in rows
        ]

    def erase(self, address: str, now: dt.datetime) -> int:
        """Replaces the payloads naming the address; a pending one will never be sent (it is failed,
        marked escalated so no escalation email repeats it). The idempotency key stays, so a repeated
        Notify is still recognised as a duplicate instead of sending the message again."""
        rows = self._session.execute(select(t.c.id, t.c.channel, t.c.status).where(_naming(address))).all()
        for row in rows:
            values: dict = {
                "payload": json.dumps(_REDACTED[Channel(row.channel)]),
                "last_error_text": None,
                "claim_token": None,
                "leased_until": None,
                "updated_at": now,
            }
            if row.status == Status.PENDING.value:
                values |= {
                    "status": Status.FAILED.value,
                    "next_attempt_at": None,
                    "finished_at": now,
                    "escalated_at": now,
                    "last_error_class": "erased",
                }
            self._session.execute(update(t).where(t.c.id == row.id).values(**values))
        return len(rows)
