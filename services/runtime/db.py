"""SQLAlchemy engines and sessions, one database per service.

SQLite (a file under ./var/ by default) is the embedded default; PostgreSQL is used through a URL as
users write it. Whatever form a PostgreSQL URL takes, the psycopg2 driver is selected, because SQLAlchemy
2.1 maps a plain `postgresql://` to psycopg 3, which the project does not install.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import DateTime, Engine, create_engine, event
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
# Connection-level failures (server down or restarting, connection cut, pool exhausted): the same work
# may succeed once the database is back. Callers answer UNAVAILABLE for them, or retry.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)
RETRY_PAUSE_SECONDS = 0.5

log = logging.getLogger(__name__)
T = TypeVar("T")


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
            pool_pre_ping=True,  # a restarted server leaves dead pooled connections behind
            pool_timeout=10,
            connect_args={"connect_timeout": 5, "application_name": "novahouse"},
            hide_parameters=True,  # bound values (emails, message text) stay out of errors and logs
        )
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


def affected_rows(session: Session, statement: Executable) -> int:
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


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def retry_while_database_unavailable(
    work: Callable[[], T],
    *,
    deadline: dt.datetime,
    what: str,
    clock: Callable[[], dt.datetime] = utcnow,
    pause_seconds: float | None = None,
) -> T:
    """Runs `work` (a transaction of its own) until it gets through while the database is unavailable,
    up to `deadline`; then the last error is raised.

    For recording what already happened outside the database (a sink took a message, a call was handed
    over): given up at once, the record would be lost and the effect repeated by whoever takes the work
    over. The deadline is the end of the caller's lease on that work, after which it is not theirs."""
    while True:
        try:
            return work()
        except DATABASE_UNAVAILABLE as error:
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


def private_file(path: Path) -> None:
    """Creates the file (and its directories, mode 0700) readable by this user only (0600), before
    SQLite creates it with the umask's permissions; SQLite gives its -wal and -shm files the same mode.
    An existing file keeps its mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
