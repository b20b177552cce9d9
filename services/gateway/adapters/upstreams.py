"""The upstream gRPC services over grpc.aio: one channel per service, opened at start and reused.

Calls never wait for a channel to become ready: a service that is down fails at once (503) instead of
holding the request until its deadline. Reconnection backoff is capped low so a service that comes
back is used again within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from novahouse.api.v1 import access_pb2
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from novahouse.runtime.v1 import diagnostics_pb2, diagnostics_pb2_grpc
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.ports import UpstreamError
from services.runtime import tracing
from services.runtime.grpc_client import CHANNEL_OPTIONS
from services.runtime.grpc_security import GrpcSecurity
from services.runtime.identity import ADMIN_KEY_KEY
from services.runtime.metrics import grpc_call_metrics

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class GrpcUpstreams:
    def __init__(
        self,
        addresses: Mapping[str, str],
        bindings: Sequence[HttpBinding],
        security: GrpcSecurity | None = None,
    ) -> None:
        self._security = security or GrpcSecurity()
        # Sent with every call: the internal key, when one is configured without TLS.
        self._own_metadata = self._security.outgoing_metadata()
        # Sent with calls of ADMIN RPCs, which the gateway (dispatch or console) has authorised already:
        # the services check the admin key again.
        admin_key = self._security.admin_key
        self._admin_metadata = ((ADMIN_KEY_KEY, admin_key.reveal()),) if admin_key.configured else ()
        self._addresses = dict(addresses)
        self._bindings = tuple(bindings)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[str, Any] = {}
        self._health: dict[str, health_pb2_grpc.HealthStub] = {}
        self._diagnostics: dict[str, diagnostics_pb2_grpc.DiagnosticsServiceStub] = {}
        self._privacy: dict[str, privacy_pb2_grpc.PrivacyServiceStub] = {}

    async def open(self) -> None:
        """Creates the channels (inside the running event loop, as grpc.aio requires)."""
        for service, address in self._addresses.items():
            tls = self._security.tls
            interceptors = tracing.aio_client_interceptors() or None
            channel = (
                grpc.aio.secure_channel(
                    address, tls.channel_credentials(), options=CHANNEL_OPTIONS, interceptors=interceptors
                )
                if tls is not None
                else grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)
            )
            self._channels[service] = channel
            self._health[service] = health_pb2_grpc.HealthStub(channel)
            self._diagnostics[service] = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
            self._privacy[service] = privacy_pb2_grpc.PrivacyServiceStub(channel)
        for binding in self._bindings:
            channel = self._channels[binding.service_key]
            # types-grpcio does not declare _registered_method, which grpc.aio takes.
            self._calls[binding.rpc_path] = channel.unary_unary(  # type: ignore[call-arg]
                binding.rpc_path,
                request_serializer=GetMessageClass(binding.method.input_type).SerializeToString,
                response_deserializer=GetMessageClass(binding.method.output_type).FromString,
                # As the generated stubs do: the method is registered with the channel once, so a
                # call does not pass its name to the core each time.
                _registered_method=True,
            )

    async def close(self, grace: float | None = None) -> None:
        for channel in self._channels.values():
            await channel.close(grace)
        self._channels.clear()

    def address(self, service: str) -> str:
        return self._addresses[service]

    async def call(
        self, binding: HttpBinding, request: Message, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> Message:
        metrics = grpc_call_metrics(binding.rpc_path, client=True)
        metrics.started.inc()
        started = time.perf_counter()
        try:
            extra = self._own_metadata
            if binding.access == access_pb2.ACCESS_ADMIN and all(key != ADMIN_KEY_KEY for key, _ in metadata):
                extra = (*extra, *self._admin_metadata)
            answer = await self._calls[binding.rpc_path](
                request, timeout=timeout, metadata=(*metadata, *extra)
            )
        except grpc.aio.AioRpcError as error:
            metrics.done(error.code().name, time.perf_counter() - started)
            raise _upstream_error(error) from None
        except BaseException:
            metrics.done("CANCELLED", time.perf_counter() - started)
            raise
        metrics.done("OK", time.perf_counter() - started)
        return answer

    async def serving_status(self, service: str, timeout: float) -> str:
        try:
            answer = await self._health[service].Check(
                health_pb2.HealthCheckRequest(), timeout=timeout, metadata=self._own_metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _upstream_error(error) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

    async def diagnostics(self, service: str, timeout: float) -> Message:
        try:
            return await self._diagnostics[service].GetDiagnostics(
                diagnostics_pb2.GetDiagnosticsRequest(), timeout=timeout, metadata=self._own_metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _upstream_error(error) from None

    async def export_personal_data(
        self, service: str, email: str, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> str:
        request = privacy_pb2.ExportPersonalDataRequest(email=email)
        try:
            answer = await self._privacy[service].ExportPersonalData(
                request, timeout=timeout, metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _upstream_error(error) from None
        return answer.document_json

    async def erase_personal_data(
        self, service: str, email: str, reason: str, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> dict[str, int]:
        request = privacy_pb2.ErasePersonalDataRequest(email=email, reason=reason)
        try:
            answer = await self._privacy[service].ErasePersonalData(
                request, timeout=timeout, metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _upstream_error(error) from None
        return dict(answer.counts)


def _upstream_error(error: grpc.aio.AioRpcError) -> UpstreamError:
    """The status as the service sent it, with its google.rpc.Status details when it sent some."""
    code = error.code().value[0]
    for key, value in error.trailing_metadata() or ():
        if key == _STATUS_DETAILS_KEY:
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:  # malformed details are ignored, the code and message still count
                break
            return UpstreamError(
                code, status.message or error.details() or "", status.details, from_service=True
            )
    return UpstreamError(code, error.details() or "", from_service=False)
