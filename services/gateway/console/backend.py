"""What the console reads and changes, through the gateway's own upstream channels.

Every call answers a Panel: the data, or what went wrong in one line. A service that is down makes its
panel say so; it never makes the page fail. The admin RPCs are called directly (not through the HTTP
routes), so the console neither needs the admin key at hand nor spends the API rate limits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.gateway.application.contracts import HttpBinding
from services.gateway.application.errors import upstream_failure
from services.gateway.application.ports import UpstreamError, Upstreams
from services.runtime.identity import CallerIdentity

NOTIFIER = "novahouse.notifier.v1.NotifierService"
CHAT = "novahouse.chat.v1.ChatService"
CONSENT = "novahouse.consent.v1.ConsentService"
CALL_TIMEOUT_SECONDS = 3.0
CHART_PAGE_SIZE = 500
CHART_MAX_PAGES = 4  # the chart reads at most the newest 2,000 notifications of the last 24 hours


@dataclass(frozen=True)
class Panel:
    data: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ConsoleBackend:
    def __init__(self, upstreams: Upstreams, bindings: Sequence[HttpBinding]) -> None:
        self._upstreams = upstreams
        self._bindings = {binding.rpc_name: binding for binding in bindings}

    async def call(self, rpc: str, fields: dict[str, Any], identity: CallerIdentity) -> Panel:
        """One admin RPC by its full name, e.g. 'novahouse.notifier.v1.NotifierService.ListBreakers'."""
        binding = self._bindings.get(rpc)
        if binding is None:
            return Panel(error=f"{rpc.rsplit('.', 1)[-1]} is not available on this gateway")
        request: Message = GetMessageClass(binding.method.input_type)()
        json_format.ParseDict(fields, request)
        try:
            response = await self._upstreams.call(
                binding, request, identity.as_metadata(), CALL_TIMEOUT_SECONDS
            )
        except UpstreamError as error:
            return Panel(error=upstream_failure(binding.service_key, error, CALL_TIMEOUT_SECONDS).message)
        return Panel(
            json_format.MessageToDict(
                response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
        )

    def notifier(self, method: str, fields: dict[str, Any], identity: CallerIdentity) -> Awaitable[Panel]:
        return self.call(f"{NOTIFIER}.{method}", fields, identity)

    def chat(self, method: str, fields: dict[str, Any], identity: CallerIdentity) -> Awaitable[Panel]:
        return self.call(f"{CHAT}.{method}", fields, identity)

    def consent(self, method: str, fields: dict[str, Any], identity: CallerIdentity) -> Awaitable[Panel]:
        return self.call(f"{CONSENT}.{method}", fields, identity)

    async def recent_notifications(self, identity: CallerIdentity, now: dt.datetime) -> Panel:
        """Notifications created in the last 24 hours, newest first (at most CHART_MAX_PAGES pages)."""
        since = now - dt.timedelta(hours=24)
        found: list[dict] = []
        token = ""
        for _ in range(CHART_MAX_PAGES):
            fields: dict[str, Any] = {"page_size": CHART_PAGE_SIZE}
            if token:
                fields["page_token"] = token
            page = await self.notifier("ListDeadLetters", fields, identity)
            if not page.ok:
                return page
            entries = page.data.get("entries", [])
            fresh = [e for e in entries if parse_time(e.get("created_at")) >= since]
            found += fresh
            token = page.data.get("next_page_token", "")
            if not token or len(fresh) < len(entries):
                return Panel({"entries": found, "truncated": False})
        return Panel({"entries": found, "truncated": bool(token)})


async def guarded(call: Callable[[], Awaitable[Any]]) -> Panel:
    """Runs a reader that answers a Panel, turning anything unexpected into an error panel."""
    try:
        return await call()
    except asyncio.CancelledError:
        raise
    except Exception as error:  # one broken panel must not take the page down
        return Panel(error=f"unexpected error: {type(error).__name__}")


def parse_time(text: str | None) -> dt.datetime:
    """An RFC 3339 timestamp of MessageToDict; the epoch for none."""
    if not text:
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None
