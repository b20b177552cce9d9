"""A visitor's message: answered, stored, mined for a lead, and turned into outbox work.

The reply is computed before the transaction (an LLM backend may take seconds; no transaction waits
for it). The transaction then stores the visitor's message and the reply, updates the lead, and queues
in the outbox whatever other services must hear of: the consent the visitor gave, and a hot lead's
announcement. The outbox relay hands those over after the commit, so a crash loses none of them and
neither the consent service nor the notifier can fail the visitor's message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from services.chat.application.outbox_calls import MondayItem, NotifyCall, RecordConsentCall, SlackText
from services.chat.application.ports import Responder, SessionCache, SessionContext, UnitOfWork
from services.chat.domain.credentials import new_session_id, new_token, token_hash, token_matches
from services.chat.domain.lead import Lead
from services.chat.domain.leads import LeadSignals, extract_signals
from services.chat.domain.model import (
    ChatMessage,
    Conversation,
    Role,
    message_text,
    session_id,
)
from services.runtime.clock import utcnow
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.identity import CallerIdentity

CONTEXT_MESSAGES = 10


@dataclass(frozen=True)
class VisitorMessage:
    session_id: str
    text: str
    email: str = ""
    marketing_consent: bool | None = None
    rodo_consent: bool | None = None
    consent_text_version: str = ""
    # The credential of an existing conversation; empty opens a new one.
    session_token: str = ""
    language: str = ""


@dataclass(frozen=True)
class Answer:
    conversation_id: int
    session_id: str
    reply: str
    lead_id: int | None
    lead_score: int
    # The new conversation's credential; empty when the message went into an existing conversation.
    session_token: str = ""


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    messages: list[ChatMessage]


class ConversationService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        responder: Responder,
        cache: SessionCache,
        *,
        alert_threshold: int,
        consent_text_version: str,
        on_outbox_work: Callable[[], None],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._responder = responder
        self._cache = cache
        self._threshold = alert_threshold
        self._consent_text_version = consent_text_version
        self._on_outbox_work = on_outbox_work
        self._clock = clock

    def send_message(self, visitor: VisitorMessage, caller: CallerIdentity) -> Answer:
        """Appends to the conversation the credential proves to be the caller's; without a credential
        opens a new conversation under the requested session id, or under a fresh one when that id is
        taken (so someone else's session id reads and changes nothing)."""
        text = message_text(visitor.text)
        email = normalise_email(visitor.email) if visitor.email.strip() else None
        gave_consent = visitor.marketing_consent is not None or visitor.rodo_consent is not None
        found = extract_signals(text, email)

        issued = ""
        context: SessionContext | None = None
        if visitor.session_token:
            session = session_id(visitor.session_id)
            context = self._owned_context(session, visitor.session_token)
        else:
            session = session_id(visitor.session_id) if visitor.session_id else new_session_id()
            issued = new_token()
            if gave_consent and found.email is None:  # a new conversation has no email stored yet
                raise _consent_without_email()
        reply = self._responder.answer(
            text,
            context.recent if context else [],
            new_contact_details=found.has_contact and not (context and context.has_contact),
        )

        queued = False
        with self._unit_of_work() as uow:
            now = self._clock()
            if context is not None:
                touched = uow.conversations.touch(context.conversation_id, found.email, now)
                if touched is None:  # erased since the session was cached
                    raise _unknown(session)
                conversation = touched
                if gave_consent and conversation.email is None:
                    raise _consent_without_email()
                lead = uow.leads.for_conversation(conversation.id) or self._new_lead(
                    uow, conversation.id, context.flags
                )
            else:
                conversation = self._open(uow, session, token_hash(issued), found.email, now)
                session = conversation.session_id
                lead = Lead(conversation.id, LeadSignals())  # a conversation opened now has no lead
            message_id = uow.conversations.add_exchange(
                conversation.id, ChatMessage(Role.USER, text, now), ChatMessage(Role.BOT, reply.text, now)
            )
            lead.signals = lead.signals.merged(found)
            if lead.signals.has_contact:
                announce = lead.should_announce(self._threshold)
                if announce:
                    lead.alerted_at = now
                lead.id = uow.leads.save(lead, now)
                if announce:
                    self._announce(uow, lead, conversation, caller, now)
                    queued = True
            if gave_consent and conversation.email is not None:  # (checked above: consent needs an email)
                consent = RecordConsentCall(
                    message_id=message_id,
                    email=conversation.email,
                    given_at=now,
                    consent_text_version=visitor.consent_text_version or self._consent_text_version,
                    marketing_consent=visitor.marketing_consent,
                    rodo_consent=visitor.rodo_consent,
                    language=visitor.language,
                )
                uow.outbox.add(consent, caller, now)
                queued = True
            uow.commit()

        earlier = context.recent if context else []
        recent = [*earlier, (Role.USER.value, text), (Role.BOT.value, reply.text)]
        self._cache.set(
            session,
            SessionContext(
                conversation.id,
                lead.signals.has_contact,
                recent[-CONTEXT_MESSAGES:],
                (lead.signals.budget, lead.signals.area, lead.signals.timeline),
                conversation.token_hash,
            ),
        )
        if queued:
            self._on_outbox_work()
        return Answer(
            conversation_id=conversation.id,
            session_id=session,
            reply=reply.text,
            lead_id=lead.id,
            lead_score=lead.score if lead.id is not None else 0,
            session_token=issued,
        )

    def conversation(self, raw_session_id: str, session_token: str, *, admin: bool) -> ConversationView:
        """The conversation, for its owner's credential or an admin; NOT_FOUND otherwise, exactly as
        for a session that does not exist."""
        session = session_id(raw_session_id)
        with self._unit_of_work() as uow:
            conversation = uow.conversations.by_session(session)
            if conversation is None or not (admin or token_matches(session_token, conversation.token_hash)):
                raise _unknown(session)
            return ConversationView(conversation, uow.conversations.messages(conversation.id))

    @staticmethod
    def _open(
        uow: UnitOfWork, session: str, credential: str, email: str | None, now: dt.datetime
    ) -> Conversation:
        """A new conversation under `session`, or under a fresh id when that one is someone else's."""
        created = uow.conversations.create(session, credential, now, email)
        if created is None:  # the id is someone else's: a fresh one (128 random bits)
            created = uow.conversations.create(new_session_id(), credential, now, email)
            if created is None:
                raise RuntimeError("a fresh random session id is taken")
        return created

    @staticmethod
    def _new_lead(uow: UnitOfWork, conversation_id: int, flags: tuple[bool, bool, bool] | None) -> Lead:
        """A lead not stored yet, knowing what the visitor said before leaving contact details: from
        the session's cached flags, or (cache miss) from the history, read once."""
        if flags is not None:
            budget, area, timeline = flags
            return Lead(conversation_id, LeadSignals(budget=budget, area=area, timeline=timeline))
        signals = LeadSignals()
        for earlier in uow.conversations.messages(conversation_id):
            if earlier.role is Role.USER:
                signals = signals.merged(extract_signals(earlier.text))
        return Lead(conversation_id, signals)

    def _owned_context(self, session: str, token: str) -> SessionContext:
        """The session's context (cache, else database) if the token is its credential; NOT_FOUND
        otherwise, whether the session exists or not."""
        cached = self._cache.get(session)
        if cached is not None and cached.token_hash is not None:
            if not token_matches(token, cached.token_hash):
                raise _unknown(session)
            return cached
        with self._unit_of_work() as uow:
            conversation = uow.conversations.by_session(session)
            if conversation is None or not token_matches(token, conversation.token_hash):
                raise _unknown(session)
            lead = uow.leads.for_conversation(conversation.id)
            recent = uow.conversations.messages(conversation.id, last=CONTEXT_MESSAGES)
        return SessionContext(
            conversation.id,
            bool(lead and lead.signals.has_contact),
            [(m.role.value, m.text) for m in recent],
            token_hash=conversation.token_hash,
        )

    def _announce(
        self,
        uow: UnitOfWork,
        lead: Lead,
        conversation: Conversation,
        caller: CallerIdentity,
        now: dt.datetime,
    ) -> None:
        """One Slack and one Monday.com notification, keyed by the lead so they exist once."""
        signals = lead.signals
        contact = ", ".join(part for part in (signals.email, signals.phone) if part)
        found = [name for name in ("budget", "area", "timeline") if getattr(signals, name)]
        text = (
            f"Hot lead #{lead.id} (score {lead.score}): {contact}"
            f"{' - mentioned ' + ', '.join(found) if found else ''} - session {conversation.session_id}"
        )
        uow.outbox.add(NotifyCall(f"lead:{lead.id}:slack", SlackText(text)), caller, now)
        item = MondayItem(f"Lead #{lead.id}: {contact} (score {lead.score})")
        uow.outbox.add(NotifyCall(f"lead:{lead.id}:monday", item), caller, now)


def _consent_without_email() -> InvalidArgument:
    return InvalidArgument("email", "is required with marketing_consent or rodo_consent")


def _unknown(session: str) -> NotFound:
    return NotFound(f"no conversation for session {session}")
