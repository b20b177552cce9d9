"""What the server interceptors share: their wrapped handler per method, made once."""

from __future__ import annotations

from collections.abc import Callable

import grpc


class WrappedHandlers:
    """An interceptor's wrapped handler per method, made once instead of per call: reused while the
    chain inside answers the same handler object for the method (the servicer's registered handlers,
    and interceptors that cache theirs), made anew (and kept) when it answers another."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def get(
        self,
        method: str,
        inner: grpc.RpcMethodHandler,
        wrap: Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler],
    ) -> grpc.RpcMethodHandler:
        cached = self._by_method.get(method)
        if cached is not None and cached[0] is inner:
            return cached[1]
        wrapped = wrap(method, inner)
        self._by_method[method] = (inner, wrapped)
        return wrapped
