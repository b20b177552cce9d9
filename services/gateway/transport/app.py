"""The ASGI application: Starlette for the lifespan, CORS and the last-resort error handler; every
path goes to the gateway's own router, which matches the raw path (Starlette's matches the decoded
one, which would turn '%2F' inside an email into a path separator).

    RequestContext  request id, client key, access log, X-Request-ID on every answer
      CORS          Starlette's CORSMiddleware, preflight included (only with CORS_ORIGINS)
        endpoint    ASGI <-> HttpRequest/HttpReply around Gateway.handle
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.application.clients import ClientContext, ClientKeyResolver, metadata_safe, request_id
from services.gateway.application.dispatch import (
    BodyTooLarge,
    ClientDisconnected,
    Gateway,
    HttpReply,
    HttpRequest,
)
from services.gateway.application.errors import GatewayError, internal_error
from services.gateway.transport.observability import TracingMiddleware, observe_request, route_of
from services.runtime import tracing
from services.runtime.logs import request_id_var

access_log = logging.getLogger("services.gateway.access")

CONTEXT_KEY = "novahouse.client"
HEADERS_KEY = "novahouse.headers"
TEMPLATE_KEY = "novahouse.route"
# Polled by load balancers: logged at DEBUG like the services' health checks.
QUIET_PATHS = (b"/api/health",)
REQUEST_HEADERS = ("Content-Type", "X-Request-ID", "X-ADMIN-API-KEY", "X-Session-Token")
EXPOSED_HEADERS = (
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)


class RequestContextMiddleware:
    """Gives every request its id and client key before anything else runs, echoes X-Request-ID, and
    writes one access line: method, path template, status, duration, request id, client key."""

    def __init__(self, app: ASGIApp, resolver: ClientKeyResolver) -> None:
        self.app = app
        self._resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: dict[str, bytes] = {}
        for raw_name, value in scope["headers"]:
            name = raw_name.decode("latin-1")
            headers[name] = headers[name] + b", " + value if name in headers else value
        forwarded = headers.get("x-forwarded-for")
        client = scope.get("client")
        context = ClientContext(
            key=self._resolver.client_key(
                client[0] if client else None, forwarded.decode("latin-1") if forwarded else None
            ),
            user_agent=metadata_safe(headers.get("user-agent", b"")),
            request_id=request_id(headers.get("x-request-id", b"").decode("latin-1")),
        )
        scope[CONTEXT_KEY] = context
        scope[HEADERS_KEY] = headers
        token = request_id_var.set(context.request_id)
        echoed = (b"x-request-id", context.request_id.encode())
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            elapsed_ms = elapsed * 1000
            observe_request(scope["method"], route_of(scope, TEMPLATE_KEY), status, elapsed)
            raw_path = scope.get("raw_path") or scope["path"].encode()
            path = scope.get(TEMPLATE_KEY) or _loggable(raw_path)
            level = logging.DEBUG if raw_path in QUIET_PATHS else logging.INFO
            access_log.log(
                level,
                "http %s %s %d %.1fms request_id=%s client=%s",
                scope["method"],
                path,
                status,
                elapsed_ms,
                context.request_id,
                context.key,
            )
            request_id_var.reset(token)


def _loggable(raw_path: bytes) -> str:
    """An unmatched path, as far as it names no one: its first segment (a path is client-controlled
    and may carry an email anywhere, e.g. a mistyped unsubscribe link)."""
    segments = raw_path.split(b"?", 1)[0].split(b"/")
    shown = b"/".join(segments[:2])
    return metadata_safe(shown, limit=40) + ("/…" if len(segments) > 2 else "")


class GatewayEndpoint:
    """ASGI in, Gateway.handle, ASGI out."""

    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: dict[str, bytes] = scope[HEADERS_KEY]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        # Some servers (and test clients) put the query string into raw_path too.
        raw_path = raw_path.split(b"?", 1)[0]
        request = HttpRequest(
            method=scope["method"],
            raw_path=raw_path,
            query_string=scope.get("query_string", b""),
            headers=headers,
            client=scope[CONTEXT_KEY],
            read_body=_body_reader(receive, headers, self._max_body_bytes),
        )
        try:
            reply, template = await self._gateway.handle(request)
        except ClientDisconnected:
            return
        scope[TEMPLATE_KEY] = template
        await _send_reply(reply, send)


def _body_reader(receive: Receive, headers: dict[str, bytes], limit: int) -> Callable[[], Any]:
    async def read() -> bytes:
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise BodyTooLarge  # refused before reading a byte
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge  # a chunked or lying request is cut off while it is read
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    return read


async def _send_reply(reply: HttpReply, send: Send) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class JsonErrorCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight in the gateway's error format."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        error = GatewayError(400, 3, bytes(response.body).decode())  # 3: INVALID_ARGUMENT
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return Response(error.body(), status_code=400, headers=headers, media_type="application/json")


async def _internal_error(_request: Request, _error: Exception) -> Response:
    """The last resort: anything that escaped the gateway is answered without its traceback."""
    return Response(internal_error().body(), status_code=500, media_type="application/json")


def create_app(
    gateway: Gateway,
    *,
    resolver: ClientKeyResolver,
    max_body_bytes: int,
    cors_origins: Sequence[str],
    methods: Sequence[str],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """`routes` are Starlette routes tried before the gateway's router (the console under /admin)."""
    middleware = [Middleware(RequestContextMiddleware, resolver=resolver)]
    if tracing.enabled():
        middleware.insert(0, Middleware(TracingMiddleware, template_key=TEMPLATE_KEY))
    if cors_origins:
        middleware.append(
            Middleware(
                JsonErrorCORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=sorted({*methods, "OPTIONS"}),
                allow_headers=list(REQUEST_HEADERS),
                expose_headers=list(EXPOSED_HEADERS),
                max_age=600,
            )
        )
    app = Starlette(
        routes=list(routes),
        middleware=middleware,
        exception_handlers={Exception: _internal_error},
        lifespan=lifespan,
    )
    # Every other path goes to the gateway's router, which matches the raw path.
    app.router.default = GatewayEndpoint(gateway, max_body_bytes)
    app.router.redirect_slashes = False
    return app
