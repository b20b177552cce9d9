"""gRPC interceptors that count calls as go-grpc-prometheus does (same metric names, label names and
code spelling: `grpc_type="unary"`, `grpc_code="InvalidArgument"`), so stock dashboards and alerts
match. py-grpc-prometheus spells them `UNARY` and `INVALID_ARGUMENT`, hence these few lines instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from services.runtime.grpc_handlers import UnaryHandlerInterceptor
from services.runtime.metrics import grpc_call_metrics


class ServerMetricsInterceptor(UnaryHandlerInterceptor):
    """Outermost server interceptor: sees the status the call finally ended with."""

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        metrics = grpc_call_metrics(method, client=False)
        inner = handler.unary_unary
        if inner is None:  # checked by intercept_service
            return handler

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            metrics.started.inc()
            started = time.perf_counter()
            failed = False
            try:
                return inner(request, context)
            except BaseException:
                failed = True
                raise
            finally:
                # grpc's servicer context has code(); types-grpcio does not declare it.
                code = context.code()  # type: ignore[attr-defined]
                if code is None:
                    code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
                metrics.done(code.name, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ClientMetricsInterceptor(grpc.UnaryUnaryClientInterceptor):
    """For synchronous channels (`grpc.intercept_channel`)."""

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        metrics = grpc_call_metrics(client_call_details.method, client=True)
        metrics.started.inc()
        started = time.perf_counter()
        outcome = continuation(client_call_details, request)
        code = outcome.code() if isinstance(outcome, grpc.Call) else None
        metrics.done((code or grpc.StatusCode.UNKNOWN).name, time.perf_counter() - started)
        return outcome
