"""Notify over a real channel, delivering to real HTTP and SMTP servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from novahouse.notifier.v1 import notifier_pb2 as pb
from tests.support.rpc import violated_fields

DELIVERED, QUEUED = pb.NOTIFICATION_STATUS_DELIVERED, pb.NOTIFICATION_STATUS_QUEUED
DUPLICATE, FAILED = pb.NOTIFICATION_STATUS_DUPLICATE, pb.NOTIFICATION_STATUS_FAILED


def slack_alert(key: str, text: str = "Hot lead: anna@example.com (score 85)") -> pb.NotifyRequest:
    return pb.NotifyRequest(idempotency_key=key, slack=pb.SlackMessage(text=text))


def test_slack_alert_is_posted_to_the_webhook(notifier, slack):
    answer = notifier.Notify(slack_alert("lead:1:slack"))
    assert answer.status == DELIVERED
    assert answer.notification_id.isdigit()
    assert slack.delivered() == [{"text": "Hot lead: anna@example.com (score 85)"}]
    assert slack.received[0].path == "/services/T0/B0/x"


def test_monday_item_is_created_through_graphql(notifier, monday):
    columns = {"email": {"email": "anna@example.com", "text": "anna@example.com"}, "numbers": "85"}
    answer = notifier.Notify(
        pb.NotifyRequest(
            idempotency_key="lead:1:monday",
            monday=pb.MondayItem(item_name="Anna Kowalska", column_values_json=json.dumps(columns)),
        )
    )
    assert answer.status == DELIVERED
    [request] = monday.received
    assert request.headers["Authorization"] == "monday-test-key"
    assert "create_item" in request.body["query"]
    assert request.body["variables"] == {
        "board": "4242",
        "name": "Anna Kowalska",
        "columns": json.dumps(columns),
    }


def test_email_is_sent_through_smtp(notifier, smtp):
    answer = notifier.Notify(
        pb.NotifyRequest(
            idempotency_key="followup:7:1",
            email=pb.EmailMessage(
                to="Anna@Example.com", subject="Twoja wycena", body="Dzień dobry,\nczy ..."
            ),
        )
    )
    assert answer.status == DELIVERED
    [mail] = smtp.messages
    assert (mail.mail_from, mail.recipients, mail.subject) == (
        "alerts@novahouse.example.com",
        ["anna@example.com"],
        "Twoja wycena",
    )
    assert mail.body.startswith("Dzień dobry,\nczy ...")


def test_a_repeated_key_is_a_duplicate_and_never_delivered_again(notifier, slack):
    first = notifier.Notify(slack_alert("lead:2:slack"))
    again = notifier.Notify(slack_alert("lead:2:slack", text="changed text"))
    assert (first.status, again.status) == (DELIVERED, DUPLICATE)
    assert again.notification_id == first.notification_id
    assert len(slack.received) == 1


def test_concurrent_calls_with_one_key_deliver_once(notifier, slack):
    threads = 8
    barrier = threading.Barrier(threads)

    def send(_):
        barrier.wait()
        return notifier.Notify(slack_alert("lead:3:slack"), timeout=10)

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(send, range(threads)))
    assert len({a.notification_id for a in answers}) == 1
    assert sorted(a.status for a in answers).count(DUPLICATE) == threads - 1
    assert len(slack.received) == 1


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (pb.NotifyRequest(slack=pb.SlackMessage(text="hi")), "idempotency_key"),
        (pb.NotifyRequest(idempotency_key="k" * 201, slack=pb.SlackMessage(text="hi")), "idempotency_key"),
        (pb.NotifyRequest(idempotency_key="k"), "message"),
        (pb.NotifyRequest(idempotency_key="k", slack=pb.SlackMessage(text="  ")), "slack.text"),
        (pb.NotifyRequest(idempotency_key="k", slack=pb.SlackMessage(text="x" * 4001)), "slack.text"),
        (pb.NotifyRequest(idempotency_key="k", monday=pb.MondayItem(item_name="")), "monday.item_name"),
        (
            pb.NotifyRequest(
                idempotency_key="k", monday=pb.MondayItem(item_name="A", column_values_json="{nope")
            ),
            "monday.column_values_json",
        ),
        (
            pb.NotifyRequest(
                idempotency_key="k", monday=pb.MondayItem(item_name="A", column_values_json="[1]")
            ),
            "monday.column_values_json",
        ),
        (
            pb.NotifyRequest(
                idempotency_key="k", email=pb.EmailMessage(to="not-an-address", subject="s", body="b")
            ),
            "email.to",
        ),
        (
            pb.NotifyRequest(
                idempotency_key="k", email=pb.EmailMessage(to="a@b.pl", subject="a\r\nBcc: x@y.pl", body="b")
            ),
            "email.subject",
        ),
        (
            pb.NotifyRequest(
                idempotency_key="k", email=pb.EmailMessage(to="a@b.pl", subject="s", body="b" * 20001)
            ),
            "email.body",
        ),
    ],
)
def test_bad_input_is_invalid_argument_and_queues_nothing(notifier, slack, request_message, field):
    with pytest.raises(grpc.RpcError) as caught:
        notifier.Notify(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]
    assert notifier.GetDeadLetterStats(pb.GetDeadLetterStatsRequest()).counts == []
    assert slack.received == []


@pytest.mark.parametrize(
    ("unset", "request_message", "variable"),
    [
        ({"SLACK_WEBHOOK_URL": ""}, slack_alert("k"), "SLACK_WEBHOOK_URL"),
        (
            {"MONDAY_BOARD_ID": ""},
            pb.NotifyRequest(idempotency_key="k", monday=pb.MondayItem(item_name="A")),
            "MONDAY_BOARD_ID",
        ),
        (
            {"SMTP_HOST": ""},
            pb.NotifyRequest(idempotency_key="k", email=pb.EmailMessage(to="a@b.pl", subject="s", body="b")),
            "SMTP_HOST",
        ),
    ],
)
def test_an_unconfigured_channel_is_failed_precondition_naming_the_variable(
    notifiers, unset, request_message, variable
):
    notifier = notifiers.start(**unset)
    with pytest.raises(grpc.RpcError) as caught:
        notifier.Notify(request_message)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"{variable} is not set" in caught.value.details()
    assert notifier.GetDeadLetterStats(pb.GetDeadLetterStatsRequest()).counts == []


def test_admin_views_of_an_entry(notifier, slack):
    slack.answer("error")
    queued = notifier.Notify(slack_alert("lead:9:slack"))
    assert queued.status == QUEUED
    entry = notifier.GetDeadLetter(pb.GetDeadLetterRequest(id=queued.notification_id)).entry
    assert (entry.channel, entry.idempotency_key, entry.status, entry.attempts) == (
        pb.CHANNEL_SLACK,
        "lead:9:slack",
        pb.DEAD_LETTER_STATUS_PENDING,
        1,
    )
    assert (entry.last_error_class, entry.last_error_status, entry.last_error_text) == (
        "HTTPError",
        500,
        "internal_error",
    )
    assert entry.HasField("next_attempt_at")
    assert json.loads(entry.payload_json) == {"text": "Hot lead: anna@example.com (score 85)"}
    listed = notifier.ListDeadLetters(pb.ListDeadLettersRequest(status=pb.DEAD_LETTER_STATUS_PENDING)).entries
    assert [e.id for e in listed] == [queued.notification_id]
    assert notifier.ListDeadLetters(pb.ListDeadLettersRequest(channel=pb.CHANNEL_EMAIL)).entries == []
    stats = notifier.GetDeadLetterStats(pb.GetDeadLetterStatsRequest())
    assert (stats.pending, stats.failed, stats.delivered) == (1, 0, 0)
    assert stats.oldest_pending_age_seconds >= 0
    with pytest.raises(grpc.RpcError) as missing:
        notifier.GetDeadLetter(pb.GetDeadLetterRequest(id="999999"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
