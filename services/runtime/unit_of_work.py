"""A unit of work over one SQLAlchemy session: one transaction per `with` block, rolled back unless
committed. Each service subclasses it to attach its repositories to the session."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import Table
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


def insert_ignoring_conflict(session: Session, table: Table, values: dict[str, Any], *keys: str) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING on PostgreSQL and SQLite; True if a row was inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then does
    nothing, so callers can follow it with a locking SELECT and always find the row. With no keys every
    unique index of the table is an arbiter: a table with two unique columns derived from one value must
    pass none, since PostgreSQL raises a conflict on a unique index that is not an arbiter even while
    racing an insert of the very same row."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    arbiters = list(keys) or None
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=arbiters)
    return affected_rows(session, statement) == 1
