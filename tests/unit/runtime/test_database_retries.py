"""retry_while_unavailable with the database's unavailability errors: retries connection-level failures
until its deadline, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import exc as sa_exc

from services.runtime.db import DATABASE_UNAVAILABLE
from services.runtime.retries import retry_while_unavailable

START = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


class Clock:
    """Advances one second per reading, so the deadline is reached without sleeping long."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def failing(times: int, error: Exception):
    calls = []

    def work() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "saved"

    return work, calls


DROPPED = sa_exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))


def test_an_unavailable_database_is_retried_until_the_work_gets_through():
    work, calls = failing(3, DROPPED)
    deadline = START + dt.timedelta(seconds=30)
    assert (
        retry_while_unavailable(
            work,
            unavailable=DATABASE_UNAVAILABLE,
            deadline=deadline,
            what="t",
            clock=Clock(),
            pause_seconds=0,
        )
        == "saved"
    )
    assert len(calls) == 4


def test_at_the_deadline_the_last_error_is_raised():
    work, calls = failing(100, DROPPED)
    deadline = START + dt.timedelta(seconds=3)
    with pytest.raises(sa_exc.OperationalError):
        retry_while_unavailable(
            work,
            unavailable=DATABASE_UNAVAILABLE,
            deadline=deadline,
            what="t",
            clock=Clock(),
            pause_seconds=0,
        )
    assert len(calls) == 3


def test_other_errors_are_not_retried():
    work, calls = failing(1, sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    with pytest.raises(sa_exc.IntegrityError):
        retry_while_unavailable(
            work,
            unavailable=DATABASE_UNAVAILABLE,
            deadline=START + dt.timedelta(seconds=30),
            what="t",
            clock=Clock(),
            pause_seconds=0,
        )
    assert len(calls) == 1
