"""What the consent audit log's hash chain costs (docs/privacy.md): per write, and to verify.

    python -m bench.audit_chain            # SQLite and, with BENCH_DATABASE_URL/TEST_DATABASE_URL, PostgreSQL
    BENCH_CHAIN_ENTRIES=1000000 python -m bench.audit_chain

Per write: one audit entry per transaction, appended as the service appends it (lock the head row,
hash, insert, move the head) against the same entry inserted as before the chain (one INSERT),
sequentially and by 8 threads at once (the head row serialises writers). Verification: the whole log
streamed in batches, as `VerifyAuditLog` does; `make bench` runs this too (scenario 6).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from alembic import command
from sqlalchemy import Table, insert
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from services.consent.adapters.repository import ConsentUnitOfWork
from services.consent.adapters.tables import audit_log
from services.consent.application.privacy import ConsentPrivacy
from services.consent.bootstrap import MIGRATIONS
from services.consent.domain.model import AuditEntry, ConsentAction
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.db import create_db_engine, create_session_factory, normalise_url
from services.runtime.migrations import _config
from tests.support.databases import fresh_postgres_database, postgres_reachable

THREADS = 8
# The audit log's columns before the chain (no id: the table numbers them, as it did).
_BEFORE = Table(
    "consent_audit_log",
    audit_log.metadata.__class__(),
    *(
        c._copy()
        for c in audit_log.columns
        if c.name not in ("id", "hash_version", "prev_hash", "entry_hash")
    ),
)
_PLAIN_INSERT = insert(_BEFORE)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        action=ConsentAction.UNSUBSCRIBE,
        occurred_at=dt.datetime.now(dt.UTC),
        marketing_consent=False,
        rodo_consent=False,
        ip_address="203.0.113.7",
        user_agent="bench/1",
        reason=f"bench {n}",
        source="api",
        request_id=f"bench-{n}",
    )


def _plain_values(n: int) -> dict:
    entry = _entry(n)
    return {
        "subject_pseudonym": f"{n:064d}",
        "action": entry.action.value,
        "occurred_at": entry.occurred_at,
        "marketing_consent": False,
        "rodo_consent": False,
        "ip_address": entry.ip_address,
        "user_agent": entry.user_agent,
        "reason": entry.reason,
        "source": entry.source,
        "consent_text_version": "",
        "request_id": entry.request_id,
    }


def _before_the_chain(url: URL) -> None:
    """The consent schema as it was before the chain (migration 0003)."""
    engine = create_db_engine(url, pool_size=1)
    config = _config(MIGRATIONS.script_location, MIGRATIONS.version_table)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003")
    finally:
        engine.dispose()


def measure(url: URL, before_url: URL, writes: int, entries: int) -> dict:
    MIGRATIONS.upgrade(url)
    _before_the_chain(before_url)
    engine = create_db_engine(url, pool_size=THREADS)
    before = create_db_engine(before_url, pool_size=THREADS)
    sessions = create_session_factory(engine)
    before_sessions = create_session_factory(before)

    def chained(n: int) -> float:
        started = time.perf_counter()
        with ConsentUnitOfWork(sessions) as uow:
            uow.audit_log.append(f"{n:064d}", _entry(n))
            uow.commit()
        return time.perf_counter() - started

    def plain(n: int) -> float:
        started = time.perf_counter()  # as before the chain: one INSERT, on a database at 0003
        with before_sessions() as session:
            session.execute(_PLAIN_INSERT, _plain_values(n))
            session.commit()
        return time.perf_counter() - started

    def per_write_ms(write: Callable[[int], float], threads: int, offset: int) -> tuple[float, float]:
        """(wall ms, this process's CPU ms) per write."""
        started, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(write, range(offset, offset + writes)))
        wall = (time.perf_counter() - started) * 1000 / writes
        return wall, (time.process_time() - cpu) * 1000 / writes

    result: dict = {"backend": url.get_backend_name(), "writes": writes}
    try:
        for _ in range(3):  # warm the pool and caches
            chained(0)
        for threads in (1, THREADS):
            (chained_ms, chained_cpu), (plain_ms, plain_cpu) = (
                per_write_ms(chained, threads, 0),
                per_write_ms(plain, threads, 0),
            )
            result[f"per_write_{threads}_threads"] = {
                "wall_ms_chained": round(chained_ms, 3),
                "wall_ms_plain_insert": round(plain_ms, 3),
                "cpu_ms_chained": round(chained_cpu, 3),
                "cpu_ms_plain_insert": round(plain_cpu, 3),
            }
        result |= _verification(sessions, entries)
    finally:
        engine.dispose()
        before.dispose()
    return result


def _verification(sessions: sessionmaker[Session], entries: int) -> dict:
    """Fills the log up to `entries` chained entries (in transactions of 1,000) and times a verification."""
    present = ConsentPrivacy(lambda: ConsentUnitOfWork(sessions), Pseudonymizer(b"b" * 32)).verify()
    n = present.entries_checked
    while n < entries:
        with ConsentUnitOfWork(sessions) as uow:
            for _ in range(min(1000, entries - n)):
                uow.audit_log.append(f"{n:064d}", _entry(n))
                n += 1
            uow.commit()
    timings, cpu = [], []
    for _ in range(2):
        started, cpu_started = time.perf_counter(), time.process_time()
        checked = ConsentPrivacy(lambda: ConsentUnitOfWork(sessions), Pseudonymizer(b"b" * 32)).verify()
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    per_million = 1_000_000 / max(checked.entries_checked, 1)
    return {
        "verified_entries": checked.entries_checked,
        "verified_ok": checked.ok,
        "verify_wall_seconds": round(statistics.median(timings), 2),
        "verify_wall_seconds_per_million": round(statistics.median(timings) * per_million, 1),
        "verify_cpu_seconds_per_million": round(statistics.median(cpu) * per_million, 1),
    }


def run(writes: int = 500, entries: int = 100_000) -> list[dict]:
    results = []
    with ExitStack() as exits:
        var_dir = exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-chain-"))
        chained, before = (normalise_url(f"sqlite:///{var_dir}/{name}.db") for name in ("chained", "before"))
        results.append(measure(chained, before, writes, entries))
        raw = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if raw and postgres_reachable(admin := normalise_url(raw)):
            chained = exits.enter_context(fresh_postgres_database(admin, "bench_chain"))
            before = exits.enter_context(fresh_postgres_database(admin, "bench_plain"))
            results.append(measure(chained, before, writes, entries))
    return results


if __name__ == "__main__":
    out = run(
        int(os.environ.get("BENCH_CHAIN_WRITES", "500")), int(os.environ.get("BENCH_CHAIN_ENTRIES", "100000"))
    )
    json.dump(out, sys.stdout, indent=2)
    print()
