"""CheckConsentBatch: what many addresses are allowed, from one database round trip.

The same rules as ConsentService.check, for up to MAX_BATCH addresses at once: an address never seen
(or erased: its subject row is gone) is allowed nothing, and an erased person's address that came back
with consent is still never mailed (its pseudonym, HMAC of the address as CheckConsent computes it, is
in the suppressions). Chat's follow-up pass asks once per batch instead of twice per follow-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.consent.application.optin import OptIn
from services.consent.application.ports import UnitOfWork
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument

MAX_BATCH = 500  # as the contract's CheckConsentBatchRequest.emails max_items
MAX_EMAIL_LENGTH = 254  # as the contract's items max_len and consent_subjects.email
FIELD = "emails"


@dataclass(frozen=True)
class ConsentAnswer:
    processing: bool = False
    marketing: bool = False
    unsubscribe_token: str = ""  # with marketing and signed links configured


NOTHING_ALLOWED = ConsentAnswer()


def check_batch(
    unit_of_work: Callable[[], UnitOfWork],
    pseudonymize: Pseudonymizer,
    opt_in: OptIn | None,
    emails: Sequence[str],
) -> list[ConsentAnswer]:
    """One answer per address, in order. An empty list, more than MAX_BATCH addresses, or an empty or
    overlong one is InvalidArgument naming `emails`; an address that is not a valid one is answered
    as an unknown one (consent is never recorded for it)."""
    if not emails:
        raise InvalidArgument(FIELD, "give at least one email")
    if len(emails) > MAX_BATCH:
        raise InvalidArgument(FIELD, f"at most {MAX_BATCH} emails per call")
    normalised: list[str | None] = []
    for index, raw in enumerate(emails):
        if not raw.strip():
            raise InvalidArgument(f"{FIELD}[{index}]", "is required")
        if len(raw) > MAX_EMAIL_LENGTH:
            raise InvalidArgument(f"{FIELD}[{index}]", f"at most {MAX_EMAIL_LENGTH} characters")
        try:
            normalised.append(normalise_email(raw, FIELD))
        except InvalidArgument:
            normalised.append(None)
    known = sorted({e for e in normalised if e is not None})
    pseudonyms = {email: pseudonymize(email) for email in known}
    if not known:
        return [NOTHING_ALLOWED] * len(emails)
    with unit_of_work() as uow:
        consents, suppressed = uow.subjects.consents_of(known, list(pseudonyms.values()))
    answers: dict[str, ConsentAnswer] = {}
    for email in known:
        marketing, processing = consents.get(email, (False, False))
        marketing = marketing and pseudonyms[email] not in suppressed
        token = opt_in.unsubscribe_token(pseudonyms[email]) if marketing and opt_in is not None else ""
        answers[email] = ConsentAnswer(processing, marketing, token)
    return [NOTHING_ALLOWED if email is None else answers[email] for email in normalised]
