"""Event time decides, not arrival time: for each purpose the newest action wins, a withdrawal on a
tie, and a change older than the state in effect is audited as superseded and changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.consent.application.service import ConsentService, RecordConsent
from services.consent.domain.model import MAX_CLOCK_SKEW, ConsentAction, Purpose, Subject, event_time
from services.runtime.errors import InvalidArgument
from tests.unit.consent.fakes import CALLER, NOW, PSEUDONYMIZE, FakeUnitOfWork

EMAIL = "anna@example.com"


class Clock:
    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def make_service() -> tuple[ConsentService, FakeUnitOfWork, Clock]:
    uow, clock = FakeUnitOfWork(), Clock()
    return ConsentService(lambda: uow, PSEUDONYMIZE, clock=clock), uow, clock


def test_a_grant_handed_over_after_a_later_withdrawal_is_superseded_and_changes_nothing():
    service, uow, clock = make_service()
    clock.now = at(10)
    service.revoke(EMAIL, "", CALLER)  # the person revoked at 10 s
    clock.now = at(12)  # the chat message of 5 s arrives late
    grant = RecordConsent(EMAIL, True, True, source="chat", given_at=at(5), idempotency_key="k1")

    recorded = service.record_consent(grant, CALLER)

    assert not recorded.applied
    assert set(recorded.superseded) == {Purpose.MARKETING, Purpose.PROCESSING}
    subject = uow.stored_subjects[EMAIL]
    assert (subject.marketing_consent, subject.rodo_consent, subject.unsubscribed) == (False, False, True)
    assert subject.last_action is ConsentAction.REVOKE
    entry = uow.stored_audit[-1][1]
    assert entry.action is ConsentAction.SUPERSEDED
    assert (entry.given_at, entry.occurred_at, entry.marketing_consent) == (at(5), at(12), False)
    assert "superseded" in entry.reason


def test_a_grant_newer_than_the_withdrawal_applies():
    service, uow, clock = make_service()
    clock.now = at(10)
    service.unsubscribe(EMAIL, "", CALLER)
    clock.now = at(20)
    recorded = service.record_consent(RecordConsent(EMAIL, True, None, given_at=at(15)), CALLER)
    assert recorded.applied
    assert uow.stored_subjects[EMAIL].marketing_consent
    assert not uow.stored_subjects[EMAIL].unsubscribed


def test_on_equal_event_times_the_withdrawal_wins_in_either_arrival_order():
    for order in (("grant", "withdraw"), ("withdraw", "grant")):
        service, uow, clock = make_service()
        clock.now = at(30)
        for step in order:
            value = step == "grant"
            service.record_consent(RecordConsent(EMAIL, value, value, given_at=at(10)), CALLER)
        assert not uow.stored_subjects[EMAIL].marketing_consent, order
        assert not uow.stored_subjects[EMAIL].rodo_consent, order


def test_a_partly_outranked_record_applies_the_rest_and_says_which_purpose_was_superseded():
    service, uow, clock = make_service()
    clock.now = at(10)
    service.record_consent(RecordConsent(EMAIL, False, None, given_at=at(10)), CALLER)
    clock.now = at(20)
    recorded = service.record_consent(RecordConsent(EMAIL, True, True, given_at=at(5)), CALLER)
    assert recorded.superseded == (Purpose.MARKETING,)
    subject = uow.stored_subjects[EMAIL]
    assert (subject.marketing_consent, subject.rodo_consent) == (False, True)
    entry = uow.stored_audit[-1][1]
    assert entry.action is ConsentAction.RECORD
    assert entry.reason == "[superseded: marketing]"


def test_an_absent_event_time_is_the_time_received_and_a_small_skew_is_tolerated():
    assert event_time(None, NOW) == NOW
    assert event_time(at(-3), NOW) == at(-3)
    assert event_time(NOW + MAX_CLOCK_SKEW, NOW) == NOW  # ahead within the skew: taken as received


def test_an_event_time_too_far_in_the_future_is_invalid_and_nothing_is_written():
    service, uow, _ = make_service()
    too_late = NOW + MAX_CLOCK_SKEW + dt.timedelta(seconds=1)
    with pytest.raises(InvalidArgument) as refused:
        service.record_consent(RecordConsent(EMAIL, True, True, given_at=too_late), CALLER)
    assert refused.value.field == "given_at"
    assert (uow.stored_subjects, uow.stored_audit, uow.commits) == ({}, [], 0)


# One action: (kind, event time in seconds, arrival delay in seconds). Grants and withdrawals through
# RecordConsent carry their event time and may arrive late; unsubscribe and revoke act when received.
actions = st.lists(
    st.tuples(
        st.sampled_from(["grant-m", "grant-p", "grant-both", "withdraw-m", "withdraw-p", "unsub", "revoke"]),
        st.integers(min_value=0, max_value=20),
        st.integers(min_value=0, max_value=15),
    ),
    min_size=1,
    max_size=12,
)


def _effects(kind: str) -> dict[Purpose, bool]:
    m, p = Purpose.MARKETING, Purpose.PROCESSING
    return {
        "grant-m": {m: True},
        "grant-p": {p: True},
        "grant-both": {m: True, p: True},
        "withdraw-m": {m: False},
        "withdraw-p": {p: False},
        "unsub": {m: False},
        "revoke": {m: False, p: False},
    }[kind]


@settings(max_examples=300, deadline=None)
@given(actions, st.randoms(use_true_random=False))
def test_the_state_always_equals_the_newest_action_in_event_time(steps, random):
    """Whatever the interleaving and arrival order, each purpose ends as its newest action in event
    time says (a withdrawal on a tie), and the status check agrees."""
    service, uow, clock = make_service()
    arrivals = []
    for kind, time, delay in steps:
        if kind in ("unsub", "revoke"):
            arrivals.append((time, random.random(), kind, time))  # acts when received
        else:
            arrivals.append((time + delay, random.random(), kind, time))
    expected: dict[Purpose, tuple[int, bool]] = {}
    for _, _, kind, time in arrivals:
        for purpose, granted in _effects(kind).items():
            key = (time, not granted)  # newer wins; on a tie the withdrawal (not granted) ranks higher
            if purpose not in expected or key >= (expected[purpose][0], not expected[purpose][1]):
                expected[purpose] = (time, granted)

    for arrival, _, kind, time in sorted(arrivals):
        clock.now = at(arrival)
        if kind == "unsub":
            service.unsubscribe(EMAIL, "", CALLER)
        elif kind == "revoke":
            service.revoke(EMAIL, "", CALLER)
        else:
            effects = _effects(kind)
            command = RecordConsent(
                EMAIL, effects.get(Purpose.MARKETING), effects.get(Purpose.PROCESSING), given_at=at(time)
            )
            service.record_consent(command, CALLER)

    subject = uow.stored_subjects[EMAIL]
    for purpose in Purpose:
        want = expected.get(purpose, (None, False))[1]
        assert subject.allows(purpose) is want, (purpose, sorted(arrivals))
        assert service.check(EMAIL, purpose) is want
    assert len(uow.stored_audit) == len(steps)


def test_a_new_subject_takes_any_first_action():
    subject = Subject(EMAIL)
    assert subject.record(marketing=True, rodo=None, given_at=at(-100), at=NOW) == ()
    assert subject.marketing_consent
    assert subject.marketing_at == at(-100)
