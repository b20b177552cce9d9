"""A unit of work: one transaction per `with` block, rolled back unless committed, over an ORM session
(SqlUnitOfWork) or a Core connection (ConnectionUnitOfWork). Each service subclasses one to attach its
repositories."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services.runtime.db import affected_rows


class SqlUnitOfWork:
    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.bind_repositories(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.session.rollback()  # a no-op after commit
        finally:
            self.session.close()

    def bind_repositories(self, session: Session) -> None:
        """Subclasses create their repositories on `session` here."""

    def commit(self) -> None:
        self.session.commit()


class ConnectionUnitOfWork:
    """The same over a Core connection, for repositories that run Core statements only: the ORM
    session's bookkeeping around each statement and commit was a measurable part of consent's CPU per
    unsubscribe (bench/RESULTS.md, issue 19). Takes the engine, or a session factory bound to one."""

    connection: Connection

    def __init__(self, bind: Engine | sessionmaker[Session]) -> None:
        self._engine: Engine = bind if isinstance(bind, Engine) else bind.kw["bind"]

    def __enter__(self) -> Self:
        self.connection = self._engine.connect()
        self._transaction = self.connection.begin()
        self.bind_repositories(self.connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self.connection.close()

    def bind_repositories(self, connection: Connection) -> None:
        """Subclasses create their repositories on `connection` here."""

    def commit(self) -> None:
        self._transaction.commit()


def dialect_name(executor: Session | Connection) -> str:
    return executor.dialect.name if isinstance(executor, Connection) else executor.get_bind().dialect.name


def insert_ignoring_conflict(
    session: Session | Connection, table: Table, values: dict[str, Any], *keys: str
) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING on PostgreSQL and SQLite; True if a row was inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then does
    nothing, so callers can follow it with a locking SELECT and always find the row. With no keys every
    unique index of the table is an arbiter: a table with two unique columns derived from one value must
    pass none, since PostgreSQL raises a conflict on a unique index that is not an arbiter even while
    racing an insert of the very same row."""
    dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
    arbiters = list(keys) or None
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=arbiters)
    return affected_rows(session, statement) == 1
