"""Recording what delivery attempts came to: the statements every delivery runs, built once, and the
retry pass's outcome log, which runs them on one connection held for the pass.

On PostgreSQL that connection is in autocommit mode: each outcome is one `UPDATE`, committed on its own in
one round trip (no pool checkout, no BEGIN and no COMMIT per delivery). On SQLite each runs in a
transaction of its own on the held connection (the engine's BEGIN IMMEDIATE).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy import Connection, Engine, bindparam, update

from services.notifier.adapters.tables import notifications as t
from services.notifier.domain.model import Notification
from services.runtime.leases import Claim

MAX_ERROR_TEXT = 1000
T = TypeVar("T")

_SAVE_OUTCOME = (
    update(t)
    .where(t.c.id == bindparam("b_id"), t.c.claim_token == bindparam("b_token"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_attempt_at", type_=t.c.next_attempt_at.type),
        finished_at=bindparam("b_finished_at", type_=t.c.finished_at.type),
        last_error_class=bindparam("b_error_class"),
        last_error_status=bindparam("b_error_status"),
        last_error_text=bindparam("b_error_text"),
        claim_token=None,
        leased_until=None,
        updated_at=bindparam("b_now", type_=t.c.updated_at.type),
    )
)
_RENEW = (
    update(t)
    .where(t.c.id.in_(bindparam("ids", expanding=True)), t.c.claim_token == bindparam("token"))
    .values(leased_until=bindparam("lease", type_=t.c.leased_until.type))
    .returning(t.c.id)
)


def save_outcome(connection: Connection, notification: Notification, now: dt.datetime) -> bool:
    """Stores an attempt's result and ends the claim; False if the claim was lost meanwhile."""
    error = notification.last_error
    updated = connection.execute(
        _SAVE_OUTCOME,
        {
            "b_id": notification.id,
            "b_token": notification.claim_token,
            "b_status": notification.status.value,
            "b_attempts": notification.attempts,
            "b_next_attempt_at": notification.next_attempt_at,
            "b_finished_at": notification.finished_at,
            "b_error_class": error.kind if error else None,
            "b_error_status": error.status if error else None,
            "b_error_text": error.text[:MAX_ERROR_TEXT] if error else None,
            "b_now": now,
        },
    )
    return updated.rowcount == 1


def renew_claims(connection: Connection, notifications: Sequence[Notification], claim: Claim) -> list[int]:
    """Extends the lease of the entries still claimed by their `claim_token`; answers their ids."""
    renewed: list[int] = []
    for token in {n.claim_token for n in notifications if n.claim_token is not None}:
        ids = [n.id for n in notifications if n.claim_token == token]
        renewed += connection.execute(
            _RENEW, {"ids": ids, "token": token, "lease": claim.lease_until}
        ).scalars()
    return renewed


class SqlOutcomeLog:
    """The OutcomeLog port on one connection, taken at first use and given back at the end of the
    `with` block, or at once when a statement fails (the next use connects again)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        return self._run(lambda connection: save_outcome(connection, notification, now))

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        return self._run(lambda connection: renew_claims(connection, notifications, claim))

    def _run(self, work: Callable[[Connection], T]) -> T:
        if self._connection is None:
            connection = self._engine.connect()
            if self._engine.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        try:
            result = work(self._connection)
            self._connection.commit()
        except BaseException:
            self._close()
            raise
        return result

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a dropped connection is discarded by the pool
                connection.close()
