"""Chat's ports in memory: conversations, leads, follow-up events and the outbox behind one unit of
work, a consent service that answers from a dict, and an upstream that records what it is handed.

The store keeps the SQL repository's rules (a session's conversation exists once, follow-up k of a
conversation once, an outbox key once, claims with a token and a lease), and the unit of work works on
a copy: only `commit` makes changes visible, so a forgotten commit loses them here as well.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from services.chat.adapters.session_cache import MemorySessionCache
from services.chat.application.conversations import (
    Answer,
    ConversationService,
    ConversationView,
    VisitorMessage,
)
from services.chat.application.followups import FollowupService
from services.chat.application.outbox_calls import OutboxCall
from services.chat.application.ports import ConsentAnswer, DueFollowup, OutboxItem
from services.chat.application.relay import HandOverFailed, OutboxRelay
from services.chat.domain.lead import Lead
from services.chat.domain.model import ChatMessage, Conversation
from services.chat.domain.responder import RuleResponder
from services.runtime.errors import Unavailable
from services.runtime.identity import CallerIdentity
from services.runtime.leases import Claim
from tests.support.clock import FakeClock

DELAYS = (60.0, 3600.0)
THRESHOLD = 70


@dataclasses.dataclass
class OutboxRow:
    item: OutboxItem
    next_attempt_at: dt.datetime
    leased_until: dt.datetime | None = None
    last_error: str | None = None


@dataclasses.dataclass
class Tables:
    conversations: dict[int, Conversation] = dataclasses.field(default_factory=dict)
    messages: dict[int, tuple[int, ChatMessage]] = dataclasses.field(default_factory=dict)
    leads: dict[int, Lead] = dataclasses.field(default_factory=dict)  # by conversation id
    followups: dict[tuple[int, int], str] = dataclasses.field(default_factory=dict)
    outbox: dict[int, OutboxRow] = dataclasses.field(default_factory=dict)


class MemoryConversations:
    def __init__(self, tables: Tables, ids: Callable[[], int]) -> None:
        self._t = tables
        self._ids = ids

    def by_session(self, session_id: str) -> Conversation | None:
        found = next((c for c in self._t.conversations.values() if c.session_id == session_id), None)
        return copy.copy(found)

    def get(self, conversation_id: int) -> Conversation | None:
        return copy.copy(self._t.conversations.get(conversation_id))

    def create(
        self, session_id: str, token_hash: str, now: dt.datetime, email: str | None = None
    ) -> Conversation | None:
        if self.by_session(session_id) is not None:
            return None
        conversation = Conversation(self._ids(), session_id, email, now, now, token_hash)
        self._t.conversations[conversation.id] = conversation
        return copy.copy(conversation)

    def touch(self, conversation_id: int, found_email: str | None, now: dt.datetime) -> Conversation | None:
        stored = self._t.conversations.get(conversation_id)
        if stored is None:
            return None
        stored.email = found_email if found_email is not None else stored.email
        stored.last_user_message_at = now
        return copy.copy(stored)

    def add_message(self, conversation_id: int, message: ChatMessage) -> int:
        message_id = self._ids()
        self._t.messages[message_id] = (conversation_id, message)
        return message_id

    def add_exchange(self, conversation_id: int, question: ChatMessage, answer: ChatMessage) -> int:
        question_id = self.add_message(conversation_id, question)
        self.add_message(conversation_id, answer)
        return question_id

    def add_messages(self, added) -> None:
        for conversation_id, message in added:
            self.add_message(conversation_id, message)

    def messages(self, conversation_id: int, *, last: int | None = None) -> list[ChatMessage]:
        found = [m for _, (c, m) in sorted(self._t.messages.items()) if c == conversation_id]
        return found[-last:] if last is not None else found


class MemoryLeads:
    def __init__(self, tables: Tables, ids: Callable[[], int]) -> None:
        self._t = tables
        self._ids = ids

    def for_conversation(self, conversation_id: int) -> Lead | None:
        return copy.deepcopy(self._t.leads.get(conversation_id))

    def save(self, lead: Lead, now: dt.datetime) -> int:
        stored = copy.deepcopy(lead)
        if stored.id is None:
            stored.id = self._ids()
        self._t.leads[lead.conversation_id] = stored
        return stored.id


class MemoryFollowups:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def exists(self, conversation_id: int, number: int) -> bool:
        return (conversation_id, number) in self._t.followups

    def record(self, conversation_id: int, number: int, status: str, now: dt.datetime) -> bool:
        if (conversation_id, number) in self._t.followups:
            return False
        self._t.followups[(conversation_id, number)] = str(status)
        return True

    def _due(self, number: int, cutoff: dt.datetime, after_id: int, before_id=None) -> list[Conversation]:
        return [
            c
            for i, c in sorted(self._t.conversations.items())
            if c.email is not None
            and c.last_user_message_at <= cutoff
            and after_id < i < (before_id if before_id is not None else i + 1)
            and (i, number) not in self._t.followups
        ]

    def due(self, number, cutoff, after_id, limit, *, before_id=None, descending=False) -> list[DueFollowup]:
        found = self._due(number, cutoff, after_id, before_id)
        found = (found[::-1] if descending else found)[:limit]
        return [DueFollowup(c.id, c.session_id, number, c.last_user_message_at, c.email) for c in found]

    def count_due(self, number: int, cutoff: dt.datetime, after_id: int, before_id=None) -> int:
        return len(self._due(number, cutoff, after_id, before_id))

    def record_due(self, number, cutoff, outcomes, now) -> set[int]:
        inserted = set()
        for conversation_id, (email, status) in sorted(outcomes.items()):
            conversation = self._t.conversations.get(conversation_id)
            still_due = (
                conversation is not None
                and conversation.email == email
                and conversation.last_user_message_at <= cutoff
            )
            if still_due and self.record(conversation_id, number, status, now):
                inserted.add(conversation_id)
        return inserted


class MemoryOutbox:
    def __init__(self, tables: Tables, ids: Callable[[], int]) -> None:
        self._t = tables
        self._ids = ids

    def add(self, call: OutboxCall, identity: CallerIdentity, now: dt.datetime) -> None:
        if any(row.item.key == call.key for row in self._t.outbox.values()):
            return
        item_id = self._ids()
        item = OutboxItem(item_id, call.kind, call.key, call.payload(), identity, attempts=0)
        self._t.outbox[item_id] = OutboxRow(item, next_attempt_at=now)

    def claim_due(self, claim: Claim, limit: int) -> list[OutboxItem]:
        due = [
            row
            for row in self._t.outbox.values()
            if row.next_attempt_at <= claim.now and (row.leased_until is None or row.leased_until < claim.now)
        ]
        due.sort(key=lambda row: (row.next_attempt_at, row.item.id))
        for row in due[:limit]:
            row.item = dataclasses.replace(row.item, claim_token=claim.token)
            row.leased_until = claim.lease_until
        return sorted((row.item for row in due[:limit]), key=lambda item: item.id)

    def _held(self, item: OutboxItem) -> OutboxRow | None:
        row = self._t.outbox.get(item.id)
        if row is None or item.claim_token is None or row.item.claim_token != item.claim_token:
            return None
        return row

    def renew(self, item: OutboxItem, claim: Claim) -> bool:
        row = self._held(item)
        if row is not None:
            row.leased_until = claim.lease_until
        return row is not None

    def done(self, item: OutboxItem) -> None:
        if self._held(item) is not None:
            del self._t.outbox[item.id]

    def release(self, item: OutboxItem) -> None:
        row = self._held(item)
        if row is not None:
            row.item, row.leased_until = dataclasses.replace(row.item, claim_token=None), None

    def retry_later(self, item: OutboxItem, at: dt.datetime, error: str) -> None:
        row = self._held(item)
        if row is not None:
            row.item = dataclasses.replace(row.item, attempts=item.attempts + 1, claim_token=None)
            row.next_attempt_at, row.last_error, row.leased_until = at, error[:1000], None

    def pending(self) -> int:
        return len(self._t.outbox)

    def waiting_for_conversation(self, kind: str, key_prefix: str, conversation_id: int) -> bool:
        keys = {f"{key_prefix}{i}" for i, (c, _) in self._t.messages.items() if c == conversation_id}
        return any(row.item.kind == kind and row.item.key in keys for row in self._t.outbox.values())

    def waiting_for_conversations(self, kind: str, key_prefix: str, conversation_ids) -> set[int]:
        return {i for i in conversation_ids if self.waiting_for_conversation(kind, key_prefix, i)}


class MemoryUnitOfWork:
    """One store shared by every unit of work; each `with` works on a copy until `commit`.

    `unavailable` > 0 makes that many next commits fail as a database outage would."""

    def __init__(self) -> None:
        self.stored = Tables()
        self.commits = 0
        self.unavailable = 0
        counter = itertools.count(1)
        self._ids = lambda: next(counter)
        self._bind(Tables())

    def _bind(self, tables: Tables) -> None:
        self.tables = tables
        self.conversations = MemoryConversations(tables, self._ids)
        self.leads = MemoryLeads(tables, self._ids)
        self.followups = MemoryFollowups(tables)
        self.outbox = MemoryOutbox(tables, self._ids)

    def __call__(self) -> MemoryUnitOfWork:
        return self

    def __enter__(self) -> MemoryUnitOfWork:
        self._bind(copy.deepcopy(self.stored))
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def commit(self) -> None:
        if self.unavailable > 0:
            self.unavailable -= 1
            raise OperationalError("COMMIT", {}, Exception("the database is away (a test's outage)"))
        self.stored = self.tables
        self.commits += 1

    def messages(self, conversation_id: int) -> list[ChatMessage]:
        return [m for _, (c, m) in sorted(self.stored.messages.items()) if c == conversation_id]

    def outbox_items(self) -> list[OutboxItem]:
        return [row.item for _, row in sorted(self.stored.outbox.items())]


class FakeConsent:
    """ConsentChecker: (email, purpose) -> allowed from `granted`; `down` makes it Unavailable."""

    def __init__(self) -> None:
        self.granted: set[tuple[str, str]] = set()
        self.down = False
        self.asked: list[tuple[str, str]] = []
        self.batches: list[list[str]] = []  # the addresses of each CheckConsentBatch call
        self.during: Callable[[], None] | None = None

    def allows(self, email: str, purpose: str, identity: CallerIdentity) -> bool:
        self.asked.append((email, purpose))
        if self.down:
            raise Unavailable("the consent service did not answer: UNAVAILABLE (a test's outage)")
        return (email, purpose) in self.granted

    def marketing_token(self, email: str, identity: CallerIdentity) -> str | None:
        """A token standing in for the signed unsubscribe link's, only with marketing consent."""
        if self.allows(email, "marketing", identity):
            return f"token-of-{email}"
        return None

    def check_batch(self, emails, identity: CallerIdentity) -> list[ConsentAnswer]:
        self.batches.append(list(emails))
        if self.during is not None:  # what happens while the pass waits for the answer
            self.during()
        if self.down:
            raise Unavailable("the consent service did not answer: UNAVAILABLE (a test's outage)")
        return [
            ConsentAnswer(
                (e, "processing") in self.granted,
                f"token-of-{e}" if (e, "marketing") in self.granted else None,
            )
            for e in emails
        ]


class RecordingUpstream:
    """The relay's upstream: records each item handed over; `failing` makes it refuse them."""

    def __init__(self) -> None:
        self.handed: list[OutboxItem] = []
        self.failing = False
        self.during: Callable[[], None] | None = None

    def hand_over(self, item: OutboxItem) -> None:
        if self.during is not None:
            self.during()
        if self.failing:
            raise HandOverFailed("UNAVAILABLE: the notifier is down (a test's outage)")
        self.handed.append(item)


class Chat:
    """The chat use cases wired to memory, with the real rule responder and memory session cache."""

    def __init__(self) -> None:
        self.uow = MemoryUnitOfWork()
        self.clock = FakeClock()
        self.consent = FakeConsent()
        self.upstream = RecordingUpstream()
        self.cache = MemorySessionCache(ttl_seconds=3600, max_entries=100)
        self.woken = 0
        self.rules = RuleResponder.from_file()
        self.public_base_url = "https://novahouse.example"
        self.conversations = self.replica(self.cache)
        self.tokens: dict[str, str] = {}  # session id -> token, as the widget keeps them
        self.followups = FollowupService(
            self.uow,
            self.consent,
            delays=DELAYS,
            texts=self.rules.followup,
            on_outbox_work=self._wake,
            public_base_url=self.public_base_url,
            clock=self.clock,
        )
        self.relay = OutboxRelay(
            self.uow,
            self.upstream,
            interval_seconds=3600,
            lease_seconds=60,
            backoff_base=10,
            backoff_max=100,
            storage_unavailable=(OperationalError,),
            clock=self.clock,
        )

    def send(self, message: VisitorMessage, caller: CallerIdentity) -> Answer:
        """As the widget sends a message: with the session's token once an answer has issued one."""
        token = self.tokens.get(message.session_id, "")
        answer = self.conversations.send_message(dataclasses.replace(message, session_token=token), caller)
        if answer.session_token:
            self.tokens[answer.session_id] = answer.session_token
        return answer

    def read(self, session_id: str) -> ConversationView:
        """As the widget reads its conversation: with the session's token."""
        return self.conversations.conversation(session_id, self.tokens.get(session_id, ""), admin=False)

    def replica(self, cache: MemorySessionCache | None = None) -> ConversationService:
        """The conversation use cases on this store: another replica (an empty cache) unless given one."""
        return ConversationService(
            self.uow,
            self.rules,
            cache or MemorySessionCache(ttl_seconds=3600, max_entries=100),
            alert_threshold=THRESHOLD,
            consent_text_version="widget-1",
            on_outbox_work=self._wake,
            clock=self.clock,
        )

    def _wake(self) -> None:
        self.woken += 1
