"""SQL storage of conversations, leads, follow-up events and the outbox; the chat unit of work. The
statements of a visitor's message are prebuilt in `statements`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import Row, String, cast, delete, func, literal, select, update
from sqlalchemy.orm import Session

from services.chat.adapters import statements as sql
from services.chat.adapters.followups import SqlFollowupRepository
from services.chat.adapters.privacy import SqlChatPrivacy
from services.chat.adapters.tables import conversations, messages, outbox
from services.chat.application.outbox_calls import OutboxCall
from services.chat.application.ports import OutboxItem
from services.chat.domain.lead import Lead
from services.chat.domain.leads import LeadSignals
from services.chat.domain.model import ChatMessage, Conversation, Role
from services.runtime import tracing
from services.runtime.claims import claim_rows, renew_claim, unleased
from services.runtime.identity import CallerIdentity
from services.runtime.leases import Claim
from services.runtime.unit_of_work import SqlUnitOfWork


class SqlConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def by_session(self, session_id: str) -> Conversation | None:
        row = self._session.execute(sql.BY_SESSION, {"session_id": session_id}).one_or_none()
        return _conversation(row) if row else None

    def get(self, conversation_id: int) -> Conversation | None:
        row = self._session.execute(
            select(conversations).where(conversations.c.id == conversation_id)
        ).one_or_none()
        return _conversation(row) if row else None

    def create(
        self, session_id: str, token_hash: str, now: dt.datetime, email: str | None = None
    ) -> Conversation | None:
        values = {
            "session_id": session_id,
            "email": email,
            "token_hash": token_hash,
            "created_at": now,
            "last_user_message_at": now,
        }
        row = self._session.execute(sql.CREATE[sql.dialect_of(self._session)], values).one_or_none()
        return _conversation(row) if row else None

    def touch(self, conversation_id: int, found_email: str | None, now: dt.datetime) -> Conversation | None:
        row = self._session.execute(
            sql.TOUCH, {"conversation_id": conversation_id, "found_email": found_email, "now": now}
        ).one_or_none()
        return _conversation(row) if row else None

    def add_message(self, conversation_id: int, message: ChatMessage) -> int:
        return self._session.execute(
            messages.insert()
            .values(
                conversation_id=conversation_id,
                role=message.role.value,
                text=message.text,
                followup_number=message.followup_number,
                created_at=message.created_at,
            )
            .returning(messages.c.id)
        ).scalar_one()

    def add_exchange(self, conversation_id: int, question: ChatMessage, answer: ChatMessage) -> int:
        values: dict[str, object] = {"conversation_id": conversation_id}
        for prefix, message in (("question", question), ("answer", answer)):
            values |= {
                f"{prefix}_role": message.role.value,
                f"{prefix}_text": message.text,
                f"{prefix}_followup_number": message.followup_number,
                f"{prefix}_created_at": message.created_at,
            }
        rows = self._session.execute(sql.ADD_EXCHANGE, values).all()
        return next(row.id for row in rows if row.role == question.role.value)

    def add_messages(self, added: Sequence[tuple[int, ChatMessage]]) -> None:
        if not added:
            return
        rows = [
            {
                "conversation_id": conversation_id,
                "role": message.role.value,
                "text": message.text,
                "followup_number": message.followup_number,
                "created_at": message.created_at,
            }
            for conversation_id, message in added
        ]
        self._session.execute(messages.insert(), rows)

    def messages(self, conversation_id: int, *, last: int | None = None) -> list[ChatMessage]:
        statement = (
            select(messages)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id.desc())
        )
        if last is not None:
            statement = statement.limit(last)
        rows = self._session.execute(statement).all()
        return [
            ChatMessage(Role(row.role), row.text, row.created_at, row.followup_number)
            for row in reversed(rows)
        ]


class SqlLeadRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def for_conversation(self, conversation_id: int) -> Lead | None:
        row = self._session.execute(sql.LEAD_OF, {"conversation_id": conversation_id}).one_or_none()
        if row is None:
            return None
        signals = LeadSignals(row.email, row.phone, row.budget, row.area, row.timeline)
        return Lead(row.conversation_id, signals, id=row.id, alerted_at=row.alerted_at)

    def save(self, lead: Lead, now: dt.datetime) -> int:
        values = {
            "email": lead.signals.email,
            "phone": lead.signals.phone,
            "budget": lead.signals.budget,
            "area": lead.signals.area,
            "timeline": lead.signals.timeline,
            "score": lead.score,
            "alerted_at": lead.alerted_at,
            "updated_at": now,
        }
        if lead.id is not None:
            self._session.execute(sql.UPDATE_LEAD, {**values, "lead_id": lead.id})
            return lead.id
        # The conversation row is locked by this transaction, so no other writer creates its lead.
        return self._session.execute(
            sql.INSERT_LEAD, {**values, "conversation_id": lead.conversation_id, "created_at": now}
        ).scalar_one()


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, call: OutboxCall, identity: CallerIdentity, now: dt.datetime) -> None:
        self._session.execute(
            sql.ADD_TO_OUTBOX[sql.dialect_of(self._session)],
            {
                "kind": call.kind,
                "idempotency_key": call.key,
                "payload": json.dumps(call.payload(), ensure_ascii=False),
                "client_ip": identity.ip_address[:64],
                "user_agent": identity.user_agent[:512],
                "request_id": identity.request_id[:128],
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                # The trace of the request that queued the call: the relay's hand-over continues it.
                "trace_context": tracing.current_context_text(),
            },
        )

    def claim_due(self, claim: Claim, limit: int) -> list[OutboxItem]:
        candidates = (
            select(outbox.c.id)
            .where(outbox.c.next_attempt_at <= claim.now, unleased(outbox, claim.now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        rows = claim_rows(self._session, outbox, candidates, claim)
        return sorted((_outbox_item(row) for row in rows), key=lambda item: item.id)

    def renew(self, item: OutboxItem, claim: Claim) -> bool:
        return renew_claim(self._session, outbox, item.id, item.claim_token, claim)

    def done(self, item: OutboxItem) -> None:
        self._session.execute(
            delete(outbox).where(outbox.c.id == item.id, outbox.c.claim_token == item.claim_token)
        )

    def release(self, item: OutboxItem) -> None:
        self._session.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.claim_token == item.claim_token)
            .values(claim_token=None, leased_until=None)
        )

    def retry_later(self, item: OutboxItem, at: dt.datetime, error: str) -> None:
        self._session.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.claim_token == item.claim_token)
            .values(
                attempts=item.attempts + 1,
                next_attempt_at=at,
                last_error=error[:1000],
                claim_token=None,
                leased_until=None,
            )
        )

    def pending(self) -> int:
        return self._session.execute(select(func.count()).select_from(outbox)).scalar_one()

    def waiting_for_conversation(self, kind: str, key_prefix: str, conversation_id: int) -> bool:
        keys = select(literal(key_prefix, String) + cast(messages.c.id, String)).where(
            messages.c.conversation_id == conversation_id
        )
        waiting = select(outbox.c.id).where(outbox.c.kind == kind, outbox.c.idempotency_key.in_(keys))
        return self._session.execute(waiting).first() is not None

    def waiting_for_conversations(
        self, kind: str, key_prefix: str, conversation_ids: Sequence[int]
    ) -> set[int]:
        if not conversation_ids:
            return set()
        queued = select(outbox.c.idempotency_key).where(outbox.c.kind == kind)
        waiting = (
            select(messages.c.conversation_id)
            .distinct()
            .where(
                messages.c.conversation_id.in_(list(conversation_ids)),
                (literal(key_prefix, String) + cast(messages.c.id, String)).in_(queued),
            )
        )
        return set(self._session.execute(waiting).scalars())


def _conversation(row: Row) -> Conversation:
    return Conversation(
        row.id, row.session_id, row.email, row.created_at, row.last_user_message_at, row.token_hash
    )


def _outbox_item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        kind=row.kind,
        key=row.idempotency_key,
        payload=json.loads(row.payload),
        identity=CallerIdentity(row.client_ip, row.user_agent, row.request_id),
        attempts=row.attempts,
        claim_token=row.claim_token,
        trace_context=row.trace_context,
    )


class ChatUnitOfWork(SqlUnitOfWork):
    conversations: SqlConversationRepository
    leads: SqlLeadRepository
    followups: SqlFollowupRepository
    outbox: SqlOutbox
    privacy: SqlChatPrivacy

    def bind_repositories(self, session: Session) -> None:
        self.privacy = SqlChatPrivacy(session)
        self.conversations = SqlConversationRepository(session)
        self.leads = SqlLeadRepository(session)
        self.followups = SqlFollowupRepository(session)
        self.outbox = SqlOutbox(session)
