"""The shared gRPC server: health, reflection, the call log, error mapping and graceful shutdown."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.exc import OperationalError

from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.runtime.grpc_server import HEALTH_SERVICE_NAME, ServiceDefinition, create_server
from tests.support.declared import declare_public
from tests.support.reflection import ReflectionClient
from tests.support.rpc import violated_fields

# A tiny service built from the health proto's messages, so the runtime is tested without any service.
SERVICE = "test.Probe"
declare_public(SERVICE, "Call")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Probe:
    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()

    def behave(self, request, context):
        name = request.service
        if name == "slow":
            self.started.set()
            self.release.wait(10)
            return health_pb2.HealthCheckResponse(status=SERVING)
        errors = {
            "invalid": InvalidArgument("email", "is not a valid email address"),
            "missing": NotFound("no such thing"),
            "precondition": FailedPrecondition("SLACK_WEBHOOK_URL is not set"),
            "unavailable": Unavailable("consent service unreachable"),
            "database": OperationalError("SELECT 1", {}, Exception("connection refused")),
            "bug": KeyError("secret internal detail"),
        }
        if name in errors:
            raise errors[name]
        return health_pb2.HealthCheckResponse(status=SERVING)


@pytest.fixture
def probe():
    return Probe()


@pytest.fixture
def server(probe):
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                probe.behave,
                request_deserializer=health_pb2.HealthCheckRequest.FromString,
                response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
            )
        },
    )
    running = create_server(
        "127.0.0.1:0", [ServiceDefinition(SERVICE, lambda s: s.add_generic_rpc_handlers((handler,)))]
    )
    running.start()
    yield running
    running.stop(0)


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


def call(channel, name, **kwargs):
    method = channel.unary_unary(
        f"/{SERVICE}/Call",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    return method(health_pb2.HealthCheckRequest(service=name), timeout=10, **kwargs)


def test_health_reports_serving_for_the_server_and_each_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == SERVING


def test_reflection_lists_the_services_health_and_reflection(channel):
    services = ReflectionClient(channel).list_services()
    assert SERVICE in services
    assert HEALTH_SERVICE_NAME in services
    assert "grpc.reflection.v1alpha.ServerReflection" in services


def test_every_call_is_logged_with_method_status_duration_and_request_id(channel, caplog):
    caplog.set_level(logging.INFO, logger="services.rpc")
    call(channel, "ok", metadata=(("x-request-id", "abc-123"),))
    with pytest.raises(grpc.RpcError):
        call(channel, "missing")
    records = [r for r in caplog.records if r.name == "services.rpc"]
    assert [(r.getMessage().split()[1], r.getMessage().split()[2]) for r in records] == [
        (f"/{SERVICE}/Call", "OK"),
        (f"/{SERVICE}/Call", "NOT_FOUND"),
    ]
    first, second = (r.getMessage().split() for r in records)
    assert first[3].endswith("ms")
    assert float(first[3][:-2]) >= 0
    assert first[4] == "request_id=abc-123"
    assert len(second[4].removeprefix("request_id=")) == 32  # generated when the caller sends none


@pytest.mark.parametrize(
    ("name", "code", "details"),
    [
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "email: is not a valid email address"),
        ("missing", grpc.StatusCode.NOT_FOUND, "no such thing"),
        ("precondition", grpc.StatusCode.FAILED_PRECONDITION, "SLACK_WEBHOOK_URL is not set"),
        ("unavailable", grpc.StatusCode.UNAVAILABLE, "consent service unreachable"),
        ("database", grpc.StatusCode.UNAVAILABLE, "database unavailable, try again later"),
        ("bug", grpc.StatusCode.INTERNAL, "internal error"),
    ],
)
def test_errors_map_to_status_codes_without_leaking_internals(channel, name, code, details, caplog):
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, name)
    assert (caught.value.code(), caught.value.details()) == (code, details)
    if name == "invalid":
        assert violated_fields(caught.value) == ["email"]
    if name == "bug":
        assert "secret internal detail" in caplog.text  # logged for operators, never sent to callers


def test_graceful_shutdown_marks_not_serving_then_lets_in_flight_calls_finish(server, channel, probe):
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE))
    assert next(watch).status == SERVING
    outcome = {}
    in_flight = threading.Thread(target=lambda: outcome.setdefault("status", call(channel, "slow").status))
    in_flight.start()
    assert probe.started.wait(5)

    stopping = threading.Thread(target=server.stop, args=(10,))
    stopping.start()
    assert next(watch).status == NOT_SERVING  # announced before the server stops
    watch.cancel()  # a watching client lets go once told; an open stream is an in-flight call too

    # NOT_SERVING comes first, then the server stops accepting: poll until a new call is refused.
    deadline = time.monotonic() + 5
    refusal = None
    while refusal is None:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as late:
            try:
                call(late, "ok")
            except grpc.RpcError as refused:
                refusal = refused.code()
        assert time.monotonic() < deadline, "new calls were still accepted during shutdown"
        time.sleep(0.05)
    # refused at the socket, or accepted by the transport and cancelled by the stopping server
    assert refusal in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)

    time.sleep(0.2)
    assert stopping.is_alive()  # still waiting for the in-flight call
    probe.release.set()
    in_flight.join(5)
    stopping.join(5)
    assert outcome == {"status": SERVING}
    assert not stopping.is_alive()


def test_a_port_already_in_use_is_an_error(server):
    with pytest.raises(RuntimeError, match="cannot listen"):
        create_server(f"127.0.0.1:{server.port}", [])
