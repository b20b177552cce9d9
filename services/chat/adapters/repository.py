"""SQL storage of conversations, leads, follow-up events and the outbox; the chat unit of work."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import Row, String, cast, delete, func, literal, select, update
from sqlalchemy.orm import Session

from services.chat.adapters.followups import SqlFollowupRepository
from services.chat.adapters.privacy import SqlChatPrivacy
from services.chat.adapters.tables import conversations, leads, messages, outbox
from services.chat.application.outbox_calls import OutboxCall
from services.chat.application.ports import OutboxItem
from services.chat.domain.lead import Lead
from services.chat.domain.leads import LeadSignals
from services.chat.domain.model import ChatMessage, Conversation, Role
from services.runtime import tracing
from services.runtime.claims import claim_rows, renew_claim, unleased
from services.runtime.identity import CallerIdentity
from services.runtime.leases import Claim
from services.runtime.unit_of_work import SqlUnitOfWork, insert_ignoring_conflict


class SqlConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def by_session(self, session_id: str) -> Conversation | None:
        row = self._session.execute(
            select(conversations).where(conversations.c.session_id == session_id)
        ).one_or_none()
        return _conversation(row) if row else None

    def get(self, conversation_id: int) -> Conversation | None:
        row = self._session.execute(
            select(conversations).where(conversations.c.id == conversation_id)
        ).one_or_none()
        return _conversation(row) if row else None

    def create(self, session_id: str, token_hash: str, now: dt.datetime) -> Conversation | None:
        values = {
            "session_id": session_id,
            "token_hash": token_hash,
            "created_at": now,
            "last_user_message_at": now,
        }
        if not insert_ignoring_conflict(self._session, conversations, values, "session_id"):
            return None
        return self.by_session(session_id)

    def lock(self, conversation_id: int) -> Conversation:
        locking = select(conversations).where(conversations.c.id == conversation_id).with_for_update()
        return _conversation(self._session.execute(locking).one())

    def save(self, conversation: Conversation) -> None:
        self._session.execute(
            update(conversations)
            .where(conversations.c.id == conversation.id)
            .values(email=conversation.email, last_user_message_at=conversation.last_user_message_at)
        )

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
        row = self._session.execute(
            select(leads).where(leads.c.conversation_id == conversation_id)
        ).one_or_none()
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
            self._session.execute(update(leads).where(leads.c.id == lead.id).values(**values))
            return lead.id
        # The conversation row is locked by this transaction, so no other writer creates its lead.
        return self._session.execute(
            leads.insert()
            .values(conversation_id=lead.conversation_id, created_at=now, **values)
            .returning(leads.c.id)
        ).scalar_one()


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, call: OutboxCall, identity: CallerIdentity, now: dt.datetime) -> None:
        insert_ignoring_conflict(
            self._session,
            outbox,
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
            "idempotency_key",
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
