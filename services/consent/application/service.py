"""The consent use cases. Every change locks the subject, applies the rule and appends its audit entry
in one transaction, so concurrent requests for one email neither lose an update nor an entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from services.consent.application.metrics import CONSENT_CHANGES
from services.consent.application.ports import AuditQuery, UnitOfWork
from services.consent.domain.model import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_REASON_LENGTH,
    AuditEntry,
    ConsentAction,
    Purpose,
    Subject,
    check_length,
)
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.db import utcnow
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.identity import CallerIdentity
from services.runtime.pagination import decode_page_token, encode_page_token, page_limit

# Column widths of the audit log; metadata is truncated to fit, never rejected.
_MAX_IP, _MAX_USER_AGENT, _MAX_REQUEST_ID = 64, 512, 128
API_SOURCE = "api"

R = TypeVar("R")


@dataclass(frozen=True)
class RecordConsent:
    email: str
    marketing_consent: bool | None
    rodo_consent: bool | None
    source: str = ""
    consent_text_version: str = ""
    reason: str = ""
    idempotency_key: str = ""  # a repeat of a recorded key records nothing


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_page_token: str


class ConsentService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        pseudonymize: Pseudonymizer,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._pseudonymize = pseudonymize
        self._clock = clock

    def record_consent(self, command: RecordConsent, caller: CallerIdentity) -> Subject:
        email = normalise_email(command.email)
        if command.marketing_consent is None and command.rodo_consent is None:
            raise InvalidArgument("marketing_consent", "give marketing_consent, rodo_consent or both")
        subject, _ = self._change(
            email,
            caller,
            ConsentAction.RECORD,
            lambda s, at: s.record(marketing=command.marketing_consent, rodo=command.rodo_consent, at=at),
            reason=check_length("reason", command.reason, MAX_REASON_LENGTH),
            source=check_length("source", command.source, MAX_LABEL_LENGTH),
            consent_text_version=check_length(
                "consent_text_version", command.consent_text_version, MAX_LABEL_LENGTH
            ),
            idempotency_key=check_length(
                "idempotency_key", command.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH
            ),
        )
        return subject

    def unsubscribe(self, email: str, reason: str, caller: CallerIdentity) -> Subject:
        """Marketing off; an unknown email is recorded as a suppression so it is never mailed."""
        normalised = normalise_email(email)
        check_length("reason", reason, MAX_REASON_LENGTH)
        subject, _ = self._change(
            normalised, caller, ConsentAction.UNSUBSCRIBE, lambda s, at: s.unsubscribe(at), reason=reason
        )
        return subject

    def revoke(self, email: str, reason: str, caller: CallerIdentity) -> tuple[Subject, int]:
        """Both consents off; answers the subject and how many consents changed (0, 1 or 2)."""
        normalised = normalise_email(email)
        check_length("reason", reason, MAX_REASON_LENGTH)
        subject, affected = self._change(
            normalised, caller, ConsentAction.REVOKE, lambda s, at: s.revoke(at), reason=reason
        )
        return subject, affected or 0

    def status(self, email: str) -> Subject:
        normalised = normalise_email(email)
        with self._unit_of_work() as uow:
            subject = uow.subjects.get(normalised)
        if subject is None:
            raise NotFound(f"no consent is recorded for {normalised}")
        return subject

    def check(self, email: str, purpose: Purpose) -> bool:
        normalised = normalise_email(email)
        with self._unit_of_work() as uow:
            subject = uow.subjects.get(normalised)
        return subject is not None and subject.allows(purpose)

    def audit_log(
        self,
        *,
        email: str = "",
        action: str = "",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> AuditPage:
        limit = page_limit(page_size)
        query = AuditQuery(
            limit=limit + 1,  # one more tells whether there is a next page
            pseudonym=self._pseudonymize(normalise_email(email)) if email else None,
            action=_parse_action(action) if action else None,
            since=since,
            until=until,
            before_id=decode_page_token(page_token),
        )
        with self._unit_of_work() as uow:
            entries = uow.audit_log.query(query)
        if len(entries) <= limit:
            return AuditPage(entries, "")
        entries = entries[:limit]
        return AuditPage(entries, encode_page_token(entries[-1].id))

    def _change(
        self,
        email: str,
        caller: CallerIdentity,
        action: ConsentAction,
        apply: Callable[[Subject, dt.datetime], R],
        *,
        reason: str = "",
        source: str = API_SOURCE,
        consent_text_version: str = "",
        idempotency_key: str = "",
    ) -> tuple[Subject, R | None]:
        """Applies one change and audits it; a request whose idempotency key was recorded before
        changes nothing and answers the subject as it is (and None)."""
        pseudonym = self._pseudonymize(email)
        with self._unit_of_work() as uow:
            now = self._clock()
            subject = uow.subjects.lock(email, pseudonym, now)
            # Checked under the subject's lock: a concurrent repeat waits here and then finds the key.
            if idempotency_key and uow.audit_log.has_idempotency_key(idempotency_key):
                return subject, None
            result = apply(subject, now)
            uow.subjects.save(subject, now)
            uow.audit_log.append(
                pseudonym,
                AuditEntry(
                    action=action,
                    occurred_at=now,
                    marketing_consent=subject.marketing_consent,
                    rodo_consent=subject.rodo_consent,
                    ip_address=caller.ip_address[:_MAX_IP],
                    user_agent=caller.user_agent[:_MAX_USER_AGENT],
                    reason=reason,
                    source=source,
                    consent_text_version=consent_text_version,
                    request_id=caller.request_id[:_MAX_REQUEST_ID],
                    idempotency_key=idempotency_key or None,
                ),
            )
            uow.commit()
        CONSENT_CHANGES.labels(action.value).inc()
        return subject, result


def _parse_action(action: str) -> ConsentAction:
    try:
        return ConsentAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in ConsentAction)
        raise InvalidArgument("action", f"must be one of {choices}") from None
