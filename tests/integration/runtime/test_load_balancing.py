"""Several replicas behind one name: the clients' channels spread calls over every address the name
resolves to (round robin, as behind a Kubernetes headless Service), and servers close connections after
a maximum age so that clients resolve the name again."""

from __future__ import annotations

import time
from collections import Counter

import grpc
import pytest
from grpc_health.v1 import health_pb2

from services.runtime.config import parse_host_port
from services.runtime.grpc_client import CHANNEL_OPTIONS, open_channel
from services.runtime.grpc_server import ServiceDefinition, create_server
from tests.support.declared import declare_public

SERVICE = "test.Replica"
declare_public(SERVICE, "Who")


def replica(name: str, peers: list[str], **options):
    def who(request, context):
        peers.append(context.peer())
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Who": grpc.unary_unary_rpc_method_handler(
                who,
                request_deserializer=health_pb2.HealthCheckRequest.FromString,
                response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
            )
        },
    )
    definition = ServiceDefinition(SERVICE, lambda s: s.add_generic_rpc_handlers((handler,)))
    server = create_server("127.0.0.1:0", [definition], **options)
    server.start()
    return server


def who(channel: grpc.Channel) -> None:
    channel.unary_unary(
        f"/{SERVICE}/Who",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )(health_pb2.HealthCheckRequest(), timeout=5)


@pytest.fixture
def replicas():
    calls = {"a": [], "b": []}
    servers = {name: replica(name, peers) for name, peers in calls.items()}
    yield servers, calls
    for server in servers.values():
        server.stop(0)


def test_a_service_channel_spreads_calls_over_every_resolved_address(replicas):
    servers, calls = replicas
    # One target naming both replicas, as DNS does for a headless Service.
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers.values())
    with open_channel(target) as channel:
        for _ in range(40):
            who(channel)
    # Alternating once both connections are up; the first calls may all go to the first one ready.
    counts = Counter({name: len(peers) for name, peers in calls.items()})
    assert counts.total() == 40
    assert min(counts.values()) >= 10, counts


def test_without_the_service_config_one_replica_would_take_every_call(replicas):
    servers, calls = replicas
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers.values())
    options = [option for option in CHANNEL_OPTIONS if option[0] != "grpc.service_config"]
    with grpc.insecure_channel(target, options=options) as channel:
        for _ in range(20):
            who(channel)
    assert sorted(len(peers) for peers in calls.values()) == [0, 20]  # pick-first: what round robin fixes


def test_a_connection_older_than_the_maximum_age_is_replaced():
    peers: list[str] = []
    server = replica("aged", peers, max_connection_age=0.5)
    try:
        with open_channel(f"127.0.0.1:{server.port}") as channel:
            who(channel)
            time.sleep(1.5)  # the server sends GOAWAY; the client reconnects from another local port
            deadline = time.monotonic() + 5
            while len(set(peers)) < 2 and time.monotonic() < deadline:
                who(channel)
                time.sleep(0.1)
    finally:
        server.stop(0)
    assert len(set(peers)) >= 2, peers


@pytest.mark.parametrize("raw", ["dns:///consent:50051", "consent:50051", "127.0.0.1:50051", "[::1]:50051"])
def test_addresses_may_be_dns_targets(raw):
    assert parse_host_port(raw) == raw


@pytest.mark.parametrize("raw", ["dns:///consent", "dns://consent:50051", "unix:///tmp/sock", "dns:///:1"])
def test_other_targets_are_refused(raw):
    with pytest.raises(ValueError, match=r"."):
        parse_host_port(raw)
