"""The request flow: route -> rate limit -> admin auth -> body -> protobuf -> upstream -> JSON.

Everything per route (translator, renderer, limits, auth, header values) is prepared at start; a
request only looks things up. Every failure becomes a GatewayError answer; nothing unexpected escapes
as a stack trace.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from google.rpc import code_pb2

from services.gateway.application import links
from services.gateway.application.auth import ADMIN_KEY_HEADER, AdminAuth
from services.gateway.application.clients import ClientContext
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.errors import (
    GatewayError,
    Violation,
    bad_request,
    internal_error,
    method_not_allowed,
    not_found,
    payload_too_large,
    unsupported_media_type,
)
from services.gateway.application.links import LinkRoute
from services.gateway.application.policies import RoutePolicy
from services.gateway.application.ports import UpstreamError, Upstreams
from services.gateway.application.ratelimit import Decision, RateLimiter, policy_header, rate_limit_headers
from services.gateway.application.routing import InvalidPathVariable, MethodNotAllowed, RouteTable
from services.gateway.application.translation import RequestTranslator, ResponseRenderer
from services.runtime.identity import ADMIN_KEY_KEY, SESSION_TOKEN_KEY, CallerIdentity

log = logging.getLogger(__name__)

JSON = "application/json"
FORWARDED_CREDENTIALS = (ADMIN_KEY_KEY, SESSION_TOKEN_KEY)


class BodyTooLarge(Exception):
    """The request body is longer than MAX_BODY_BYTES (raised while reading it)."""


class ClientDisconnected(Exception):
    """The client went away while its body was being read; nobody is left to answer."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: bytes
    query_string: bytes
    headers: Mapping[str, bytes]  # lower-case names; repeated headers joined with ', '
    client: ClientContext
    read_body: Callable[[], Awaitable[bytes]]  # the whole body; raises BodyTooLarge


@dataclass
class HttpReply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON

    @classmethod
    def error(cls, error: GatewayError, headers: Sequence[tuple[str, str]] = ()) -> HttpReply:
        return cls(error.status, error.body(), [*error.headers, *headers])


@dataclass(frozen=True)
class UpstreamRoute:
    binding: HttpBinding
    translator: RequestTranslator
    renderer: ResponseRenderer
    policy: RoutePolicy
    policy_header: str

    @classmethod
    def build(cls, binding: HttpBinding, policy: RoutePolicy, path_fields: Sequence[str]) -> UpstreamRoute:
        return cls(
            binding,
            RequestTranslator(binding, path_fields),
            ResponseRenderer(binding),
            policy,
            policy_header(policy.rate_policies),
        )


@dataclass(frozen=True)
class LocalRoute:
    """An endpoint the gateway answers itself (health, OpenAPI, privacy): never rate limited; a handler
    that needs the admin key checks it itself."""

    name: str
    handler: Callable[[HttpRequest], Awaitable[HttpReply]]


Route = UpstreamRoute | LocalRoute | LinkRoute


class Gateway:
    def __init__(
        self,
        routes: RouteTable[Route],
        limiter: RateLimiter,
        upstreams: Upstreams,
        auth: AdminAuth,
        *,
        upstream_timeout: float,
        max_body_bytes: int,
    ) -> None:
        self.routes = routes
        self._limiter = limiter
        self._upstreams = upstreams
        self._auth = auth
        self._timeout = upstream_timeout
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: HttpRequest) -> tuple[HttpReply, str | None]:
        """The reply, and the matched path template (for the access log; None when nothing matched)."""
        try:
            found = self.routes.match(request.method, request.raw_path)
        except InvalidPathVariable as error:
            return HttpReply.error(
                bad_request([Violation(error.field, "is not valid percent-encoded UTF-8")])
            ), None
        if found is None:
            return HttpReply.error(not_found()), None
        if isinstance(found, MethodNotAllowed):
            return HttpReply.error(method_not_allowed(found.allowed)), None
        route, template = found.target, found.template.text
        try:
            if isinstance(route, LocalRoute):
                return await route.handler(request), template
            if isinstance(route, LinkRoute):
                return await self._link(route, found.variables, request), template
            return await self._forward(route, found.variables, request), template
        except ClientDisconnected:
            raise
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, template)
            return HttpReply.error(internal_error()), template

    async def _forward(self, route: UpstreamRoute, path: dict[str, str], request: HttpRequest) -> HttpReply:
        headers: list[tuple[str, str]] = []
        if route.policy.rate_policies:
            decision = await self._limiter.check(request.client.key, route.policy.rate_policies)
            headers = rate_limit_headers(decision, route.policy_header)
            if not decision.allowed:
                return HttpReply.error(_too_many_requests(decision), headers)
        try:
            query, auth_values = _query(request.query_string, route.policy.auth_parameters)
            self._auth.authorize(
                route.policy.access,
                request.headers.get(ADMIN_KEY_HEADER),
                auth_values.get("token"),
                path.get(route.policy.token_field) if route.policy.token_field else None,
            )
            body = await self._body(route, request)
            message = route.translator.build(path, query, body)
            identity = CallerIdentity(
                request.client.key, request.client.user_agent, request.client.request_id
            )
            metadata = (*identity.as_metadata(), *forwarded_credentials(request.headers))
            try:
                response = await self._upstreams.call(route.binding, message, metadata, self._timeout)
            except UpstreamError as error:
                raise upstream_failure(route.binding.service_key, error, self._timeout) from None
            return HttpReply(200, route.renderer.render(response), headers)
        except GatewayError as error:
            return HttpReply.error(error, headers)

    async def _link(self, route: LinkRoute, path: dict[str, str], request: HttpRequest) -> HttpReply:
        """A signed link in an email (see links.py): GET shows its page, POST a form acts on it."""
        lang = links.language(request.headers)
        headers = list(links.PAGE_HEADERS)
        try:
            if route.policy.rate_policies:
                decision = await self._limiter.check(request.client.key, route.policy.rate_policies)
                headers += rate_limit_headers(decision, route.policy_header)
                if not decision.allowed:
                    raise _too_many_requests(decision)
            if request.method == "GET":
                return HttpReply(200, links.page(route, "ask", lang), headers, links.HTML)
            links.form_media_type(request.headers.get("content-type"))
            try:
                body = await request.read_body()
            except BodyTooLarge:
                raise payload_too_large(self._max_body_bytes) from None
            fields = links.form_fields(request.headers.get("content-type", b""), body)
            if route.one_click:
                links.check_one_click(fields)
            identity = CallerIdentity(
                request.client.key, request.client.user_agent, request.client.request_id
            )
            try:
                await self._upstreams.call(
                    route.binding,
                    route.request_message(path["token"]),
                    identity.as_metadata(),
                    self._timeout,
                )
            except UpstreamError as error:
                raise upstream_failure(route.binding.service_key, error, self._timeout) from None
            return HttpReply(200, links.page(route, "done", lang), headers, links.HTML)
        except GatewayError as error:
            page = links.error_page(error.message, lang)
            return HttpReply(error.status, page, [*error.headers, *headers], links.HTML)

    async def _body(self, route: UpstreamRoute, request: HttpRequest) -> bytes | None:
        headers = request.headers
        if not route.translator.takes_body:
            length = headers.get("content-length")
            if (length is not None and length.strip() != b"0") or "transfer-encoding" in headers:
                try:
                    has_body = bool(await request.read_body())
                except BodyTooLarge:
                    has_body = True
                if has_body:
                    raise unsupported_media_type("this route takes no request body")
            return None
        content_type = headers.get("content-type")
        if content_type is not None and not is_json(content_type):
            raise unsupported_media_type("Content-Type must be application/json")
        try:
            body = await request.read_body()
        except BodyTooLarge:
            raise payload_too_large(self._max_body_bytes) from None
        if body and content_type is None:
            raise unsupported_media_type("Content-Type must be application/json")
        return body or None


def is_json(content_type: bytes) -> bool:
    """application/json or application/<x>+json, in UTF-8 if a charset is given."""
    media_type, _, parameters = content_type.decode("latin-1").partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def forwarded_credentials(headers: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """The admin key and the session token as the client sent them: the services check them again
    (the session token only there). A value that is no printable ASCII cannot be either."""
    pairs = []
    for name in FORWARDED_CREDENTIALS:
        value = headers.get(name)
        if value and all(0x20 < byte < 0x7F for byte in value):
            pairs.append((name, value.decode("ascii")))
    return pairs


def _query(raw: bytes, auth_parameters: frozenset[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The query string as (name, value) pairs, without the parameters the gateway consumes."""
    if not raw:
        return [], {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise bad_request([Violation("query", "is not valid UTF-8")]) from None
    if not auth_parameters:
        return pairs, {}
    query, consumed = [], {}
    for name, value in pairs:
        if name not in auth_parameters:
            query.append((name, value))
        elif name in consumed:
            raise bad_request([Violation(name, "given more than once")])
        else:
            consumed[name] = value
    return query, consumed


def _too_many_requests(decision: Decision) -> GatewayError:
    exhausted = ", ".join(
        f"{s.policy.name}: {s.policy.quota} per {s.policy.window_seconds}s"
        for s in decision.states
        if not s.allowed
    )
    wait = decision.retry_after(time.time())
    return GatewayError(
        429, code_pb2.RESOURCE_EXHAUSTED, f"rate limit exceeded ({exhausted}); retry in {wait}s"
    )


def upstream_failure(service: str, error: UpstreamError, timeout: float) -> GatewayError:
    """The upstream's status as the gateway answers it. A status the service sent keeps its message
    and details; one the channel made up (refused connection, passed deadline, crashed servicer) gets a
    message that names the service instead of gRPC internals."""
    code = error.code
    if error.from_service:
        return GatewayError.from_code(code, error.message, error.details)
    if code == code_pb2.UNAVAILABLE:
        return GatewayError.from_code(code, f"the {service} service is unavailable, try again later")
    if code == code_pb2.DEADLINE_EXCEEDED:
        seconds = f"{timeout:g}" if timeout < 1 else str(math.ceil(timeout))
        return GatewayError.from_code(code, f"the {service} service did not answer within {seconds}s")
    if code in (code_pb2.UNKNOWN, code_pb2.INTERNAL, code_pb2.DATA_LOSS):
        return GatewayError.from_code(code, f"the {service} service failed")
    return GatewayError.from_code(code, error.message, error.details)
