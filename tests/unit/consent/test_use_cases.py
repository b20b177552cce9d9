"""The consent use cases against an in-memory unit of work: the rules, not the storage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from services.consent.application.service import ConsentService, RecordConsent
from services.consent.domain.model import ConsentAction, Purpose
from services.runtime.errors import InvalidArgument, NotFound
from tests.unit.consent.fakes import CALLER, NOW, PSEUDONYMIZE, FakeUnitOfWork


@pytest.fixture
def uow():
    return FakeUnitOfWork()


@pytest.fixture
def service(uow):
    return ConsentService(lambda: uow, PSEUDONYMIZE, clock=lambda: NOW)


def test_unsubscribing_an_unknown_email_records_a_suppression(service, uow):
    subject = service.unsubscribe(" New@Example.com ", "too many emails", CALLER)
    assert subject.email == "new@example.com"
    stored = uow.stored_subjects["new@example.com"]
    assert stored.unsubscribed
    assert not stored.marketing_consent
    assert not service.check("new@example.com", Purpose.MARKETING)
    [(pseudonym, entry)] = uow.stored_audit
    assert pseudonym == PSEUDONYMIZE("new@example.com")
    assert (entry.action, entry.reason, entry.ip_address, entry.user_agent, entry.request_id) == (
        ConsentAction.UNSUBSCRIBE,
        "too many emails",
        "203.0.113.7",
        "Mozilla/5.0",
        "req-1",
    )


def test_every_request_is_audited_but_a_repeat_changes_no_consent(service, uow):
    service.record_consent(RecordConsent("a@b.pl", marketing_consent=True, rodo_consent=True), CALLER)
    first = service.revoke("a@b.pl", "", CALLER)[1]
    second = service.revoke("a@b.pl", "", CALLER)[1]
    assert (first, second) == (2, 0)
    assert [e.action for _, e in uow.stored_audit] == [
        ConsentAction.RECORD,
        ConsentAction.REVOKE,
        ConsentAction.REVOKE,
    ]


def test_recorded_consent_keeps_what_the_person_was_shown(service, uow):
    command = RecordConsent(
        "a@b.pl", True, None, source="chat", consent_text_version="2026-10", reason="widget"
    )
    subject = service.record_consent(command, CALLER).subject
    assert (subject.marketing_consent, subject.rodo_consent) == (True, False)
    entry = uow.stored_audit[0][1]
    assert (entry.source, entry.consent_text_version, entry.marketing_consent) == ("chat", "2026-10", True)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.unsubscribe("not-an-email", "", CALLER), "email"),
        (lambda s: s.unsubscribe("a@b.pl", "x" * 1001, CALLER), "reason"),
        (lambda s: s.revoke("", "", CALLER), "email"),
        (lambda s: s.record_consent(RecordConsent("a@b.pl", None, None), CALLER), "marketing_consent"),
        (lambda s: s.record_consent(RecordConsent("a@b.pl", True, None, source="s" * 65), CALLER), "source"),
        (lambda s: s.audit_log(action="delete"), "action"),
        (lambda s: s.audit_log(page_token="garbage"), "page_token"),
        (lambda s: s.audit_log(page_size=-1), "page_size"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(service, uow, call, field):
    with pytest.raises(InvalidArgument) as caught:
        call(service)
    assert caught.value.field == field
    assert uow.commits == 0
    assert uow.stored_subjects == {}
    assert uow.stored_audit == []


def test_status_of_an_unknown_email_is_not_found(service):
    with pytest.raises(NotFound):
        service.status("nobody@example.com")


def test_check_allows_only_what_was_granted(service):
    assert not service.check("a@b.pl", Purpose.PROCESSING)
    service.record_consent(RecordConsent("a@b.pl", marketing_consent=False, rodo_consent=True), CALLER)
    assert service.check("A@B.pl", Purpose.PROCESSING)
    assert not service.check("a@b.pl", Purpose.MARKETING)


def test_audit_log_pages_newest_first(service):
    for index in range(5):
        service.unsubscribe(f"p{index}@b.pl", "", CALLER)
    first = service.audit_log(page_size=2)
    assert [e.email for e in first.entries] == ["p4@b.pl", "p3@b.pl"]
    second = service.audit_log(page_size=2, page_token=first.next_page_token)
    assert [e.email for e in second.entries] == ["p2@b.pl", "p1@b.pl"]
    last = service.audit_log(page_size=2, page_token=second.next_page_token)
    assert ([e.email for e in last.entries], last.next_page_token) == (["p0@b.pl"], "")
    assert [e.email for e in service.audit_log(email="P3@b.pl").entries] == ["p3@b.pl"]


def test_a_repeat_with_the_same_idempotency_key_answers_the_status_without_a_new_entry(uow):
    ticks = itertools.count()
    service = ConsentService(lambda: uow, PSEUDONYMIZE, clock=lambda: NOW + dt.timedelta(seconds=next(ticks)))
    grant = RecordConsent("anna@example.com", True, True, source="chat", idempotency_key="chat:consent:7")
    first = service.record_consent(grant, CALLER).subject
    service.unsubscribe("anna@example.com", "", CALLER)

    repeat = service.record_consent(grant, CALLER).subject

    assert first.marketing_consent is True
    assert repeat.marketing_consent is False  # the current status: the later unsubscribe stands
    assert [entry.action for _, entry in uow.stored_audit] == [
        ConsentAction.RECORD,
        ConsentAction.UNSUBSCRIBE,
    ]
    assert uow.stored_audit[0][1].idempotency_key == "chat:consent:7"
    other_key = dataclasses.replace(grant, idempotency_key="chat:consent:8")
    assert service.record_consent(other_key, CALLER).subject.marketing_consent is True
    assert len(uow.stored_audit) == 3


def test_an_idempotency_key_longer_than_200_characters_is_refused(service, uow):
    with pytest.raises(InvalidArgument) as refused:
        service.record_consent(
            RecordConsent("anna@example.com", True, None, idempotency_key="k" * 201), CALLER
        )
    assert refused.value.field == "idempotency_key"
    assert uow.stored_audit == []
