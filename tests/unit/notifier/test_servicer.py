"""NotifierServicer through grpcio-testing: requests become use-case calls and answers become messages."""

from __future__ import annotations

import json

import grpc
import pytest

from novahouse.notifier.v1 import notifier_pb2 as pb
from services.notifier.domain.model import ErrorInfo, RetryableFailure
from services.notifier.transport.servicer import NotifierServicer
from tests.support.grpc_testing_server import CallFailed, InProcessService
from tests.unit.notifier.fakes import Notifier


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


@pytest.fixture
def rpc(notifier) -> InProcessService:
    return InProcessService(
        pb.DESCRIPTOR.services_by_name["NotifierService"],
        NotifierServicer(notifier.delivery, notifier.dead_letters),
    )


def test_notify_turns_the_request_into_a_message_and_answers_its_id_and_status(rpc, notifier):
    answer = rpc.call(
        "Notify", pb.NotifyRequest(idempotency_key="lead:7:slack", slack=pb.SlackMessage(text="Hot lead #7"))
    )
    assert (answer.notification_id, answer.status) == ("1", pb.NOTIFICATION_STATUS_DELIVERED)
    assert [m.text for m in notifier.slack.delivered] == ["Hot lead #7"]
    again = rpc.call(
        "Notify", pb.NotifyRequest(idempotency_key="lead:7:slack", slack=pb.SlackMessage(text="again"))
    )
    assert (again.notification_id, again.status) == ("1", pb.NOTIFICATION_STATUS_DUPLICATE)


def test_a_dead_letter_is_shown_with_its_error_payload_and_times(rpc, notifier):
    notifier.slack.answer(RetryableFailure(ErrorInfo("HTTPError", 503, "unavailable")))
    queued = rpc.call(
        "Notify",
        pb.NotifyRequest(
            idempotency_key="k", email=pb.EmailMessage(to="Anna@Example.com", subject="Hi", body="Body")
        ),
    )
    assert queued.status == pb.NOTIFICATION_STATUS_DELIVERED  # e-mail went through SMTP
    rpc.call("Notify", pb.NotifyRequest(idempotency_key="s", slack=pb.SlackMessage(text="alert")))

    listed = rpc.call("ListDeadLetters", pb.ListDeadLettersRequest(status=pb.DEAD_LETTER_STATUS_PENDING))
    [entry] = listed.entries
    assert (entry.id, entry.channel, entry.status, entry.attempts) == (
        "2",
        pb.CHANNEL_SLACK,
        pb.DEAD_LETTER_STATUS_PENDING,
        1,
    )
    assert (entry.last_error_class, entry.last_error_status, entry.last_error_text) == (
        "HTTPError",
        503,
        "unavailable",
    )
    assert entry.next_attempt_at.ToDatetime(tzinfo=notifier.clock.now.tzinfo) > notifier.clock.now
    assert json.loads(entry.payload_json) == {"text": "alert"}
    email = rpc.call("GetDeadLetter", pb.GetDeadLetterRequest(id="1")).entry
    assert json.loads(email.payload_json)["to"] == "anna@example.com"
    assert email.delivered_at.ToDatetime(tzinfo=notifier.clock.now.tzinfo) == notifier.clock.now

    stats = rpc.call("GetDeadLetterStats", pb.GetDeadLetterStatsRequest())
    assert (stats.pending, stats.delivered, stats.failed) == (1, 1, 0)


def test_admin_calls_reach_their_use_cases(rpc, notifier):
    notifier.slack.answer(RetryableFailure(ErrorInfo("HTTPError", 503, "x")))
    rpc.call("Notify", pb.NotifyRequest(idempotency_key="k", slack=pb.SlackMessage(text="alert")))
    notifier.clock.advance(3600)

    retried = rpc.call("RetryDeadLetters", pb.RetryDeadLettersRequest(ids=["1"]))
    assert (retried.retried, retried.delivered, retried.failed) == (1, 1, 0)
    purged = rpc.call("PurgeDeadLetters", pb.PurgeDeadLettersRequest(status=pb.DEAD_LETTER_STATUS_DELIVERED))
    assert purged.purged == 0  # finished just now, not before today
    breakers = rpc.call("ListBreakers", pb.ListBreakersRequest()).breakers
    assert [(b.name, b.state) for b in breakers] == [
        ("slack", pb.BREAKER_STATE_CLOSED),
        ("email", pb.BREAKER_STATE_CLOSED),
    ]
    assert rpc.call("ResetBreaker", pb.ResetBreakerRequest(name="email")).breaker.name == "email"


@pytest.mark.parametrize(
    ("method", "request_message", "text"),
    [
        ("Notify", pb.NotifyRequest(idempotency_key="k"), "message: one of slack, monday or email"),
        ("GetDeadLetter", pb.GetDeadLetterRequest(id="abc"), "id:"),
        ("RetryDeadLetters", pb.RetryDeadLettersRequest(ids=["-1"]), "ids:"),
        ("GetDeadLetter", pb.GetDeadLetterRequest(id="5"), "no notification with id 5"),
    ],
)
def test_bad_requests_leave_the_servicer_as_the_use_case_error(rpc, notifier, method, request_message, text):
    with pytest.raises(CallFailed) as failed:
        rpc.call(method, request_message)
    assert failed.value.code is grpc.StatusCode.UNKNOWN  # mapped by the interceptor, absent here
    assert text in failed.value.details
    assert notifier.uow.stored == {}
