"""A health probe for container healthchecks (the image has no grpcurl or curl):

    python -m services.runtime.healthcheck grpc 127.0.0.1:50051   # grpc.health.v1 status is SERVING
    python -m services.runtime.healthcheck http http://127.0.0.1:8080/api/health   # answers 200

Exit status 0 when healthy, 1 otherwise (with one line saying why).
"""

from __future__ import annotations

import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.config import Environment
from services.runtime.grpc_client import open_channel
from services.runtime.grpc_security import GrpcSecurity

TIMEOUT_SECONDS = 3.0


def grpc_serving(address: str) -> str | None:
    """None when SERVING, else what is wrong."""
    # Over mutual TLS when the service uses it (the same GRPC_TLS_* files; the certificate must name
    # the address probed, e.g. 127.0.0.1).
    with open_channel(address, GrpcSecurity.from_env(Environment())) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as error:
            return f"{address}: {error.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return None if reply.status == health_pb2.HealthCheckResponse.SERVING else f"{address}: {status}"


def http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (operator's URL)
            return None if response.status == 200 else f"{url}: HTTP {response.status}"
    except OSError as error:
        return f"{url}: {error}"


def main(argv: list[str]) -> int:
    probes = {"grpc": grpc_serving, "http": http_ok}
    if len(argv) != 2 or argv[0] not in probes:
        print("usage: python -m services.runtime.healthcheck grpc HOST:PORT | http URL", file=sys.stderr)
        return 2
    problem = probes[argv[0]](argv[1])
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
