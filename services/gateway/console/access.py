"""Logging in and out, and the consent page (which handles addresses: they travel in POST bodies only,
are never logged and never put into a URL).

The privacy routes (verify the audit chain, export, erase) are used through the gateway's own route
table, whichever way they are implemented there; until the table has them the page says so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.responses import Response

from services.gateway.application.auth import ADMIN_KEY_HEADER
from services.gateway.application.clients import ClientContext
from services.gateway.application.http import HttpReply, HttpRequest
from services.gateway.application.ratelimit import RateLimiter, RatePolicy
from services.gateway.application.routing import RouteMatch, RouteTable
from services.gateway.console.backend import ConsoleBackend, guarded, json_body
from services.gateway.console.operations import notice, pretty
from services.gateway.console.security import COOKIE_PATH, LOGIN_COOKIE, SESSION_COOKIE, login_token
from services.gateway.console.web import Page
from services.gateway.settings import parse_rate

VERIFY = ("GET", "/api/admin/consent/audit-log/verify")
EXPORT = ("POST", "/api/admin/privacy/export")
ERASE = ("POST", "/api/admin/privacy/erase")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_EMAIL = 320

Dispatch = Callable[[HttpRequest], Awaitable[tuple[HttpReply, str | None]]]


class Access:
    def __init__(
        self,
        backend: ConsoleBackend,
        limiter: RateLimiter,
        login_limit: str,
        routes: RouteTable,
        dispatch: Dispatch,
        admin_key: str | None,
    ) -> None:
        self._backend = backend
        self._limiter = limiter
        self._login_policy = (RatePolicy("console-login", parse_rate(login_limit)),)
        self._routes = routes
        self._dispatch = dispatch
        self._admin_key = admin_key or ""

    async def login_form(self, page: Page, error: str | None = None, status: int = 200) -> Response:
        if page.session is not None and error is None:
            return page.redirect("/admin/")
        token = login_token()
        response = page.render("login.html", status, login_token=token, error=error, notice=notice(page))
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=900,
            path=COOKIE_PATH,
            secure=page.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def login(self, page: Page) -> Response:
        client_key = page.client.key if page.client else "unknown"
        decision = await self._limiter.check(f"console-login:{client_key}", self._login_policy)
        if not decision.allowed:
            page.action("login", "refused: rate limited")
            wait = decision.retry_after(time.time())
            response = await self.login_form(page, page.t("too_many_logins", wait), 429)
            response.headers["retry-after"] = str(wait)
            return response
        expected = page.request.cookies.get(LOGIN_COOKIE)
        if not expected or page.form.get("login_token") != expected:
            page.action("login", "refused: login token")
            return await self.login_form(page, page.t("login_expired"), 403)
        if not page.signer.key_matches(page.form.get("key", "")):
            page.action("login", "refused: wrong key")
            return await self.login_form(page, page.t("wrong_key"), 401)
        session, cookie = page.signer.issue()
        page.session = session
        page.action("login", "ok")
        response = page.redirect("/admin/")
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=page.signer.lifetime_seconds,
            path=COOKIE_PATH,
            secure=page.secure,
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    async def logout(self, page: Page) -> Response:
        if page.session is not None:
            page.signer.revoke(page.session)
        page.action("logout", "ok")
        response = page.redirect("/admin/login", notice="logged_out")
        response.delete_cookie(
            SESSION_COOKIE, path=COOKIE_PATH, secure=page.secure, httponly=True, samesite="strict"
        )
        return response

    def _available(self, route: tuple[str, str]) -> bool:
        try:
            return isinstance(self._routes.match(route[0], route[1].encode()), RouteMatch)
        except ValueError:
            return False

    def _privacy(self) -> dict[str, bool]:
        return {
            "verify": self._available(VERIFY),
            "export": self._available(EXPORT),
            "erase": self._available(ERASE),
        }

    async def consent(self, page: Page) -> Response:
        return page.render("consent.html", privacy=self._privacy(), email="", notice=notice(page))

    async def lookup(self, page: Page) -> Response:
        email = page.form.get("email", "").strip()[:MAX_EMAIL]
        status, audit = await asyncio.gather(
            guarded(lambda: self._backend.consent("GetConsentStatus", {"email": email}, page.identity)),
            guarded(
                lambda: self._backend.consent(
                    "ListAuditLog", {"email": email, "page_size": 100}, page.identity
                )
            ),
        )
        page.action("consent.lookup", "ok" if status.ok else "failed")
        return page.render(
            "consent.html", privacy=self._privacy(), email=email, status=status, audit=audit, notice=None
        )

    async def verify(self, page: Page) -> Response:
        reply = await self._admin_call(page, *VERIFY, None)
        page.action("consent.verify", f"status={reply.status if reply else 'unavailable'}")
        return self._privacy_result(page, reply, "")

    async def export(self, page: Page) -> Response:
        email = page.form.get("email", "").strip()[:MAX_EMAIL]
        reply = await self._admin_call(page, *EXPORT, {"email": email})
        page.action("consent.export", f"status={reply.status if reply else 'unavailable'}")
        if reply is not None and reply.status == 200:
            response = Response(reply.body, media_type="application/json")
            response.headers["content-disposition"] = 'attachment; filename="privacy-export.json"'
            return page.finish(response)
        return self._privacy_result(page, reply, email)

    async def erase(self, page: Page) -> Response:
        email = page.form.get("email", "").strip()[:MAX_EMAIL]
        if page.form.get("confirm") != "yes":
            return page.render(
                "consent.html",
                400,
                privacy=self._privacy(),
                email=email,
                notice=page.t("erase_needs_confirm"),
            )
        body = {"email": email, "reason": page.form.get("reason", "")[:500]}
        reply = await self._admin_call(page, *ERASE, body)
        page.action("consent.erase", f"status={reply.status if reply else 'unavailable'}")
        return self._privacy_result(page, reply, email)

    def _privacy_result(self, page: Page, reply: HttpReply | None, email: str) -> Response:
        if reply is None:
            result = page.t("privacy_missing")
        else:
            result = f"HTTP {reply.status}\n{pretty(json_body(reply.body))}"
        return page.render("consent.html", privacy=self._privacy(), email=email, result=result, notice=None)

    async def _admin_call(self, page: Page, method: str, path: str, body: dict | None) -> HttpReply | None:
        """One admin route through the gateway's own router, as an HTTP client would call it."""
        if not self._available((method, path)):
            return None
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {ADMIN_KEY_HEADER: self._admin_key.encode()}
        if body is not None:
            headers |= {"content-type": b"application/json", "content-length": str(len(raw)).encode()}
        client = page.client or ClientContext("console", "", page.request_id)

        async def read() -> bytes:
            return raw

        reply, _ = await self._dispatch(HttpRequest(method, path.encode(), b"", headers, client, read))
        return reply


def static(name: str) -> Response | None:
    """A file of the console's static folder (package data)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        return None
    resource = resources.files("services.gateway.console").joinpath("static", name)
    if not resource.is_file():
        return None
    response = Response(resource.read_bytes(), media_type=STATIC_TYPES[suffix])
    response.headers["cache-control"] = "public, max-age=3600"
    response.headers["x-content-type-options"] = "nosniff"
    return response
