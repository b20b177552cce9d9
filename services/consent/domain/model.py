"""Consent of one person (a subject) and the audit entries its changes leave behind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum, StrEnum

from services.runtime.errors import InvalidArgument

MAX_REASON_LENGTH = 1000
MAX_LABEL_LENGTH = 64  # source and consent_text_version
MAX_IDEMPOTENCY_KEY_LENGTH = 200


# How far in the future an event time (RecordConsentRequest.given_at) may lie: the clocks of the
# services' hosts differ by far less under NTP, while a larger difference would let a grant outrank a
# withdrawal the person makes minutes later. Within it, the time is taken as the time received.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


class ConsentAction(StrEnum):
    """What a request did; the first three values are those the old API used in `last_action`."""

    RECORD = "record-consent"
    UNSUBSCRIBE = "unsubscribe"
    REVOKE = "revoke-consent"
    # A change older (in event time) than the state in effect: audited, nothing changed.
    SUPERSEDED = "consent-superseded"
    # Marketing consent given where the address is not proven (the public chat): waits for the
    # mailbox owner's confirmation; the confirmation makes it effective.
    PENDING = "consent-pending"
    CONFIRMED = "consent-confirmed"
    ERASE = "erase"  # the person's data was erased (Art. 17); the subject row is gone after it


class Purpose(Enum):
    MARKETING = "marketing"
    PROCESSING = "processing"


def check_length(field: str, value: str, maximum: int) -> str:
    if len(value) > maximum:
        raise InvalidArgument(field, f"is {len(value)} characters long, at most {maximum} are allowed")
    return value


def event_time(given_at: dt.datetime | None, received_at: dt.datetime) -> dt.datetime:
    """When the person acted: `given_at` as the caller says, the time received when absent or at most
    MAX_CLOCK_SKEW ahead of it; further in the future is refused."""
    if given_at is None or given_at <= received_at:
        return given_at or received_at
    if given_at - received_at > MAX_CLOCK_SKEW:
        raise InvalidArgument(
            "given_at",
            f"lies {(given_at - received_at).total_seconds():.0f}s in the future, "
            f"at most {MAX_CLOCK_SKEW.total_seconds():.0f}s of clock skew is tolerated",
        )
    return received_at


def takes_effect(current: bool, current_at: dt.datetime | None, granted: bool, at: dt.datetime) -> bool:
    """Whether a grant (or withdrawal) made at `at` replaces the state in effect since `current_at`:
    the newer action in event time wins, and on equal times the withdrawal."""
    if current_at is None or at > current_at:
        return True
    if at < current_at:
        return False
    return not granted or current


@dataclass
class Subject:
    """One person's consent state. `unsubscribed` stays true until marketing consent is given again.
    `marketing_at` and `rodo_at` are the event times of the states in effect: a change made earlier
    than them is superseded and changes nothing."""

    email: str
    marketing_consent: bool = False
    rodo_consent: bool = False
    unsubscribed: bool = False
    last_action: ConsentAction | None = None
    last_action_at: dt.datetime | None = None
    marketing_at: dt.datetime | None = None
    rodo_at: dt.datetime | None = None
    confirmation_sent_at: dt.datetime | None = None  # the last confirmation email asked for

    def record(
        self, *, marketing: bool | None, rodo: bool | None, given_at: dt.datetime, at: dt.datetime
    ) -> tuple[Purpose, ...]:
        """Applies what is newer than the state in effect; answers the purposes superseded."""
        superseded = []
        if marketing is not None and not self._set_marketing(marketing, given_at):
            superseded.append(Purpose.MARKETING)
        if rodo is not None and not self._set_rodo(rodo, given_at):
            superseded.append(Purpose.PROCESSING)
        if len(superseded) < (marketing is not None) + (rodo is not None):
            self._touch(ConsentAction.RECORD, at)
        return tuple(superseded)

    def unsubscribe(self, at: dt.datetime) -> None:
        if self._set_marketing(False, at):
            self.unsubscribed = True
        self._touch(ConsentAction.UNSUBSCRIBE, at)

    def revoke(self, at: dt.datetime) -> int:
        """Turns both consents off; answers how many changed from granted to revoked."""
        affected = int(self.marketing_consent) + int(self.rodo_consent)
        if self._set_marketing(False, at):
            self.unsubscribed = True
        self._set_rodo(False, at)
        self._touch(ConsentAction.REVOKE, at)
        return affected - int(self.marketing_consent) - int(self.rodo_consent)

    def confirm_marketing(self, at: dt.datetime) -> None:
        """The mailbox owner confirmed a pending grant: marketing consent from the confirmation on."""
        self._set_marketing(True, at)
        self._touch(ConsentAction.CONFIRMED, at)

    def _set_marketing(self, granted: bool, at: dt.datetime) -> bool:
        if not takes_effect(self.marketing_consent, self.marketing_at, granted, at):
            return False
        self.marketing_consent, self.marketing_at = granted, at
        if granted:
            self.unsubscribed = False
        return True

    def _set_rodo(self, granted: bool, at: dt.datetime) -> bool:
        if not takes_effect(self.rodo_consent, self.rodo_at, granted, at):
            return False
        self.rodo_consent, self.rodo_at = granted, at
        return True

    def allows(self, purpose: Purpose) -> bool:
        return self.marketing_consent if purpose is Purpose.MARKETING else self.rodo_consent

    def _touch(self, action: ConsentAction, at: dt.datetime) -> None:
        self.last_action = action
        self.last_action_at = at


@dataclass(frozen=True)
class AuditEntry:
    """One consent request as recorded; `email` is empty once the subject has been erased."""

    action: ConsentAction
    occurred_at: dt.datetime
    marketing_consent: bool
    rodo_consent: bool
    ip_address: str = ""
    user_agent: str = ""
    reason: str = ""
    source: str = ""
    consent_text_version: str = ""
    request_id: str = ""
    email: str = ""
    id: int | None = None
    idempotency_key: str | None = None  # the request's, when its caller may repeat it
    given_at: dt.datetime | None = None  # when the person acted (event time), if it was given


@dataclass(frozen=True)
class PendingGrant:
    """Marketing consent waiting for the confirmation link (double opt-in); `reference` is what the
    link names."""

    reference: str
    pseudonym: str
    given_at: dt.datetime
    expires_at: dt.datetime
    consent_text_version: str
    language: str
    source: str
    confirmed_at: dt.datetime | None = None
