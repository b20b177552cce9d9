"""The gateway's ports in memory: upstream services that answer from a script and record every call,
a rate limiter that counts in a dict, and the request flow (dispatch.Gateway) wired to them over the
real route table of the generated contracts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import message_factory
from google.protobuf.message import Message

from services.gateway.application.auth import AdminAuth
from services.gateway.application.clients import ClientContext
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.dispatch import Gateway
from services.gateway.application.http import HttpReply, HttpRequest, LocalRoute, Route
from services.gateway.application.policies import RoutePolicies
from services.gateway.application.ports import UpstreamError
from services.gateway.application.ratelimit import Decision, LimitState, RatePolicy
from services.gateway.application.routing import RouteTable
from services.gateway.bootstrap import load_bindings, upstream_entries
from services.gateway.settings import GatewaySettings
from services.runtime.config import Environment

ADMIN_KEY = "unit-admin-key-0123456789-0123456789"
SECRET = "unit-unsubscribe-secret-0123456789"
CLIENT = ClientContext(key="203.0.113.5", user_agent="Widget/1.0", request_id="req-42")
TIMEOUT = 2.5


@dataclass(frozen=True)
class Call:
    rpc: str
    request: Message
    metadata: tuple[tuple[str, str], ...]
    timeout: float


class ScriptedUpstreams:
    """Upstreams: `answers[rpc name]` is the response, or an exception to raise; an empty response of
    the method's type otherwise."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: dict[str, Message | Exception] = {}

    async def call(
        self, binding: HttpBinding, request: Message, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> Message:
        self.calls.append(Call(binding.rpc_name, request, tuple(metadata), timeout))
        answer = self.answers.get(binding.rpc_name)
        if isinstance(answer, Exception):
            raise answer
        return answer or message_factory.GetMessageClass(binding.method.output_type)()

    async def serving_status(self, service: str, timeout: float) -> str:
        raise UpstreamError(14, "not used by these tests")

    async def diagnostics(self, service: str, timeout: float) -> Message:
        raise UpstreamError(14, "not used by these tests")

    def address(self, service: str) -> str:
        return f"{service}.test:50051"


class CountingLimiter:
    """RateLimiter: fixed windows counted per (client, policy) in a dict; a refused request counts
    against none of its policies."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], int] = {}

    async def check(self, client_key: str, policies: Sequence[RatePolicy]) -> Decision:
        now = time.time()
        before = {p.name: self.used.get((client_key, p.name), 0) for p in policies}
        allowed = all(before[p.name] < p.quota for p in policies)
        states = []
        for policy in policies:
            used = before[policy.name] + allowed
            self.used[(client_key, policy.name)] = used
            within = before[policy.name] < policy.quota
            states.append(
                LimitState(policy, within, max(0, policy.quota - used), now + policy.window_seconds)
            )
        return Decision(tuple(states), "memory")


async def pong(_request: HttpRequest) -> HttpReply:
    return HttpReply(200, b'{"pong":true}')


def gateway(
    upstreams: ScriptedUpstreams, limiter: CountingLimiter, *, max_body_bytes: int = 1024, **environ: str
) -> Gateway:
    """The request flow over every contract's routes plus a local /api/ping, with generous limits and
    both admin secrets unless `environ` says otherwise."""
    defaults = {
        "ADMIN_API_KEY": ADMIN_KEY,
        "UNSUBSCRIBE_SECRET": SECRET,
        "CHAT_RATE_LIMIT": "100 per minute",
        "API_RATE_LIMIT_HOUR": "1000 per hour",
        "API_RATE_LIMIT_MINUTE": "100 per minute",
    }
    settings = GatewaySettings.from_env(Environment({**defaults, **environ}))
    entries: list[tuple[str, str, Route]] = upstream_entries(
        load_bindings(), RoutePolicies(settings.rate_limits)
    )
    entries.append(("GET", "/api/ping", LocalRoute("Ping", pong)))
    return Gateway(
        RouteTable(entries),
        limiter,
        upstreams,
        AdminAuth(settings.admin_api_key, settings.unsubscribe_secrets),
        upstream_timeout=TIMEOUT,
        max_body_bytes=max_body_bytes,
    )
