"""The metrics runtime: go-grpc-prometheus names for gRPC calls, the endpoint and its port variable,
scrape-time gauges that fail alone, and the scheduler's job counts. Asserted on the scraped text."""

from __future__ import annotations

import re
import socket
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2

from services.runtime.config import ConfigError, Environment
from services.runtime.errors import InvalidArgument
from services.runtime.grpc_client import open_channel
from services.runtime.grpc_server import ServiceDefinition, create_server
from services.runtime.metrics import (
    SCRAPE_SOURCES,
    breaker_states,
    metrics_endpoint,
    serve_metrics,
    start_metrics,
)
from services.runtime.scheduler import JobScheduler
from tests.support.polling import eventually

SERVICE = "test.Metered"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels...}` in exposition text (labels in any order)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return None


@pytest.fixture
def endpoint():
    server = serve_metrics("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.port}/metrics"
    server.close()


def scrape(url: str) -> str:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200
    return answer.text


def _behave(request, _context):
    if request.service == "invalid":
        raise InvalidArgument("email", "is not a valid email address")
    return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture
def metered():
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                _behave,
                request_deserializer=health_pb2.HealthCheckRequest.FromString,
                response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
            )
        },
    )
    server = create_server(
        "127.0.0.1:0", [ServiceDefinition(SERVICE, lambda s: s.add_generic_rpc_handlers((handler,)))]
    )
    server.start()
    channel = open_channel(f"127.0.0.1:{server.port}")  # the instrumented client channel
    call = channel.unary_unary(
        f"/{SERVICE}/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    yield call
    channel.close()
    server.stop(0)


def test_grpc_calls_are_counted_with_go_grpc_prometheus_names_and_code_spelling(endpoint, metered):
    before = scrape(endpoint)
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "Check"}

    def count(text, name, **extra):
        return sample(text, name, **labels, **extra) or 0.0

    metered(health_pb2.HealthCheckRequest(service="fine"))
    with pytest.raises(grpc.RpcError) as refused:
        metered(health_pb2.HealthCheckRequest(service="invalid"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    after = scrape(endpoint)
    for side in ("server", "client"):
        assert count(after, f"grpc_{side}_started_total") - count(before, f"grpc_{side}_started_total") == 2
        for code in ("OK", "InvalidArgument"):
            delta = count(after, f"grpc_{side}_handled_total", grpc_code=code) - count(
                before, f"grpc_{side}_handled_total", grpc_code=code
            )
            assert delta == 1, (side, code)
        assert (
            count(after, f"grpc_{side}_handling_seconds_count")
            - count(before, f"grpc_{side}_handling_seconds_count")
            == 2
        )
    assert "INVALID_ARGUMENT" not in after
    assert 'grpc_type="UNARY"' not in after


def test_the_port_variable_unset_means_the_default_empty_means_off_and_garbage_names_it():
    assert metrics_endpoint(Environment({}), "consent").port == 9461
    assert metrics_endpoint(Environment({}), "gateway").port == 9460
    assert metrics_endpoint(Environment({"CHAT_METRICS_PORT": ""}), "chat").port is None
    assert start_metrics(Environment({"CHAT_METRICS_PORT": " "}), "chat", "127.0.0.1") is None
    with pytest.raises(ConfigError, match="NOTIFIER_METRICS_PORT"):
        metrics_endpoint(Environment({"NOTIFIER_METRICS_PORT": "ninety"}), "notifier")
    with pytest.raises(ConfigError, match="NOTIFIER_METRICS_PORT"):
        metrics_endpoint(Environment({"NOTIFIER_METRICS_PORT": "70000"}), "notifier")


def test_a_taken_port_is_an_error_naming_the_variable():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ = Environment({"CONSENT_METRICS_PORT": str(port)})
        with pytest.raises(ConfigError, match=r"CONSENT_METRICS_PORT: expected a free port on 127\.0\.0\.1"):
            start_metrics(environ, "consent", "127.0.0.1")


def test_a_failing_or_hanging_source_is_left_out_and_counted_while_the_rest_is_answered(endpoint):
    def broken():
        raise ConnectionError("database is down")

    def hanging():
        time.sleep(5)
        return []

    SCRAPE_SOURCES.add("test_broken", broken)
    SCRAPE_SOURCES.add("test_hanging", hanging, timeout=0.2)
    SCRAPE_SOURCES.add("test_breakers", lambda: [breaker_states({"slack": "open", "monday": "half-open"})])
    try:
        started = time.monotonic()
        text = scrape(endpoint)
        assert time.monotonic() - started < 3  # the hanging read does not hold the scrape
        assert sample(text, "novahouse_metrics_scrape_errors_total", source="test_broken") == 1
        assert sample(text, "novahouse_metrics_scrape_errors_total", source="test_hanging") == 1
        assert sample(text, "novahouse_breaker_state", breaker="slack", state="open") == 1
        assert sample(text, "novahouse_breaker_state", breaker="slack", state="closed") == 0
        assert sample(text, "novahouse_breaker_state", breaker="monday", state="half_open") == 1
        assert "process_cpu_seconds_total" in text  # everything else is still there
    finally:
        for name in ("test_broken", "test_hanging", "test_breakers"):
            SCRAPE_SOURCES.remove(name)


def test_scheduled_jobs_count_their_runs_and_failures(endpoint):
    def failing():
        raise RuntimeError("boom")

    scheduler = JobScheduler()
    scheduler.every(0.05, "test_ok_job", lambda: None)
    scheduler.every(0.05, "test_failing_job", failing)
    scheduler.start()
    try:

        def counted(text):
            return (
                (sample(text, "novahouse_scheduler_job_runs_total", job="test_ok_job") or 0) >= 1
                and (sample(text, "novahouse_scheduler_job_failures_total", job="test_failing_job") or 0) >= 1
                and (sample(text, "novahouse_scheduler_job_runs_total", job="test_failing_job") or 0) >= 1
            )

        text = eventually(lambda: scrape(endpoint), counted, timeout=10)
        assert (sample(text, "novahouse_scheduler_job_failures_total", job="test_ok_job") or 0) == 0
        assert sample(text, "novahouse_scheduler_job_last_success_timestamp_seconds", job="test_ok_job") > 0
        assert sample(
            text, "novahouse_scheduler_job_last_success_timestamp_seconds", job="test_failing_job"
        ) in (
            None,
            0,
        )
    finally:
        scheduler.shutdown()
