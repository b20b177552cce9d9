"""What the server interceptors share: wrapping each method's unary handler once, not per call."""

from __future__ import annotations

from collections.abc import Callable

import grpc


class UnaryHandlerInterceptor(grpc.ServerInterceptor):
    """A server interceptor that wraps the unary handler of each method, made once instead of per call:
    reused while the chain inside answers the same handler object for the method (the servicer's
    registered handlers, and interceptors that cache theirs), made anew (and kept) when it answers
    another. Subclasses say how to wrap (`_wrap`) and which methods to leave alone (`_passes`)."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or self._passes(method):
            return handler
        cached = self._by_method.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._by_method[method] = (handler, wrapped)
        return wrapped

    def _passes(self, method: str) -> bool:
        """Whether `method` goes through unwrapped."""
        return False

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        raise NotImplementedError
