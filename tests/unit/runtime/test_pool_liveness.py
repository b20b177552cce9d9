"""The checkout check that replaced pool_pre_ping: a pooled connection whose server hung up is refused
(the pool then opens a new one), a recently used one is handed out without a round trip, and one idle
for longer than PING_AFTER_IDLE_SECONDS is pinged first. A pipe stands in for the connection's socket."""

from __future__ import annotations

import contextlib
import os
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import exc as sa_exc

from services.runtime.db import _CHECKED_IN_AT, PING_AFTER_IDLE_SECONDS, _check_liveness


class Connection:
    def __init__(self) -> None:
        self.read, self.write = os.pipe()

    def fileno(self) -> int:
        return self.read

    def close(self) -> None:
        for descriptor in (self.read, self.write):
            with contextlib.suppress(OSError):
                os.close(descriptor)


class Dialect:
    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.pings = 0

    def do_ping(self, _connection: object) -> bool:
        self.pings += 1
        return self.alive


def check(connection: Connection, dialect: Dialect, idle_seconds: float | None) -> None:
    info = {} if idle_seconds is None else {_CHECKED_IN_AT: time.monotonic() - idle_seconds}
    _check_liveness(SimpleNamespace(dialect=dialect), connection, SimpleNamespace(info=info))  # type: ignore[arg-type]


@pytest.fixture
def connection():
    made = Connection()
    yield made
    made.close()


@pytest.mark.parametrize("idle_seconds", [None, 0.5, PING_AFTER_IDLE_SECONDS - 1])
def test_a_quiet_recently_used_connection_is_handed_out_without_a_ping(connection, idle_seconds):
    dialect = Dialect()
    check(connection, dialect, idle_seconds)
    assert dialect.pings == 0


def test_a_connection_the_server_hung_up_is_refused_without_a_ping(connection):
    os.close(connection.write)  # the server closed its end (a restart, pg_terminate_backend)
    dialect = Dialect()
    with pytest.raises(sa_exc.DisconnectionError):
        check(connection, dialect, 0.5)
    assert dialect.pings == 0


def test_a_connection_with_unread_data_is_refused(connection):
    os.write(connection.write, b"E")  # the FATAL message a terminated backend sends before it hangs up
    with pytest.raises(sa_exc.DisconnectionError):
        check(connection, Dialect(), 0.5)


def test_a_long_idle_connection_is_pinged_and_refused_when_the_ping_fails(connection):
    alive, dead = Dialect(alive=True), Dialect(alive=False)
    check(connection, alive, PING_AFTER_IDLE_SECONDS + 1)
    assert alive.pings == 1
    with pytest.raises(sa_exc.DisconnectionError):
        check(connection, dead, PING_AFTER_IDLE_SECONDS + 1)
    assert dead.pings == 1
