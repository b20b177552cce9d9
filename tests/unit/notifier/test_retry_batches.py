"""A retry pass works through a claimed batch: each outcome committed before the next call on its
channel, one failure not holding back the others' outcomes, the lease checked in memory while it is
nearly whole and renewed for the whole batch in one statement once it has shortened."""

from __future__ import annotations

import datetime as dt

from services.notifier.domain.model import ErrorInfo, RetryableFailure, SlackMessage, Status
from tests.unit.notifier.fakes import LEASE_SECONDS, Notifier

DOWN = RetryableFailure(ErrorInfo("HTTPError", 503, "unavailable"))


def queued(notifier: Notifier, count: int) -> list[int]:
    """`count` pending entries (their first attempt failed), due once the clock moved on."""
    notifier.slack.answer(*[DOWN] * count)
    ids = [notifier.delivery.notify(f"k{n}", SlackMessage(f"alert {n}"))[0] for n in range(count)]
    notifier.clock.advance(100)
    notifier.slack.calls.clear()
    return ids


def call_order(notifier: Notifier, ids: list[int]) -> list[int]:
    """The entries in the order the sink was called with them (backoff jitter decides which is due first)."""
    return [ids[int(message.text.split()[-1])] for message in notifier.slack.calls]


def on_each_call(notifier: Notifier, *actions) -> None:
    """Runs the n-th action inside the sink's n-th call (None: nothing)."""
    remaining = list(actions)

    def during() -> None:
        action = remaining.pop(0) if remaining else None
        if action is not None:
            action()

    notifier.slack.during = during


def test_each_outcome_is_committed_before_the_next_call_on_the_channel():
    notifier = Notifier(fail_max=100)
    ids = queued(notifier, 3)
    seen = []

    def stored_statuses() -> None:
        seen.append({i: notifier.uow.row(i).status for i in ids})

    on_each_call(notifier, stored_statuses, stored_statuses, stored_statuses)
    report = notifier.delivery.retry()

    assert (report.retried, report.delivered) == (3, 3)
    first, second, third = call_order(notifier, ids)
    assert [[statuses[i] for i in (first, second, third)] for statuses in seen] == [
        [Status.PENDING, Status.PENDING, Status.PENDING],
        [Status.DELIVERED, Status.PENDING, Status.PENDING],
        [Status.DELIVERED, Status.DELIVERED, Status.PENDING],
    ]


def test_a_failed_delivery_in_a_batch_leaves_the_others_outcomes_committed():
    notifier = Notifier(fail_max=100)
    ids = queued(notifier, 3)
    notifier.slack.answer(None, DOWN, None)

    report = notifier.delivery.retry()

    assert (report.retried, report.delivered, report.failed) == (3, 2, 0)
    stored = [notifier.uow.row(i) for i in call_order(notifier, ids)]
    assert [(n.status, n.attempts) for n in stored] == [
        (Status.DELIVERED, 1),
        (Status.PENDING, 2),
        (Status.DELIVERED, 1),
    ]
    assert all(n.claim_token is None for n in stored)  # every claim of the batch ended with its outcome
    assert stored[1].next_attempt_at > notifier.clock.now


def test_the_lease_is_checked_in_memory_and_renewed_for_the_waiting_entries_in_one_statement():
    notifier = Notifier(fail_max=100)
    ids = queued(notifier, 4)
    on_each_call(notifier, lambda: notifier.clock.advance(10))  # the first call takes 10 s

    report = notifier.delivery.retry()

    assert report.delivered == 4
    # No renewal before the first call (a fresh lease); one for the three entries still waiting once
    # the lease had shortened by 10 s; none after it.
    assert [sorted(renewed) for renewed in notifier.uow.renewals] == [sorted(call_order(notifier, ids)[1:])]


def test_entries_taken_over_while_the_batch_waited_are_skipped_and_left_to_their_new_claimer():
    notifier = Notifier(fail_max=100)
    ids = queued(notifier, 3)
    taken_over = []

    def lease_lapses_and_another_worker_claims_one_of_the_others() -> None:
        notifier.clock.advance(LEASE_SECONDS + 1)
        called = call_order(notifier, ids)[0]
        taken_over.append(next(i for i in ids if i != called))
        row = notifier.uow.stored[taken_over[0]]
        row.notification.claim_token = "another-worker"
        row.leased_until = notifier.clock.now + dt.timedelta(seconds=LEASE_SECONDS)

    on_each_call(notifier, lease_lapses_and_another_worker_claims_one_of_the_others)
    report = notifier.delivery.retry()

    assert (report.retried, report.delivered) == (2, 2)
    assert taken_over[0] not in call_order(notifier, ids)
    assert [len(renewed) for renewed in notifier.uow.renewals] == [2]
    taken = notifier.uow.row(taken_over[0])
    assert (taken.status, taken.claim_token) == (Status.PENDING, "another-worker")
