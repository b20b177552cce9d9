"""Wires the gateway: contracts -> route table -> limiter, upstream channels, auth -> ASGI app -> uvicorn.

`python -m services.gateway` validates the settings first (a bad value prints one line naming the
variable and exits 2), builds the route table from the generated descriptors (an annotation it cannot
serve exits 1), then serves until SIGTERM or SIGINT, which uvicorn turns into a graceful shutdown.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from services.gateway.adapters.metrics import storage_source
from services.gateway.adapters.ratelimit import LimitsRateLimiter
from services.gateway.adapters.stubs import StubsMissing, contract_files
from services.gateway.adapters.upstreams import GrpcUpstreams
from services.gateway.application.auth import AdminAuth
from services.gateway.application.clients import ClientKeyResolver
from services.gateway.application.contracts import ContractError, HttpBinding, http_bindings
from services.gateway.application.dispatch import Gateway
from services.gateway.application.health import DeepHealth, liveness
from services.gateway.application.http import HttpReply, HttpRequest, LocalRoute, Route, UpstreamRoute
from services.gateway.application.links import LINK_RPCS, LinkRoute
from services.gateway.application.openapi import openapi_document
from services.gateway.application.policies import RoutePolicies
from services.gateway.application.privacy import PrivacyRoutes
from services.gateway.application.routing import PathTemplate, RouteTable, TemplateError
from services.gateway.console.routes import ConsoleParts, console_routes
from services.gateway.settings import GatewaySettings
from services.gateway.transport.app import create_app
from services.gateway.widget.routes import widget_routes
from services.runtime.config import ConfigError, Environment
from services.runtime.metrics import SCRAPE_SOURCES
from services.runtime.observability import start_observability

log = logging.getLogger(__name__)

NAME = "gateway"
VERSION = "1.0.0"


class OpenApiEndpoint:
    """Serves the document generated once at start."""

    def __init__(self) -> None:
        self.document = b"{}"

    async def handle(self, _request: HttpRequest) -> HttpReply:
        return HttpReply(200, self.document)


def load_bindings() -> list[HttpBinding]:
    """The HTTP bindings of every generated contract; raises StubsMissing or ContractError."""
    return http_bindings(contract_files())


def upstream_names(bindings: Sequence[HttpBinding]) -> list[str]:
    return sorted({binding.service_key for binding in bindings})


def upstream_entries(
    bindings: Sequence[HttpBinding], policies: RoutePolicies
) -> list[tuple[str, str, Route]]:
    """(HTTP method, path template, route) for every binding; raises ContractError or TemplateError."""
    entries: list[tuple[str, str, Route]] = []
    for binding in bindings:
        if binding.rpc_name in LINK_RPCS:  # a signed link in an email: its page (GET) and its form
            link = LinkRoute.build(binding, policies.for_binding(binding))
            entries += [
                ("GET", binding.path_template, link),
                (binding.http_method, binding.path_template, link),
            ]
            continue
        template = PathTemplate(binding.path_template)
        try:
            route = UpstreamRoute.build(binding, policies.for_binding(binding), template.field_paths)
        except ValueError as error:
            raise ContractError(f"{binding.rpc_name}: {error}") from None
        entries.append((binding.http_method, binding.path_template, route))
    return entries


def build_app(settings: GatewaySettings, bindings: Sequence[HttpBinding]) -> Starlette:
    """The ASGI app; channels open and the limiter starts in its lifespan. Raises ContractError or
    TemplateError for an annotation it cannot serve."""
    upstreams = GrpcUpstreams(settings.upstreams, bindings, settings.grpc_security)
    limiter = LimitsRateLimiter(settings.rate_limits)
    SCRAPE_SOURCES.add("gateway_rate_limit", storage_source(lambda: limiter.storage_in_use), cache_seconds=0)
    entries = upstream_entries(bindings, RoutePolicies(settings.rate_limits))
    openapi = OpenApiEndpoint()
    deep_health = DeepHealth(
        list(settings.upstreams), upstreams, limiter, bindings, settings.grpc_security.admin_key
    )
    auth = AdminAuth(settings.admin_api_key, settings.unsubscribe_secrets)
    privacy = PrivacyRoutes(
        upstreams,
        auth,
        list(settings.upstreams),
        timeout=settings.upstream_timeout_seconds,
        max_body_bytes=settings.max_body_bytes,
    )
    entries += [
        ("POST", "/api/admin/privacy/export", LocalRoute("PrivacyExport", privacy.export)),
        ("POST", "/api/admin/privacy/erase", LocalRoute("PrivacyErase", privacy.erase)),
        ("GET", "/api/health", LocalRoute("Health", liveness)),
        ("GET", "/api/health/deep", LocalRoute("DeepHealth", deep_health.handle)),
        ("GET", "/api/openapi.json", LocalRoute("OpenApi", openapi.handle)),
    ]
    table: RouteTable[Route] = RouteTable(entries)
    openapi.document = json.dumps(
        openapi_document(table.entries(), title="NovaHouse chat backend", version=VERSION),
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    gateway = Gateway(
        table,
        limiter,
        upstreams,
        auth,
        upstream_timeout=settings.upstream_timeout_seconds,
        max_body_bytes=settings.max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await upstreams.open()
        await limiter.start()
        log.info(
            "%s: %d routes to %s",
            NAME,
            len(entries),
            ", ".join(f"{name} at {address}" for name, address in settings.upstreams.items()),
        )
        try:
            yield
        finally:
            await limiter.close()
            await upstreams.close()
            log.info("%s stopped", NAME)

    console = console_routes(
        settings.console,
        settings.admin_api_key,
        ConsoleParts(
            upstreams, bindings, deep_health, limiter, table, gateway.handle, settings.trusted_proxies
        ),
    )
    return create_app(
        gateway,
        resolver=ClientKeyResolver(settings.trusted_proxies),
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        methods=sorted({method for method, _, _ in entries}),
        lifespan=lifespan,
        routes=[*console, *widget_routes(settings.widget)],
    )


def uvicorn_config(app: Starlette, settings: GatewaySettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        # The gateway decides itself whom to believe about X-Forwarded-For (TRUSTED_PROXIES).
        proxy_headers=False,
        access_log=False,  # the gateway writes its own access line, with request id and client key
        log_config=None,  # keep the runtime's log format
        server_header=False,
        # uvicorn hands it to asyncio.wait_for, which takes fractions of a second; its annotation says int.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
    )


def main() -> None:
    try:
        bindings = load_bindings()
    except (StubsMissing, ContractError) as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        sys.exit(1)
    try:
        env = Environment()
        settings = GatewaySettings.from_env(env, upstream_names(bindings))
    except ConfigError as error:
        print(f"{NAME}: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    try:
        observability = start_observability(
            env, NAME, host=settings.host, level=settings.log_level, log_format=settings.log_format
        )
    except ConfigError as error:
        print(f"{NAME}: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    try:
        app = build_app(settings, bindings)
    except (ContractError, TemplateError) as error:
        log.error("%s cannot start: %s", NAME, error)
        sys.exit(1)
    server = uvicorn.Server(uvicorn_config(app, settings))
    # uvicorn handles SIGTERM/SIGINT itself (graceful shutdown) and then raises the signal again under
    # the handlers that were there before; these make that a normal exit (status 0) like the services'.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped_by)
    server.run()
    observability.close()
    if not server.started:
        sys.exit(1)


def _stopped_by(signum: int, _frame: object) -> None:
    log.info("%s stopped by %s", NAME, signal.Signals(signum).name)
