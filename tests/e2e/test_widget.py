"""The chat widget in a real browser (headless chromium) against the four running services.

A visitor opens the demo page, opens the widget from the keyboard, asks for a quote, leaves an email
with both consent boxes ticked and sees the reply and the notice that a confirmation email is on its
way; the consent audit records the text version the page displayed; a reload resumes the conversation;
another browser profile given the same session id sees nothing; the chat going down shows a retry hint.
No step may log a console error (a CSP violation among them). Each step is saved as a screenshot under
the test's temporary folder.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from services.runtime.consent_texts import catalogue
from tests.support.browser import Browser, require_chromium
from tests.support.gateway import GatewayServer
from tests.support.network import free_port
from tests.support.polling import eventually
from tests.support.system import ADMIN_KEY, Stack

EMAIL = "marta.widget@example.com"
QUESTION = "How much does a quote for a 60 m2 apartment cost?"
STORE = "novahouse.chat"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    require_chromium()  # before four processes are started for nothing
    with ExitStack() as exits:
        running = Stack(exits, str(tmp_path_factory.mktemp("widget")), sinks_environ)
        yield running
        running.close()


@pytest.fixture
def browsers(tmp_path):
    opened: list[Browser] = []

    def open_one(name: str) -> Browser:
        opened.append(Browser(tmp_path / name))
        return opened[-1]

    yield open_one
    for browser in opened:
        browser.close()


@pytest.mark.timeout(360)
def test_a_visitor_asks_for_a_quote_consents_and_resumes_the_conversation(stack, sinks, http, browsers):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.wait import WebDriverWait

    smtp = sinks[2]
    texts = catalogue().current
    browser = browsers("visitor")
    driver = browser.driver

    def find(css: str):
        return driver.find_element(By.CSS_SELECTOR, css)

    def messages(role: str) -> list[str]:
        return [item.text for item in driver.find_elements(By.CSS_SELECTOR, f"#nh-chat .nh-{role} .nh-text")]

    def wait(condition, seconds: float = 15):
        return WebDriverWait(driver, seconds).until(lambda _driver: condition())

    with browser.step("demo-page"):
        driver.get(stack.url + "/")
        assert "NovaHouse" in driver.title
        launcher = find(".nh-launcher")
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.send_keys(Keys.ENTER)  # the keyboard opens it
        assert find("#nh-chat-panel").is_displayed()
        assert driver.switch_to.active_element == find("#nh-chat-input")

    with browser.step("quote-asked"):
        find("#nh-chat-input").send_keys(QUESTION + Keys.ENTER)
        wait(lambda: len(messages("bot")) == 2)
        assert messages("user") == [QUESTION]
        assert "quote" in messages("bot")[1]
        stored = driver.execute_script(f"return JSON.parse(sessionStorage.getItem('{STORE}'))")
        assert stored["id"]
        assert stored["token"]

    with browser.step("consent-boxes"):
        find(".nh-contact summary").click()
        wait(lambda: find("#nh-consent-marketing").is_displayed())
        for purpose in ("processing", "marketing"):
            box = find(f"#nh-consent-{purpose}")
            assert not box.is_selected()  # unticked until the visitor ticks it
            label = find(f"label[for='nh-consent-{purpose}']")
            assert label.text == texts.texts["en"][purpose]
            assert label.get_attribute("data-version") == texts.version  # no text shown without a version

    with browser.step("contact-left"):
        find("#nh-chat-email").send_keys(EMAIL)
        find("#nh-consent-processing").send_keys(Keys.SPACE)  # ticked from the keyboard
        find("#nh-consent-marketing").click()
        find(".nh-contact-form .nh-send").click()
        wait(lambda: len(messages("bot")) == 3)
        assert messages("user")[1].endswith(EMAIL)
        notice = find(".nh-notice").text
        assert EMAIL in notice
        assert "confirm" in notice

    admin = {"X-ADMIN-API-KEY": ADMIN_KEY}

    def audited() -> list[dict]:
        log = http.get("/api/admin/consent/audit-log", params={"email": EMAIL}, headers=admin).json()
        return [entry for entry in log.get("entries", []) if entry["source"] == "chat"]

    entries = eventually(audited, bool, timeout=20)
    assert {entry["consent_text_version"] for entry in entries} == {texts.version}
    assert "consent-pending" in {entry["action"] for entry in entries}  # marketing waits for the email
    confirmation = smtp.wait_for(1, timeout=20)[0]
    assert confirmation.recipients == [EMAIL]

    with browser.step("reloaded"):
        before = (messages("user"), messages("bot")[1:])
        driver.refresh()
        wait(lambda: len(messages("user")) == 2)
        assert (messages("user"), messages("bot")) == before
        assert find("#nh-chat-panel").is_displayed()

    assert browser.errors() == []

    session_id = driver.execute_script(f"return JSON.parse(sessionStorage.getItem('{STORE}')).id")
    other = browsers("other-profile")
    with other.step("other-profile"):
        other.driver.get(stack.url + "/")
        other.driver.execute_script(
            f"sessionStorage.setItem('{STORE}', JSON.stringify({{id: arguments[0], token: 'forged'}}))",
            session_id,
        )
        other.driver.refresh()
        WebDriverWait(other.driver, 15).until(
            lambda d: d.execute_script(f"return sessionStorage.getItem('{STORE}')") == "{}"
        )
        shown = [e.text for e in other.driver.find_elements(By.CSS_SELECTOR, "#nh-chat .nh-text")]
        assert QUESTION not in shown
        assert not any(EMAIL in text for text in shown)
        assert len(shown) == 1  # the greeting only
    assert http.get(f"/api/chatbot/conversations/{session_id}").status_code == 404  # nor without a token

    stack.kill("chat")
    with browser.step("chat-down"):
        find("#nh-chat-input").send_keys("Are you there?" + Keys.ENTER)
        wait(lambda: "nh-error" in (find(".nh-status").get_attribute("class") or ""), seconds=20)
        assert "try again in" in find(".nh-status").text
        assert find("#nh-chat-input").get_attribute("value") == "Are you there?"  # kept for the retry


@pytest.mark.timeout(120)
def test_a_refused_message_shows_a_retry_hint_in_the_browser_language(tmp_path, browsers):
    """Polish by the browser's language; the chat unreachable (503), then the rate limit (429)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.wait import WebDriverWait

    environ = {"CHAT_ADDR": f"127.0.0.1:{free_port()}", "CHAT_RATE_LIMIT": "1/minute"}
    gateway = GatewayServer({**environ, "UPSTREAM_TIMEOUT_SECONDS": "1"}).start()
    browser = browsers("polish")
    driver = browser.driver
    try:
        driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "pl-PL"})
        driver.execute_cdp_cmd(
            "Network.setUserAgentOverride", {"userAgent": "Mozilla/5.0", "acceptLanguage": "pl-PL,pl"}
        )

        def status() -> str:
            return driver.find_element(By.CSS_SELECTOR, ".nh-status.nh-error").text

        with browser.step("unavailable-pl"):
            driver.get(gateway.url + "/")
            assert driver.find_element(By.CSS_SELECTOR, ".nh-launcher").text == "Czat z NovaHouse"
            driver.find_element(By.CSS_SELECTOR, ".nh-launcher").click()
            driver.find_element(By.CSS_SELECTOR, "#nh-chat-input").send_keys(
                "Ile kosztuje wycena?" + Keys.ENTER
            )
            WebDriverWait(driver, 15).until(lambda _d: "niedostępny" in status())
            assert "Spróbuj ponownie za" in status()
        with browser.step("rate-limited-pl"):
            driver.find_element(By.CSS_SELECTOR, ".nh-send").click()
            WebDriverWait(driver, 15).until(lambda _d: "Za dużo" in status())
            assert "Spróbuj ponownie za" in status()
            assert driver.find_element(By.CSS_SELECTOR, "#nh-chat-input").get_attribute("value")
            assert driver.find_elements(By.CSS_SELECTOR, ".nh-user") == []  # nothing shown as sent
    finally:
        gateway.stop()
