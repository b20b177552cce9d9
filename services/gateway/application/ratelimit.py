"""Rate-limit decisions and the headers that announce them.

The limiter is a port: `check(client_key, policies) -> Decision`. The adapter behind it (today the
`limits` library on Redis with an in-memory fallback) may be replaced by one that answers every policy
of a route in a single Redis round trip without anything here changing.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem


@dataclass(frozen=True)
class RatePolicy:
    """One limit with its public name, e.g. 'api-minute' = 50 per 60 s. Routes sharing a policy share
    its budget per client."""

    name: str
    limit: RateLimitItem

    @property
    def quota(self) -> int:
        return self.limit.amount

    @property
    def window_seconds(self) -> int:
        return self.limit.get_expiry()


@dataclass(frozen=True)
class LimitState:
    """One policy after this request: was it within budget, what is left, when more comes back."""

    policy: RatePolicy
    allowed: bool
    remaining: int
    reset_at: float  # epoch seconds


@dataclass(frozen=True)
class Decision:
    states: tuple[LimitState, ...]
    storage: str  # "redis" or "memory"

    @property
    def allowed(self) -> bool:
        return all(state.allowed for state in self.states)

    @property
    def tightest(self) -> LimitState:
        """The policy closest to refusing: fewest remaining, then the latest reset."""
        return min(self.states, key=lambda s: (s.remaining, -s.reset_at))

    def retry_after(self, now: float) -> int:
        """Whole seconds until every exhausted policy has room again (at least 1)."""
        waits = [state.reset_at - now for state in self.states if not state.allowed]
        return max(1, math.ceil(max(waits, default=1)))


class RateLimiter(Protocol):
    async def check(self, client_key: str, policies: Sequence[RatePolicy]) -> Decision:
        """Counts one request of `client_key` against every policy. Never raises because a storage
        failed: it answers from its fallback instead."""
        ...


def policy_header(policies: Sequence[RatePolicy]) -> str:
    """RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers-10): a structured list of policies."""
    return ", ".join(f'"{p.name}";q={p.quota};w={p.window_seconds}' for p in policies)


def rate_limit_headers(
    decision: Decision, policy_value: str, now: float | None = None
) -> list[tuple[str, str]]:
    """X-RateLimit-* for the tightest policy (reset as epoch seconds, as Flask-Limiter sent it), the
    draft's RateLimit-Policy and RateLimit fields for every policy, and Retry-After when refused."""
    now = time.time() if now is None else now
    tightest = decision.tightest
    headers = [
        ("x-ratelimit-limit", str(tightest.policy.quota)),
        ("x-ratelimit-remaining", str(tightest.remaining)),
        ("x-ratelimit-reset", str(math.ceil(tightest.reset_at))),
        ("ratelimit-policy", policy_value),
        (
            "ratelimit",
            ", ".join(
                f'"{s.policy.name}";r={s.remaining};t={max(0, math.ceil(s.reset_at - now))}'
                for s in decision.states
            ),
        ),
    ]
    if not decision.allowed:
        headers.append(("retry-after", str(decision.retry_after(now))))
    return headers


def limit_identity(client_key: str, ipv6_prefix: int = 64) -> str:
    """Whom a budget belongs to: an IPv4 address itself, an IPv6 address's network of `ipv6_prefix`
    bits ('2001:db8:1:2::/64'): a subscriber gets a whole /64 and could otherwise pick a new address
    for every request. Anything else (e.g. 'unknown') as it is."""
    try:
        address = ipaddress.ip_address(client_key)
    except ValueError:
        return client_key
    if isinstance(address, ipaddress.IPv6Address) and ipv6_prefix < 128:
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return client_key
