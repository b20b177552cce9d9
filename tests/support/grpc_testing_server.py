"""Servicers called the way gRPC calls them, without a server or a socket: grpcio-testing's in-process
server (grpc_testing.server_from_dictionary), for the servicers' unit tests.

Its servicer context implements no `abort_with_status` and no peer, so the runtime's call interceptor
(error mapping, tested in tests/integration/runtime) does not run here: an error a use case raises
ends the call UNKNOWN, with the error's text in the details. A method that reads the caller's identity
needs the gateway's x-client-ip metadata, since there is no peer address to fall back to.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import grpc_testing
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message


class CallFailed(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InProcessService:
    def __init__(self, descriptor: ServiceDescriptor, servicer: object) -> None:
        self._descriptor = descriptor
        self._server = grpc_testing.server_from_dictionary(
            {descriptor: servicer}, grpc_testing.strict_real_time()
        )

    def call(self, method: str, request: Message, metadata: Sequence[tuple[str, str]] = ()) -> Message:
        """The response; raises CallFailed when the call ends with another status than OK."""
        rpc = self._server.invoke_unary_unary(
            self._descriptor.methods_by_name[method], tuple(metadata), request, None
        )
        response, _trailing, code, details = rpc.termination()
        if code is not grpc.StatusCode.OK:
            raise CallFailed(code, details)
        return response
