"""Notifier processes: killed and restarted, and two replicas draining one queue."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from novahouse.notifier.v1 import notifier_pb2 as pb
from novahouse.notifier.v1 import notifier_pb2_grpc
from tests.support.databases import service_schemas, truncate_all
from tests.support.network import free_port
from tests.support.processes import ServiceProcess
from tests.support.services import notifier_environ


def alert(key: str) -> pb.NotifyRequest:
    return pb.NotifyRequest(idempotency_key=key, slack=pb.SlackMessage(text=f"alert {key}"))


def key_of(body: dict) -> str:
    return body["text"].removeprefix("alert ")


def start_notifier(database_url, tmp_path, sinks_environ, **overrides) -> ServiceProcess:
    port = free_port()
    environ = notifier_environ(
        database_url,
        str(tmp_path),
        **{
            **sinks_environ,
            "NOTIFIER_PORT": str(port),
            "SCHEDULER_ENABLED": "true",
            "DLQ_RETRY_MINUTES": "0.01",
            "DLQ_LEASE_SECONDS": "2",
            **overrides,
        },
    )
    return ServiceProcess("notifier", environ, port=port).start().wait_serving()


def wait_for_deliveries(slack, keys: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while set(slack.deliveries_per_key(key_of)) != keys:
        assert time.monotonic() < deadline, (
            f"delivered {len(slack.deliveries_per_key(key_of))} of {len(keys)}"
        )
        time.sleep(0.1)
    time.sleep(1.0)  # room for a duplicate to show up, if one were coming


def test_a_notifier_killed_after_queueing_delivers_everything_once_after_restart(
    notifier_database, tmp_path, sinks_environ, slack
):
    process = start_notifier(notifier_database, tmp_path, sinks_environ)
    try:
        slack.answer("error")
        with grpc.insecure_channel(process.address) as channel:
            notifier = notifier_pb2_grpc.NotifierServiceStub(channel)
            answers = [notifier.Notify(alert(f"q{i}")) for i in range(10)]
            assert {a.status for a in answers} == {pb.NOTIFICATION_STATUS_QUEUED}
            # One more is in flight, hanging at the sink, when the process dies.
            slack.answer("hang")
            notifier.ResetBreaker(pb.ResetBreakerRequest(name="slack"))
            hits = slack.hits()
            in_flight = threading.Thread(target=lambda: _ignore_errors(notifier.Notify, alert("in-flight")))
            in_flight.start()
            while slack.hits() == hits:
                time.sleep(0.01)
            process.kill()
            in_flight.join(5)
    finally:
        process.close()

    slack.release()
    slack.answer("ok")
    restarted = start_notifier(notifier_database, tmp_path, sinks_environ)
    try:
        wait_for_deliveries(slack, {f"q{i}" for i in range(10)} | {"in-flight"})
        assert set(slack.deliveries_per_key(key_of).values()) == {1}
    finally:
        restarted.close()


def _ignore_errors(call, request) -> None:
    # The process is killed under the call; its entry was committed before the attempt.
    with contextlib.suppress(grpc.RpcError):
        call(request, timeout=10)


@pytest.mark.postgres
@pytest.mark.redis
def test_two_notifiers_on_shared_postgres_and_redis_drain_500_entries_exactly_once(
    postgres_databases, redis_url, redis_prefix, tmp_path, sinks_environ, slack
):
    notifier_postgres = postgres_databases("notifier")
    truncate_all(notifier_postgres, service_schemas()["notifier"][1])
    shared = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": redis_prefix, "CB_RESET_TIMEOUT": "2"}
    replicas = [start_notifier(notifier_postgres, tmp_path, sinks_environ, **shared) for _ in range(2)]
    channels = [grpc.insecure_channel(r.address) for r in replicas]
    stubs = [notifier_pb2_grpc.NotifierServiceStub(c) for c in channels]
    try:
        slack.answer("error")
        for i in range(5):  # five failures, all through the first replica
            stubs[0].Notify(alert(f"trip{i}"))
        assert [_slack_state(stub) for stub in stubs] == [pb.BREAKER_STATE_OPEN] * 2

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: stubs[i % 2].Notify(alert(f"k{i}"), timeout=30), range(495)))
        reset_windows = 1 + math.ceil((time.monotonic() - started) / 2)
        assert {a.status for a in answers} == {pb.NOTIFICATION_STATUS_QUEUED}
        # The open breaker kept both replicas off the sink: at most a trial call per replica in each
        # 2 s reset window the burst lasted (a slow machine has more windows), never one per request.
        assert slack.hits() <= 5 + 2 * reset_windows

        slack.answer("ok")
        keys = {f"trip{i}" for i in range(5)} | {f"k{i}" for i in range(495)}
        wait_for_deliveries(slack, keys, timeout=60)
        assert set(slack.deliveries_per_key(key_of).values()) == {1}
        for stub in stubs:
            assert stub.GetDeadLetterStats(pb.GetDeadLetterStatsRequest()).delivered == 500
    finally:
        for channel in channels:
            channel.close()
        for replica in replicas:
            replica.close()


def _slack_state(stub) -> int:
    return next(b.state for b in stub.ListBreakers(pb.ListBreakersRequest()).breakers if b.name == "slack")
