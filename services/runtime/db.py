"""SQLAlchemy engines and sessions, one database per service.

SQLite (a file under ./var/ by default) is the embedded default; PostgreSQL is used through a URL as
users write it. Whatever form a PostgreSQL URL takes, the psycopg2 driver is selected, because SQLAlchemy
2.1 maps a plain `postgresql://` to psycopg 3, which the project does not install.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator

from services.runtime import tracing

POSTGRES_DRIVER = "postgresql+psycopg2"
# Constraint names as the migrations write them, so autogenerate compares like with like.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
SQLITE_BUSY_TIMEOUT_MS = 15_000
# A pooled PostgreSQL connection unused for longer than this is pinged (SELECT 1) before it is handed
# out; one used more recently only has its socket looked at (see _check_liveness).
PING_AFTER_IDLE_SECONDS = 30.0
_CHECKED_IN_AT = "novahouse_checked_in_at"
# Connection-level failures (server down or restarting, connection cut, pool exhausted): the same work
# may succeed once the database is back. Callers answer UNAVAILABLE for them, or retry
# (services.runtime.retries, to which each bootstrap hands this tuple).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def normalise_url(url: str) -> URL:
    """Parses a database URL and selects the driver the project ships. Raises ValueError."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(str(error)) from None
    backend = parsed.drivername.split("+", 1)[0]
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername=POSTGRES_DRIVER)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(f"unsupported database {parsed.drivername!r}")


def is_postgres(engine_or_url: Engine | URL) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.get_backend_name() == "postgresql"


def create_db_engine(url: str | URL, *, pool_size: int = 10) -> Engine:
    """An engine with the connection behaviour each backend needs for concurrent writers."""
    parsed = normalise_url(url) if isinstance(url, str) else url
    if is_postgres(parsed):
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=10,
            connect_args={"connect_timeout": 5, "application_name": "novahouse"},
            hide_parameters=True,  # bound values (emails, message text) stay out of errors and logs
        )
        # A restarted server leaves dead pooled connections behind: checked at checkout, without the
        # round trip pool_pre_ping would cost every time (_check_liveness).
        event.listen(engine, "checkout", _liveness_check(engine))
        event.listen(engine, "checkin", _note_checkin)
        tracing.instrument_engine(engine)
        return engine
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        hide_parameters=True,
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    tracing.instrument_engine(engine)
    return engine


def _liveness_check(engine: Engine) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _check_liveness(engine, dbapi_connection, record)

    return check


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def _check_liveness(engine: Engine, dbapi_connection: Any, record: Any) -> None:
    """Raises DisconnectionError for a pooled connection that is dead, which makes the pool replace it
    with a new one (and retry the checkout) instead of failing the caller's first statement.

    An idle PostgreSQL connection has nothing to read: when its socket is readable the server has closed
    it (a restart or an administrator's pg_terminate_backend sends a FATAL message and hangs up). That
    costs one poll() and no round trip. A connection idle for longer than PING_AFTER_IDLE_SECONDS may
    have been dropped silently on the way (a firewall's idle timeout): that one is pinged."""
    if _hung_up(dbapi_connection):
        raise sa_exc.DisconnectionError("the server closed the connection")
    checked_in = record.info.get(_CHECKED_IN_AT)
    if checked_in is not None and time.monotonic() - checked_in > PING_AFTER_IDLE_SECONDS:
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa_exc.DisconnectionError(f"ping failed: {type(error).__name__}") from None
        if not alive:
            raise sa_exc.DisconnectionError("ping failed")


def _hung_up(dbapi_connection: Any) -> bool:
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:  # closed on our side
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write; SQLAlchemy's "begin"
    # event below takes over so that every transaction holds the write lock from its start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes cannot wait for a concurrent writer: SQLite
    # answers SQLITE_BUSY at once. BEGIN IMMEDIATE takes the write lock up front and honours
    # busy_timeout, so concurrent read-modify-write transactions queue instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def affected_rows(session: Session | Connection, statement: Executable) -> int:
    """Runs an INSERT, UPDATE or DELETE and returns how many rows it changed (`Session.execute` is typed
    for queries, whose results have no row count)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def private_file(path: Path) -> None:
    """Creates the file (and its directories, mode 0700) readable by this user only (0600), before
    SQLite creates it with the umask's permissions; SQLite gives its -wal and -shm files the same mode.
    An existing file keeps its mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
