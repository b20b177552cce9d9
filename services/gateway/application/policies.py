"""Which rate limits and which authentication each route gets.

Everything is decided from the binding, so a newly annotated RPC gets the API limits, and admin
authentication when its contract declares `(novahouse.api.v1.access) = ACCESS_ADMIN`, without a gateway
change; the path plays no part. Two RPCs are named: the chat route has its own limit, and the consent
status route (PUBLIC in its contract) is narrowed to the admin key or the person's signed token.
"""

from __future__ import annotations

from dataclasses import dataclass

from novahouse.api.v1 import access_pb2
from services.gateway.application.auth import TOKEN_PARAMETER, Access
from services.gateway.application.contracts import HttpBinding
from services.gateway.application.ratelimit import RatePolicy
from services.gateway.settings import RateLimitSettings

CHAT_RPC = "novahouse.chat.v1.ChatService.SendMessage"
EMAIL_STATUS_RPC = "novahouse.consent.v1.ConsentService.GetConsentStatus"


@dataclass(frozen=True)
class RoutePolicy:
    access: Access
    rate_policies: tuple[RatePolicy, ...]
    # Query parameters the gateway consumes itself (never passed to the service).
    auth_parameters: frozenset[str] = frozenset()
    # The path variable a signed token must match.
    token_field: str | None = None


class RoutePolicies:
    def __init__(self, limits: RateLimitSettings) -> None:
        # RATE_LIMIT_ENABLED=false: routes without policies, which the gateway neither counts nor announces.
        self.chat = (RatePolicy("chat", limits.chat),) if limits.enabled else ()
        self.api = (
            (RatePolicy("api-hour", limits.api_hour), RatePolicy("api-minute", limits.api_minute))
            if limits.enabled
            else ()
        )

    def for_binding(self, binding: HttpBinding) -> RoutePolicy:
        rate_policies = self.chat if binding.rpc_name == CHAT_RPC else self.api
        if binding.access == access_pb2.ACCESS_ADMIN:
            return RoutePolicy(Access.ADMIN, rate_policies)
        if binding.access == access_pb2.ACCESS_PUBLIC and binding.rpc_name == EMAIL_STATUS_RPC:
            return RoutePolicy(
                Access.ADMIN_OR_EMAIL_TOKEN,
                rate_policies,
                frozenset({TOKEN_PARAMETER}),
                token_field="email",  # noqa: S106
            )
        if binding.access == access_pb2.ACCESS_PUBLIC:
            return RoutePolicy(Access.PUBLIC, rate_policies)
        raise ValueError(f"{binding.rpc_name} is not PUBLIC or ADMIN: it has no HTTP route")
