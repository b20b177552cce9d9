"""The notifier's delivery and dead-letter rules against in-memory storage and scripted sinks: the
use cases (services/notifier/application) with nothing but memory behind them."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from services.notifier.application.delivery import NotifyStatus
from services.notifier.domain.model import (
    Channel,
    EmailMessage,
    ErrorInfo,
    PermanentFailure,
    RateLimited,
    RetryableFailure,
    SlackMessage,
    Status,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.unit.notifier.fakes import ESCALATION, LEASE_SECONDS, MAX_ATTEMPTS, Notifier

DOWN = RetryableFailure(ErrorInfo("HTTPError", 503, "unavailable"))
REFUSED = PermanentFailure(ErrorInfo("HTTPError", 400, "invalid_payload"))
ALERT = SlackMessage("Hot lead #1")


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


def test_a_notification_is_delivered_at_once_and_stored_as_delivered(notifier):
    notification_id, status = notifier.delivery.notify("lead:1:slack", ALERT)

    assert status is NotifyStatus.DELIVERED
    assert notifier.slack.delivered == [ALERT]
    stored = notifier.uow.row(notification_id)
    assert (stored.status, stored.attempts, stored.finished_at) == (Status.DELIVERED, 0, notifier.clock.now)
    assert stored.claim_token is None  # the accepting call's claim ended with the outcome


def test_a_repeated_key_answers_the_first_entry_and_delivers_nothing_more(notifier):
    first, _ = notifier.delivery.notify("lead:1:slack", ALERT)
    again, status = notifier.delivery.notify("lead:1:slack", SlackMessage("something else"))

    assert (again, status) == (first, NotifyStatus.DUPLICATE)
    assert notifier.slack.calls == [ALERT]
    assert len(notifier.uow.stored) == 1


def test_a_sink_that_is_down_queues_the_entry_with_backoff(notifier):
    notifier.slack.answer(DOWN)
    notification_id, status = notifier.delivery.notify("k", ALERT)

    assert status is NotifyStatus.QUEUED
    stored = notifier.uow.row(notification_id)
    assert (stored.status, stored.attempts, stored.last_error) == (Status.PENDING, 1, DOWN.info)
    wait = (stored.next_attempt_at - notifier.clock.now).total_seconds()
    assert 5 <= wait <= 10  # the first backoff: base 10 s with 50-100 % jitter


def test_a_refused_message_fails_at_once_without_retries(notifier):
    _, status = notifier.delivery.notify("k", ALERT)
    notifier.slack.answer(REFUSED)
    other_id, other = notifier.delivery.notify("k2", ALERT)

    assert (status, other) == (NotifyStatus.DELIVERED, NotifyStatus.FAILED)
    stored = notifier.uow.row(other_id)
    assert (stored.status, stored.attempts, stored.last_error) == (Status.FAILED, 1, REFUSED.info)
    assert notifier.dead_letters.breakers()[0].fail_counter == 0  # a refusal is no outage


def test_a_rate_limit_waits_as_told_without_using_an_attempt(notifier):
    notifier.slack.answer(RateLimited(ErrorInfo("HTTPError", 429, "slow down"), retry_after=42))
    notification_id, status = notifier.delivery.notify("k", ALERT)

    assert status is NotifyStatus.QUEUED
    stored = notifier.uow.row(notification_id)
    assert stored.attempts == 0
    assert stored.next_attempt_at == notifier.clock.now + dt.timedelta(seconds=42)


def test_notify_never_waits_behind_another_attempt_on_the_channel(notifier):
    with notifier.routes[Channel.SLACK].gate:  # another attempt is in flight
        notification_id, status = notifier.delivery.notify("k", ALERT)

    assert status is NotifyStatus.QUEUED
    assert notifier.slack.calls == []
    stored = notifier.uow.row(notification_id)
    assert (stored.status, stored.attempts, stored.claim_token) == (Status.PENDING, 0, None)
    notifier.clock.advance(1)
    assert notifier.delivery.retry().delivered == 1  # left to the retry job, at once
    assert notifier.slack.delivered == [ALERT]


@pytest.mark.parametrize(
    ("key", "message", "error", "field"),
    [
        ("", ALERT, InvalidArgument, "idempotency_key"),
        ("k" * 201, ALERT, InvalidArgument, "idempotency_key"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(notifier, key, message, error, field):
    with pytest.raises(error) as raised:
        notifier.delivery.notify(key, message)
    assert raised.value.field == field
    assert notifier.uow.stored == {}


def test_an_unconfigured_channel_names_the_missing_variable_and_stores_nothing():
    notifier = Notifier(email=False)
    with pytest.raises(FailedPrecondition, match="SMTP_HOST"):
        notifier.delivery.notify("k", EmailMessage("a@b.pl", "Hello", "Body"))
    assert notifier.uow.stored == {}


def test_the_retry_pass_takes_only_entries_that_are_due(notifier):
    notifier.slack.answer(DOWN)
    notifier.delivery.notify("k", ALERT)

    assert notifier.delivery.retry().retried == 0  # backing off: not due yet
    notifier.clock.advance(10)
    report = notifier.delivery.retry()

    assert (report.retried, report.delivered, report.failed) == (1, 1, 0)
    assert notifier.slack.delivered == [ALERT]


def test_retryable_failures_end_in_failed_after_the_last_attempt_and_one_escalation():
    notifier = Notifier(fail_max=100)
    notifier.slack.answer(DOWN, DOWN, DOWN, DOWN, DOWN, DOWN)
    ids = [notifier.delivery.notify(f"k{n}", SlackMessage(f"alert {n}"))[0] for n in range(2)]
    reports = []
    for _ in range(MAX_ATTEMPTS):
        notifier.clock.advance(100)
        reports.append(notifier.delivery.retry())

    assert [(r.retried, r.delivered, r.failed) for r in reports] == [(2, 0, 0), (2, 0, 2), (0, 0, 0)]

    for notification_id in ids:
        stored = notifier.uow.row(notification_id)
        assert (stored.status, stored.attempts) == (Status.FAILED, MAX_ATTEMPTS)
    [escalation] = notifier.smtp.delivered
    assert escalation.to == ESCALATION
    assert "2 notification(s)" in escalation.subject
    assert all(f"#{i} slack key=k{n}" in escalation.body for n, i in enumerate(ids))
    assert "alert" not in escalation.body  # the messages themselves stay in the store

    notifier.clock.advance(100)
    notifier.delivery.retry()
    assert len(notifier.smtp.delivered) == 1  # each failure is escalated once


def test_a_failed_escalation_is_logged_and_not_sent_again(notifier, caplog):
    notifier.slack.answer(REFUSED)
    notifier.smtp.answer(DOWN)
    notifier.delivery.notify("k", ALERT)
    with caplog.at_level(logging.ERROR):
        notifier.delivery.retry()
        notifier.delivery.retry()

    assert len(notifier.smtp.calls) == 1
    assert sum("escalation email" in r.getMessage() for r in caplog.records) == 1


def test_without_an_escalation_address_failures_are_logged_not_emailed(caplog):
    notifier = Notifier(escalation_email=None)
    notifier.slack.answer(REFUSED)
    notification_id, _ = notifier.delivery.notify("k", ALERT)
    with caplog.at_level(logging.ERROR):
        notifier.delivery.retry()

    assert notifier.smtp.calls == []
    assert any("cannot be escalated" in r.getMessage() for r in caplog.records)
    assert notifier.uow.stored[notification_id].escalated_at == notifier.clock.now


def test_an_open_breaker_postpones_the_channel_without_using_attempts():
    notifier = Notifier(fail_max=2)
    notifier.slack.answer(DOWN, DOWN)
    first, _ = notifier.delivery.notify("k1", ALERT)
    second, _ = notifier.delivery.notify("k2", ALERT)  # the second failure opens the breaker
    assert notifier.dead_letters.breakers()[0].state == "open"
    third, status = notifier.delivery.notify("k3", ALERT)

    assert status is NotifyStatus.QUEUED
    assert len(notifier.slack.calls) == 2  # the open breaker kept the third off the sink
    assert notifier.uow.row(third).attempts == 0
    notifier.clock.advance(100)
    report = notifier.delivery.retry()

    assert report.retried == 0
    assert len(notifier.slack.calls) == 2
    for notification_id in (first, second, third):
        stored = notifier.uow.row(notification_id)
        assert stored.status is Status.PENDING
        assert stored.next_attempt_at > notifier.clock.now  # postponed until a trial call may go
    assert [notifier.uow.row(i).attempts for i in (first, second, third)] == [1, 1, 0]


def test_an_operator_resets_a_breaker_by_name(notifier):
    notifier.routes[Channel.SLACK].breaker.call(lambda: None)
    assert notifier.dead_letters.reset_breaker("slack").state == "closed"
    with pytest.raises(NotFound, match="slack, email"):
        notifier.dead_letters.reset_breaker("nope")


def test_an_outcome_is_not_recorded_once_another_worker_took_the_entry_over(notifier, caplog):
    def taken_over():
        notifier.uow.stored[1].notification.claim_token = "another-worker"

    notifier.slack.during = taken_over
    with caplog.at_level(logging.WARNING):
        notification_id, _ = notifier.delivery.notify("k", ALERT)

    stored = notifier.uow.row(notification_id)
    assert (stored.status, stored.claim_token) == (Status.PENDING, "another-worker")
    assert any("claim expired" in r.getMessage() for r in caplog.records)


def test_an_outcome_is_recorded_once_the_database_is_back_within_the_lease(notifier):
    def outage():
        notifier.uow.unavailable = 1  # the first save after the sink took the message fails

    notifier.slack.during = outage
    notification_id, status = notifier.delivery.notify("k", ALERT)

    assert status is NotifyStatus.DELIVERED
    assert notifier.uow.row(notification_id).status is Status.DELIVERED
    assert len(notifier.slack.calls) == 1


def test_retry_of_given_ids_takes_only_those(notifier):
    notifier.slack.answer(DOWN, DOWN)
    first, _ = notifier.delivery.notify("k1", ALERT)
    second, _ = notifier.delivery.notify("k2", ALERT)
    notifier.clock.advance(LEASE_SECONDS + 1)

    report = notifier.delivery.retry([second])

    assert (report.retried, report.delivered) == (1, 1)
    assert notifier.uow.row(first).status is Status.PENDING
    assert notifier.uow.row(second).status is Status.DELIVERED


def test_redrive_gives_failed_entries_a_fresh_set_of_attempts(notifier):
    notifier.slack.answer(REFUSED)
    notification_id, _ = notifier.delivery.notify("k", ALERT)
    notifier.delivery.retry()  # escalated

    assert notifier.dead_letters.redrive([]) == 1
    stored = notifier.uow.row(notification_id)
    assert (stored.status, stored.attempts, stored.finished_at) == (Status.PENDING, 0, None)
    assert notifier.uow.stored[notification_id].escalated_at is None
    assert notifier.delivery.retry().delivered == 1
    assert notifier.dead_letters.redrive([]) == 0


def test_purge_removes_only_entries_finished_long_enough_ago(notifier):
    delivered, _ = notifier.delivery.notify("old", ALERT)
    notifier.clock.advance(3 * 86400)
    recent, _ = notifier.delivery.notify("new", ALERT)
    notifier.slack.answer(DOWN)
    pending, _ = notifier.delivery.notify("pending", ALERT)

    assert notifier.dead_letters.purge(Status.DELIVERED, older_than_days=2) == 1
    assert set(notifier.uow.stored) == {recent, pending}
    assert notifier.dead_letters.purge(Status.DELIVERED, older_than_days=10**6) == 0  # before year 1
    for status, days, field in ((Status.PENDING, 0, "status"), (Status.FAILED, -1, "older_than_days")):
        with pytest.raises(InvalidArgument) as refused:
            notifier.dead_letters.purge(status, days)
        assert refused.value.field == field
    assert delivered not in notifier.uow.stored


def test_the_dead_letter_list_pages_newest_first_and_filters(notifier):
    for n in range(5):
        notifier.delivery.notify(f"k{n}", ALERT)
    notifier.slack.answer(DOWN)
    failing, _ = notifier.delivery.notify("k5", ALERT)

    first = notifier.dead_letters.page(None, None, 2, "")
    second = notifier.dead_letters.page(None, None, 2, first.next_page_token)
    assert [n.id for n in first.entries + second.entries] == [6, 5, 4, 3]
    pending_slack = notifier.dead_letters.page(Status.PENDING, Channel.SLACK, 10, "")
    assert [n.id for n in pending_slack.entries] == [failing]
    assert notifier.dead_letters.page(None, Channel.EMAIL, 10, "").entries == []
    with pytest.raises(InvalidArgument) as refused:
        notifier.dead_letters.page(None, None, 10, "not-a-token")
    assert refused.value.field == "page_token"


def test_stats_count_by_status_and_channel(notifier):
    notifier.delivery.notify("a", ALERT)
    notifier.slack.answer(DOWN)
    notifier.delivery.notify("b", ALERT)

    stats = notifier.dead_letters.stats()
    assert stats.counts == {(Status.DELIVERED, Channel.SLACK): 1, (Status.PENDING, Channel.SLACK): 1}
    assert stats.oldest_pending_created_at == notifier.clock.now
    with pytest.raises(NotFound):
        notifier.dead_letters.get(99)
