"""Chat's PrivacyService: an erasure whose cached session context cannot be dropped (Redis down) changes
nothing and answers UNAVAILABLE; repeated once Redis is back, it completes (SQLite and PostgreSQL)."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select

from novahouse.chat.v1 import chat_pb2
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.chat.adapters.tables import conversations, messages
from tests.support.databases import query
from tests.support.stack import ChatStack

ADDRESS = "ola.nowak@example.com"


@pytest.fixture
def stack(databases, tmp_path, sinks_environ, private_redis):
    running = ChatStack(databases, str(tmp_path), sinks_environ, REDIS_URL=private_redis.url)
    yield running
    running.close()


@pytest.fixture
def privacy(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack.chat_service.port}") as channel:
        yield privacy_pb2_grpc.PrivacyServiceStub(channel)


def test_erasure_with_redis_down_changes_nothing_and_a_repeat_completes_it(stack, privacy, private_redis):
    stack.chat.SendMessage(chat_pb2.SendMessageRequest(session_id="redis-1", message=f"Mój mail: {ADDRESS}"))
    assert private_redis.keys("*chat:session:redis-1")
    url = stack.database_urls["chat"]

    private_redis.stop()
    with pytest.raises(grpc.RpcError) as caught:
        privacy.ErasePersonalData(privacy_pb2.ErasePersonalDataRequest(email=ADDRESS), timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "session cache" in caught.value.details()
    assert query(url, select(conversations.c.email))[0].email == ADDRESS
    assert any(ADDRESS in row.text for row in query(url, select(messages.c.text)))

    private_redis.start()
    answer = privacy.ErasePersonalData(privacy_pb2.ErasePersonalDataRequest(email=ADDRESS), timeout=30)
    assert (answer.service, answer.counts["conversations"], answer.counts["messages"]) == ("chat", 1, 2)
    assert query(url, select(conversations.c.email))[0].email is None
    assert not any(ADDRESS in row.text for row in query(url, select(messages.c.text)))
    again = privacy.ErasePersonalData(privacy_pb2.ErasePersonalDataRequest(email=ADDRESS), timeout=30)
    assert again.counts["conversations"] == 0


def test_malformed_address_is_invalid_argument_naming_email(privacy):
    with pytest.raises(grpc.RpcError) as caught:
        privacy.ExportPersonalData(privacy_pb2.ExportPersonalDataRequest(email="nope"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("email")
