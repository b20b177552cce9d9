"""The buf.validate rules of the contracts, as the gRPC call interceptor checks them (protovalidate), and
the patterns that stand for what the services accept: every value a pattern allows is accepted, and
everything a service issues matches it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novahouse.chat.v1 import chat_pb2
from novahouse.consent.v1 import consent_pb2
from novahouse.notifier.v1 import notifier_pb2
from novahouse.privacy.v1 import privacy_pb2
from services.gateway.application.field_rules import item_rules
from services.runtime.errors import InvalidArgument, PermissionDenied
from services.runtime.ids import MAX_ID
from services.runtime.pagination import decode_page_token, encode_page_token
from services.runtime.signed_links import CONFIRM, UNSUBSCRIBE, LinkSigner
from services.runtime.validation import check_request


def violations(request) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as refused:
        check_request(request)
    return dict(refused.value.violations)


def pattern(message, field: str) -> str:
    rules = item_rules(message.DESCRIPTOR.fields_by_name[field])
    assert rules is not None
    return rules.string.pattern


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            notifier_pb2.ListDeadLettersRequest(page_size=-1),
            {"page_size": "must be greater than or equal to 0"},
        ),
        (notifier_pb2.RetryDeadLettersRequest(ids=["1", "x"]), {"ids[1]"}),
        (notifier_pb2.NotifyRequest(slack=notifier_pb2.SlackMessage()), {"idempotency_key", "slack.text"}),
        (notifier_pb2.PurgeDeadLettersRequest(status=notifier_pb2.DEAD_LETTER_STATUS_PENDING), {"status"}),
        (consent_pb2.UnsubscribeRequest(email="a@b.pl", reason="r" * 1001), {"reason"}),
        (consent_pb2.CheckConsentRequest(email="a@b.pl"), {"purpose"}),
        (consent_pb2.ListAuditLogRequest(action="delete"), {"action"}),
        (consent_pb2.ListAuditLogRequest(page_token="bm90LWEtdG9rZW4="), {"page_token"}),
        (consent_pb2.ConfirmConsentRequest(token="abcde.fg"), {"token"}),
        (chat_pb2.SendMessageRequest(message=" \t\n"), {"message"}),
        (chat_pb2.SendMessageRequest(message="x" * 4001), {"message"}),
        (chat_pb2.SendMessageRequest(message="hi", consent_text_version="v" * 65), {"consent_text_version"}),
        (chat_pb2.SendMessageRequest(message="hi", language="x" * 36), {"language"}),
        (chat_pb2.SendFollowupRequest(conversation_id="1"), {"followup_number"}),
        (privacy_pb2.ErasePersonalDataRequest(), {"email": "is required"}),
    ],
)
def test_a_request_breaking_its_contract_is_refused_naming_every_field(request_, expected):
    found = violations(request_)
    if isinstance(expected, dict):
        assert found == expected
    else:
        assert set(found) == expected


@pytest.mark.parametrize(
    "request_",
    [
        notifier_pb2.ListDeadLettersRequest(page_token=encode_page_token(42)),
        notifier_pb2.PurgeDeadLettersRequest(status=notifier_pb2.DEAD_LETTER_STATUS_FAILED),
        consent_pb2.UnsubscribeRequest(email=" Anna@Example.COM "),  # the domain normalises it
        consent_pb2.ListAuditLogRequest(),  # every filter optional
        consent_pb2.ListAuditLogRequest(action="consent-confirmed"),
        chat_pb2.SendMessageRequest(message="\u3000Dzień dobry!\n", email=""),
        chat_pb2.SendFollowupRequest(conversation_id="7", followup_number=1),
    ],
)
def test_a_request_within_its_contract_passes(request_):
    check_request(request_)


def test_the_page_token_pattern_matches_every_token_the_services_issue():
    rule = re.compile(pattern(notifier_pb2.ListDeadLettersRequest, "page_token"))
    assert rule.fullmatch("")
    for last_id in (0, 1, 9, 10, 99, 12345, 10**17, 10**18 - 1):
        assert rule.fullmatch(encode_page_token(last_id)), last_id
    # Ids past 18 digits (the ids' own pattern) are never issued: BIGSERIAL counts from 1.
    assert not rule.fullmatch(encode_page_token(MAX_ID))
    assert pattern(consent_pb2.ListAuditLogRequest, "page_token") == rule.pattern


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_page_token_the_pattern_allows_is_one_the_services_accept(data):
    token = data.draw(
        st.from_regex(pattern(notifier_pb2.ListDeadLettersRequest, "page_token"), fullmatch=True)
    )
    assert token == "" or decode_page_token(token) is not None


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_link_token_the_pattern_allows_is_checked_by_its_signature(data):
    token = data.draw(st.from_regex(pattern(consent_pb2.ConfirmConsentRequest, "token"), fullmatch=True))
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    with pytest.raises(PermissionDenied):  # never "malformed" (a 400): forged, a 403
        LinkSigner([b"secret-0123456789"]).verify(token, CONFIRM, dt.timedelta(days=1), now)


def test_the_link_token_pattern_matches_the_tokens_the_services_sign():
    rule = re.compile(pattern(consent_pb2.UnsubscribeOneClickRequest, "token"))
    signer = LinkSigner([b"secret-0123456789"])
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    for kind in (UNSUBSCRIBE, CONFIRM):
        for reference in ("ab" * 8, "0f" * 32):
            assert rule.fullmatch(signer.sign(kind, reference, now))
