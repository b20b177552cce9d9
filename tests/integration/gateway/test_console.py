"""The operators' console over plain HTTP (no browser): access, CSRF and origin checks, security
headers, masking of personal data, degraded panels and idempotent actions. The gateway runs in front of
the real consent, notifier and chat services (in-process, SQLite) with fake Slack/Monday/SMTP."""

from __future__ import annotations

import logging
import time

import grpc
import httpx
import pytest

from novahouse.consent.v1 import consent_pb2
from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from services.gateway.console.security import SessionSigner
from services.runtime.consent_texts import catalogue
from services.runtime.db import normalise_url
from tests.support.console import csrf_of, login
from tests.support.databases import service_schemas
from tests.support.fake_sinks import FakeHttpSink, FakeSmtpServer
from tests.support.gateway import ADMIN_KEY, GatewayServer, unique_prefix
from tests.support.stack import ChatStack

EMAIL = "anna.kowalska@example.com"
PHONE = "601 234 567"


@pytest.fixture(scope="module")
def sinks():
    slack, monday, smtp = FakeHttpSink("slack"), FakeHttpSink("monday"), FakeSmtpServer()
    yield slack, monday, smtp
    slack.close()
    monday.close()
    smtp.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks):
    var_dir = tmp_path_factory.mktemp("console")
    slack, monday, smtp = sinks

    def database(service: str):
        url = normalise_url(f"sqlite:///{var_dir}/{service}.db")
        service_schemas()[service][0].upgrade(url)
        return url

    sinks_environ = {
        "SLACK_WEBHOOK_URL": slack.url,
        "MONDAY_API_URL": monday.url,
        "MONDAY_API_KEY": "monday-test-key",
        "MONDAY_BOARD_ID": "4242",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "alerts@novahouse.example.com",
    }
    running = ChatStack(database, str(var_dir), sinks_environ, {"DLQ_RETRY_MINUTES": "60"})
    yield running
    running.close()


def gateway_environ(stack, **extra: str) -> dict[str, str]:
    return {
        **stack.addresses,
        "ADMIN_API_KEY": ADMIN_KEY,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "REDIS_KEY_PREFIX": unique_prefix(),
        "CONSOLE_LOGIN_RATE_LIMIT": "1000 per minute",
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(stack):
    server = GatewayServer(gateway_environ(stack)).start()
    yield server
    server.stop()


@pytest.fixture
def anonymous(gateway):
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        yield client


@pytest.fixture
def operator(gateway):
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        assert login(client, ADMIN_KEY).status_code == 303
        yield client


@pytest.fixture(scope="module")
def notifier(stack):
    channel = grpc.insecure_channel(stack.addresses["NOTIFIER_ADDR"])
    yield notifier_pb2_grpc.NotifierServiceStub(channel)
    channel.close()


def queued_slack_alert(notifier, sinks, key: str) -> str:
    slack = sinks[0]
    slack.answer("error")
    try:
        answer = notifier.Notify(
            notifier_pb2.NotifyRequest(
                idempotency_key=key,
                slack=notifier_pb2.SlackMessage(text=f"Hot lead: {EMAIL}, tel. {PHONE}"),
            )
        )
    finally:
        slack.answer("ok")
    assert answer.status == notifier_pb2.NOTIFICATION_STATUS_QUEUED
    return answer.notification_id


def test_without_a_session_only_the_login_is_shown(anonymous):
    for path in ("/admin/", "/admin/dlq", "/admin/breakers", "/admin/consent", "/admin/followups"):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/admin/login"
    assert anonymous.get("/admin").headers["location"] == "/admin/"
    page = anonymous.get("/admin/login")
    assert page.status_code == 200
    assert 'type="password"' in page.text
    assert "/admin/dlq" not in page.text  # no navigation before logging in


def test_a_wrong_key_does_not_log_in(anonymous):
    answer = login(anonymous, ADMIN_KEY + "x")
    assert answer.status_code == 401
    assert "nh_console=" not in answer.headers.get("set-cookie", "")
    assert anonymous.get("/admin/").status_code == 303


def test_the_right_key_sets_a_signed_session_cookie_and_the_overview_shows_the_system(anonymous):
    answer = login(anonymous, ADMIN_KEY)
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("nh_console="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "path=/admin", "samesite=strict"} <= set(attributes)
    assert "secure" not in attributes  # plain HTTP here
    assert ADMIN_KEY not in cookie
    overview = anonymous.get("/admin/")
    assert overview.status_code == 200
    for shown in ('id="breaker-slack"', 'id="breaker-monday"', 'id="breaker-email"', 'id="dlq-pending"'):
        assert shown in overview.text
    for channel in ("slack", "monday", "email"):
        assert f'id="chart-{channel}"' in overview.text
    assert "<svg" in overview.text
    assert 'id="service-notifier"' in overview.text
    assert "SERVING" in overview.text


def test_the_session_cookie_is_secure_behind_an_https_proxy(gateway):
    proxied = {"X-Forwarded-Proto": "https"}
    form = httpx.get(gateway.url + "/admin/login", headers=proxied)
    token = form.cookies["nh_console_login"]  # a Secure cookie: httpx keeps it off plain HTTP by itself
    answer = httpx.post(
        gateway.url + "/admin/login",
        data={"login_token": token, "key": ADMIN_KEY},
        headers={**proxied, "Cookie": f"nh_console_login={token}"},
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("nh_console="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_pages_carry_the_security_headers(anonymous, operator):
    for client, path in ((anonymous, "/admin/login"), (operator, "/admin/"), (operator, "/admin/dlq")):
        headers = client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert operator.get("/admin/static/console.css").headers["content-type"].startswith("text/css")


def test_posts_without_the_token_or_from_another_origin_are_refused_and_change_nothing(
    operator, notifier, sinks
):
    entry = queued_slack_alert(notifier, sinks, "console-csrf-1")
    token = csrf_of(operator)
    missing = operator.post("/admin/dlq/retry", data={"id": entry})
    assert missing.status_code == 403
    assert "security token" in missing.text
    wrong = operator.post("/admin/dlq/retry", data={"id": entry, "csrf": token[:-2] + "xx"})
    assert wrong.status_code == 403
    foreign = operator.post(
        "/admin/dlq/retry", data={"id": entry, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "another origin" in foreign.text
    cross_site = operator.post(
        "/admin/dlq/retry", data={"id": entry, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    state = notifier.GetDeadLetter(notifier_pb2.GetDeadLetterRequest(id=entry)).entry
    assert (state.status, state.attempts) == (notifier_pb2.DEAD_LETTER_STATUS_PENDING, 1)

    # The same form with its token from the console's own origin is done, once.
    own = operator.post(
        "/admin/dlq/retry",
        data={"id": entry, "csrf": token},
        headers={"Origin": str(operator.base_url).rstrip("/")},
    )
    assert own.status_code == 303
    assert "notice=done_retry" in own.headers["location"]
    assert notifier.GetDeadLetter(notifier_pb2.GetDeadLetterRequest(id=entry)).entry.status == (
        notifier_pb2.DEAD_LETTER_STATUS_DELIVERED
    )
    again = operator.post("/admin/dlq/retry", data={"id": entry, "csrf": token})
    assert again.headers["location"].endswith("a=0%7C0%7C0")  # nothing retried twice
    delivered = [body for body in sinks[0].delivered() if EMAIL in body.get("text", "")]
    assert len(delivered) == 1


def test_logout_ends_the_session(gateway):
    with httpx.Client(base_url=gateway.url) as client:
        login(client, ADMIN_KEY)
        cookie = client.cookies.get("nh_console")
        token = csrf_of(client)
        assert client.post("/admin/logout", data={"csrf": token}).status_code == 303
        assert client.get("/admin/").status_code == 303
    with httpx.Client(base_url=gateway.url, cookies={"nh_console": cookie}) as replay:
        assert replay.get("/admin/").headers["location"].startswith("/admin/login")


def test_an_expired_or_forged_session_goes_back_to_the_login_page(gateway):
    _, expired = SessionSigner(ADMIN_KEY, 60).issue(now=time.time() - 120)
    _, other_key = SessionSigner("another-admin-key-0123456789", 3600).issue()
    for cookie in (expired, other_key, "garbage"):
        with httpx.Client(base_url=gateway.url, cookies={"nh_console": cookie}) as client:
            answer = client.get("/admin/dlq")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/admin/login?notice=session_expired"
            assert "Your session ended" in client.get(answer.headers["location"]).text


def test_login_attempts_are_rate_limited(stack):
    server = GatewayServer(gateway_environ(stack, CONSOLE_LOGIN_RATE_LIMIT="3 per minute")).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert [login(client, "wrong-key-0123456789").status_code for _ in range(3)] == [401] * 3
            refused = login(client, ADMIN_KEY)
            assert refused.status_code == 429
            assert "nh_console=" not in refused.headers.get("set-cookie", "")
            assert int(refused.headers["retry-after"]) >= 1
    finally:
        server.stop()


def test_the_console_is_off_without_an_admin_key(stack):
    environ = gateway_environ(stack)
    del environ["ADMIN_API_KEY"]
    server = GatewayServer(environ).start()
    try:
        for method, path in (("GET", "/admin/"), ("GET", "/admin/login"), ("POST", "/admin/login")):
            answer = httpx.request(method, server.url + path, data={"key": ""} if method == "POST" else None)
            assert answer.status_code == 403
            assert "ADMIN_API_KEY is not configured" in answer.text
    finally:
        server.stop()


def test_dead_letter_pages_mask_addresses_and_phone_numbers(operator, notifier, sinks):
    entry = queued_slack_alert(notifier, sinks, "console-mask-1")
    listing = operator.get(
        "/admin/dlq", params={"status": "DEAD_LETTER_STATUS_PENDING", "channel": "CHANNEL_SLACK"}
    )
    detail = operator.get(f"/admin/dlq/{entry}")
    assert listing.status_code == detail.status_code == 200
    assert f'id="entry-{entry}"' in listing.text
    assert "a***@e***.com" in detail.text
    assert "***7" in detail.text
    for page in (listing.text, detail.text):
        assert EMAIL not in page
        assert "kowalska" not in page
        assert PHONE not in page
    assert "HTTPError" in detail.text
    assert 'id="attempts">1<' in detail.text


def test_consent_lookup_shows_status_and_audit_and_is_logged_without_the_address(stack, operator, caplog):
    stack.consent.RecordConsent(
        consent_pb2.RecordConsentRequest(
            email=EMAIL,
            marketing_consent=True,
            rodo_consent=True,
            source="chat",
            consent_text_version=catalogue().current.version,
        )
    )
    caplog.set_level(logging.INFO, logger="services.gateway.console")
    token = csrf_of(operator, "/admin/consent")
    answer = operator.post(
        "/admin/consent", data={"email": EMAIL, "csrf": token}, headers={"X-Request-ID": "req-42"}
    )
    assert answer.status_code == 200
    assert "privacy-missing" not in answer.text  # the privacy routes of docs/privacy.md are here
    assert 'id="consent-status"' in answer.text
    assert "chat" in answer.text
    # the audit entry's text version, with the exact texts it stands for (the widget's data file)
    assert f"<summary>{catalogue().current.version}</summary>" in answer.text
    assert catalogue().current.texts["en"]["marketing"] in answer.text
    assert "location" not in answer.headers  # the address is answered in the page, never in a URL
    lines = [r.getMessage() for r in caplog.records if "console action=consent.lookup" in r.getMessage()]
    session_id = operator.cookies.get("nh_console").split(".")[0]
    assert lines == [f"console action=consent.lookup session={session_id} request_id=req-42 outcome=ok"]
    assert all(EMAIL not in r.getMessage() for r in caplog.records)


def test_a_purge_asks_for_confirmation_first(operator):
    token = csrf_of(operator, "/admin/dlq")
    form = {"status": "DEAD_LETTER_STATUS_DELIVERED", "older_than_days": "0", "csrf": token}
    first = operator.post("/admin/dlq/purge", data=form)
    assert first.status_code == 200
    assert 'id="confirm-purge"' in first.text
    assert 'data-status="delivered"' in operator.get("/admin/dlq").text  # nothing deleted yet
    done = operator.post("/admin/dlq/purge", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    assert 'data-status="delivered"' not in operator.get("/admin/dlq").text


def test_pages_speak_polish(operator):
    page = operator.get("/admin/", headers={"Accept-Language": "pl-PL,pl;q=0.9"})
    assert "Przegląd" in page.text
    assert 'lang="pl"' in page.text
    chosen = operator.get("/admin/breakers", params={"lang": "en"}, headers={"Accept-Language": "pl"})
    assert "Breakers" in chosen.text
    assert operator.get("/admin/breakers", headers={"Accept-Language": "pl"}).text.count("Bezpieczniki") == 0


def test_a_service_down_is_said_in_its_panel_and_the_page_still_renders(stack, operator):
    stack.stop_consent()
    try:
        overview = operator.get("/admin/")
        assert overview.status_code == 200
        assert 'id="breaker-slack"' in overview.text  # the rest of the page is there
        token = csrf_of(operator, "/admin/consent")
        lookup = operator.post("/admin/consent", data={"email": EMAIL, "csrf": token})
        assert lookup.status_code == 200
        assert "the consent service is unavailable" in lookup.text
    finally:
        stack.start_consent()
