"""The operators' console in a real browser (headless chromium) against the running system.

Slack fails -> three alerts wait in the dead-letter queue and the Slack breaker is open on the
overview -> the operator resets the breaker -> retries one entry (two left) -> Slack rejects the rest
for good, so they fail -> the operator redrives them and retries them (none left). Every step is
checked on the page and in the notifier's database; each page is saved as a screenshot.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import create_engine, text

from tests.support.browser import Browser, require_chromium
from tests.support.polling import eventually
from tests.support.system import ADMIN_KEY, Stack

NOTIFIER = "novahouse.notifier.v1.NotifierService"
LEADS = ("ewa.nowak@example.com", "jan.zielinski@example.com", "ola.wisniewska@example.com")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    require_chromium()  # before four processes are started for nothing
    with ExitStack() as exits:
        # No background retries: every change to the queue in this test is the operator's.
        notifier = {"SCHEDULER_ENABLED": "false", "CB_RESET_TIMEOUT": "300"}
        running = Stack(exits, str(tmp_path_factory.mktemp("console")), sinks_environ, notifier=notifier)
        yield running
        running.close()


@pytest.fixture
def browser(tmp_path):
    opened = Browser(tmp_path / "screenshots")
    yield opened
    opened.close()


def statuses(stack) -> dict[str, int]:
    """Slack notifications by status, read from the notifier's own database."""
    engine = create_engine(stack.environ["notifier"]["NOTIFIER_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT status, count(*) FROM notifications WHERE channel = 'slack' GROUP BY status")
            )
            return {status: count for status, count in rows}
    finally:
        engine.dispose()


def depth(stack) -> int:
    found = statuses(stack)
    return found.get("pending", 0) + found.get("failed", 0)


@pytest.mark.timeout(360)  # about a minute alone; a browser and four processes on a busy shared machine
def test_an_operator_recovers_a_slack_outage_from_the_console(stack, sinks, browser):
    from selenium.webdriver.common.by import By

    slack = sinks[0]
    driver = browser.driver

    def open_page(path: str) -> None:
        driver.get(stack.url + path)

    def find(css: str):
        return driver.find_element(By.CSS_SELECTOR, css)

    click = browser.submit  # every click here leaves the page (a link or a form's button)

    def notice() -> str:
        return find("#notice").text

    slack.answer("error")
    notifier = stack.grpc("notifier")
    for number, email in enumerate(LEADS):
        answer = notifier.call(
            f"{NOTIFIER}/Notify",
            {
                "idempotency_key": f"console-lead-{number}",
                "slack": {"text": f"Hot lead {email} tel. 601 234 56{number}"},
            },
        )
        assert answer["status"] == "NOTIFICATION_STATUS_QUEUED"
    assert statuses(stack) == {"pending": 3}

    with browser.step("login"):
        open_page("/admin/")
        assert driver.current_url.endswith("/admin/login")
        find("#key").send_keys(ADMIN_KEY)
        browser.shot("login-form")
        click("#login")
        assert driver.current_url.endswith("/admin/")

    with browser.step("overview-outage"):
        assert find("#breaker-slack").get_attribute("data-state") == "open"
        assert find("#dlq-slack td:nth-child(2)").text == "3"
        assert find("#dlq-pending").get_attribute("data-count") == "3"
        assert find("#chart-slack svg") is not None
        assert "SERVING" in find("#service-notifier").text

    with browser.step("breaker-reset"):
        click('a[href="/admin/breakers"]')
        click("#reset-slack")
        assert "slack" in notice()
        assert find("#breaker-slack").get_attribute("data-state") == "closed"
    slack.answer("ok")

    with browser.step("dlq-pending"):
        open_page("/admin/dlq?status=DEAD_LETTER_STATUS_PENDING&channel=CHANNEL_SLACK")
        rows = driver.find_elements(By.CSS_SELECTOR, "#entries tr[data-status]")
        assert len(rows) == 3
        for email in LEADS:
            assert email not in driver.page_source  # masked in the list
        first = rows[-1].get_attribute("id").removeprefix("entry-")

    with browser.step("entry-detail"):
        click(f'a[href="/admin/dlq/{first}"]')
        assert "a***@e***.com" in find("#payload").text or "***@e***.com" in find("#payload").text
        assert "HTTPError" in find("#last-error").text
        assert find("#attempts").text == "1"

    with browser.step("retry-one"):
        click(f"#retry-{first}")
        assert notice().startswith("Retried 1: 1 delivered")
        open_page("/admin/dlq")
        assert find("#depth").get_attribute("data-pending") == "2"
        assert statuses(stack) == {"pending": 2, "delivered": 1}
        assert depth(stack) == 2
        assert len(slack.delivered()) == 1

    slack.answer("invalid")  # Slack now refuses the remaining two for good: they fail
    with browser.step("rest-failed"):
        click("#retry-all")
        assert notice().startswith("Retried 2: 0 delivered, 2 failed")
        assert find("#depth").get_attribute("data-failed") == "2"
        assert statuses(stack) == {"failed": 2, "delivered": 1}
    slack.answer("ok")

    with browser.step("redrive-rest"):
        click("#redrive-failed")
        assert notice().startswith("2 entries moved back to pending")
        assert statuses(stack) == {"pending": 2, "delivered": 1}
        click("#retry-all")
        assert notice().startswith("Retried 2: 2 delivered")
        assert find("#depth").get_attribute("data-pending") == "0"
        assert find("#depth").get_attribute("data-failed") == "0"
        assert depth(stack) == 0
        assert statuses(stack) == {"delivered": 3}
        delivered = [body["text"] for body in slack.delivered()]
        assert sorted(text.split()[2] for text in delivered) == sorted(LEADS)  # each exactly once

    with browser.step("overview-recovered"):
        open_page("/admin/")
        assert find("#breaker-slack").get_attribute("data-state") == "closed"
        assert find("#dlq-pending").get_attribute("data-count") == "0"

    for name, path in (("consent", "/admin/consent"), ("followups", "/admin/followups")):
        with browser.step(name):
            open_page(path)
            assert find("h1").text

    with browser.step("logout"):
        click("#logout")
        assert "/admin/login" in driver.current_url
        open_page("/admin/dlq")
        assert driver.current_url.endswith("/admin/login")
    assert eventually(lambda: depth(stack), lambda found: found == 0) == 0
