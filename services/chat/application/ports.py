"""What the chat use cases need from the outside: storage, the session cache, the consent service,
the services the outbox relay hands work to, and a responder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from services.chat.application.outbox_calls import OutboxCall
from services.chat.domain.lead import Lead
from services.chat.domain.model import ChatMessage, Conversation
from services.chat.domain.responder import Reply
from services.runtime.identity import CallerIdentity
from services.runtime.leases import Claim


class ConversationRepository(Protocol):
    def by_session(self, session_id: str) -> Conversation | None: ...

    def get(self, conversation_id: int) -> Conversation | None: ...

    def create(
        self, session_id: str, token_hash: str, now: dt.datetime, email: str | None = None
    ) -> Conversation | None:
        """A new conversation for the session; None when the session id is taken already."""
        ...

    def touch(self, conversation_id: int, found_email: str | None, now: dt.datetime) -> Conversation | None:
        """A visitor's message in the conversation: locks it until the transaction ends, sets its last
        user message time to `now` and its email to `found_email` unless that is None; answers the
        conversation as it now is, or None if it does not exist."""
        ...

    def add_message(self, conversation_id: int, message: ChatMessage) -> int: ...

    def add_exchange(self, conversation_id: int, question: ChatMessage, answer: ChatMessage) -> int:
        """Adds a visitor's message and the reply to it, in that order, in one round trip; answers the
        id of the visitor's message (the consent it gave is keyed by it)."""
        ...

    def add_messages(self, added: Sequence[tuple[int, ChatMessage]]) -> None:
        """Adds (conversation id, message) pairs in one statement."""
        ...

    def messages(self, conversation_id: int, *, last: int | None = None) -> list[ChatMessage]: ...


class LeadRepository(Protocol):
    def for_conversation(self, conversation_id: int) -> Lead | None: ...

    def save(self, lead: Lead, now: dt.datetime) -> int: ...


@dataclass(frozen=True)
class DueFollowup:
    conversation_id: int
    session_id: str
    number: int
    last_user_message_at: dt.datetime
    email: str | None = None  # the address consent is asked for (the pass's batch check)


class FollowupRepository(Protocol):
    def exists(self, conversation_id: int, number: int) -> bool: ...

    def record(self, conversation_id: int, number: int, status: str, now: dt.datetime) -> bool:
        """Inserts the follow-up's event; False if one exists (UNIQUE(conversation_id, number))."""
        ...

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
        """Conversations with an email, idle since `cutoff`, without follow-up `number`, with an id
        above `after_id` (and below `before_id`), by id (highest first when `descending`)."""
        ...

    def count_due(
        self, number: int, cutoff: dt.datetime, after_id: int, before_id: int | None = None
    ) -> int: ...

    def record_due(
        self, number: int, cutoff: dt.datetime, outcomes: Mapping[int, tuple[str, str]], now: dt.datetime
    ) -> set[int]:
        """Inserts follow-up `number`'s event with the status given per conversation id, as
        {id: (email, status)}, for each conversation that still has that email and is still due
        (idle since `cutoff`) and has no such event yet; answers the ids it inserted, in one
        statement (in id order, so concurrent passes wait for each other instead of deadlocking)."""
        ...


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str  # which call: see services/chat/adapters/upstream.py
    key: str
    payload: dict
    identity: CallerIdentity
    attempts: int
    claim_token: str | None = None
    trace_context: str | None = None  # W3C traceparent/tracestate as JSON (services/runtime/tracing.py)


class Outbox(Protocol):
    def add(self, call: OutboxCall, identity: CallerIdentity, now: dt.datetime) -> None:
        """Queues a call for the relay; a call whose key is already queued is not queued again."""
        ...

    def claim_due(self, claim: Claim, limit: int) -> list[OutboxItem]: ...

    def renew(self, item: OutboxItem, claim: Claim) -> bool: ...

    def done(self, item: OutboxItem) -> None: ...

    def release(self, item: OutboxItem) -> None:
        """Ends the caller's claim without an attempt, so any worker may take the item at once."""
        ...

    def retry_later(self, item: OutboxItem, at: dt.datetime, error: str) -> None: ...

    def pending(self) -> int: ...

    def waiting_for_conversation(self, kind: str, key_prefix: str, conversation_id: int) -> bool:
        """Whether a `kind` call keyed `<key_prefix><message id>` for one of the conversation's
        messages is still queued."""
        ...

    def waiting_for_conversations(
        self, kind: str, key_prefix: str, conversation_ids: Sequence[int]
    ) -> set[int]:
        """waiting_for_conversation for many conversations in one query: the ids it holds for."""
        ...


class PrivacyRepository(Protocol):
    """What chat holds about a person (docs/privacy.md); conversations as (id, session id), locked."""

    def conversations_of(self, email: str) -> list[tuple[int, str]]: ...

    def inactive(self, cutoff: dt.datetime, limit: int) -> list[tuple[int, str]]: ...

    def contact_addresses(self, ids: Sequence[int]) -> set[str]: ...

    def export(self, ids: Sequence[int]) -> list[dict]: ...

    def erase(self, ids: Sequence[int], addresses: set[str], now: dt.datetime) -> dict[str, int]: ...


class UnitOfWork(Protocol):
    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def leads(self) -> LeadRepository: ...

    @property
    def followups(self) -> FollowupRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def privacy(self) -> PrivacyRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...


@dataclass
class SessionContext:
    """What the cache keeps per session, so a message needs no database read before it is answered."""

    conversation_id: int
    has_contact: bool = False
    recent: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first
    # budget, area, timeline mentioned so far, while no lead is stored: without them every message
    # re-read the whole history (quadratic in a long conversation); None: unknown, read it once.
    flags: tuple[bool, bool, bool] | None = None
    # The conversation's stored credential hash, so a message is authorised without a database read.
    token_hash: str | None = None


class SessionCache(Protocol):
    def get(self, session_id: str) -> SessionContext | None: ...

    def set(self, session_id: str, context: SessionContext) -> None: ...

    def delete(self, session_id: str) -> None:
        """Forgets the session everywhere it may be cached; raises Unavailable if that cannot be done."""
        ...


@dataclass(frozen=True)
class ConsentAnswer:
    """What one address is allowed: processing its data (a follow-up at all) and, with marketing
    consent, an email, whose one-click unsubscribe link carries `marketing_token`."""

    processing: bool
    marketing_token: str | None = None


class ConsentChecker(Protocol):
    def allows(self, email: str, purpose: str, identity: CallerIdentity) -> bool:
        """purpose is "marketing" or "processing"; raises Unavailable if the service cannot answer."""
        ...

    def marketing_token(self, email: str, identity: CallerIdentity) -> str | None:
        """With marketing consent, the signed token of the person's one-click unsubscribe link;
        None without it. Raises Unavailable if the service cannot answer."""
        ...

    def check_batch(self, emails: Sequence[str], identity: CallerIdentity) -> list[ConsentAnswer]:
        """One answer per address, in order, from as few calls as the batch allows (CheckConsentBatch);
        raises Unavailable if the service cannot answer."""
        ...


class Responder(Protocol):
    def answer(
        self, message: str, history: Sequence[tuple[str, str]], *, new_contact_details: bool
    ) -> Reply: ...
