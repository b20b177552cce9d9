"""ConsentServicer through grpcio-testing: the caller's identity from the gateway's metadata reaches the
audit log, optional fields keep "not given" apart from false, and answers are rendered."""

from __future__ import annotations

import grpc
import pytest

from novahouse.consent.v1 import consent_pb2 as pb
from services.consent.application.service import ConsentService
from services.consent.transport.servicer import ConsentServicer
from services.runtime.identity import CLIENT_IP_KEY, CLIENT_USER_AGENT_KEY
from tests.support.grpc_testing_server import CallFailed, InProcessService
from tests.unit.consent.fakes import NOW, PSEUDONYMIZE, FakeUnitOfWork

GATEWAY_METADATA = ((CLIENT_IP_KEY, "198.51.100.7"), (CLIENT_USER_AGENT_KEY, "Widget/2.0"))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def rpc(uow) -> InProcessService:
    service = ConsentService(lambda: uow, PSEUDONYMIZE, clock=lambda: NOW)
    return InProcessService(pb.DESCRIPTOR.services_by_name["ConsentService"], ConsentServicer(service))


def test_recorded_consent_is_audited_with_the_callers_identity(rpc, uow):
    rpc.call(
        "RecordConsent",
        pb.RecordConsentRequest(email="anna@example.com", rodo_consent=True),
        GATEWAY_METADATA,
    )
    answer = rpc.call(
        "RecordConsent",
        pb.RecordConsentRequest(email="Anna@Example.com", marketing_consent=False, source="chat"),
        GATEWAY_METADATA,
    )
    # rodo_consent not given the second time: kept, not turned into false
    assert (answer.email, answer.marketing_consent, answer.rodo_consent) == ("anna@example.com", False, True)
    assert answer.last_action_at.ToDatetime(NOW.tzinfo) == NOW
    entry = uow.stored_audit[-1][1]
    assert (entry.ip_address, entry.user_agent, entry.source) == ("198.51.100.7", "Widget/2.0", "chat")


def test_unsubscribe_status_check_and_audit_log(rpc):
    rpc.call("Unsubscribe", pb.UnsubscribeRequest(email="anna@example.com", reason="spam"), GATEWAY_METADATA)

    status = rpc.call("GetConsentStatus", pb.GetConsentStatusRequest(email="ANNA@example.com"))
    assert (status.is_unsubscribed, status.last_action) == (True, "unsubscribe")
    check = rpc.call(
        "CheckConsent",
        pb.CheckConsentRequest(email="anna@example.com", purpose=pb.CONSENT_PURPOSE_MARKETING),
    )
    assert check.allowed is False
    [entry] = rpc.call("ListAuditLog", pb.ListAuditLogRequest(page_size=10)).entries
    assert (entry.email, entry.action, entry.reason, entry.ip_address) == (
        "anna@example.com",
        "unsubscribe",
        "spam",
        "198.51.100.7",
    )
    revoked = rpc.call("RevokeConsent", pb.RevokeConsentRequest(email="anna@example.com"), GATEWAY_METADATA)
    assert (revoked.success, revoked.affected_records) == (True, 0)


@pytest.mark.parametrize(
    ("method", "request_message", "text"),
    [
        ("GetConsentStatus", pb.GetConsentStatusRequest(email="nobody@example.com"), "nobody"),
        ("Unsubscribe", pb.UnsubscribeRequest(email="not-an-email"), "email:"),
    ],
)
def test_bad_requests_leave_the_servicer_as_the_use_case_error(rpc, uow, method, request_message, text):
    with pytest.raises(CallFailed) as failed:
        rpc.call(method, request_message, GATEWAY_METADATA)
    assert failed.value.code is grpc.StatusCode.UNKNOWN  # mapped by the interceptor, absent here
    assert text in failed.value.details
    assert uow.stored_audit == []
