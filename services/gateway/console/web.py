"""The console's HTTP plumbing: one guard around every page (console on, session, origin, CSRF), the
request context pages work with, rendering with the security headers, and the action log.

GET pages need a session (without one: 303 to /admin/login). POSTs also need a same-site origin and
the form's CSRF token (otherwise 403 with a page saying why). Every POST is logged with the session id
and the request id, never with what the form carried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.application.clients import ClientContext, Network, parse_address
from services.gateway.console.i18n import Translator, choose
from services.gateway.console.security import (
    COOKIE_PATH,
    LANG_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Session,
    SessionSigner,
    origin_problem,
)
from services.gateway.transport.app import CONTEXT_KEY  # where the request's ClientContext is left
from services.runtime.consent_texts import catalogue
from services.runtime.identity import CallerIdentity

log = logging.getLogger("services.gateway.console")

MAX_FORM_BYTES = 16 * 1024

templates = Environment(
    loader=PackageLoader("services.gateway.console", "templates"),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# An audit entry's consent text version -> the exact text it showed (services/runtime/consent_texts.py).
templates.globals["consent_text"] = catalogue().text


@dataclass
class Page:
    """One request as a page handler sees it."""

    request: Request
    t: Translator
    signer: SessionSigner
    session: Session | None = None
    secure: bool = False  # served over HTTPS (directly, or as a trusted proxy says)
    form: dict[str, str] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def client(self) -> ClientContext | None:
        return self.request.scope.get(CONTEXT_KEY)

    @property
    def request_id(self) -> str:
        client = self.client
        return client.request_id if client else "-"

    @property
    def identity(self) -> CallerIdentity:
        client = self.client
        if client is None:
            return CallerIdentity()
        return CallerIdentity(client.key, client.user_agent, client.request_id)

    def render(self, template: str, code: int = 200, **values: object) -> Response:
        csrf = self.signer.csrf_token(self.session) if self.session else ""
        body = templates.get_template(template).render(
            t=self.t, lang=self.t.lang, csrf=csrf, logged_in=self.session is not None, **values
        )
        response = HTMLResponse(body, status_code=code)
        return self.finish(response)

    def finish(self, response: Response) -> Response:
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        if self.request.query_params.get("lang") == self.t.lang:
            response.set_cookie(
                LANG_COOKIE,
                self.t.lang,
                max_age=365 * 86400,
                path=COOKIE_PATH,
                secure=self.secure,
                httponly=True,
                samesite="strict",
            )
        return response

    def redirect(self, path: str, **notice: object) -> Response:
        query = urlencode({k: str(v) for k, v in notice.items()})
        return self.finish(RedirectResponse(f"{path}?{query}" if query else path, status_code=303))

    def action(self, name: str, outcome: str) -> None:
        """The action log: what was done, by which session, in which request; never the form's data."""
        log.info(
            "console action=%s session=%s request_id=%s outcome=%s",
            name,
            self.session.id if self.session else "-",
            self.request_id,
            outcome,
        )


Handler = Callable[[Page], Awaitable[Response]]


class Guard:
    """Wraps page handlers with the console's access rules."""

    def __init__(self, signer: SessionSigner | None, trusted_proxies: Sequence[Network] = ()) -> None:
        self._signer = signer
        self._trusted = tuple(trusted_proxies)

    def _over_https(self, request: Request) -> bool:
        if request.url.scheme == "https":
            return True
        peer = parse_address(request.client.host) if request.client else None
        trusted = peer is not None and any(peer in network for network in self._trusted)
        return trusted and request.headers.get("x-forwarded-proto", "").lower() == "https"

    def page(
        self, handler: Handler, *, needs_session: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            t = Translator(
                choose(
                    request.query_params.get("lang"),
                    request.cookies.get(LANG_COOKIE),
                    request.headers.get("accept-language", ""),
                )
            )
            if self._signer is None:
                return _disabled(t)
            page = Page(request, t, self._signer, secure=self._over_https(request))
            page.session = self._signer.verify(request.cookies.get(SESSION_COOKIE))
            if request.method == "POST":
                problem = origin_problem(dict(request.headers), request.headers.get("host", ""))
                if problem is not None:
                    page.action(handler.__name__, "refused: origin")
                    return page.render("refused.html", 403, reason=t("origin_refused", problem))
                refused = await _read_form(page)
                if refused is not None:
                    return refused
            if needs_session and page.session is None:
                # A cookie that no longer passes: the session expired (or was ended elsewhere).
                if request.cookies.get(SESSION_COOKIE):
                    return page.redirect("/admin/login", notice="session_expired")
                return page.redirect("/admin/login")
            forged = (
                not self._signer.csrf_valid(page.session, page.form.get("csrf")) if page.session else True
            )
            if request.method == "POST" and needs_session and forged:
                page.action(handler.__name__, "refused: csrf")
                return page.render("refused.html", 403, reason=t("csrf_missing"))
            try:
                return await handler(page)
            except Exception:
                log.exception("console page %s failed", handler.__name__)
                return page.render(
                    "refused.html", 500, reason=f"unexpected error (request {page.request_id})"
                )

        endpoint.__name__ = handler.__name__
        return endpoint


async def _read_form(page: Page) -> Response | None:
    body = b""
    async for chunk in page.request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return page.render("refused.html", 413, reason="form too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return page.render("refused.html", 400, reason="the form is not UTF-8")
    for name, value in pairs:
        page.form.setdefault(name, value)
        page.form_lists.setdefault(name, []).append(value)
    return None


def _disabled(t: Translator) -> Response:
    response = HTMLResponse(
        "<!doctype html><title>Console disabled</title>"
        "<p>The operators' console is disabled: ADMIN_API_KEY is not configured.</p>",
        status_code=403,
    )
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    response.headers["content-language"] = t.lang
    return response
