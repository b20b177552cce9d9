"""The console's pieces without a network: masking, the chart, session cookies and CSRF tokens, the
origin rule, and the privacy actions through a route table that has the privacy routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import httpx
from starlette.applications import Starlette

from services.gateway.application.http import HttpReply, HttpRequest
from services.gateway.application.ratelimit import Decision
from services.gateway.application.routing import RouteTable
from services.gateway.console.present import chart, mask, masked_payload
from services.gateway.console.routes import ConsoleParts, console_routes
from services.gateway.console.security import SessionSigner, origin_problem
from services.gateway.console.settings import ConsoleSettings

KEY = "unit-admin-key-0123456789"


def test_mask_hides_addresses_and_phone_numbers_but_not_dates_or_ids():
    text = "Hot lead #42 anna.k@example.com, tel. 601 234 567 / +48 601-234-567, 2026-12-02, id 123456"
    masked = mask(text)
    assert "anna" not in masked
    assert "example" not in masked
    assert "a***@e***.com" in masked
    assert "601 234 567" not in masked
    assert "601-234-567" not in masked
    assert "2026-12-02" in masked
    assert "id 123456" in masked
    assert "Hot lead #42" in masked
    assert "anna" not in masked_payload(json.dumps({"to": "anna@example.com", "subject": "x"}))


def test_the_chart_counts_deliveries_and_failures_per_channel_and_hour():
    now = dt.datetime(2026, 12, 2, 14, 30, tzinfo=dt.UTC)
    entries = [
        {"channel": "CHANNEL_SLACK", "status": "DEAD_LETTER_STATUS_DELIVERED", "attempts": 1,
         "created_at": "2026-12-02T13:10:00Z", "delivered_at": "2026-12-02T14:05:00Z"},
        {"channel": "CHANNEL_SLACK", "status": "DEAD_LETTER_STATUS_PENDING", "attempts": 2,
         "created_at": "2026-12-02T14:01:00Z"},
        {"channel": "CHANNEL_SLACK", "status": "DEAD_LETTER_STATUS_PENDING", "attempts": 0,
         "created_at": "2026-12-02T14:02:00Z"},  # not tried yet: neither
        {"channel": "CHANNEL_EMAIL", "status": "DEAD_LETTER_STATUS_FAILED", "attempts": 5,
         "created_at": "2026-12-01T15:00:00Z"},
        {"channel": "CHANNEL_EMAIL", "status": "DEAD_LETTER_STATUS_FAILED", "attempts": 5,
         "created_at": "2026-12-01T13:59:00Z"},  # older than the 24 hours shown
    ]  # fmt: skip
    charts = {c.channel: c for c in chart(entries, now)}
    slack, email, monday = charts["CHANNEL_SLACK"], charts["CHANNEL_EMAIL"], charts["CHANNEL_MONDAY"]
    assert (slack.delivered, slack.failed) == (1, 1)
    assert (slack.bars[-1].delivered, slack.bars[-1].failed, slack.bars[-1].hour) == (1, 1, "14:00")
    assert (email.delivered, email.failed) == (0, 1)
    assert email.bars[0].failed == 1
    assert (monday.delivered, monday.failed) == (0, 0)
    assert len(slack.bars) == 24


def test_a_session_cookie_is_signed_expires_and_can_be_revoked():
    signer = SessionSigner(KEY, 60)
    session, cookie = signer.issue(now=1000)
    assert KEY not in cookie
    assert signer.verify(cookie, now=1059) == session
    assert signer.verify(cookie, now=1060) is None  # expired
    session_id, expires, signature = cookie.split(".")
    assert signer.verify(f"{session_id}.{int(expires) + 3600}.{signature}", now=1000) is None  # extended
    assert SessionSigner(KEY + "x", 60).verify(cookie, now=1000) is None  # another key
    assert signer.csrf_valid(session, signer.csrf_token(session))
    other, _ = signer.issue(now=1000)
    assert not signer.csrf_valid(other, signer.csrf_token(session))  # bound to its session
    signer.revoke(session, now=1001)
    assert signer.verify(cookie, now=1002) is None


def test_the_origin_rule():
    host = "console.example:8080"
    assert origin_problem({}, host) is None  # curl: the CSRF token still decides
    assert origin_problem({"origin": "http://console.example:8080"}, host) is None
    assert origin_problem({"origin": "https://console.example:8080"}, host) is None
    assert origin_problem({"origin": "https://evil.example"}, host)
    assert origin_problem({"origin": "null"}, host)
    assert origin_problem({"origin": "null", "sec-fetch-site": "same-origin"}, host) is None
    assert origin_problem({"sec-fetch-site": "cross-site"}, host)
    assert origin_problem({"sec-fetch-site": "same-site"}, host)


class Client:
    """httpx's ASGI transport, driven synchronously."""

    def __init__(self, app: Starlette) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def get(self, url: str, **options) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(url, **options))

    def post(self, url: str, **options) -> httpx.Response:
        return self._loop.run_until_complete(self._client.post(url, **options))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


class AllowAll:
    async def check(self, client_key, policies):
        return Decision((), "memory")


def console_client(available: bool) -> tuple[Client, list[tuple[HttpRequest, bytes]]]:
    calls: list[tuple[HttpRequest, bytes]] = []

    async def dispatch(request: HttpRequest):
        calls.append((request, await request.read_body()))
        return HttpReply(200, b'{"ok": true, "entries_checked": "3"}'), None

    paths = ("/api/admin/consent/audit-log/verify", "/api/admin/privacy/export", "/api/admin/privacy/erase")
    methods = ("GET", "POST", "POST")
    table = RouteTable(list(zip(methods, paths, paths, strict=True)) if available else [])
    parts = ConsoleParts(upstreams=None, bindings=(), deep_health=None, limiter=AllowAll(), routes=table,
                         dispatch=dispatch)  # fmt: skip
    app = Starlette(routes=console_routes(ConsoleSettings(60, "5/minute"), KEY, parts))
    client = Client(app)
    form = client.get("/admin/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
    assert (
        client.post(
            "/admin/login", data={"login_token": token, "key": KEY}, follow_redirects=False
        ).status_code
        == 303
    )
    return client, calls


def csrf(client: Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/consent").text).group(1)


def test_without_the_privacy_routes_the_consent_page_says_so():
    client, calls = console_client(available=False)
    page = client.get("/admin/consent").text
    assert 'id="privacy-missing"' in page
    assert 'id="export"' not in page
    answer = client.post("/admin/consent/export", data={"email": "a@example.com", "csrf": csrf(client)})
    assert 'id="privacy-missing"' in answer.text
    assert calls == []


def test_the_privacy_actions_call_the_gateways_own_routes_with_the_admin_key():
    client, calls = console_client(available=True)
    page = client.get("/admin/consent").text
    assert 'id="privacy-missing"' not in page
    assert 'id="verify"' in page

    export = client.post("/admin/consent/export", data={"email": "anna@example.com", "csrf": csrf(client)})
    assert export.status_code == 200
    assert export.headers["content-disposition"] == 'attachment; filename="privacy-export.json"'
    request, body = calls[-1]
    assert (request.method, request.raw_path) == ("POST", b"/api/admin/privacy/export")
    assert request.headers["x-admin-api-key"] == KEY.encode()
    assert json.loads(body) == {"email": "anna@example.com"}

    unconfirmed = client.post(
        "/admin/consent/erase", data={"email": "anna@example.com", "csrf": csrf(client)}
    )
    assert unconfirmed.status_code == 400
    assert len(calls) == 1
    erased = client.post(
        "/admin/consent/erase",
        data={
            "email": "anna@example.com",
            "reason": "Art. 17 request",
            "confirm": "yes",
            "csrf": csrf(client),
        },
    )
    assert erased.status_code == 200
    assert 'id="privacy-result"' in erased.text
    assert json.loads(calls[-1][1]) == {"email": "anna@example.com", "reason": "Art. 17 request"}

    verified = client.post("/admin/consent/verify", data={"csrf": csrf(client)})
    assert "entries_checked" in verified.text
    assert (calls[-1][0].method, calls[-1][0].raw_path) == ("GET", b"/api/admin/consent/audit-log/verify")


def test_every_template_and_static_file_is_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "services.gateway.console"
    ]
    package = root / "services" / "gateway" / "console"
    files = [
        p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file() and p.suffix != ".py"
    ]
    files = [f for f in files if "__pycache__" not in f]
    assert files
    assert [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)] == []
