"""The five scenarios. Each answers plain dictionaries (what the JSON file and the table show)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler

from sqlalchemy import Engine, create_engine, func, insert, select

from bench.load import UNSUBSCRIBE_EMAIL, LoadResult, grpc_load, hey
from bench.measure import CpuMeter, peak_rss_mib
from bench.pg import PostgresCpu
from bench.stack import (
    UNLIMITED,
    Backends,
    CommandProcess,
    migrate,
    python_module,
    start_gateway,
    start_service,
)
from tests.support.fake_sinks import FakeHttpSink
from tests.support.gateway import GatewayProcess
from tests.support.network import free_port
from tests.support.services import PSEUDONYM_KEY

UNSUBSCRIBE_BODY = json.dumps({"email": UNSUBSCRIBE_EMAIL}).encode()
CHAT_BODY = json.dumps(
    {"message": "Dzień dobry, ile kosztuje wykończenie?", "session_id": "bench-chat"}
).encode()


@dataclass(frozen=True)
class Scale:
    requests: int  # per HTTP or gRPC load run
    concurrency: int
    warmup: int
    followups: int
    notifications: int


def measured(
    run: Callable[[], LoadResult],
    processes: Mapping[str, list[int]],
    backends: Backends,
    postgres: PostgresCpu | None = None,
) -> dict:
    """Runs one load with every server process metered: throughput, latency percentiles, CPU time per
    request and peak memory of each process, Redis commands per request; with `postgres`, the CPU time
    of the PostgreSQL backends serving the database (bench/pg.py) per request, apart from the sum."""
    commands = backends.redis_commands()
    meter = CpuMeter(processes).start()
    if postgres is not None:
        postgres.start()
    result = run()
    usage = meter.stop()
    database = postgres.stop() if postgres is not None else None
    commands = backends.redis_commands() - commands
    failures = {str(status): count for status, count in result.statuses.items() if status not in (200, "OK")}
    return {
        "requests": result.requests,
        "seconds": round(result.seconds, 3),
        "rps": round(result.rps, 1),
        "p50_ms": round(result.latency_ms(50), 2),
        "p95_ms": round(result.latency_ms(95), 2),
        "p99_ms": round(result.latency_ms(99), 2),
        "failures": failures,
        "processes": {
            name: {
                "cpu_ms_per_request": round(u.cpu_seconds * 1000 / result.requests, 3),
                "peak_rss_mib": round(u.peak_rss_mib, 1),
            }
            for name, u in usage.items()
        },
        "cpu_ms_per_request": round(sum(u.cpu_seconds for u in usage.values()) * 1000 / result.requests, 3),
        "redis_commands_per_request": round(commands / result.requests, 3) if backends.redis else None,
        **(
            {
                "postgres_cpu_ms_per_request": round(database.cpu_seconds * 1000 / result.requests, 3),
                "postgres_backends": database.backends,
            }
            if database is not None
            else {}
        ),
    }


class Stack:
    """consent, notifier, chat and a gateway, the way `make run` starts them."""

    def __init__(self, exits: ExitStack, backends: Backends) -> None:
        self._exits = exits
        self._backends = backends
        common = {"VAR_DIR": backends.var_dir, "LOG_LEVEL": "info"}
        self.common = common
        self.consent_database = backends.database("consent")
        self.consent = start_service(
            exits,
            "consent",
            {**common, "CONSENT_DATABASE_URL": self.consent_database, "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY},
        )
        self.notifier = start_service(
            exits, "notifier", {**common, "NOTIFIER_DATABASE_URL": backends.database("notifier")}
        )
        self.chat = start_service(
            exits,
            "chat",
            {
                **common,
                **self._redis(),
                "CHAT_DATABASE_URL": backends.database("chat"),
                "CONSENT_ADDR": self.consent.address,
                "NOTIFIER_ADDR": self.notifier.address,
                "SCHEDULER_ENABLED": "false",
            },
        )

    def _redis(self) -> dict[str, str]:
        return {"REDIS_URL": self._backends.redis.url} if self._backends.redis else {}

    def gateway(self, limits: str, consent_address: str | None = None) -> GatewayProcess:
        """A gateway with limits 'redis', 'memory' or 'off'; every limit high enough never to refuse.
        `consent_address`: a consent service of the caller's own instead of the stack's."""
        environ = {
            **self.common,
            "CONSENT_ADDR": consent_address or self.consent.address,
            "NOTIFIER_ADDR": self.notifier.address,
            "CHAT_ADDR": self.chat.address,
            "CHAT_RATE_LIMIT": UNLIMITED,
            "API_RATE_LIMIT_HOUR": UNLIMITED,
            "API_RATE_LIMIT_MINUTE": UNLIMITED,
            "RATE_LIMIT_ENABLED": "false" if limits == "off" else "true",
            **(self._redis() if limits == "redis" else {}),
        }
        return start_gateway(self._exits, environ)


def unsubscribe_and_limits(exits: ExitStack, backends: Backends, stack: Stack, scale: Scale) -> dict:
    """Scenarios 1 and 3 (and 2, on the same stack): POST /api/unsubscribe through the gateway with each
    limit storage, the same RPC by direct gRPC, the Flask baseline, the bare Starlette floor; then chat.
    The first gateway run and the baseline's also meter PostgreSQL and run wrk with distinct addresses;
    then the PostgreSQL round trips of both and the cost vs size (bench/unsubscribe.py)."""
    from bench import unsubscribe

    n, c = scale.requests, scale.concurrency
    consent_pid = stack.consent.pid
    results: dict[str, dict] = {}

    def http(
        url: str, pids: Mapping[str, list[int]], body: bytes = UNSUBSCRIBE_BODY, postgres: str = ""
    ) -> dict:
        hey(url, scale.warmup, c, body=body)
        meter = backends.postgres_cpu(postgres) if postgres else None
        return measured(lambda: hey(url, n, c, body=body), pids, backends, meter)

    limit_modes = ["redis", "memory", "off"] if backends.redis else ["memory", "off"]
    for mode in limit_modes:
        gateway = stack.gateway(mode)
        pids = {"gateway": [gateway.pid], "consent": [consent_pid]}
        first = mode == limit_modes[0]
        results[f"gateway_limits_{mode}"] = http(
            f"{gateway.url}/api/unsubscribe", pids, postgres=stack.consent_database if first else ""
        )
        if mode == "redis":
            probe = partial(hey, f"{gateway.url}/api/unsubscribe", scale.warmup, c, body=UNSUBSCRIBE_BODY)
            results[f"gateway_limits_{mode}"].update(_round_trips(backends.round_trips(probe)))
        if first:
            results["gateway_distinct"] = unsubscribe.distinct(
                f"{gateway.url}/api/unsubscribe", pids, backends, stack.consent_database, scale, "gw"
            )
            chat_pids = {
                "gateway": [gateway.pid],
                "chat": [stack.chat.pid],
                "consent": [consent_pid],
            }
            results["chat_gateway"] = http(f"{gateway.url}/api/chatbot/chat", chat_pids, CHAT_BODY)
        gateway.stop()

    grpc_load(stack.consent.address, "unsubscribe", scale.warmup, c)
    results["direct_grpc"] = measured(
        lambda: grpc_load(stack.consent.address, "unsubscribe", n, c), {"consent": [consent_pid]}, backends
    )

    port = free_port()
    bare = CommandProcess(
        exits, python_module("bench.bare_app", str(port)), {}, f"http://127.0.0.1:{port}/health"
    )
    results["bare_starlette"] = http(f"http://127.0.0.1:{port}/api/unsubscribe", {"bare": bare.pids()})
    bare.stop()

    baseline_database = unsubscribe.baseline_database(backends, stack)
    baseline = start_baseline(exits, backends, baseline_database)
    results["flask_baseline"] = http(
        f"{baseline.url}/api/unsubscribe", {"gunicorn": baseline.pids()}, postgres=baseline_database
    )
    if backends.redis:
        probe = partial(hey, f"{baseline.url}/api/unsubscribe", scale.warmup, c, body=UNSUBSCRIBE_BODY)
        results["flask_baseline"].update(_round_trips(backends.round_trips(probe)))
    results["flask_distinct"] = unsubscribe.distinct(
        f"{baseline.url}/api/unsubscribe",
        {"gunicorn": baseline.pids()},
        backends,
        baseline_database,
        scale,
        "flask",
    )
    baseline.stop()
    unsubscribe.postgres_round_trips(exits, backends, stack, scale, results, baseline_database)
    results.update(unsubscribe.cost_vs_size(exits, backends, stack, scale))
    return results


class Baseline(CommandProcess):
    url: str


def start_baseline(exits: ExitStack, backends: Backends, database_url: str) -> Baseline:
    """The Flask baseline under gunicorn on a database with the consent service's schema: a database of its
    own (bench/unsubscribe.baseline_database), since its audit entries take their ids from the table's
    sequence while the consent service numbers its chain itself, and the two would collide."""
    port = free_port()
    storage = backends.redis.url if backends.redis else "memory://"
    baseline = Baseline(
        exits,
        python_module(
            "gunicorn", "--workers", str(BASELINE_WORKERS), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "bench.baseline.app:create_app()",
        ),
        {
            "BASELINE_DATABASE_URL": database_url,
            "BASELINE_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "BASELINE_STORAGE_URI": storage,
            "BASELINE_LIMITS": f"{UNLIMITED};{UNLIMITED.replace('hour', 'minute')}",
        },
        f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    baseline.url = f"http://127.0.0.1:{port}"
    return baseline


def _round_trips(counted: dict) -> dict:
    return {
        "redis_round_trips_per_request": counted["per_request"],
        "redis_connection_setup_commands": counted["connection_setup_commands"],
        "redis_commands_sent": counted["commands"],
    }


# The gateway path is two processes (gateway + consent): the baseline gets as many gunicorn workers.
BASELINE_WORKERS = 2


def followups(exits: ExitStack, backends: Backends, stack: Stack, scale: Scale) -> dict:
    """Scenario 4: `scale.followups` due follow-ups worked off by two chat processes at once."""
    count = scale.followups
    common = {**stack.common, "AUTO_MIGRATE": "false"}
    consent_url, chat_url = backends.database("followups_consent"), backends.database("followups_chat")
    consent_environ = {**common, "CONSENT_DATABASE_URL": consent_url, "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY}
    chat_environ = {
        **common,
        "CHAT_DATABASE_URL": chat_url,
        "NOTIFIER_ADDR": stack.notifier.address,
        "FOLLOWUP_DELAYS": "1s",  # one follow-up per conversation, due at once
        "FOLLOWUP_SCAN_SECONDS": "0.2",
    }
    migrate("consent", consent_environ)
    migrate("chat", chat_environ)
    from services.chat.adapters.tables import conversations, followup_events, messages
    from services.consent.adapters.tables import subjects

    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    emails = [f"followup-{i}@example.com" for i in range(count)]
    engine = create_engine(consent_url)
    with engine.begin() as connection:  # processing consent, no marketing: follow-ups are sent, not mailed
        connection.execute(
            insert(subjects),
            [
                {"email": e, "pseudonym": f"bench-{i}", "marketing_consent": False, "rodo_consent": True,
                 "unsubscribed": False, "created_at": an_hour_ago, "updated_at": an_hour_ago}
                for i, e in enumerate(emails)
            ],
        )  # fmt: skip
    engine.dispose()
    chat_engine = create_engine(chat_url)
    with chat_engine.begin() as connection:
        connection.execute(
            insert(conversations),
            [
                {"session_id": f"followup-{i}", "email": e, "created_at": an_hour_ago,
                 "last_user_message_at": an_hour_ago}
                for i, e in enumerate(emails)
            ],
        )  # fmt: skip
    consent = start_service(exits, "consent", consent_environ)
    chat_environ["CONSENT_ADDR"] = consent.address
    workers = [start_service(exits, "chat", chat_environ) for _ in range(2)]
    pids = {f"chat_{i + 1}": [w.pid] for i, w in enumerate(workers)} | {"consent": [consent.pid]}
    meter = CpuMeter(pids).start()
    deadline = time.monotonic() + 900
    with chat_engine.connect() as connection:
        while connection.execute(select(func.count()).select_from(followup_events)).scalar_one() < count:
            if time.monotonic() > deadline:
                raise TimeoutError("follow-ups were not worked off within 15 minutes")
            time.sleep(0.5)
            connection.rollback()
        first, last = connection.execute(
            select(func.min(followup_events.c.created_at), func.max(followup_events.c.created_at))
        ).one()
        per_pair = (
            select(func.count().label("n"))
            .select_from(messages)
            .where(messages.c.followup_number > 0)
            .group_by(messages.c.conversation_id, messages.c.followup_number)
            .subquery()
        )
        duplicates = connection.execute(select(func.coalesce(func.sum(per_pair.c.n - 1), 0))).scalar_one()
        sent = connection.execute(select(func.count()).select_from(per_pair)).scalar_one()
    usage = meter.stop()
    chat_engine.dispose()
    seconds = max((last - first).total_seconds(), 0.001)
    return {
        "followups": count,
        "sent": sent,
        "seconds": round(seconds, 2),
        "followups_per_second": round(count / seconds, 1),
        "duplicates": int(duplicates),
        "processes": {
            name: {
                "cpu_ms_per_followup": round(u.cpu_seconds * 1000 / count, 3),
                "peak_rss_mib": round(u.peak_rss_mib, 1),
            }
            for name, u in usage.items()
        },
    }


# Scenario 5's cost-vs-size check: entries already in the table (old delivered and failed rows, seeded
# by one INSERT ... SELECT generate_series), and how many fresh pending entries are drained at each size.
NOTIFIER_TABLE_SIZES = (10_000, 100_000)


class KeepAliveSink(FakeHttpSink):
    """The fake Slack webhook answering HTTP/1.1 with keep-alive and without Nagle's delay, as Slack's
    own servers do: the notifier's one connection pool per sink then reuses its connection (the plain
    fake answers HTTP/1.0 and closes every connection)."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        class KeepAlive(super()._handler()):  # type: ignore[misc]
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

        return KeepAlive


def notifier_outage(exits: ExitStack, backends: Backends, stack: Stack, scale: Scale) -> dict:
    """Scenario 5: notifications queued while the Slack sink is down, drained once it is back (one
    notifier process); then the cost per delivery with 10^4 and 10^5 entries already in the table."""
    count = scale.notifications
    sink = KeepAliveSink("slack")
    exits.callback(sink.close)
    sink.answer("error")
    database = backends.database("outage_notifier")
    notifier = start_service(
        exits,
        "notifier",
        {
            **stack.common,
            **({"REDIS_URL": backends.redis.url} if backends.redis else {}),
            "NOTIFIER_DATABASE_URL": database,
            "SLACK_WEBHOOK_URL": sink.url,
            "SINK_TIMEOUT_SECONDS": "1",
            "CB_FAIL_MAX": "5",
            "CB_RESET_TIMEOUT": "2",
            "DLQ_RETRY_MINUTES": "0.01",  # a retry pass every 0.6 s
            "DLQ_BACKOFF_SECONDS": "0.2",
            "DLQ_BACKOFF_MAX_SECONDS": "1",
            "DLQ_MAX_RETRIES": "100",  # the outage must not turn entries into failures
        },
    )
    queued = grpc_load(notifier.address, "notify", count, 8)
    engine = create_engine(database)
    pending = _notifier_rows(engine, "pending")
    meter = CpuMeter({"notifier": [notifier.pid]}).start()
    sink.answer("ok")
    recovered = time.monotonic()
    _wait_for_deliveries(sink, count)
    drain = time.monotonic() - recovered
    time.sleep(1.0)  # anything delivered twice would show up now
    usage = meter.stop()["notifier"]
    per_key = sink.deliveries_per_key(lambda body: body["text"])
    still_pending = _notifier_rows(engine, other_than="delivered")
    sizes = [_notifier_cost_at_size(engine, sink, notifier.pid, size, count) for size in NOTIFIER_TABLE_SIZES]
    engine.dispose()
    cpu_ms = usage.cpu_seconds * 1000 / count
    return {
        "notifications": count,
        "queue_seconds": round(queued.seconds, 2),
        "queue_failures": {k: v for k, v in queued.statuses.items() if k != "OK"},
        "pending_after_outage": pending,
        "drain_seconds": round(drain, 2),
        "deliveries_per_second": round(count / drain, 1),
        "keys_delivered": len(per_key),
        "keys_not_delivered_once": sum(1 for n in per_key.values() if n != 1) + (count - len(per_key)),
        "lost": count - len(per_key),
        "doubled": sum(1 for n in per_key.values() if n > 1),
        "not_delivered_in_db": still_pending,
        "notifier_cpu_ms_per_delivery": round(cpu_ms, 3),
        "notifier_peak_rss_mib": round(peak_rss_mib(notifier.pid), 1),
        "cost_vs_size": sizes,
        "cpu_per_delivery_ratio_largest_to_smallest": (
            round(sizes[-1]["notifier_cpu_ms_per_delivery"] / sizes[0]["notifier_cpu_ms_per_delivery"], 3)
            if all(s["notifier_cpu_ms_per_delivery"] for s in (sizes[0], sizes[-1]))
            else None
        ),
    }


def _notifier_rows(engine: Engine, status: str | None = None, *, other_than: str | None = None) -> int:
    from services.notifier.adapters.tables import notifications

    counted = select(func.count()).select_from(notifications)
    if status is not None:
        counted = counted.where(notifications.c.status == status)
    if other_than is not None:
        counted = counted.where(notifications.c.status != other_than)
    with engine.connect() as connection:
        return connection.execute(counted).scalar_one()


def _wait_for_deliveries(sink: FakeHttpSink, count: int) -> None:
    deadline = time.monotonic() + 900
    while len(sink.delivered()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(sink.delivered())} of {count} delivered within 15 minutes")
        time.sleep(0.05)


def _notifier_cost_at_size(engine: Engine, sink: FakeHttpSink, pid: int, size: int, drained: int) -> dict:
    """Tops the table up to `size` old finished entries (nine delivered to one failed, escalated long
    ago), puts `drained` pending entries in, and meters the notifier while its retry passes deliver them."""
    if engine.dialect.name != "postgresql":
        return {"entries": size, "skipped": "needs PostgreSQL (generate_series)"}
    with engine.begin() as connection:
        missing = size - connection.exec_driver_sql("SELECT count(*) FROM notifications").scalar_one()
        connection.exec_driver_sql(
            "INSERT INTO notifications (idempotency_key, channel, payload, status, attempts, created_at,"
            " updated_at, finished_at, escalated_at, last_error_class, last_error_status)"
            " SELECT 'old-' || %(size)s || '-' || g, 'slack', '{\"text\": \"old\"}',"
            " CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'delivered' END, 1, now() - interval '10 days',"
            " now() - interval '10 days', now() - interval '10 days', now() - interval '10 days',"
            " CASE WHEN g %% 10 = 0 THEN 'HTTPError' END, CASE WHEN g %% 10 = 0 THEN 400 END"
            " FROM generate_series(1, %(missing)s) AS g",
            {"size": size, "missing": max(missing, 0)},
        )
        connection.exec_driver_sql("ANALYZE notifications")
    entries = _notifier_rows(engine)
    already = len(sink.delivered())
    meter = CpuMeter({"notifier": [pid]}).start()
    started = time.monotonic()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO notifications (idempotency_key, channel, payload, status, attempts,"
            " next_attempt_at, created_at, updated_at)"
            " SELECT 'size-' || %(size)s || '-' || g, 'slack',"
            " '{\"text\": \"size ' || %(size)s || ' #' || g || '\"}', 'pending', 0, now(), now(), now()"
            " FROM generate_series(1, %(drained)s) AS g",
            {"size": size, "drained": drained},
        )
    _wait_for_deliveries(sink, already + drained)
    seconds = time.monotonic() - started
    usage = meter.stop()["notifier"]
    per_key = sink.deliveries_per_key(lambda body: body["text"])
    keys = [f"size {size} #{n}" for n in range(1, drained + 1)]
    return {
        "entries": entries,
        "drained": drained,
        "deliveries_per_second": round(drained / seconds, 1),
        "notifier_cpu_ms_per_delivery": round(usage.cpu_seconds * 1000 / drained, 3),
        "lost": sum(1 for k in keys if per_key[k] == 0),
        "doubled": sum(1 for k in keys if per_key[k] > 1),
    }
