"""CheckConsentBatch as a use case and over the servicer: one lookup for the whole batch, the same
answers as CheckConsent gives one by one, unknown, erased and suppressed addresses allowed nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from novahouse.api.v1 import access_pb2
from novahouse.consent.v1 import consent_pb2 as pb
from services.consent.application.batch import MAX_BATCH, ConsentAnswer
from services.consent.application.optin import OptIn, OptInSettings
from services.consent.application.service import ConsentService, RecordConsent
from services.consent.domain.model import Purpose
from services.consent.transport.servicer import ConsentServicer
from services.gateway.bootstrap import load_bindings
from services.runtime.access import declared_access
from services.runtime.errors import InvalidArgument
from services.runtime.signed_links import UNSUBSCRIBE, LinkSigner
from tests.support.grpc_testing_server import CallFailed, InProcessService
from tests.unit.consent.fakes import CALLER, NOW, PSEUDONYMIZE, FakeUnitOfWork

SIGNER = LinkSigner([b"s" * 32])


class NoMail:
    def send(self, to: str, subject: str, body: str, idempotency_key: str) -> None:
        raise AssertionError("no email is sent by a check")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def service(uow) -> ConsentService:
    opt_in = OptIn(lambda: uow, SIGNER, NoMail(), OptInSettings("https://x.example", 7, 24), lambda: NOW)
    return ConsentService(lambda: uow, PSEUDONYMIZE, clock=lambda: NOW, opt_in=opt_in)


def grant(service: ConsentService, email: str, *, marketing: bool, processing: bool) -> None:
    service.record_consent(RecordConsent(email, marketing, processing), CALLER)


def test_each_address_is_answered_in_order_from_one_lookup(service, uow):
    grant(service, "both@example.com", marketing=True, processing=True)
    grant(service, "rodo@example.com", marketing=False, processing=True)
    grant(service, "none@example.com", marketing=False, processing=False)
    asked = [
        "rodo@example.com",
        " BOTH@example.com",
        "never@example.com",
        "none@example.com",
        "rodo@example.com",
    ]

    answers = service.check_batch(asked)

    assert uow.batch_lookups == [
        ["both@example.com", "never@example.com", "none@example.com", "rodo@example.com"]
    ]
    assert [(a.processing, a.marketing) for a in answers] == [
        (True, False),
        (True, True),
        (False, False),
        (False, False),
        (True, False),
    ]
    assert [bool(a.unsubscribe_token) for a in answers] == [False, True, False, False, False]
    link = SIGNER.verify(answers[1].unsubscribe_token, UNSUBSCRIBE, max_age=dt.timedelta(days=1), now=NOW)
    assert link.reference == PSEUDONYMIZE("both@example.com")


def test_the_batch_agrees_with_check_one_by_one(service):
    grant(service, "a@example.com", marketing=True, processing=False)
    grant(service, "b@example.com", marketing=False, processing=True)
    service.unsubscribe("a@example.com", "", CALLER)
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    answers = service.check_batch(emails)
    assert [a.marketing for a in answers] == [service.check(e, Purpose.MARKETING) for e in emails]
    assert [a.processing for a in answers] == [service.check(e, Purpose.PROCESSING) for e in emails]


def test_an_erased_address_that_came_back_with_consent_is_still_never_mailed(service, uow):
    grant(service, "back@example.com", marketing=True, processing=True)
    uow.suppressed.add(PSEUDONYMIZE("back@example.com"))
    [answer] = service.check_batch(["back@example.com"])
    assert answer == ConsentAnswer(processing=True, marketing=False, unsubscribe_token="")
    assert service.check("back@example.com", Purpose.MARKETING) is False


def test_an_invalid_address_is_an_unknown_one_and_needs_no_lookup(service, uow):
    assert service.check_batch(["not-an-address"]) == [ConsentAnswer()]
    assert uow.batch_lookups == []


@pytest.mark.parametrize(
    ("emails", "field"),
    [([], "emails"), (["a@example.com"] * (MAX_BATCH + 1), "emails"), (["a@example.com", " "], "emails[1]"),
     (["x" * 250 + "@example.com"], "emails[0]")],
)  # fmt: skip
def test_a_batch_out_of_bounds_is_refused_naming_the_field(service, uow, emails, field):
    with pytest.raises(InvalidArgument) as refused:
        service.check_batch(emails)
    assert refused.value.field == field
    assert uow.batch_lookups == []


def test_the_servicer_answers_one_result_per_email_and_rejects_an_empty_batch(service):
    grant(service, "both@example.com", marketing=True, processing=True)
    rpc = InProcessService(pb.DESCRIPTOR.services_by_name["ConsentService"], ConsentServicer(service))
    answer = rpc.call(
        "CheckConsentBatch", pb.CheckConsentBatchRequest(emails=["nobody@example.com", "both@example.com"])
    )
    assert [(r.processing_allowed, r.marketing_allowed) for r in answer.results] == [
        (False, False),
        (True, True),
    ]
    assert answer.results[0].unsubscribe_token == ""
    assert answer.results[1].unsubscribe_token
    with pytest.raises(CallFailed) as refused:
        rpc.call("CheckConsentBatch", pb.CheckConsentBatchRequest())
    assert "emails" in refused.value.details


def test_the_batch_rpc_is_internal_and_no_http_route():
    method = pb.DESCRIPTOR.services_by_name["ConsentService"].methods_by_name["CheckConsentBatch"]
    assert declared_access(method) == access_pb2.ACCESS_INTERNAL
    assert all(binding.rpc_name != method.full_name for binding in load_bindings())
