"""/api/health (the gateway process itself) and /api/health/deep (everything it depends on).

The deep check asks every upstream at once, each question with its own short deadline, so one hung
service costs at most a few seconds and never hides the others. It answers 503 naming what is down:
a service that is unreachable or not SERVING, a dependency a service says it requires, or the
gateway's configured Redis. Open breakers and optional dependencies are listed as degraded: the
system still works (notifications wait in the dead-letter queue, caches fall back to memory).

Only a caller with the admin key (X-ADMIN-API-KEY) gets that report; anyone else gets the status and
"up" or "down" per service, nothing about addresses, breakers or queues. One report serves every
caller for REPORT_TTL_SECONDS, and concurrent callers share the one being made, so the endpoint
cannot be used to fan calls out to every service.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message_factory import GetMessageClass

from services.gateway.application.contracts import HttpBinding
from services.gateway.application.dispatch import HttpReply, HttpRequest, upstream_failure
from services.gateway.application.json_values import message_to_json
from services.gateway.application.ports import RateLimitStorage, UpstreamError, Upstreams
from services.runtime.access import Secret
from services.runtime.identity import ADMIN_KEY_KEY, CallerIdentity

HEALTH_TIMEOUT_SECONDS = 1.0
REPORT_TTL_SECONDS = 1.0
# Diagnostics probe each dependency for up to 2 s (services.runtime.diagnostics).
DIAGNOSTICS_TIMEOUT_SECONDS = 3.0
ADMIN_CALL_TIMEOUT_SECONDS = 2.0
# Extra facts about a service, from its own annotated RPCs when it has them.
EXTRA_CALLS = {
    "breakers": "novahouse.notifier.v1.NotifierService.ListBreakers",
    "dead_letters": "novahouse.notifier.v1.NotifierService.GetDeadLetterStats",
}
_OPEN_BREAKER_STATES = ("BREAKER_STATE_OPEN", "BREAKER_STATE_HALF_OPEN")


def json_reply(status: int, document: object) -> HttpReply:
    return HttpReply(status, json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


async def liveness(_request: HttpRequest) -> HttpReply:
    return json_reply(200, {"status": "ok"})


class DeepHealth:
    def __init__(
        self,
        services: Sequence[str],
        upstreams: Upstreams,
        limiter: RateLimitStorage,
        bindings: Sequence[HttpBinding],
        admin_key: Secret | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin_key = admin_key or Secret(None)
        self._clock = clock
        self._report: tuple[float, int, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self._services = tuple(services)
        self._upstreams = upstreams
        self._limiter = limiter
        by_rpc = {binding.rpc_name: binding for binding in bindings}
        self._extras = {name: by_rpc[rpc] for name, rpc in EXTRA_CALLS.items() if rpc in by_rpc}

    async def handle(self, request: HttpRequest) -> HttpReply:
        status, document = await self._cached_report(request)
        if self._admin_key.matches(request.headers.get(ADMIN_KEY_KEY)):
            return json_reply(status, document)
        services = {
            name: "up" if report.get("health") == "SERVING" and not _required_down(name, document) else "down"
            for name, report in document["services"].items()
        }
        return json_reply(status, {"status": document["status"], "services": services})

    async def _cached_report(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        async with self._lock:
            if self._report is None or self._clock() - self._report[0] >= REPORT_TTL_SECONDS:
                status, document = await self._full_report(request)
                self._report = (self._clock(), status, document)
            return self._report[1], self._report[2]

    async def _full_report(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        identity = CallerIdentity(request.client.key, request.client.user_agent, request.client.request_id)
        metadata = identity.as_metadata()
        reports, rate_limits = await asyncio.gather(
            asyncio.gather(*(self._service(name, metadata) for name in self._services)),
            self._rate_limits(),
        )
        down: list[str] = []
        degraded: list[str] = []
        services = {}
        for name, (report, service_down, service_degraded) in zip(self._services, reports, strict=True):
            services[name] = report
            down += service_down
            degraded += service_degraded
        if rate_limits["redis"]["configured"] and not rate_limits["redis"]["reachable"]:
            down.append("redis")
        if rate_limits["storage"] == "memory" and rate_limits["redis"]["configured"]:
            degraded.append("rate_limits.memory_fallback")
        document = {
            "status": "down" if down else "ok",
            "down": down,
            "degraded": degraded,
            "services": services,
            "rate_limits": rate_limits,
        }
        return (503 if down else 200), document

    async def _service(
        self, name: str, metadata: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Any], list[str], list[str]]:
        extras = {key: b for key, b in self._extras.items() if b.service_key == name}
        health, diagnostics, *extra_results = await asyncio.gather(
            self._ask(
                name, self._upstreams.serving_status(name, HEALTH_TIMEOUT_SECONDS), HEALTH_TIMEOUT_SECONDS
            ),
            self._ask(name, self._diagnostics(name), DIAGNOSTICS_TIMEOUT_SECONDS),
            *(
                self._ask(name, self._extra(binding, metadata), ADMIN_CALL_TIMEOUT_SECONDS)
                for binding in extras.values()
            ),
        )
        report: dict[str, Any] = {"address": self._upstreams.address(name)}
        down: list[str] = []
        degraded: list[str] = []
        status, error = health
        report["health"] = status if error is None else "UNREACHABLE"
        if error is not None:
            report["error"] = error
        if status != "SERVING":
            down.append(name)
        found, error = diagnostics
        if error is None:
            report["diagnostics"] = found
            for dependency in found.get("dependencies", []):
                if not dependency.get("reachable"):
                    label = f"{name}.{dependency.get('name')}"
                    (down if dependency.get("required") else degraded).append(label)
        elif status == "SERVING":
            report["diagnostics_error"] = error
            degraded.append(f"{name}.diagnostics")
        for key, (found, error) in zip(extras, extra_results, strict=True):
            report[key] = found if error is None else {"error": error}
            if key == "breakers" and error is None:
                for breaker in found.get("breakers", []):
                    if breaker.get("state") in _OPEN_BREAKER_STATES:
                        degraded.append(f"{name}.breaker.{breaker.get('name')}")
        return report, down, degraded

    async def _ask(self, service: str, call: Any, timeout: float) -> tuple[Any, str | None]:
        """(answer, None), or (None, what went wrong) when the call failed."""
        try:
            return await call, None
        except UpstreamError as error:
            return None, upstream_failure(service, error, timeout).message

    async def _diagnostics(self, name: str) -> dict:
        report = await self._upstreams.diagnostics(name, DIAGNOSTICS_TIMEOUT_SECONDS)
        return message_to_json(report)

    async def _extra(self, binding: HttpBinding, metadata: Sequence[tuple[str, str]]) -> dict:
        request = GetMessageClass(binding.method.input_type)()
        response = await self._upstreams.call(binding, request, metadata, ADMIN_CALL_TIMEOUT_SECONDS)
        return message_to_json(response)

    async def _rate_limits(self) -> dict[str, Any]:
        status = await self._limiter.status()
        return {
            "storage": status.storage,
            "strategy": status.strategy,
            "redis": {
                "configured": status.redis_configured,
                "reachable": status.redis_reachable,
                "detail": status.redis_detail,
            },
        }


def _required_down(service: str, document: dict[str, Any]) -> bool:
    return any(entry == service or entry.startswith(f"{service}.") for entry in document["down"])
