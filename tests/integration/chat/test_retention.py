"""The retention job: conversations and leads idle for CHAT_RETENTION_DAYS are erased as an erasure
request would erase them, once; recent ones are left alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from novahouse.chat.v1 import chat_pb2
from services.chat.adapters.repository import ChatUnitOfWork
from services.chat.adapters.session_cache import MemorySessionCache
from services.chat.adapters.tables import conversations, leads, messages
from services.chat.application.ports import SessionContext
from services.chat.application.privacy import ChatPrivacy
from services.runtime.db import create_db_engine, create_session_factory
from tests.support.databases import query


def test_idle_conversations_are_erased_once_and_recent_ones_kept(stack, chat):
    for session in ("old-1", "recent-1"):
        chat.SendMessage(
            chat_pb2.SendMessageRequest(
                session_id=session, message=f"{session}@example.com, tel. 601 234 567"
            )
        )
    url = stack.database_urls["chat"]
    engine = create_db_engine(url)
    sessions = create_session_factory(engine)
    cache = MemorySessionCache(3600, 100)
    cache.set("old-1", SessionContext(1, True, [("user", "old-1@example.com")]))
    cache.set("recent-1", SessionContext(2, True, [("user", "recent-1@example.com")]))
    with engine.begin() as connection:
        connection.execute(
            conversations.update()
            .where(conversations.c.session_id == "old-1")
            .values(last_user_message_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=731))
        )
    privacy = ChatPrivacy(lambda: ChatUnitOfWork(sessions), cache, retention_days=730)
    try:
        assert privacy.erase_inactive() == 1
        assert privacy.erase_inactive() == 0  # erased once
    finally:
        engine.dispose()

    rows = {r.session_id: r for r in query(url, select(conversations))}
    assert rows["old-1"].email is None
    assert rows["old-1"].erased_at is not None
    assert rows["recent-1"].email == "recent-1@example.com"
    by_conversation = {r.conversation_id: r for r in query(url, select(leads))}
    assert (by_conversation[rows["old-1"].id].email, by_conversation[rows["old-1"].id].phone) == (None, None)
    assert by_conversation[rows["recent-1"].id].phone
    texts = {
        r.text for r in query(url, select(messages).where(messages.c.conversation_id == rows["old-1"].id))
    }
    assert texts == {"[erased]"}
    assert cache.get("old-1") is None
    assert cache.get("recent-1") is not None
