"""Double opt-in and one-click unsubscribe as use cases: pending grants, the confirmation email and its
resend limit, confirmation, expiry, and the signed unsubscribe link."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from services.consent.application.optin import OptIn, OptInSettings
from services.consent.application.service import ConsentService, RecordConsent
from services.consent.domain.model import ConsentAction, Purpose
from services.runtime.errors import InvalidArgument, PermissionDenied, Unavailable
from services.runtime.signed_links import LinkSigner
from tests.unit.consent.fakes import CALLER, NOW, PSEUDONYMIZE, FakeUnitOfWork

EMAIL = "anna@example.com"
BASE = "https://novahouse.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str]] = []
        self.down = False

    def send(self, to: str, subject: str, body: str, idempotency_key: str) -> None:
        if self.down:
            raise Unavailable("notifier down")
        self.sent.append((to, subject, body, idempotency_key))

    def token(self, index: int = -1) -> str:
        return re.search(r"/api/consent/confirm/(\S+)", self.sent[index][2]).group(1)


@pytest.fixture
def world():
    uow, clock, mailer = FakeUnitOfWork(), Clock(), Mailer()
    opt_in = OptIn(lambda: uow, LinkSigner([b"s" * 32]), mailer, OptInSettings(BASE, 7, 24), clock)
    service = ConsentService(lambda: uow, PSEUDONYMIZE, clock=clock, opt_in=opt_in)
    return service, opt_in, uow, clock, mailer


def chat_grant(key: str, lang: str = "pl") -> RecordConsent:
    return RecordConsent(
        EMAIL, True, True, source="chat", confirm_by_email=True, language=lang, idempotency_key=key
    )


def test_a_chat_grant_is_pending_with_one_email_and_processing_recorded_now(world):
    service, _, uow, _, mailer = world
    recorded = service.record_consent(chat_grant("chat:consent:1", "en"), CALLER)
    assert recorded.marketing_pending
    subject = uow.stored_subjects[EMAIL]
    assert (subject.marketing_consent, subject.rodo_consent) == (False, True)
    [(to, subject_line, body, key)] = mailer.sent
    assert to == EMAIL
    assert "confirm" in subject_line
    assert f"{BASE}/api/consent/confirm/" in body
    assert EMAIL not in body.split(BASE, 1)[1].split()[0]  # the link does not carry the address
    assert key.startswith("consent-confirm:")
    assert uow.stored_audit[-1][1].action is ConsentAction.PENDING


def test_many_sessions_send_one_email_per_resend_window(world):
    service, _, _, clock, mailer = world
    for n in range(10):
        service.record_consent(chat_grant(f"chat:consent:{n}"), CALLER)
        clock.advance(minutes=1)
    assert len(mailer.sent) == 1
    clock.advance(hours=24)
    service.record_consent(chat_grant("chat:consent:late"), CALLER)
    assert len(mailer.sent) == 2


def test_a_pending_grant_never_lifts_a_withdrawal_until_the_owner_confirms(world):
    service, opt_in, uow, clock, mailer = world
    service.unsubscribe(EMAIL, "", CALLER)
    clock.advance(seconds=5)
    service.record_consent(chat_grant("chat:consent:1"), CALLER)
    assert uow.stored_subjects[EMAIL].unsubscribed
    assert not service.check(EMAIL, Purpose.MARKETING)

    clock.advance(hours=1)
    opt_in.confirm(mailer.token(), CALLER)
    subject = uow.stored_subjects[EMAIL]
    assert (subject.marketing_consent, subject.unsubscribed) == (True, False)
    entry = uow.stored_audit[-1][1]
    assert (entry.action, entry.source, entry.ip_address) == (
        ConsentAction.CONFIRMED,
        "email-confirmation",
        CALLER.ip_address,
    )
    entries = len(uow.stored_audit)
    opt_in.confirm(mailer.token(), CALLER)  # a repeat changes nothing
    assert len(uow.stored_audit) == entries


def test_an_unconfirmed_grant_expires(world):
    service, opt_in, uow, clock, mailer = world
    service.record_consent(chat_grant("chat:consent:1"), CALLER)
    clock.advance(days=7, seconds=1)
    with pytest.raises(PermissionDenied):
        opt_in.confirm(mailer.token(), CALLER)
    assert not uow.stored_subjects[EMAIL].marketing_consent


def test_a_notifier_that_is_down_rolls_the_request_back(world):
    service, _, uow, _, mailer = world
    mailer.down = True
    with pytest.raises(Unavailable):
        service.record_consent(chat_grant("chat:consent:1"), CALLER)
    assert (uow.stored_subjects, uow.stored_audit, uow.stored_pending) == ({}, [], {})
    mailer.down = False
    service.record_consent(chat_grant("chat:consent:1"), CALLER)  # the outbox's retry
    assert len(mailer.sent) == 1


def test_one_click_unsubscribe_by_token_and_forged_tokens_change_nothing(world):
    service, opt_in, uow, clock, _ = world
    service.record_consent(RecordConsent(EMAIL, True, True, source="contact-form"), CALLER)
    token = service.unsubscribe_token(EMAIL)
    assert EMAIL not in token
    payload, signature = token.split(".")
    for bad in (f"{payload}.{signature[::-1]}", f"{payload[:-4]}.{signature}"):
        with pytest.raises(PermissionDenied):
            opt_in.unsubscribe(bad, CALLER)
    with pytest.raises(InvalidArgument):
        opt_in.unsubscribe(payload, CALLER)  # truncated: no signature at all
    assert uow.stored_subjects[EMAIL].marketing_consent

    clock.advance(days=60)  # still valid after 60 days
    opt_in.unsubscribe(token, CALLER)
    opt_in.unsubscribe(token, CALLER)  # idempotent
    subject = uow.stored_subjects[EMAIL]
    assert (subject.marketing_consent, subject.unsubscribed) == (False, True)
    assert [e.source for _, e in uow.stored_audit[-2:]] == ["one-click", "one-click"]


def test_a_confirmation_token_is_no_unsubscribe_token(world):
    service, opt_in, _, _, mailer = world
    service.record_consent(chat_grant("chat:consent:1"), CALLER)
    with pytest.raises(PermissionDenied):
        opt_in.unsubscribe(mailer.token(), CALLER)
