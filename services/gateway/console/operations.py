"""Pages of the running system: overview, dead-letter queue, breakers, follow-ups.

Actions answer 303 to the page they came from with a notice (counts only, never personal data), so a
reload does not repeat them; the RPCs behind them are idempotent anyway (a retried entry that was
delivered is not pending any more, a reset breaker stays closed, a sent follow-up is not sent again).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

from starlette.responses import Response

from services.gateway.application.clients import ClientContext
from services.gateway.application.health import DeepHealth
from services.gateway.application.http import HttpRequest
from services.gateway.console.backend import ConsoleBackend, Panel, guarded, json_body
from services.gateway.console.present import BAR_WIDTH, CHART_HEIGHT, CHART_WIDTH, age, chart, masked_payload
from services.gateway.console.present import mask as mask_text
from services.gateway.console.web import Page
from services.runtime.identity import ADMIN_KEY_KEY

STATUSES = ("DEAD_LETTER_STATUS_PENDING", "DEAD_LETTER_STATUS_FAILED", "DEAD_LETTER_STATUS_DELIVERED")
CHANNELS = ("CHANNEL_SLACK", "CHANNEL_MONDAY", "CHANNEL_EMAIL")
PURGEABLE = ("DEAD_LETTER_STATUS_DELIVERED", "DEAD_LETTER_STATUS_FAILED")
_ID = re.compile(r"^[0-9]{1,19}$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
_NOTICES = ("done_retry", "done_redrive", "done_purge", "done_reset", "done_followups", "action_failed")


def notice(page: Page) -> str | None:
    """The message a redirect after an action asked for, from known keys only."""
    key = page.request.query_params.get("notice", "")
    if key not in (*_NOTICES, "session_expired", "logged_out"):
        return None
    args = [a[:300] for a in page.request.query_params.get("a", "").split("|") if a]
    try:
        return page.t(key, *args)
    except IndexError:  # a hand-made URL with too few values
        return None


class Operations:
    def __init__(self, backend: ConsoleBackend, deep_health: DeepHealth, admin_key: str) -> None:
        self._backend = backend
        self._deep_health = deep_health
        # The console is the admin's view: the deep-health report in full, as with the admin key.
        self._admin_headers = {ADMIN_KEY_KEY: admin_key.encode()}

    async def _health(self, page: Page) -> Panel:
        client = page.client or ClientContext("console", "", page.request_id)

        async def no_body() -> bytes:
            return b""

        request = HttpRequest("GET", b"/api/health/deep", b"", self._admin_headers, client, no_body)
        reply = await self._deep_health.handle(request)
        return Panel(json_body(reply.body))

    async def overview(self, page: Page) -> Response:
        now = dt.datetime.now(dt.UTC)
        identity = page.identity
        health, followups, recent = await asyncio.gather(
            guarded(lambda: self._health(page)),
            guarded(lambda: self._backend.chat("ListDueFollowups", {"page_size": 100}, identity)),
            guarded(lambda: self._backend.recent_notifications(identity, now)),
        )
        services = (health.data or {}).get("services", {}) if health.ok else {}
        notifier = services.get("notifier", {})
        return page.render(
            "overview.html",
            health=health,
            services=services,
            breakers=_panel_of(notifier, "breakers", "notifier"),
            dlq=_panel_of(notifier, "dead_letters", "notifier"),
            rate_limits=(health.data or {}).get("rate_limits") if health.ok else None,
            followups=followups,
            charts=chart(recent.data["entries"], now) if recent.ok else None,
            chart_error=recent.error,
            chart_truncated=recent.ok and recent.data["truncated"],
            chart_size=(CHART_WIDTH, CHART_HEIGHT, BAR_WIDTH),
            age=age,
            notice=notice(page),
        )

    async def dead_letters(self, page: Page) -> Response:
        query = page.request.query_params
        status = query.get("status", "")
        channel = query.get("channel", "")
        fields: dict[str, Any] = {"page_size": 50}
        if status in STATUSES:
            fields["status"] = status
        if channel in CHANNELS:
            fields["channel"] = channel
        if query.get("page_token"):
            fields["page_token"] = query["page_token"][:200]
        entries, stats = await asyncio.gather(
            guarded(lambda: self._backend.notifier("ListDeadLetters", fields, page.identity)),
            guarded(lambda: self._backend.notifier("GetDeadLetterStats", {}, page.identity)),
        )
        return page.render(
            "dlq.html",
            entries=entries,
            stats=stats,
            status=status,
            channel=channel,
            statuses=STATUSES,
            channels=CHANNELS,
            purgeable=PURGEABLE,
            mask=mask_text,
            age=age,
            notice=notice(page),
        )

    async def dead_letter(self, page: Page) -> Response:
        entry_id = page.request.path_params["entry_id"]
        if not _ID.match(entry_id):
            return page.render("refused.html", 404, reason="no such entry")
        found = await guarded(
            lambda: self._backend.notifier("GetDeadLetter", {"id": entry_id}, page.identity)
        )
        entry = found.data.get("entry") if found.ok else None
        return page.render(
            "entry.html",
            found=found,
            entry=entry,
            payload=masked_payload(entry.get("payload_json", "")) if entry else "",
            mask=mask_text,
            notice=notice(page),
        )

    async def retry(self, page: Page) -> Response:
        ids = [i for i in page.form_lists.get("id", []) if _ID.match(i)]
        result = await self._backend.notifier("RetryDeadLetters", {"ids": ids}, page.identity)
        back = f"/admin/dlq/{ids[0]}" if len(ids) == 1 and page.form.get("back") == "entry" else "/admin/dlq"
        if not result.ok:
            page.action("dlq.retry", "failed")
            return page.redirect(back, notice="action_failed", a=result.error)
        r = result.data
        page.action("dlq.retry", f"ids={len(ids) or 'due'} retried={r['retried']} delivered={r['delivered']}")
        return page.redirect(back, notice="done_retry", a=f"{r['retried']}|{r['delivered']}|{r['failed']}")

    async def redrive(self, page: Page) -> Response:
        ids = [i for i in page.form_lists.get("id", []) if _ID.match(i)]
        result = await self._backend.notifier("RedriveDeadLetters", {"ids": ids}, page.identity)
        if not result.ok:
            page.action("dlq.redrive", "failed")
            return page.redirect("/admin/dlq", notice="action_failed", a=result.error)
        page.action("dlq.redrive", f"ids={len(ids) or 'all-failed'} redriven={result.data['redriven']}")
        return page.redirect("/admin/dlq", notice="done_redrive", a=result.data["redriven"])

    async def purge(self, page: Page) -> Response:
        status = page.form.get("status", "")
        days = page.form.get("older_than_days", "30").strip()
        if status not in PURGEABLE or not days.isdigit() or int(days) > 36500:
            return page.redirect("/admin/dlq", notice="action_failed", a="status or days not valid")
        if page.form.get("confirm") != "yes":
            return page.render("purge_confirm.html", status=status, days=int(days))
        fields = {"status": status, "older_than_days": int(days)}
        result = await self._backend.notifier("PurgeDeadLetters", fields, page.identity)
        if not result.ok:
            page.action("dlq.purge", "failed")
            return page.redirect("/admin/dlq", notice="action_failed", a=result.error)
        page.action("dlq.purge", f"status={status} days={days} purged={result.data['purged']}")
        return page.redirect("/admin/dlq", notice="done_purge", a=result.data["purged"])

    async def breakers(self, page: Page) -> Response:
        found = await guarded(lambda: self._backend.notifier("ListBreakers", {}, page.identity))
        return page.render("breakers.html", breakers=found, notice=notice(page))

    async def reset_breaker(self, page: Page) -> Response:
        name = page.form.get("name", "")
        if not _NAME.match(name):
            return page.redirect("/admin/breakers", notice="action_failed", a="unknown breaker")
        result = await self._backend.notifier("ResetBreaker", {"name": name}, page.identity)
        if not result.ok:
            page.action("breaker.reset", "failed")
            return page.redirect("/admin/breakers", notice="action_failed", a=result.error)
        page.action("breaker.reset", f"name={name}")
        return page.redirect("/admin/breakers", notice="done_reset", a=name)

    async def followups(self, page: Page) -> Response:
        due = await guarded(lambda: self._backend.chat("ListDueFollowups", {"page_size": 200}, page.identity))
        return page.render("followups.html", due=due, age=age, notice=notice(page))

    async def run_followups(self, page: Page) -> Response:
        result = await self._backend.chat("RunDueFollowups", {}, page.identity)
        if not result.ok:
            page.action("followups.run", "failed")
            return page.redirect("/admin/followups", notice="action_failed", a=result.error)
        r = result.data
        counts = f"{r['sent']}|{r['already_sent']}|{r['skipped_no_consent']}|{r['deferred']}"
        page.action("followups.run", "counts=" + counts.replace("|", ","))
        return page.redirect("/admin/followups", notice="done_followups", a=counts)


def _panel_of(service: dict, key: str, name: str) -> Panel:
    """A part of the deep-health report of one service as a panel."""
    if not service:
        return Panel(error=f"the {name} service did not report")
    found = service.get(key)
    if found is None:
        return Panel(error=service.get("error") or f"the {name} service did not report {key}")
    if "error" in found and len(found) == 1:
        return Panel(error=found["error"])
    return Panel(found)


def pretty(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
