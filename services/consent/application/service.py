"""The consent use cases. Every change locks the subject, applies the rule and appends its audit entry
in one transaction, so concurrent requests for one email neither lose an update nor an entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from services.consent.application.audit import audit_entry
from services.consent.application.batch import ConsentAnswer, check_batch
from services.consent.application.metrics import CONSENT_CHANGES
from services.consent.application.optin import OptIn
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
    event_time,
    takes_effect,
)
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.clock import utcnow
from services.runtime.emails import normalise_email
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.identity import CallerIdentity
from services.runtime.pagination import decode_page_token, encode_page_token, page_limit

# Column widths of the audit log; metadata is truncated to fit, never rejected.
API_SOURCE = "api"
MAX_LANGUAGE_LENGTH = 35  # a BCP 47 tag such as "en-GB"

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
    given_at: dt.datetime | None = None  # when the person acted; None: when received
    # Marketing consent from where the address is not proven (the public chat): pending until the
    # mailbox owner confirms it through the emailed link, written in `language` ("pl" or "en").
    confirm_by_email: bool = False
    language: str = ""


@dataclass(frozen=True)
class Recorded:
    subject: Subject
    superseded: tuple[Purpose, ...]  # the purposes a newer action outranked: nothing changed for them
    marketing_pending: bool = False  # waiting for the confirmation link

    @property
    def applied(self) -> bool:
        return not self.superseded


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
        opt_in: OptIn | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._pseudonymize = pseudonymize
        self._clock = clock
        self._opt_in = opt_in

    def record_consent(self, command: RecordConsent, caller: CallerIdentity) -> Recorded:
        """Records what is newer in event time than the state in effect. A change older than it is
        audited as superseded and changes nothing (`Recorded.superseded` names its purposes). A
        marketing grant to be confirmed by email is stored pending (see OptIn) unless the subject
        already has marketing consent."""
        email = normalise_email(command.email)
        if command.marketing_consent is None and command.rodo_consent is None:
            raise InvalidArgument("marketing_consent", "give marketing_consent, rodo_consent or both")
        reason = check_length("reason", command.reason, MAX_REASON_LENGTH)
        source = check_length("source", command.source, MAX_LABEL_LENGTH)
        text_version = check_length("consent_text_version", command.consent_text_version, MAX_LABEL_LENGTH)
        key = check_length("idempotency_key", command.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH)
        check_length("language", command.language, MAX_LANGUAGE_LENGTH)
        confirm = command.confirm_by_email and command.marketing_consent is True
        if confirm and self._opt_in is None:
            raise FailedPrecondition("confirm_by_email: email confirmation is not configured")

        def record(subject: Subject, now: dt.datetime, uow: UnitOfWork, pseudonym: str) -> _Outcome:
            given_at = event_time(command.given_at, now)
            # Pending only when it could take effect: a grant older than a later withdrawal is
            # superseded (and no confirmation email asks a person who since said no).
            pending = (
                confirm
                and not subject.marketing_consent
                and takes_effect(False, subject.marketing_at, True, given_at)
            )
            marketing = None if pending else command.marketing_consent
            superseded = subject.record(
                marketing=marketing, rodo=command.rodo_consent, given_at=given_at, at=now
            )
            emailed = False
            if pending and self._opt_in is not None:
                emailed = self._opt_in.request_confirmation(
                    uow,
                    subject,
                    pseudonym,
                    given_at=given_at,
                    now=now,
                    consent_text_version=text_version,
                    lang=command.language,
                    source=source,
                    idempotency_key=key,
                )
            given = (marketing is not None) + (command.rodo_consent is not None)
            return _Outcome(superseded, given, pending, emailed)

        changed = self._change(
            email,
            caller,
            ConsentAction.RECORD,
            record,
            reason=reason,
            source=source,
            consent_text_version=text_version,
            idempotency_key=key,
            given_at=command.given_at,
            audit_as=_audit_outcome,
        )
        subject, outcome = changed
        if outcome is None:  # a repeat of a recorded request
            return Recorded(subject, ())
        return Recorded(subject, outcome.superseded, outcome.pending)

    def unsubscribe(self, email: str, reason: str, caller: CallerIdentity) -> Subject:
        """Marketing off; an unknown email is recorded as a suppression so it is never mailed."""
        normalised = normalise_email(email)
        check_length("reason", reason, MAX_REASON_LENGTH)
        subject, _ = self._change(
            normalised,
            caller,
            ConsentAction.UNSUBSCRIBE,
            lambda s, at, _uow, _pseudonym: s.unsubscribe(at),
            reason=reason,
        )
        return subject

    def revoke(self, email: str, reason: str, caller: CallerIdentity) -> tuple[Subject, int]:
        """Both consents off; answers the subject and how many consents changed (0, 1 or 2)."""
        normalised = normalise_email(email)
        check_length("reason", reason, MAX_REASON_LENGTH)
        subject, affected = self._change(
            normalised,
            caller,
            ConsentAction.REVOKE,
            lambda s, at, _uow, _pseudonym: s.revoke(at),
            reason=reason,
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
            if subject is None or not subject.allows(purpose):
                return False
            # An erased person's address may come back with consent: it is still never mailed.
            return purpose is not Purpose.MARKETING or not uow.subjects.is_suppressed(
                self._pseudonymize(normalised)
            )

    def check_batch(self, emails: Sequence[str]) -> list[ConsentAnswer]:
        """check() for many emails with one query; see application/batch.py."""
        return check_batch(self._unit_of_work, self._pseudonymize, self._opt_in, emails)

    def unsubscribe_token(self, email: str) -> str:
        """The signed token of the person's one-click unsubscribe link; empty without signed links."""
        if self._opt_in is None:
            return ""
        return self._opt_in.unsubscribe_token(self._pseudonymize(normalise_email(email)))

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
        last_id = entries[-1].id
        if last_id is None:
            raise ValueError("the audit log returned an entry without an id")
        return AuditPage(entries, encode_page_token(last_id))

    def _change(
        self,
        email: str,
        caller: CallerIdentity,
        action: ConsentAction,
        apply: Callable[[Subject, dt.datetime, UnitOfWork, str], R],
        *,
        reason: str = "",
        source: str = API_SOURCE,
        consent_text_version: str = "",
        idempotency_key: str = "",
        given_at: dt.datetime | None = None,
        audit_as: Callable[[R, ConsentAction, str], tuple[ConsentAction, str]] | None = None,
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
            result = apply(subject, now, uow, pseudonym)
            if audit_as is not None:
                action, reason = audit_as(result, action, reason)
            uow.save_and_audit(
                subject,
                now,
                pseudonym,
                audit_entry(
                    action,
                    subject,
                    now,
                    caller,
                    reason=reason,
                    source=source,
                    consent_text_version=consent_text_version,
                    given_at=min(given_at, now) if given_at else now,
                    idempotency_key=idempotency_key or None,
                ),
            )
            uow.commit()
        CONSENT_CHANGES.labels(action.value).inc()
        return subject, result


@dataclass(frozen=True)
class _Outcome:
    superseded: tuple[Purpose, ...]
    given: int  # how many consents were applied or superseded (a pending grant is neither)
    pending: bool
    emailed: bool


def _audit_outcome(outcome: _Outcome | None, action: ConsentAction, reason: str) -> tuple[ConsentAction, str]:
    """A record whose every change was outranked is audited as superseded, one waiting for the
    confirmation as pending; the reason notes what was superseded and whether an email went out."""
    if outcome is None:
        return action, reason
    notes = []
    if outcome.superseded:
        notes.append(f"[superseded: {', '.join(p.value for p in outcome.superseded)}]")
        if len(outcome.superseded) == outcome.given and not outcome.pending:
            action = ConsentAction.SUPERSEDED
    if outcome.pending:
        action = ConsentAction.PENDING
        sent = "confirmation email sent" if outcome.emailed else "confirmation email sent earlier"
        notes.append(f"[marketing pending confirmation, {sent}]")
    return action, " ".join([reason, *notes]).strip()


def _parse_action(action: str) -> ConsentAction:
    try:
        return ConsentAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in ConsentAction)
        raise InvalidArgument("action", f"must be one of {choices}") from None
