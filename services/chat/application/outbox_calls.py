"""The calls chat queues in its outbox for other services, as typed values.

Each call knows its kind (which RPC the relay makes), its outbox key (a call with a key already queued
is not queued again) and its payload: the RPC's request in the proto3 JSON mapping, which is what the
outbox stores and what the relay parses into the request message (services/chat/adapters/upstream.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import ClassVar, Protocol

from services.runtime.timestamps import rfc3339

RECORD_CONSENT = "consent.RecordConsent"
CONSENT_KEY_PREFIX = "consent:"  # + the id of the message that gave it: its outbox row's key
NOTIFY = "notifier.Notify"


class OutboxCall(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def key(self) -> str: ...

    def payload(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class RecordConsentCall:
    """The consents a visitor gave with one message, handed to the consent service."""

    kind: ClassVar[str] = RECORD_CONSENT

    message_id: int
    email: str
    given_at: dt.datetime  # the message's time: a late hand-over does not undo a later withdrawal
    consent_text_version: str
    marketing_consent: bool | None = None
    rodo_consent: bool | None = None
    language: str = ""  # of the confirmation email a marketing grant asks for

    @property
    def key(self) -> str:
        return f"{CONSENT_KEY_PREFIX}{self.message_id}"

    def payload(self) -> dict[str, object]:
        # The idempotency key makes a repeated hand-over (after a crash or a lost answer) record nothing.
        payload: dict[str, object] = {
            "email": self.email,
            "source": "chat",
            "idempotency_key": f"chat:consent:{self.message_id}",
            "given_at": rfc3339(self.given_at),
            "consent_text_version": self.consent_text_version,
        }
        if self.marketing_consent is not None:
            payload["marketing_consent"] = self.marketing_consent
            # Anyone can type any address into the public chat: a marketing grant counts only once the
            # mailbox's owner confirms it (double opt-in).
            payload["confirm_by_email"] = True
            payload["language"] = self.language
        if self.rodo_consent is not None:
            payload["rodo_consent"] = self.rodo_consent
        return payload


@dataclass(frozen=True)
class SlackText:
    text: str


@dataclass(frozen=True)
class MondayItem:
    item_name: str


@dataclass(frozen=True)
class EmailNotice:
    to: str
    subject: str
    body: str
    list_unsubscribe_url: str


_CHANNEL_FIELD = {SlackText: "slack", MondayItem: "monday", EmailNotice: "email"}


@dataclass(frozen=True)
class NotifyCall:
    """One notification, handed to the notifier under its idempotency key (also its outbox key)."""

    kind: ClassVar[str] = NOTIFY

    idempotency_key: str
    message: SlackText | MondayItem | EmailNotice

    @property
    def key(self) -> str:
        return self.idempotency_key

    def payload(self) -> dict[str, object]:
        return {
            "idempotency_key": self.idempotency_key,
            _CHANNEL_FIELD[type(self.message)]: asdict(self.message),
        }
