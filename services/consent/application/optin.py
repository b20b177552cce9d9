"""Verified opt-in and one-click unsubscribe: the use cases behind the signed links in emails.

A marketing grant from the public chat proves nothing about who owns the address, so it is stored as a
pending grant and the address is sent one confirmation email (at most one per CONFIRM_RESEND_HOURS,
whatever the number of sessions). Only the confirmation, made through the emailed link, turns marketing
consent on; a pending grant never lifts a withdrawal and expires after CONSENT_CONFIRM_DAYS.

The one-click unsubscribe link (RFC 8058) names the subject by its keyed pseudonym; POSTing it turns
marketing off at once, audited with source `one-click`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.consent.application.audit import audit_entry
from services.consent.application.ports import ConfirmationMailer, UnitOfWork
from services.consent.domain.confirmation_email import confirmation_email, language
from services.consent.domain.model import ConsentAction, PendingGrant, Subject
from services.runtime.errors import PermissionDenied
from services.runtime.identity import CallerIdentity
from services.runtime.signed_links import (
    CONFIRM,
    CONFIRM_PATH,
    UNSUBSCRIBE,
    UNSUBSCRIBE_LINK_DAYS,
    LinkSigner,
    link_url,
)

ONE_CLICK_SOURCE = "one-click"
CONFIRMATION_SOURCE = "email-confirmation"


@dataclass(frozen=True)
class OptInSettings:
    public_base_url: str
    confirm_days: int = 7
    resend_hours: float = 24.0


class OptIn:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        signer: LinkSigner,
        mailer: ConfirmationMailer,
        settings: OptInSettings,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._unit_of_work = unit_of_work
        self._signer = signer
        self._mailer = mailer
        self._settings = settings
        self._clock = clock

    def request_confirmation(
        self,
        uow: UnitOfWork,
        subject: Subject,
        pseudonym: str,
        *,
        given_at: dt.datetime,
        now: dt.datetime,
        consent_text_version: str,
        lang: str,
        source: str,
        idempotency_key: str,
    ) -> bool:
        """Stores a pending grant and, unless one went out within CONFIRM_RESEND_HOURS, emails the
        confirmation link, inside the caller's transaction: a notifier that cannot be reached raises
        Unavailable and the whole request is rolled back (the chat outbox tries it again). Answers
        whether an email was sent."""
        # A repeated request (same idempotency key) names the same grant, so its email's link holds.
        reference = (
            hashlib.sha256(f"{pseudonym}:{idempotency_key}".encode()).hexdigest()[:32]
            if idempotency_key
            else uuid.uuid4().hex
        )
        grant = PendingGrant(
            reference=reference,
            pseudonym=pseudonym,
            given_at=given_at,
            expires_at=now + dt.timedelta(days=self._settings.confirm_days),
            consent_text_version=consent_text_version,
            language=language(lang),
            source=source,
        )
        uow.pending_grants.add(grant)
        last = subject.confirmation_sent_at
        if last is not None and now - last < dt.timedelta(hours=self._settings.resend_hours):
            return False
        token = self._signer.sign(CONFIRM, reference, now)
        email = confirmation_email(
            grant.language,
            link_url(self._settings.public_base_url, CONFIRM_PATH, token),
            self._settings.confirm_days,
        )
        self._mailer.send(subject.email, email.subject, email.body, f"consent-confirm:{reference}")
        subject.confirmation_sent_at = now
        return True

    def confirm(self, token: str, caller: CallerIdentity) -> Subject:
        """Makes the pending grant the link names effective; a repeat changes nothing."""
        now = self._clock()
        link = self._signer.verify(token, CONFIRM, dt.timedelta(days=self._settings.confirm_days), now)
        with self._unit_of_work() as uow:
            grant = uow.pending_grants.get(link.reference)
            subject = uow.subjects.lock_by_pseudonym(grant.pseudonym) if grant else None
            if grant is None or subject is None:
                raise PermissionDenied("the link is not valid: nothing waits for this confirmation")
            if grant.confirmed_at is not None:
                return subject
            if now >= grant.expires_at:
                raise PermissionDenied("the link has expired: give your consent again in the chat")
            subject.confirm_marketing(now)
            uow.pending_grants.confirm(grant.reference, now)
            uow.subjects.save(subject, now)
            reason = f"confirms the marketing consent given at {grant.given_at.isoformat()} ({grant.source})"
            self._audit(
                uow,
                subject,
                grant.pseudonym,
                ConsentAction.CONFIRMED,
                now,
                caller,
                reason,
                source=CONFIRMATION_SOURCE,
                consent_text_version=grant.consent_text_version,
            )
            uow.commit()
        return subject

    def unsubscribe_token(self, pseudonym: str) -> str:
        return self._signer.sign(UNSUBSCRIBE, pseudonym, self._clock())

    def unsubscribe(self, token: str, caller: CallerIdentity) -> None:
        """Marketing off for the subject the link names; idempotent."""
        now = self._clock()
        link = self._signer.verify(token, UNSUBSCRIBE, dt.timedelta(days=UNSUBSCRIBE_LINK_DAYS), now)
        with self._unit_of_work() as uow:
            subject = uow.subjects.lock_by_pseudonym(link.reference)
            if subject is None:
                return  # erased: nobody is left to mail
            subject.unsubscribe(now)
            uow.subjects.save(subject, now)
            self._audit(uow, subject, link.reference, ConsentAction.UNSUBSCRIBE, now, caller, "")
            uow.commit()

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        subject: Subject,
        pseudonym: str,
        action: ConsentAction,
        now: dt.datetime,
        caller: CallerIdentity,
        reason: str,
        *,
        source: str = ONE_CLICK_SOURCE,
        consent_text_version: str = "",
    ) -> None:
        uow.audit_log.append(
            pseudonym,
            audit_entry(
                action,
                subject,
                now,
                caller,
                reason=reason,
                source=source,
                consent_text_version=consent_text_version,
                given_at=now,
            ),
        )
