"""Consent of one person (a subject) and the audit entries its changes leave behind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum, StrEnum

from services.runtime.errors import InvalidArgument

MAX_REASON_LENGTH = 1000
MAX_LABEL_LENGTH = 64  # source and consent_text_version
MAX_IDEMPOTENCY_KEY_LENGTH = 200


class ConsentAction(StrEnum):
    """What a request did; the values are those the old API used in `last_action`."""

    RECORD = "record-consent"
    UNSUBSCRIBE = "unsubscribe"
    REVOKE = "revoke-consent"
    ERASE = "erase"  # the person's data was erased (Art. 17); the subject row is gone after it


class Purpose(Enum):
    MARKETING = "marketing"
    PROCESSING = "processing"


def check_length(field: str, value: str, maximum: int) -> str:
    if len(value) > maximum:
        raise InvalidArgument(field, f"is {len(value)} characters long, at most {maximum} are allowed")
    return value


@dataclass
class Subject:
    """One person's consent state. `unsubscribed` stays true until marketing consent is given again."""

    email: str
    marketing_consent: bool = False
    rodo_consent: bool = False
    unsubscribed: bool = False
    last_action: ConsentAction | None = None
    last_action_at: dt.datetime | None = None

    def record(self, *, marketing: bool | None, rodo: bool | None, at: dt.datetime) -> None:
        if marketing is not None:
            self.marketing_consent = marketing
            if marketing:
                self.unsubscribed = False
        if rodo is not None:
            self.rodo_consent = rodo
        self._touch(ConsentAction.RECORD, at)

    def unsubscribe(self, at: dt.datetime) -> None:
        self.marketing_consent = False
        self.unsubscribed = True
        self._touch(ConsentAction.UNSUBSCRIBE, at)

    def revoke(self, at: dt.datetime) -> int:
        """Turns both consents off; answers how many changed from granted to revoked."""
        affected = int(self.marketing_consent) + int(self.rodo_consent)
        self.marketing_consent = False
        self.rodo_consent = False
        self.unsubscribed = True
        self._touch(ConsentAction.REVOKE, at)
        return affected

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
