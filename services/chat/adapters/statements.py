"""The statements of a visitor's message, built once at import and run with their values as parameters:
building a statement and its cache key per call was a tenth of chat's CPU per message (py-spy, issue 19).
Inserts and updates that need what they wrote answer it with RETURNING, so no statement is followed by
a SELECT of the row it just wrote."""

from __future__ import annotations

from sqlalchemy import String, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.chat.adapters.tables import conversations, leads, messages, outbox
from services.runtime.db import UtcDateTime

BY_SESSION = select(conversations).where(conversations.c.session_id == bindparam("session_id"))
# INSERT … ON CONFLICT (session_id) DO NOTHING RETURNING the row: no row when the session id is taken.
CREATE = {
    name: dialect.insert(conversations)
    .on_conflict_do_nothing(index_elements=["session_id"])
    .returning(*conversations.c)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
# The visitor's message: the row locked (as SELECT … FOR UPDATE would) and stamped in one statement.
TOUCH = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"))
    .values(
        email=func.coalesce(bindparam("found_email", type_=String), conversations.c.email),
        last_user_message_at=bindparam("now", type_=UtcDateTime),
    )
    .returning(*conversations.c)
)
# A visitor's message and its reply: one INSERT … VALUES (…), (…) RETURNING on every backend. Text,
# because SQLAlchemy does not cache the compiled form of a multi-row insert() (it compiled it per call).
ADD_EXCHANGE = (
    text(
        "INSERT INTO messages (conversation_id, role, text, followup_number, created_at) VALUES"
        " (:conversation_id, :question_role, :question_text, :question_followup_number,"
        " :question_created_at),"
        " (:conversation_id, :answer_role, :answer_text, :answer_followup_number, :answer_created_at)"
        " RETURNING id, role"
    )
    .bindparams(
        bindparam("question_created_at", type_=UtcDateTime),
        bindparam("answer_created_at", type_=UtcDateTime),
    )
    .columns(messages.c.id, messages.c.role)
)
LEAD_OF = select(leads).where(leads.c.conversation_id == bindparam("conversation_id"))
INSERT_LEAD = leads.insert().returning(leads.c.id)
UPDATE_LEAD = update(leads).where(leads.c.id == bindparam("lead_id"))
ADD_TO_OUTBOX = {
    name: dialect.insert(outbox).on_conflict_do_nothing(index_elements=["idempotency_key"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def dialect_of(session: Session) -> str:
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
