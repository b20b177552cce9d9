"""The gateway's HTTP request and reply, and its kinds of route: what dispatch, health, OpenAPI and the
Starlette transport share, apart from the request flow itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from services.gateway.application.clients import ClientContext
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.errors import GatewayError
from services.gateway.application.links import LinkRoute
from services.gateway.application.policies import RoutePolicy
from services.gateway.application.ratelimit import policy_header
from services.gateway.application.request_decoding import RequestTranslator
from services.gateway.application.response_rendering import ResponseRenderer

JSON = "application/json"


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
