"""CheckConsentBatch over a real gRPC channel, on SQLite and PostgreSQL: one answer per address, in
order, the same as CheckConsent's; unknown and erased addresses are allowed nothing."""

from __future__ import annotations

import grpc
import pytest

from novahouse.consent.v1 import consent_pb2 as pb
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc


def record(consent, email: str, *, marketing: bool, processing: bool) -> None:
    consent.RecordConsent(
        pb.RecordConsentRequest(email=email, marketing_consent=marketing, rodo_consent=processing)
    )


def check(consent, email: str, purpose: int) -> bool:
    return consent.CheckConsent(pb.CheckConsentRequest(email=email, purpose=purpose)).allowed


def test_a_batch_answers_each_address_as_check_consent_does(consent, consent_channel):
    record(consent, "both@example.com", marketing=True, processing=True)
    record(consent, "rodo@example.com", marketing=False, processing=True)
    record(consent, "left@example.com", marketing=True, processing=True)
    consent.Unsubscribe(pb.UnsubscribeRequest(email="left@example.com"))
    record(consent, "erased@example.com", marketing=True, processing=True)
    erase = privacy_pb2.ErasePersonalDataRequest(email="erased@example.com", reason="Art. 17 test")
    privacy_pb2_grpc.PrivacyServiceStub(consent_channel).ErasePersonalData(erase)
    emails = [
        "rodo@example.com",
        "Both@Example.com ",
        "never@example.com",
        "left@example.com",
        "erased@example.com",
        "not-an-address",
        "both@example.com",
    ]

    results = consent.CheckConsentBatch(pb.CheckConsentBatchRequest(emails=emails)).results

    assert [(r.processing_allowed, r.marketing_allowed) for r in results] == [
        (True, False),
        (True, True),
        (False, False),
        (True, False),
        (False, False),
        (False, False),
        (True, True),
    ]
    assert [bool(r.unsubscribe_token) for r in results] == [False, True, False, False, False, False, True]
    for email, result in zip(emails[:5], results, strict=False):
        assert result.marketing_allowed == check(consent, email, pb.CONSENT_PURPOSE_MARKETING)
        assert result.processing_allowed == check(consent, email, pb.CONSENT_PURPOSE_PROCESSING)


def test_an_erased_address_that_comes_back_with_consent_is_not_mailed(consent, consent_channel):
    record(consent, "back@example.com", marketing=True, processing=True)
    erase = privacy_pb2.ErasePersonalDataRequest(email="back@example.com", reason="Art. 17 test")
    privacy_pb2_grpc.PrivacyServiceStub(consent_channel).ErasePersonalData(erase)
    record(consent, "back@example.com", marketing=True, processing=True)
    [result] = consent.CheckConsentBatch(pb.CheckConsentBatchRequest(emails=["back@example.com"])).results
    assert (result.processing_allowed, result.marketing_allowed, result.unsubscribe_token) == (
        True,
        False,
        "",
    )


def test_a_full_batch_is_answered_and_one_more_is_refused(consent):
    emails = [f"person-{i}@example.com" for i in range(500)]
    for email in emails[::50]:
        record(consent, email, marketing=False, processing=True)
    results = consent.CheckConsentBatch(pb.CheckConsentBatchRequest(emails=emails)).results
    assert [i for i, r in enumerate(results) if r.processing_allowed] == list(range(0, 500, 50))
    for refused in ([], [*emails, "one-more@example.com"], ["ok@example.com", ""]):
        with pytest.raises(grpc.RpcError) as caught:
            consent.CheckConsentBatch(pb.CheckConsentBatchRequest(emails=refused))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "emails" in caught.value.details()
