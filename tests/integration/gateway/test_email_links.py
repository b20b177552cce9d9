"""Consent that can be trusted, through the gateway to the real services with a real SMTP server on
loopback: double opt-in from the public chat (one confirmation email per address, a pending grant
never lifts an unsubscribe), and RFC 8058 one-click unsubscribe from the follow-up email."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from services.runtime.consent_texts import catalogue
from tests.support.gateway import ADMIN_KEY, UNSUBSCRIBE_SECRET, gateway_in_front_of
from tests.support.polling import eventually
from tests.support.stack import PUBLIC_BASE_URL, ChatStack

ADMIN = {"X-ADMIN-API-KEY": ADMIN_KEY}
BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh)", "X-Forwarded-For": "198.51.100.7"}
CONFIRM = re.compile(re.escape(PUBLIC_BASE_URL) + r"(/api/consent/confirm/[A-Za-z0-9_.-]+)")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def stack(databases, tmp_path, sinks_environ):
    running = ChatStack(
        databases, str(tmp_path), sinks_environ, {"DLQ_RETRY_MINUTES": "60"}, FOLLOWUP_DELAYS="1s,1h"
    )
    yield running
    running.close()


@pytest.fixture
def http(stack):
    gateway = gateway_in_front_of(stack.addresses, UNSUBSCRIBE_SECRET=UNSUBSCRIBE_SECRET)
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        yield client
    gateway.stop()


def status_of(http, email: str) -> dict:
    return http.get(f"/api/unsubscribe/status/{email}", headers=ADMIN).json()


def audit_of(http, email: str) -> list[dict]:
    return http.get("/api/admin/consent/audit-log", params={"email": email}, headers=ADMIN).json()["entries"]


def chat(http, session: str, email: str, **extra) -> dict:
    body = {"session_id": session, "message": "Poproszę o wycenę", "email": email, **extra}
    answer = http.post("/api/chatbot/chat", json=body, headers=BROWSER)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_double_opt_in_then_one_click_unsubscribe_from_the_follow_up_email(http, smtp):
    email = "owner@example.com"
    assert http.post("/api/unsubscribe", json={"email": email}, headers=BROWSER).status_code == 200
    conversations = [
        chat(http, f"s-{n}", email, marketing_consent=True, rodo_consent=True, language="en-GB")
        for n in range(10)
    ]
    eventually(lambda: audit_of(http, email), lambda entries: len(entries) == 11)

    # Ten sessions, one confirmation email; the earlier unsubscribe still stands.
    (confirmation,) = smtp.wait_for(1)
    time.sleep(1.0)
    assert len(smtp.messages) == 1
    assert confirmation.recipients == [email]
    assert confirmation.subject == "NovaHouse: please confirm your consent to marketing emails"
    assert {entry["action"] for entry in audit_of(http, email)[:10]} == {"consent-pending"}
    status = status_of(http, email)
    assert (status["marketing_consent"], status["is_unsubscribed"]) == (False, True)
    assert status["rodo_consent"] is True  # processing consent is recorded as given, with its proof

    (confirm_path,) = CONFIRM.findall(confirmation.body)
    page = http.get(confirm_path, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text
    assert status_of(http, email)["marketing_consent"] is False  # GET never changes anything
    confirmed = http.post(confirm_path, data={"confirm": "yes"}, headers=BROWSER)
    assert confirmed.status_code == 200, confirmed.text
    status = status_of(http, email)
    assert (status["marketing_consent"], status["is_unsubscribed"]) == (True, False)
    entry = audit_of(http, email)[0]
    assert (entry["action"], entry["source"], entry["ip_address"]) == (
        "consent-confirmed",
        "email-confirmation",
        "198.51.100.7",
    )
    assert entry["user_agent"] == "Mozilla/5.0 (Macintosh)"
    # the widget sent no version: chat records the current one of the consent texts file
    assert entry["consent_text_version"] == catalogue().current.version

    smtp.clear()
    time.sleep(1.1)  # follow-up 1 is due
    sent = http.post(
        "/api/admin/followups/send",
        json={"conversation_id": conversations[0]["conversation_id"], "followup_number": 1},
        headers=ADMIN,
    )
    assert sent.json()["status"] == "FOLLOWUP_STATUS_SENT"
    (followup,) = smtp.wait_for(1)
    header = followup.headers["List-Unsubscribe"]
    assert followup.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(https://\S+)>", header).group(1)
    assert url.startswith(f"{PUBLIC_BASE_URL}/api/unsubscribe/one-click/")
    assert email not in url
    assert url in followup.body
    assert "STOP" not in followup.body
    path = url.removeprefix(PUBLIC_BASE_URL)

    page = http.get(path)
    assert page.status_code == 200
    assert "Wypisz mnie" in page.text  # Polish by default, with the button
    assert status_of(http, email)["marketing_consent"] is True  # a mail scanner's GET changes nothing
    prefix, signature = path.rsplit(".", 1)
    forged = f"{prefix}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert http.post(forged, data=ONE_CLICK).status_code == 403
    assert http.post(path[:-10], data=ONE_CLICK).status_code in (400, 403)
    assert http.post(path, data={"List-Unsubscribe": "Yes"}).status_code == 400
    assert http.post(path, json={"List-Unsubscribe": "One-Click"}).status_code == 415
    assert status_of(http, email)["marketing_consent"] is True

    done = http.post(path, data=ONE_CLICK)  # how mail providers send it: no login, no redirect
    assert done.status_code == 200
    status = status_of(http, email)
    assert (status["marketing_consent"], status["is_unsubscribed"]) == (False, True)
    entry = audit_of(http, email)[0]
    assert (entry["action"], entry["source"]) == ("unsubscribe", "one-click")
    again = http.post(path, files={"List-Unsubscribe": (None, "One-Click")})  # multipart/form-data
    assert again.status_code == 200
    assert status_of(http, email)["is_unsubscribed"] is True


def test_the_confirmation_email_waits_in_the_dead_letter_queue_while_smtp_is_down(http, smtp):
    smtp.answer("temporary")
    chat(http, "dlq-1", "late@example.com", marketing_consent=True, rodo_consent=True)
    pending = {"status": "DEAD_LETTER_STATUS_PENDING", "channel": "CHANNEL_EMAIL"}
    entries = eventually(
        lambda: http.get("/api/admin/dlq/entries", params=pending, headers=ADMIN).json()["entries"],
        lambda found: len(found) == 1,
    )
    assert entries[0]["idempotency_key"].startswith("consent-confirm:")
    assert smtp.messages == []
    smtp.answer("ok")
    retried = http.post("/api/admin/dlq/retry", json={}, headers=ADMIN)
    assert retried.status_code == 200
    (mail,) = smtp.wait_for(1)
    assert mail.subject == "NovaHouse: potwierdź zgodę na wiadomości marketingowe"  # Polish by default


def test_consent_unreachable_on_a_one_click_post_is_503_and_the_retry_works(stack, http, smtp):
    email = "retry@example.com"
    chat(http, "r-1", email, marketing_consent=True, rodo_consent=True)
    (confirmation,) = smtp.wait_for(1)
    (confirm_path,) = CONFIRM.findall(confirmation.body)
    # The email leaves inside consent's transaction, so it can arrive before the pending grant commits;
    # the audit entry of the same transaction shows it has.
    eventually(lambda: audit_of(http, email), lambda entries: len(entries) > 0)
    stack.stop_consent()
    assert http.post(confirm_path, data={"confirm": "yes"}).status_code == 503
    stack.start_consent()
    done = eventually(
        lambda: http.post(confirm_path, data={"confirm": "yes"}), lambda r: r.status_code != 503
    )
    assert done.status_code == 200
    assert status_of(http, email)["marketing_consent"] is True
