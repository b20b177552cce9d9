"""The unsubscribe path's figures beyond hey's one-address load (issue 19), and an entry point running
only them:

    python -m bench.unsubscribe      # gateway (limits in Redis) and Flask: hey, wrk, round trips, sizes

- distinct addresses: wrk with bench/distinct_emails.lua, every request a new address, so no request
  waits for another's subject row lock (the audit head row still orders the writes);
- PostgreSQL round trips per request, counted on the wire by a proxy (bench/pg.py) in a probe load
  against a second consent service (or gunicorn) connected through it;
- cost vs size: CPU per unsubscribe of a seeded subject, at 10^4 and 10^6 subjects and audit entries.
  The seeded audit entries carry placeholder hashes: no request verifies the chain (appending reads only
  the head row), and `verify-audit` on this throwaway database would report the break at entry 1.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from contextlib import ExitStack

from sqlalchemy import create_engine, text

from bench.load import hey, wrk
from bench.pg import PgWireProxy
from bench.scenarios import (
    UNSUBSCRIBE_BODY,
    Scale,
    Stack,
    measured,
    start_baseline,
)
from bench.stack import Backends, migrate, start_service
from tests.support.services import PSEUDONYM_KEY

SIZES = (10_000, 1_000_000)


def _seconds(scale: Scale) -> float:
    """wrk runs for a time, not a count: about as long as hey's runs at a few hundred requests/s."""
    return max(3.0, scale.requests / 300)


def distinct(
    url: str, pids: Mapping[str, list[int]], backends: Backends, database: str, scale: Scale, label: str
) -> dict:
    """wrk with a distinct address per request, PostgreSQL metered."""
    prefix = f"{label}-{uuid.uuid4().hex[:8]}"
    return measured(
        lambda: wrk(url, _seconds(scale), scale.concurrency, prefix),
        pids,
        backends,
        backends.postgres_cpu(database),
    )


def _probe(url: str, proxy: PgWireProxy, scale: Scale) -> dict:
    """Round trips per request of a warmed-up hey load: the proxy counts what the clients send."""
    hey(url, scale.warmup, scale.concurrency, body=UNSUBSCRIBE_BODY)  # every pooled connection open
    proxy.reset()
    result = hey(url, scale.warmup, scale.concurrency, body=UNSUBSCRIBE_BODY)
    time.sleep(0.3)
    sent = proxy.counts()
    return {
        "postgres_round_trips_per_request": round((sent["Q"] + sent["S"]) / result.requests, 3),
        "postgres_messages_sent": dict(sent),
    }


def baseline_database(backends: Backends, stack: Stack) -> str:
    """A database with the consent schema for the Flask baseline alone (see start_baseline)."""
    database = backends.database("baseline")
    migrate(
        "consent", {**stack.common, "CONSENT_DATABASE_URL": database, "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY}
    )
    return database


def postgres_round_trips(
    exits: ExitStack,
    backends: Backends,
    stack: Stack,
    scale: Scale,
    results: dict[str, dict],
    baseline_database: str,
) -> None:
    """Adds the round trips per request to the first gateway run and to the baseline's: a consent
    service and a gunicorn of their own connect through the counting proxy (same database)."""
    proxy = backends.postgres_proxy()
    if proxy is None:
        return
    consent = start_service(
        exits,
        "consent",
        {
            **stack.common,
            "CONSENT_DATABASE_URL": proxy.url(stack.consent_database),
            "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "AUTO_MIGRATE": "false",
        },
    )
    gateway = stack.gateway("off", consent_address=consent.address)
    key = "gateway_limits_redis" if "gateway_limits_redis" in results else "gateway_limits_memory"
    results[key].update(_probe(f"{gateway.url}/api/unsubscribe", proxy, scale))
    gateway.stop()
    consent.stop()
    baseline = start_baseline(exits, backends, proxy.url(baseline_database))
    results["flask_baseline"].update(_probe(f"{baseline.url}/api/unsubscribe", proxy, scale))
    baseline.stop()
    proxy.close()


def _seed(url: str, start: int, stop: int) -> None:
    """Subjects size-<start>… size-<stop-1>@example.com (marketing on) and as many audit entries, with
    the head moved to the last one; INSERT … SELECT generate_series, then ANALYZE."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text(
                "INSERT INTO consent_subjects (email, pseudonym, marketing_consent, rodo_consent, "
                "unsubscribed, created_at, updated_at) SELECT 'size-' || n || '@example.com', "
                "'seed-' || n, true, true, false, now(), now() FROM generate_series(:a, :b) AS n"
            ),
            {"a": start, "b": stop - 1},
        )
        last = connection.execute(text("SELECT last_entry_id FROM consent_audit_head WHERE id = 1")).scalar()
        first_id = (last or 0) + 1
        connection.execute(
            text(
                "INSERT INTO consent_audit_log (id, subject_pseudonym, action, occurred_at, "
                "marketing_consent, rodo_consent, ip_address, user_agent, reason, source, "
                "consent_text_version, request_id, given_at, hash_version, prev_hash, entry_hash) "
                "SELECT :f + n - :a, 'seed-' || n, 'record', now(), true, true, '203.0.113.7', 'seed', '', "
                "'api', 'v1', '', now(), 1, md5((n - 1)::text) || md5((n - 1)::text), "
                "md5(n::text) || md5(n::text) FROM generate_series(:a, :b) AS n"
            ),
            {"f": first_id, "a": start, "b": stop - 1},
        )
        connection.execute(
            text(
                "UPDATE consent_audit_head SET last_entry_id = :l, head_hash = md5(:h) || md5(:h), "
                "updated_at = now() WHERE id = 1"
            ),
            {"l": first_id + stop - start - 1, "h": str(stop - 1)},
        )
        connection.execute(text("ANALYZE consent_subjects"))
        connection.execute(text("ANALYZE consent_audit_log"))
    engine.dispose()


def cost_vs_size(exits: ExitStack, backends: Backends, stack: Stack, scale: Scale) -> dict[str, dict]:
    """wrk unsubscribing random seeded subjects through a gateway (limits off) and a consent service of
    their own, at each of SIZES subjects and audit entries; PostgreSQL metered. Empty on SQLite."""
    if backends.database_kind != "postgresql":
        return {}
    database = backends.database("size_consent")
    environ = {**stack.common, "CONSENT_DATABASE_URL": database, "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY}
    migrate("consent", environ)
    consent = start_service(exits, "consent", {**environ, "AUTO_MIGRATE": "false"})
    gateway = stack.gateway("off", consent_address=consent.address)
    pids = {"gateway": [gateway.pid], "consent": [consent.pid]}
    url = f"{gateway.url}/api/unsubscribe"
    results: dict[str, dict] = {}
    seeded = 0
    for size in SIZES:
        started = time.monotonic()
        _seed(database, seeded, size)
        seeding = time.monotonic() - started
        seeded = size
        wrk(url, 1, scale.concurrency, "size", size)  # warm-up
        run = measured(
            lambda size=size: wrk(url, _seconds(scale), scale.concurrency, "size", size),  # type: ignore[misc]
            pids,
            backends,
            backends.postgres_cpu(database),
        )
        run["seed_seconds"] = round(seeding, 1)
        results[f"size_{size}"] = run
    gateway.stop()
    consent.stop()
    return results


def main() -> None:
    """Only this module's figures with the hey runs they are compared with: gateway (limits in Redis or
    memory) and Flask, on the stack `make bench` starts. BENCH_SCALE as for `make bench`."""
    from bench.__main__ import say, scale_from_env
    from bench.report import markdown, unsubscribe_goals
    from bench.scenarios import _round_trips

    scale = scale_from_env()
    with ExitStack() as exits:
        backends = Backends(exits)
        stack = Stack(exits, backends)
        c, n = scale.concurrency, scale.requests
        runs: dict[str, dict] = {}

        def http(url: str, pids: Mapping[str, list[int]], database: str) -> dict:
            hey(url, scale.warmup, c, body=UNSUBSCRIBE_BODY)
            return measured(
                lambda: hey(url, n, c, body=UNSUBSCRIBE_BODY), pids, backends, backends.postgres_cpu(database)
            )

        mode = "redis" if backends.redis else "memory"
        gateway = stack.gateway(mode)
        pids = {"gateway": [gateway.pid], "consent": [stack.consent.pid]}
        say(f"gateway, limits in {mode}: hey, then wrk with distinct addresses")
        runs[f"gateway_limits_{mode}"] = http(f"{gateway.url}/api/unsubscribe", pids, stack.consent_database)
        runs["gateway_distinct"] = distinct(
            f"{gateway.url}/api/unsubscribe", pids, backends, stack.consent_database, scale, "gw"
        )
        gateway.stop()
        say("Flask baseline: hey, then wrk with distinct addresses")
        flask_database = baseline_database(backends, stack)
        baseline = start_baseline(exits, backends, flask_database)
        runs["flask_baseline"] = http(
            f"{baseline.url}/api/unsubscribe", {"gunicorn": baseline.pids()}, flask_database
        )
        if backends.redis:
            probe = lambda: hey(  # noqa: E731
                f"{baseline.url}/api/unsubscribe", scale.warmup, c, body=UNSUBSCRIBE_BODY
            )
            runs["flask_baseline"].update(_round_trips(backends.round_trips(probe)))
        runs["flask_distinct"] = distinct(
            f"{baseline.url}/api/unsubscribe",
            {"gunicorn": baseline.pids()},
            backends,
            flask_database,
            scale,
            "flask",
        )
        baseline.stop()
        say("PostgreSQL round trips (probe through the counting proxy)")
        postgres_round_trips(exits, backends, stack, scale, runs, flask_database)
        say(f"cost vs size at {', '.join(str(s) for s in SIZES)} subjects and audit entries")
        runs.update(cost_vs_size(exits, backends, stack, scale))
    result = {
        "backends": {"database": backends.database_kind, "redis": backends.redis_kind},
        "scale": {"requests": n, "concurrency": c, "warmup": scale.warmup},
        "runs": runs,
        "goals": [
            {"name": g.name, "value": g.value, "goal": g.goal, "verdict": g.verdict}
            for g in unsubscribe_goals(runs)
        ],
    }
    print(json.dumps(runs, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
