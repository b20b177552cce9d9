"""The widget's files over HTTP: the demo page embeds the widget with one script tag under a strict CSP,
the script and stylesheet are served with their types, the consent texts are the data file's current
version, CORS lets the website's origin call the chat with the session token, and WIDGET_ENABLED=false
turns it all off. (The widget itself runs in a browser in tests/e2e/test_widget.py.)"""

from __future__ import annotations

import re

import httpx
import pytest

from services.runtime.consent_texts import catalogue
from tests.support.gateway import GatewayServer

WEBSITE = "https://novahouse.example.com"


@pytest.fixture(scope="module")
def gateway():
    server = GatewayServer({"RATE_LIMIT_ENABLED": "false", "CORS_ORIGINS": WEBSITE}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def assert_strict_csp(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_demo_page_embeds_the_widget_with_one_script_tag_and_nothing_inline(http):
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_strict_csp(response)
    page = response.text
    assert "NovaHouse" in page
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/widget/widget.js" defer>']
    assert scripts == [""]  # no inline code
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", page)  # no inline style or handlers
    assert "http://" not in page.replace("http://127.0.0.1", "")
    assert "https://" not in page


def test_the_script_and_stylesheet_are_served_with_their_types(http):
    script = http.get("/widget/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"  # embeddable by the website
    assert_strict_csp(script)
    assert "sessionStorage" in script.text
    assert "X-Session-Token" in script.text
    assert "eval(" not in script.text
    assert "innerHTML" not in script.text
    assert len(script.content) < 20_000  # one small file
    style = http.get("/widget/widget.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert ".nh-chat" in style.text
    for missing in ("/widget/nothing.js", "/widget/index.html", "/widget/..%2Fsettings.py", "/widget/"):
        assert http.get(missing).status_code == 404, missing


def test_the_consent_texts_served_are_the_current_version_of_the_data_file(http):
    response = http.get("/widget/consent-texts.json")
    assert response.status_code == 200
    served = response.json()
    current = catalogue().current
    assert served["version"] == current.version
    assert served["texts"] == current.texts
    for language in ("pl", "en"):
        assert set(served["texts"][language]) == {"processing", "marketing"}


def test_the_website_origin_may_call_the_chat_with_the_session_token(http):
    preflight = http.options(
        "/api/chatbot/chat",
        headers={
            "Origin": WEBSITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-session-token",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == WEBSITE
    assert "x-session-token" in preflight.headers["access-control-allow-headers"].lower()
    refused = http.options(
        "/api/chatbot/chat",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400


def test_widget_enabled_false_serves_neither_the_page_nor_the_files():
    server = GatewayServer({"RATE_LIMIT_ENABLED": "false", "WIDGET_ENABLED": "false"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for path in ("/", "/widget/widget.js", "/widget/widget.css", "/widget/consent-texts.json"):
                response = client.get(path)
                assert response.status_code == 404, path
                assert "content-security-policy" not in response.headers
    finally:
        server.stop()
