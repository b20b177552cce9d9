"""Breakers, the dead-letter queue, retries, escalation and the admin RPCs, against real sinks."""

from __future__ import annotations

import datetime as dt
import threading
import time

import grpc
import pytest

from novahouse.notifier.v1 import notifier_pb2 as pb
from tests.support.fake_sinks import ESCALATION_EMAIL

DELIVERED, QUEUED, FAILED = (
    pb.NOTIFICATION_STATUS_DELIVERED,
    pb.NOTIFICATION_STATUS_QUEUED,
    pb.NOTIFICATION_STATUS_FAILED,
)


def alert(key: str) -> pb.NotifyRequest:
    return pb.NotifyRequest(idempotency_key=key, slack=pb.SlackMessage(text=f"alert {key}"))


def breaker(notifier, name="slack") -> pb.Breaker:
    return next(b for b in notifier.ListBreakers(pb.ListBreakersRequest()).breakers if b.name == name)


def entry(notifier, notification_id: str) -> pb.DeadLetter:
    return notifier.GetDeadLetter(pb.GetDeadLetterRequest(id=notification_id)).entry


def retry(notifier, *ids: str) -> pb.RetryDeadLettersResponse:
    return notifier.RetryDeadLetters(pb.RetryDeadLettersRequest(ids=list(ids)), timeout=30)


def key_of(body: dict) -> str:
    return body["text"].removeprefix("alert ")


def test_the_breaker_opens_after_five_failures_and_notify_stops_touching_the_sink(notifier, slack):
    slack.answer("error")
    answers = [notifier.Notify(alert(f"k{i}")) for i in range(5)]
    assert [a.status for a in answers] == [QUEUED] * 5
    assert slack.hits() == 5
    state = breaker(notifier)
    assert (state.state, state.fail_counter, state.fail_max) == (pb.BREAKER_STATE_OPEN, 5, 5)
    assert state.HasField("opened_at")

    sixth = notifier.Notify(alert("k5"))
    assert sixth.status == QUEUED
    assert slack.hits() == 5
    assert entry(notifier, sixth.notification_id).attempts == 0
    assert [entry(notifier, a.notification_id).attempts for a in answers] == [1] * 5


def test_half_open_recovery_drains_the_queue_exactly_once(notifier, slack):
    slack.answer("error")
    for i in range(7):
        notifier.Notify(alert(f"k{i}"))
    slack.answer("ok")
    time.sleep(1.2)  # CB_RESET_TIMEOUT=1
    report = retry(notifier)
    assert (report.retried, report.delivered, report.failed) == (7, 7, 0)
    assert breaker(notifier).state == pb.BREAKER_STATE_CLOSED
    assert slack.deliveries_per_key(key_of) == {f"k{i}": 1 for i in range(7)}
    assert notifier.GetDeadLetterStats(pb.GetDeadLetterStatsRequest()).pending == 0


def test_a_failed_trial_call_opens_the_breaker_again(notifier, slack):
    slack.answer("error")
    for i in range(5):
        notifier.Notify(alert(f"k{i}"))
    time.sleep(1.2)
    hits = slack.hits()
    assert retry(notifier).retried == 1  # the trial call; it fails and the rest wait again
    assert slack.hits() == hits + 1
    assert breaker(notifier).state == pb.BREAKER_STATE_OPEN


def test_open_breaker_rejections_use_no_attempt(notifiers, slack):
    notifier = notifiers.start(CB_RESET_TIMEOUT="60")
    slack.answer("error")
    for i in range(5):
        notifier.Notify(alert(f"k{i}"))
    waiting = [notifier.Notify(alert(f"late{i}")).notification_id for i in range(3)]
    time.sleep(0.3)  # past the backoff of the first five
    report = retry(notifier)
    assert report.retried == 0
    assert [entry(notifier, i).attempts for i in waiting] == [0, 0, 0]
    assert all(entry(notifier, i).status == pb.DEAD_LETTER_STATUS_PENDING for i in waiting)


@pytest.mark.parametrize(
    ("sink_name", "mode", "request_message", "status"),
    [
        ("slack", "invalid", alert("p"), 400),
        ("slack", "unauthorized", alert("p"), 401),
        (
            "monday",
            "graphql-errors",
            pb.NotifyRequest(idempotency_key="p", monday=pb.MondayItem(item_name="A")),
            200,
        ),
        (
            "smtp",
            "permanent",
            pb.NotifyRequest(idempotency_key="p", email=pb.EmailMessage(to="a@b.pl", subject="s", body="b")),
            550,
        ),
    ],
)
def test_a_permanent_rejection_fails_at_once_and_is_not_counted_by_the_breaker(
    notifier, request, sink_name, mode, request_message, status
):
    sink = request.getfixturevalue(sink_name)
    sink.answer(mode)
    answers = []
    for i in range(6):
        message = pb.NotifyRequest()
        message.CopyFrom(request_message)
        message.idempotency_key = f"p{i}"
        answers.append(notifier.Notify(message))
    assert [a.status for a in answers] == [FAILED] * 6
    failed = entry(notifier, answers[0].notification_id)
    assert (failed.status, failed.attempts, failed.last_error_status) == (
        pb.DEAD_LETTER_STATUS_FAILED,
        1,
        status,
    )
    channel = {"smtp": "email"}.get(sink_name, sink_name)
    assert (breaker(notifier, channel).state, breaker(notifier, channel).fail_counter) == (
        pb.BREAKER_STATE_CLOSED,
        0,
    )


def test_a_429_waits_for_retry_after_without_using_an_attempt(notifier, slack):
    slack.answer("rate-limited", retry_after="2")
    queued = notifier.Notify(alert("r"))
    assert queued.status == QUEUED
    waiting = entry(notifier, queued.notification_id)
    assert (waiting.attempts, waiting.last_error_status) == (0, 429)
    delay = waiting.next_attempt_at.ToDatetime(dt.UTC) - waiting.created_at.ToDatetime(dt.UTC)
    assert dt.timedelta(seconds=2) <= delay < dt.timedelta(seconds=3)  # answered at + Retry-After
    assert breaker(notifier).fail_counter == 0
    slack.answer("ok")
    assert retry(notifier).retried == 0  # not due yet
    time.sleep(2.1)
    assert retry(notifier).delivered == 1
    assert slack.deliveries_per_key(key_of) == {"r": 1}


def test_retryable_failures_back_off_then_fail_after_max_retries(notifiers, slack):
    """The backoff formula itself is unit-tested; here: entries wait, attempts count, then FAILED."""
    notifier = notifiers.start(DLQ_MAX_RETRIES="3", DLQ_BACKOFF_SECONDS="0.2", DLQ_BACKOFF_MAX_SECONDS="10")
    slack.answer("error")
    notification_id = notifier.Notify(alert("b")).notification_id
    for attempts in (1, 2):
        waiting = entry(notifier, notification_id)
        assert (waiting.status, waiting.attempts) == (pb.DEAD_LETTER_STATUS_PENDING, attempts)
        wait = waiting.next_attempt_at.ToDatetime(dt.UTC) - waiting.created_at.ToDatetime(dt.UTC)
        assert wait > dt.timedelta(seconds=0.1 * attempts)  # at least half of 0.2·2^(n-1) after creation
        while entry(notifier, notification_id).attempts == attempts:
            time.sleep(0.05)
            retry(notifier)
    failed = entry(notifier, notification_id)
    assert (failed.status, failed.attempts) == (pb.DEAD_LETTER_STATUS_FAILED, 3)
    assert slack.hits() == 3


def test_one_escalation_email_per_pass_lists_every_entry_that_failed(notifiers, slack, smtp):
    notifier = notifiers.start(DLQ_MAX_RETRIES="2", CB_FAIL_MAX="50")
    slack.answer("error")
    ids = [notifier.Notify(alert(f"e{i}")).notification_id for i in range(3)]
    time.sleep(0.25)
    report = retry(notifier)
    assert (report.retried, report.failed) == (3, 3)
    [mail] = smtp.messages
    assert mail.recipients == [ESCALATION_EMAIL]
    assert "3 notification(s) failed" in mail.subject
    for notification_id, key in zip(ids, ("e0", "e1", "e2"), strict=True):
        assert f"#{notification_id} slack key={key} attempts=2" in mail.body
    retry(notifier)
    assert len(smtp.messages) == 1  # escalated once


def test_a_failing_escalation_is_logged_and_not_escalated_again(notifiers, slack, smtp, caplog):
    notifier = notifiers.start(DLQ_MAX_RETRIES="1")
    slack.answer("error")
    smtp.answer("permanent")
    notifier.Notify(alert("x"))
    retry(notifier)
    assert "escalation email about notifications" in caplog.text
    smtp.answer("ok")
    retry(notifier)
    assert smtp.messages == []


def test_redrive_gives_failed_entries_a_fresh_set_of_attempts(notifiers, slack):
    notifier = notifiers.start(DLQ_MAX_RETRIES="1")
    slack.answer("error")
    failed = notifier.Notify(alert("d"))
    assert failed.status == FAILED
    slack.answer("ok")
    assert notifier.RedriveDeadLetters(pb.RedriveDeadLettersRequest()).redriven == 1
    assert entry(notifier, failed.notification_id).attempts == 0
    assert retry(notifier).delivered == 1
    assert slack.deliveries_per_key(key_of) == {"d": 1}


def test_purge_removes_only_finished_entries(notifier, slack, notifier_database):
    from sqlalchemy import create_engine, update

    from services.notifier.adapters.tables import notifications

    delivered = [notifier.Notify(alert(f"old{i}")).notification_id for i in range(2)]
    slack.answer("error")
    pending = notifier.Notify(alert("waiting")).notification_id
    engine = create_engine(notifier_database)
    with engine.begin() as connection:
        connection.execute(
            update(notifications)
            .where(notifications.c.id == int(delivered[0]))
            .values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
        )
    engine.dispose()
    purge = pb.PurgeDeadLettersRequest(status=pb.DEAD_LETTER_STATUS_DELIVERED, older_than_days=30)
    assert notifier.PurgeDeadLetters(purge).purged == 1
    remaining = {e.id for e in notifier.ListDeadLetters(pb.ListDeadLettersRequest()).entries}
    assert remaining == {delivered[1], pending}
    with pytest.raises(grpc.RpcError) as refused:
        notifier.PurgeDeadLetters(pb.PurgeDeadLettersRequest(status=pb.DEAD_LETTER_STATUS_PENDING))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_reset_breaker_closes_it(notifier, slack):
    slack.answer("error")
    for i in range(5):
        notifier.Notify(alert(f"k{i}"))
    assert breaker(notifier).state == pb.BREAKER_STATE_OPEN
    reset = notifier.ResetBreaker(pb.ResetBreakerRequest(name="slack")).breaker
    assert (reset.state, reset.fail_counter) == (pb.BREAKER_STATE_CLOSED, 0)
    with pytest.raises(grpc.RpcError) as unknown:
        notifier.ResetBreaker(pb.ResetBreakerRequest(name="sms"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_hanging_sink_holds_up_one_call_and_queues_the_others_at_once(notifiers, slack):
    notifier = notifiers.start(SINK_TIMEOUT_SECONDS="2")
    slack.answer("hang")
    outcome = {}
    first = threading.Thread(
        target=lambda: outcome.setdefault("first", notifier.Notify(alert("h0"), timeout=10))
    )
    first.start()
    deadline = time.monotonic() + 5
    while slack.hits() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    second = notifier.Notify(alert("h1"))
    assert time.monotonic() - started < 1.2  # not behind the hanging call (2 s timeout)
    assert second.status == QUEUED
    assert entry(notifier, second.notification_id).attempts == 0
    first.join(5)
    assert outcome["first"].status == QUEUED  # timed out after SINK_TIMEOUT_SECONDS
    timed_out = entry(notifier, outcome["first"].notification_id)
    assert (timed_out.attempts, timed_out.last_error_class) == (1, "Timeout")
    slack.release()


def test_the_scheduler_retries_due_entries_by_itself(notifiers, slack):
    notifier = notifiers.start(SCHEDULER_ENABLED="true", DLQ_RETRY_MINUTES="0.005")
    slack.answer("error")
    assert notifier.Notify(alert("s")).status == QUEUED
    slack.answer("ok")
    slack.wait_for(1, timeout=5)
    assert slack.deliveries_per_key(key_of) == {"s": 1}


@pytest.mark.redis
def test_replicas_share_one_breaker_through_redis(notifiers, slack, redis_url, redis_prefix):
    first = notifiers.start(REDIS_URL=redis_url, REDIS_KEY_PREFIX=redis_prefix)
    second = notifiers.start(REDIS_URL=redis_url, REDIS_KEY_PREFIX=redis_prefix)
    slack.answer("error")
    for i in range(3):
        first.Notify(alert(f"a{i}"))
    for i in range(2):
        second.Notify(alert(f"b{i}"))
    assert slack.hits() == 5
    assert breaker(first).state == breaker(second).state == pb.BREAKER_STATE_OPEN
    assert second.Notify(alert("c")).status == QUEUED
    assert slack.hits() == 5


def test_an_unreachable_redis_leaves_breakers_working_in_their_fallback(notifiers, slack):
    notifier = notifiers.start(REDIS_URL="redis://127.0.0.1:1/0")
    assert notifier.Notify(alert("n")).status == DELIVERED
    assert slack.deliveries_per_key(key_of) == {"n": 1}
