"""Retrying work that failed only because a dependency was unreachable.

Neutral about the dependency: the caller names the exceptions that mean "unreachable, the same work may
succeed later". The services get them from their storage adapter (services.runtime.db's
DATABASE_UNAVAILABLE), wired in by each bootstrap, so no use case imports a database library.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from services.runtime.clock import utcnow

RETRY_PAUSE_SECONDS = 0.5

log = logging.getLogger(__name__)
T = TypeVar("T")

Unavailable = tuple[type[Exception], ...]


def retry_while_unavailable(
    work: Callable[[], T],
    *,
    unavailable: Unavailable,
    deadline: dt.datetime,
    what: str,
    clock: Callable[[], dt.datetime] = utcnow,
    pause_seconds: float | None = None,
) -> T:
    """Runs `work` (a transaction of its own) until it gets through while it fails with one of the
    `unavailable` exceptions, up to `deadline`; then the last error is raised.

    For recording what already happened outside the database (a sink took a message, a call was handed
    over): given up at once, the record would be lost and the effect repeated by whoever takes the work
    over. The deadline is the end of the caller's lease on that work, after which it is not theirs."""
    while True:
        try:
            return work()
        except unavailable as error:
            remaining = (deadline - clock()).total_seconds()
            if remaining <= 0:
                raise
            log.warning(
                "%s: database unavailable (%s); retrying for up to %.1fs",
                what,
                str(error).splitlines()[0][:200],
                remaining,
            )
            time.sleep(min(RETRY_PAUSE_SECONDS if pause_seconds is None else pause_seconds, remaining))
