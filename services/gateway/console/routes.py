"""The console's routes, mounted by the gateway beside its API router."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from services.gateway.application.clients import Network
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.health import DeepHealth
from services.gateway.application.ports import Upstreams
from services.gateway.application.ratelimit import RateLimiter
from services.gateway.application.routing import RouteTable
from services.gateway.console.access import Access, Dispatch, static
from services.gateway.console.backend import ConsoleBackend
from services.gateway.console.operations import Operations
from services.gateway.console.security import SessionSigner
from services.gateway.console.settings import ConsoleSettings
from services.gateway.console.web import Guard


@dataclass(frozen=True)
class ConsoleParts:
    """What the console uses of the gateway."""

    upstreams: Upstreams
    bindings: Sequence[HttpBinding]
    deep_health: DeepHealth
    limiter: RateLimiter
    routes: RouteTable
    dispatch: Dispatch
    trusted_proxies: Sequence[Network] = ()


def console_routes(settings: ConsoleSettings, admin_key: str | None, parts: ConsoleParts) -> list[BaseRoute]:
    signer = SessionSigner(admin_key, int(settings.session_minutes * 60)) if admin_key else None
    guard = Guard(signer, parts.trusted_proxies)
    backend = ConsoleBackend(parts.upstreams, parts.bindings)
    ops = Operations(backend, parts.deep_health, admin_key or "")
    access = Access(
        backend, parts.limiter, settings.login_rate_limit, parts.routes, parts.dispatch, admin_key
    )

    async def static_file(request: Request) -> Response:
        return static(request.path_params["name"]) or PlainTextResponse("not found", status_code=404)

    async def to_console(_request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=308)

    def post(path: str, handler, **options: bool) -> Route:  # noqa: ANN001
        return Route(path, guard.page(handler, **options), methods=["POST"])

    def get(path: str, handler, **options: bool) -> Route:  # noqa: ANN001
        return Route(path, guard.page(handler, **options), methods=["GET"])

    pages = [
        get("/", ops.overview),
        get("/login", access.login_form, needs_session=False),
        post("/login", access.login, needs_session=False),
        post("/logout", access.logout),
        get("/dlq", ops.dead_letters),
        get("/dlq/{entry_id}", ops.dead_letter),
        post("/dlq/retry", ops.retry),
        post("/dlq/redrive", ops.redrive),
        post("/dlq/purge", ops.purge),
        get("/breakers", ops.breakers),
        post("/breakers/reset", ops.reset_breaker),
        get("/consent", access.consent),
        post("/consent", access.lookup),
        post("/consent/verify", access.verify),
        post("/consent/export", access.export),
        post("/consent/erase", access.erase),
        get("/followups", ops.followups),
        post("/followups/run", ops.run_followups),
        Route("/static/{name}", static_file, methods=["GET"]),
    ]
    return [Route("/admin", to_console, methods=["GET"]), Mount("/admin", routes=pages)]
