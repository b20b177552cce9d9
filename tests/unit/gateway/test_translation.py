"""JSON ⇄ protobuf: what a request may contain, how every refusal names its field, and how responses
are printed (proto field names, defaults included)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import timestamp_pb2

from novahouse.chat.v1 import chat_pb2
from novahouse.consent.v1 import consent_pb2
from novahouse.notifier.v1 import notifier_pb2
from services.gateway.application.errors import GatewayError
from services.gateway.application.request_decoding import RequestTranslator
from services.gateway.application.response_rendering import ResponseRenderer
from tests.support.bindings import synthetic_binding as binding


def translator(message, path_fields=(), **options) -> RequestTranslator:
    return RequestTranslator(binding(message, **options), path_fields)


def refusal(translate, *args) -> dict[str, str]:
    with pytest.raises(GatewayError) as raised:
        translate(*args)
    error = raised.value
    assert (error.status, error.code) == (400, 3)
    body = json.loads(error.body())
    [detail] = body["details"]
    return {v["field"]: v["description"] for v in detail["field_violations"]}


def build_body(message, document: object):
    return translator(message).build({}, [], json.dumps(document).encode())


def test_a_body_becomes_the_request_message():
    request = build_body(
        chat_pb2.SendMessageRequest, {"session_id": "s", "message": "hi", "rodo_consent": True}
    )
    assert request == chat_pb2.SendMessageRequest(session_id="s", message="hi", rodo_consent=True)


def test_null_leaves_a_field_at_its_default_and_an_optional_flag_absent():
    request = build_body(chat_pb2.SendMessageRequest, {"message": None, "marketing_consent": None})
    assert request.message == ""
    assert not request.HasField("marketing_consent")


@pytest.mark.parametrize(
    ("message", "document", "violations"),
    [
        (consent_pb2.UnsubscribeRequest, {"email": 5}, {"email": "expected a string, got a number"}),
        (consent_pb2.UnsubscribeRequest, {"email": True}, {"email": "expected a string, got a boolean"}),
        (consent_pb2.UnsubscribeRequest, {"emial": "a"}, {"emial": "unknown field"}),
        (consent_pb2.UnsubscribeRequest, "a@example.com", {"body": "expected a JSON object, got a string"}),
        (chat_pb2.SendMessageRequest, {"sessionId": "s"}, {"sessionId": "unknown field"}),
        (
            chat_pb2.SendMessageRequest,
            {"rodo_consent": 1},
            {"rodo_consent": "expected true or false, got a number"},
        ),
        (
            notifier_pb2.PurgeDeadLettersRequest,
            {"older_than_days": 1.5},
            {"older_than_days": "expected an integer from -2147483648 to 2147483647"},
        ),
        (
            notifier_pb2.PurgeDeadLettersRequest,
            {"older_than_days": "30"},
            {"older_than_days": "expected an integer from -2147483648 to 2147483647"},
        ),
        (
            notifier_pb2.PurgeDeadLettersRequest,
            {"status": 2},
            {
                "status": "expected one of DEAD_LETTER_STATUS_UNSPECIFIED, DEAD_LETTER_STATUS_PENDING, "
                "DEAD_LETTER_STATUS_DELIVERED, DEAD_LETTER_STATUS_FAILED"
            },
        ),
        (
            notifier_pb2.RetryDeadLettersRequest,
            {"ids": "n-1"},
            {"ids": "expected a JSON array, got a string"},
        ),
        (notifier_pb2.RetryDeadLettersRequest, {"ids": ["n-1", None]}, {"ids[1]": "must not be null"}),
        (
            notifier_pb2.NotifyRequest,
            {"slack": {"text": "a", "colour": "red"}, "email": {"to": 1}},
            {
                "slack.colour": "unknown field",
                "email": "cannot be set together with slack (one of slack, monday, email)",
            },
        ),
        (
            notifier_pb2.NotifyRequest,
            {"slack": "hot lead"},
            {"slack": "expected a JSON object, got a string"},
        ),
        (
            consent_pb2.ListAuditLogRequest,
            {"since": "2026-13-01T00:00:00Z"},
            {"since": "expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"},
        ),
    ],
)
def test_every_field_it_cannot_accept_is_named(message, document, violations):
    assert refusal(build_body, message, document) == violations


def test_64_bit_integers_are_accepted_as_numbers_or_decimal_strings():
    request = build_body(notifier_pb2.DeadLetterCount, {"count": "9007199254740993"})
    assert request.count == 9007199254740993
    assert build_body(notifier_pb2.DeadLetterCount, {"count": 12.0}).count == 12
    assert refusal(build_body, notifier_pb2.DeadLetterCount, {"count": str(2**63)}) == {
        "count": "expected an integer from -9223372036854775808 to 9223372036854775807"
    }


def test_bodies_that_are_not_json_objects_are_refused():
    translate = translator(consent_pb2.UnsubscribeRequest).build
    assert refusal(translate, {}, [], b"{bad") == {
        "body": "is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    }
    assert refusal(translate, {}, [], b'{"email": Infinity}') == {
        "body": "is not valid JSON: Infinity is not a JSON value"
    }
    assert refusal(translate, {}, [], b'{"email": "\xff"}') == {
        "body": "is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte"
    }
    assert refusal(translate, {}, [], b"[" * 100_000 + b"]" * 100_000)["body"].startswith("is ")


def test_query_parameters_are_typed_by_their_fields():
    translate = translator(notifier_pb2.ListDeadLettersRequest, body="", http_method="GET").build
    request = translate(
        {}, [("status", "DEAD_LETTER_STATUS_FAILED"), ("page_size", "20"), ("page_token", "")], None
    )
    assert request == notifier_pb2.ListDeadLettersRequest(
        status=notifier_pb2.DEAD_LETTER_STATUS_FAILED, page_size=20
    )
    assert refusal(translate, {}, [("channel", "CHANNEL_FAX"), ("page_size", "-")], None) == {
        "channel": "expected one of CHANNEL_UNSPECIFIED, CHANNEL_SLACK, CHANNEL_MONDAY, CHANNEL_EMAIL",
        "page_size": "expected an integer from -2147483648 to 2147483647",
    }


def test_query_parameters_fill_booleans_timestamps_and_repeated_fields():
    flags = translator(chat_pb2.SendMessageRequest, body="", http_method="GET").build
    assert flags({}, [("marketing_consent", "false")], None).HasField("marketing_consent")
    assert refusal(flags, {}, [("rodo_consent", "yes")], None) == {"rodo_consent": "expected true or false"}
    audit = translator(consent_pb2.ListAuditLogRequest, body="", http_method="GET").build
    since = audit({}, [("since", "2026-01-31T12:00:00+01:00")], None).since
    assert since == timestamp_pb2.Timestamp(seconds=1769857200)
    ids = translator(notifier_pb2.RetryDeadLettersRequest, body="", http_method="POST").build
    assert list(ids({}, [("ids", "a"), ("ids", "b")], None).ids) == ["a", "b"]


def test_path_variables_set_their_fields_and_win_over_the_body():
    translate = translator(chat_pb2.GetConversationRequest, ["session_id"], body="", http_method="GET").build
    assert translate({"session_id": "s-1"}, [], None).session_id == "s-1"
    merged = translator(consent_pb2.UnsubscribeRequest, ["email"]).build(
        {"email": "path@example.com"}, [], b'{"email": "body@example.com", "reason": "r"}'
    )
    assert (merged.email, merged.reason) == ("path@example.com", "r")
    with pytest.raises(ValueError, match="no single field"):
        translator(chat_pb2.GetConversationRequest, ["conversation"], body="")


def test_a_body_bound_to_one_field_fills_only_that_field():
    translate = translator(notifier_pb2.NotifyRequest, body="slack").build
    request = translate({}, [("idempotency_key", "k")], b'{"text": "Hot lead"}')
    assert request == notifier_pb2.NotifyRequest(
        idempotency_key="k", slack=notifier_pb2.SlackMessage(text="Hot lead")
    )
    assert refusal(translate, {}, [], b'{"txt": "x"}') == {"slack.txt": "unknown field"}


def test_responses_print_proto_names_defaults_enum_names_and_64_bit_integers_as_strings():
    renderer = ResponseRenderer(binding(notifier_pb2.GetDeadLetterStatsRequest))
    stats = notifier_pb2.GetDeadLetterStatsResponse(
        counts=[notifier_pb2.DeadLetterCount(status=notifier_pb2.DEAD_LETTER_STATUS_PENDING, count=3)],
        pending=3,
    )
    assert json.loads(renderer.render(stats)) == {
        "counts": [{"status": "DEAD_LETTER_STATUS_PENDING", "channel": "CHANNEL_UNSPECIFIED", "count": "3"}],
        "pending": "3",
        "failed": "0",
        "delivered": "0",
        "oldest_pending_age_seconds": 0.0,
    }
    only_entry = ResponseRenderer(
        binding(
            notifier_pb2.GetDeadLetterRequest,
            response=notifier_pb2.GetDeadLetterResponse,
            response_body="entry",
        )
    )
    rendered = json.loads(
        only_entry.render(notifier_pb2.GetDeadLetterResponse(entry=notifier_pb2.DeadLetter(id="n")))
    )
    assert rendered["id"] == "n"
