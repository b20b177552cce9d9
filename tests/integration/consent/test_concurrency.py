"""Concurrent calls for one email never lose an update or an audit entry (threads on a real server)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from novahouse.consent.v1 import consent_pb2 as pb

THREADS = 8
ROUNDS = 5


def test_concurrent_revocations_count_each_granted_consent_once(consent, backend):
    """Each round grants both consents, then eight threads revoke at once: exactly one of them may see
    the two granted consents. A lost update would let several report affected_records=2."""
    email = "race@example.com"
    barrier = threading.Barrier(THREADS)

    def revoke(_):
        barrier.wait()
        return consent.RevokeConsent(pb.RevokeConsentRequest(email=email), timeout=30).affected_records

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(ROUNDS):
            consent.RecordConsent(
                pb.RecordConsentRequest(email=email, marketing_consent=True, rodo_consent=True)
            )
            affected = list(pool.map(revoke, range(THREADS)))
            assert sorted(affected) == [0] * (THREADS - 1) + [2]

    entries = consent.ListAuditLog(pb.ListAuditLogRequest(email=email, page_size=500)).entries
    assert len(entries) == ROUNDS * (THREADS + 1)
    assert sum(e.action == "revoke-consent" for e in entries) == ROUNDS * THREADS
    # Concurrent writers took turns at the chain's head: one linear chain.
    verified = consent.VerifyAuditLog(pb.VerifyAuditLogRequest())
    assert (verified.ok, verified.entries_checked) == (True, ROUNDS * (THREADS + 1))


def test_concurrent_first_requests_for_a_new_email_create_one_subject(consent):
    emails = [f"new{i}@example.com" for i in range(10)]
    barrier = threading.Barrier(THREADS)

    def hammer(worker):
        barrier.wait()
        for email in emails:
            if worker % 2:
                consent.Unsubscribe(pb.UnsubscribeRequest(email=email), timeout=30)
            else:
                consent.RecordConsent(pb.RecordConsentRequest(email=email, rodo_consent=True), timeout=30)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(hammer, range(THREADS)))

    for email in emails:
        entries = consent.ListAuditLog(pb.ListAuditLogRequest(email=email, page_size=100)).entries
        assert len(entries) == THREADS
        status = consent.GetConsentStatus(pb.GetConsentStatusRequest(email=email))
        assert status.rodo_consent
        assert not status.marketing_consent
    verified = consent.VerifyAuditLog(pb.VerifyAuditLogRequest())
    assert (verified.ok, verified.entries_checked) == (True, len(emails) * THREADS)
