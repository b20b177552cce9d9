"""A pooled PostgreSQL connection whose backend was terminated (as a server restart does to all of
them) is replaced at checkout: the next statement succeeds on a new backend instead of failing."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from services.runtime.db import create_db_engine


def test_a_terminated_pooled_connection_is_replaced_at_checkout(postgres_admin):
    engine = create_db_engine(postgres_admin, pool_size=1)
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar_one()
            # Terminated once the backend is gone from pg_stat_activity.
            for _ in range(100):
                gone = connection.execute(
                    text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :p"), {"p": first}
                ).scalar_one()
                if gone:
                    break
                time.sleep(0.05)
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()
        admin.dispose()
