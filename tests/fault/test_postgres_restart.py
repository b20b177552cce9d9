"""PostgreSQL restarted under load: while it is away the services answer UNAVAILABLE (503 at the
gateway); once it is back they serve again without being restarted, and nothing is half-written."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from services.chat.adapters.tables import conversations, messages
from services.consent.adapters.tables import audit_log, subjects
from tests.support.databases import query
from tests.support.load import CONSENT_MARK, ChatLoad
from tests.support.polling import eventually
from tests.support.system import ADMIN as DEEP
from tests.support.system import dependency

RECOVERY_SECONDS = 10  # pooled connections are re-checked, so the first calls after the restart succeed


def test_postgres_restarted_under_load_answers_503_meanwhile_and_recovers_without_half_written_rows(
    start_stack, http_client, private_postgres
):
    stack = start_stack()
    http = http_client(stack)
    with ChatLoad(stack.url, label="pg", consent_every=3) as load:
        load.wait_for_answers(15)
        stopped = time.monotonic()
        private_postgres.stop()
        load.wait_for_answers(5, status=503)
        deep = http.get("/api/health/deep", headers=DEEP)
        assert deep.status_code == 503
        assert set(deep.json()["down"]) == {"chat.database", "consent.database", "notifier.database"}
        private_postgres.start()
        restarted = time.monotonic()
        load.wait_for_answers(30)

    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, statuses  # UNAVAILABLE, never an internal error
    assert load.statuses(until=stopped) == Counter({200: load.statuses(until=stopped)[200]})
    assert not load.statuses(since=restarted + RECOVERY_SECONDS)[503]
    assert eventually(lambda: deep_health(http).status_code, lambda s: s == 200) == 200

    # Everything the consent service was told through chat's outbox has arrived, once.
    eventually(lambda: dependency(stack, "chat", "outbox")["detail"], lambda d: d.startswith("0 "))
    chat_url = stack.environ["chat"]["CHAT_DATABASE_URL"]
    stored = query(
        chat_url,
        select(conversations.c.session_id, messages.c.role, messages.c.text).join(
            messages, messages.c.conversation_id == conversations.c.id
        ),
    )
    per_conversation = Counter((session, role) for session, role, _ in stored)
    for session in {session for session, _, _ in stored}:  # every message stored with its reply
        assert per_conversation[(session, "user")] == per_conversation[(session, "bot")], session
    user_messages = Counter((session, text) for session, role, text in stored if role == "user")
    answered = [(o.session_id, o.text) for o in load.outcomes if o.status == 200]
    assert all(user_messages[message] == 1 for message in answered)  # nothing answered was lost

    consent_url = stack.environ["consent"]["CONSENT_DATABASE_URL"]
    consents_given = sum(count for (_, text), count in user_messages.items() if text.endswith(CONSENT_MARK))
    entries = query(consent_url, select(audit_log.c.subject_pseudonym, audit_log.c.marketing_consent))
    assert len(entries) == consents_given  # one audit entry per consent given, none repeated
    assert not any(marketing for _, marketing in entries)  # a chat grant waits for its confirmation
    subject_rows = query(consent_url, select(subjects.c.pseudonym, subjects.c.marketing_consent))
    assert {pseudonym for pseudonym, _ in entries} == {pseudonym for pseudonym, _ in subject_rows}
    assert not any(marketing for _, marketing in subject_rows)
    assert query(consent_url, select(func.count()).select_from(subjects))[0][0] == len(subject_rows)


def deep_health(http):
    """The full /api/health/deep report (the admin key's view)."""
    return http.get("/api/health/deep", headers=DEEP)
