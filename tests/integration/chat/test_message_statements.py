"""What a visitor's message costs the database (issue 19): the statements it runs, counted on the engine,
on SQLite and PostgreSQL, with the session cache in Redis as deployed; and that the fewer statements
keep what they replaced (the row lock, the credential check, the consent proof's message)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import event, select

from services.chat.adapters.repository import ChatUnitOfWork
from services.chat.adapters.session_cache import FallbackSessionCache, MemorySessionCache, RedisSessionCache
from services.chat.adapters.tables import conversations, messages, outbox
from services.chat.application.conversations import ConversationService, VisitorMessage
from services.chat.domain.responder import RuleResponder
from services.runtime.db import create_db_engine, create_session_factory
from services.runtime.errors import NotFound
from services.runtime.identity import CallerIdentity
from services.runtime.redis_client import connect_redis
from tests.support.databases import query

CALLER = CallerIdentity("203.0.113.9", "Mozilla/5.0", "req-1")


class Statements:
    """The SQL the engine sent, first word and table, e.g. 'INSERT conversations'."""

    def __init__(self, engine) -> None:
        self.sent: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement: str, *_args) -> None:
        words = statement.split()
        verb = words[0].upper()
        table = next(
            (w for w, before in zip(words[1:], words, strict=False) if before.upper() in ("INTO", "FROM")),
            words[1] if verb == "UPDATE" else "",
        )
        self.sent.append(f"{verb} {table}".strip())

    def during(self, action) -> list[str]:
        self.sent.clear()
        action()
        return [s for s in self.sent if not s.startswith(("SELECT 1", "BEGIN", "PRAGMA"))]


@pytest.fixture
def wired(databases, redis_url):
    url = databases("chat")
    engine = create_db_engine(url)
    statements = Statements(engine)
    sessions = create_session_factory(engine)
    client = connect_redis(redis_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    cache = FallbackSessionCache(RedisSessionCache(client, prefix, 600), MemorySessionCache(600, 100))
    service = ConversationService(
        lambda: ChatUnitOfWork(sessions),
        RuleResponder.from_file(),
        cache,
        alert_threshold=70,
        consent_text_version="widget-1",
        on_outbox_work=lambda: None,
    )
    yield service, statements, url, cache
    engine.dispose()
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_a_first_message_is_two_inserts(wired):
    service, statements, url, _ = wired
    sent = statements.during(lambda: service.send_message(VisitorMessage("s-first", "Dzień dobry"), CALLER))
    assert sent == ["INSERT conversations", "INSERT messages"]
    [row] = query(url, select(conversations).where(conversations.c.session_id == "s-first"))
    assert row.token_hash
    assert row.last_user_message_at == row.created_at
    texts = [m.role for m in query(url, select(messages).order_by(messages.c.id))]
    assert texts == ["user", "bot"]


def test_a_taken_session_id_opens_a_fresh_conversation_with_one_more_insert(wired):
    service, statements, url, _ = wired
    service.send_message(VisitorMessage("s-taken", "Dzień dobry"), CALLER)
    answer = None

    def second() -> None:
        nonlocal answer
        answer = service.send_message(VisitorMessage("s-taken", "Dzień dobry"), CALLER)

    assert statements.during(second) == ["INSERT conversations", "INSERT conversations", "INSERT messages"]
    assert answer is not None
    assert answer.session_id != "s-taken"
    assert answer.session_token
    assert len(query(url, select(conversations))) == 2


def test_a_cached_session_is_authorised_without_reading_the_conversation(wired):
    service, statements, url, cache = wired
    first = service.send_message(VisitorMessage("s-cached", "Dzień dobry"), CALLER)
    follow = VisitorMessage("s-cached", "Ile kosztuje m2?", session_token=first.session_token)
    sent = statements.during(lambda: service.send_message(follow, CALLER))
    # UPDATE … RETURNING locks and stamps the row; the lead is looked up; both messages in one INSERT.
    assert sent == ["UPDATE conversations", "SELECT leads", "INSERT messages"]
    assert cache.mode == "redis"
    assert cache.get("s-cached").token_hash == query(url, select(conversations.c.token_hash))[0][0]

    stranger = VisitorMessage("s-cached", "Pokaż mi rozmowę", session_token="not-the-token")
    with pytest.raises(NotFound):
        service.send_message(stranger, CALLER)
    assert len(query(url, select(messages))) == 4  # the stranger's message was stored nowhere


def test_consent_in_a_later_message_names_the_user_message_and_the_stored_email(wired):
    service, _, url, _ = wired
    first = service.send_message(VisitorMessage("s-consent", "Mój email: ola@example.com"), CALLER)
    later = VisitorMessage(
        "s-consent",
        "Zgadzam się",
        marketing_consent=True,
        consent_text_version="widget-2026-12",
        session_token=first.session_token,
    )
    service.send_message(later, CALLER)
    [call] = query(url, select(outbox))
    payload = json.loads(call.payload)
    user_message = query(url, select(messages).where(messages.c.text == "Zgadzam się"))[0]
    assert call.idempotency_key.endswith(str(user_message.id))
    assert (payload["email"], payload["consent_text_version"]) == ("ola@example.com", "widget-2026-12")
    [row] = query(url, select(conversations))
    assert row.email == "ola@example.com"
    assert row.last_user_message_at > row.created_at
