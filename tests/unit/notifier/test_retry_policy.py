import datetime as dt
import random

import pytest

from services.notifier.domain.model import ErrorInfo, Notification, SlackMessage, Status
from services.notifier.domain.retry_policy import RetryPolicy
from services.runtime.backoff import MIN_DELAY_SECONDS

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
ERROR = ErrorInfo("HTTPError", 500, "internal_error")


def pending(attempts: int = 0) -> Notification:
    return Notification(1, "k", SlackMessage("hi"), Status.PENDING, attempts, NOW, next_attempt_at=NOW)


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 15, 30), (2, 30, 60), (3, 60, 120), (8, 1800, 3600), (20, 1800, 3600)]
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(attempts, low, high):
    policy = RetryPolicy(max_attempts=5, backoff_base=30, backoff_max=3600)
    delays = [policy.backoff(attempts, random.Random(seed)) for seed in range(200)]
    assert low <= min(delays)
    assert max(delays) <= high
    assert max(delays) - min(delays) > (high - low) / 2  # really jittered


def test_retryable_failures_count_until_the_last_attempt_fails():
    policy = RetryPolicy(max_attempts=2, backoff_base=1, backoff_max=10)
    notification = pending()
    policy.failed_retryably(notification, ERROR, NOW, random.Random(1))
    assert (notification.status, notification.attempts, notification.last_error) == (Status.PENDING, 1, ERROR)
    assert NOW + dt.timedelta(seconds=0.5) <= notification.next_attempt_at <= NOW + dt.timedelta(seconds=1)
    policy.failed_retryably(notification, ERROR, NOW)
    assert (notification.status, notification.attempts, notification.finished_at) == (Status.FAILED, 2, NOW)
    assert notification.next_attempt_at is None


def test_a_permanent_failure_ends_at_once():
    notification = pending()
    RetryPolicy(5, 1, 10).failed_permanently(
        notification, ErrorInfo("HTTPError", 400, "invalid_payload"), NOW
    )
    assert (notification.status, notification.attempts) == (Status.FAILED, 1)


def test_postponing_uses_no_attempt_and_never_schedules_in_the_past():
    policy = RetryPolicy(5, 1, 10)
    notification = pending(attempts=2)
    policy.postponed(notification, NOW + dt.timedelta(seconds=30), NOW)
    assert (notification.attempts, notification.next_attempt_at) == (2, NOW + dt.timedelta(seconds=30))
    policy.postponed(notification, NOW - dt.timedelta(seconds=5), NOW)
    assert notification.next_attempt_at == NOW + dt.timedelta(seconds=MIN_DELAY_SECONDS)
