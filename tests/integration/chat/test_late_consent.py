"""A grant that reaches the consent service after the person's later withdrawal (a busy relay, a consent
restart, a retry) changes nothing: event time decides, not arrival. Through the real outbox relay, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import create_engine, func, select, update

from novahouse.chat.v1 import chat_pb2 as pb
from novahouse.consent.v1 import consent_pb2
from services.chat.adapters.tables import outbox
from tests.integration.chat.test_followups import SKIPPED, followups_of, open_conversation, send


def test_a_grant_handed_over_after_the_revoke_leaves_consent_revoked_and_sends_no_follow_up(stack, smtp):
    email = "zofia@example.com"
    stack.stop_consent()  # chat runs while consent cannot be reached
    conversation_id = open_conversation(stack, "late-1", email)  # marketing and processing consent
    database = create_engine(stack.chat_environ["CHAT_DATABASE_URL"])
    far = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with database.begin() as connection:  # a busy relay: the grant is held back
        connection.execute(update(outbox).values(claim_token="busy", leased_until=far))
    stack.start_consent()
    stack.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(email=email, reason="changed my mind"))

    with database.begin() as connection:  # consent reachable, the relay hands the older grant over
        connection.execute(update(outbox).values(claim_token=None, leased_until=None))
    deadline = time.monotonic() + 15
    while True:
        with database.connect() as connection:
            if connection.execute(select(func.count()).select_from(outbox)).scalar_one() == 0:
                break
        assert time.monotonic() < deadline, "the relay did not hand the grant over"
        time.sleep(0.1)
    database.dispose()

    status = stack.consent.GetConsentStatus(consent_pb2.GetConsentStatusRequest(email=email))
    assert (status.marketing_consent, status.rodo_consent, status.is_unsubscribed) == (False, False, True)
    assert status.last_action == "revoke-consent"
    audit = stack.consent.ListAuditLog(consent_pb2.ListAuditLogRequest(email=email)).entries
    assert [entry.action for entry in audit] == ["consent-superseded", "revoke-consent"]
    grant, revoke = audit
    assert grant.given_at.ToDatetime() < revoke.timestamp.ToDatetime()  # given before the revoke
    assert grant.timestamp.ToDatetime() > revoke.timestamp.ToDatetime()  # ... and arrived after it

    time.sleep(1.1)  # follow-up 1 is due
    report = stack.chat.RunDueFollowups(pb.RunDueFollowupsRequest())
    assert report.sent == 0
    assert report.skipped_no_consent >= 1  # follow-up 2 may be due by now too
    assert send(stack, conversation_id, 1) != pb.FOLLOWUP_STATUS_SENT
    assert send(stack, conversation_id, 1) in (SKIPPED, pb.FOLLOWUP_STATUS_ALREADY_SENT)
    assert followups_of(stack, "late-1") == []
    time.sleep(0.5)
    assert smtp.messages == []
