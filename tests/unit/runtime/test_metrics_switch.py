"""METRICS_ENABLED=false turns a process's instrumentation off, not only its endpoint (issue 15's cost
measurement compares the two): no metrics interceptors, nothing counted; an empty port alone only
turns the endpoint off."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from services.gateway.transport.observability import observe_request
from services.runtime.config import Environment
from services.runtime.grpc_metrics import ServerMetricsInterceptor
from services.runtime.metrics import grpc_call_metrics
from services.runtime.observability import instrument_channel, outer_interceptors, start_observability
from services.runtime.recording import recording, set_recording

METHOD = "/novahouse.test.v1.SwitchService/Count"
HANDLED = {"grpc_type": "unary", "grpc_service": "novahouse.test.v1.SwitchService", "grpc_method": "Count"}


class FakeChannel(grpc.Channel):
    """Stands in for a channel (unit tests open none); instrument_channel only wraps it."""

    def subscribe(self, callback, try_to_connect=False):
        raise NotImplementedError

    def unsubscribe(self, callback):
        raise NotImplementedError

    def unary_unary(self, method, *args, **kwargs):
        raise NotImplementedError

    def unary_stream(self, method, *args, **kwargs):
        raise NotImplementedError

    def stream_unary(self, method, *args, **kwargs):
        raise NotImplementedError

    def stream_stream(self, method, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


@pytest.fixture(autouse=True)
def restored():
    yield
    set_recording(True)


def handled_ok() -> float:
    value = REGISTRY.get_sample_value("grpc_server_handled_total", {**HANDLED, "grpc_code": "OK"})
    return value or 0.0


def requests_counted() -> float:
    labels = {"method": "POST", "route": "/api/test/switch", "status": "200"}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def start(monkeypatch, environ: dict[str, str]) -> None:
    monkeypatch.setattr("services.runtime.observability.configure_logging", lambda *_a, **_k: None)
    start_observability(
        Environment(environ), "consent", host="127.0.0.1", level="warning", log_format="text"
    ).close()


def test_an_empty_metrics_port_leaves_counting_on(monkeypatch):
    start(monkeypatch, {"CONSENT_METRICS_PORT": ""})
    assert recording() is True
    assert any(isinstance(i, ServerMetricsInterceptor) for i in outer_interceptors())


def test_metrics_disabled_turns_counting_and_the_endpoint_off(monkeypatch):
    # A port is given: were it served, the unit tests' closed sockets would fail this test.
    start(monkeypatch, {"METRICS_ENABLED": "false", "CONSENT_METRICS_PORT": "9461"})
    assert recording() is False
    assert not any(isinstance(i, ServerMetricsInterceptor) for i in outer_interceptors())
    channel = FakeChannel()
    assert instrument_channel(channel) is channel  # no client interceptor either (tracing is off)

    before, requests = handled_ok(), requests_counted()
    call = grpc_call_metrics(METHOD, client=False)
    call.started.inc()
    call.done("OK", 0.01)
    observe_request("POST", "/api/test/switch", 200, 0.01)
    assert (handled_ok(), requests_counted()) == (before, requests)


def test_with_metrics_on_calls_and_requests_are_counted():
    set_recording(True)
    assert any(isinstance(i, ServerMetricsInterceptor) for i in outer_interceptors())
    channel = FakeChannel()
    assert instrument_channel(channel) is not channel  # wrapped by the client metrics interceptor
    before, requests = handled_ok(), requests_counted()
    grpc_call_metrics(METHOD, client=False).done("OK", 0.01)
    observe_request("POST", "/api/test/switch", 200, 0.01)
    assert (handled_ok(), requests_counted()) == (before + 1, requests + 1)
