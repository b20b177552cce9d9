"""SendMessage and GetConversation against real consent and notifier services."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.protobuf import json_format
from sqlalchemy import select

from novahouse.chat.v1 import chat_pb2 as pb
from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc
from services.chat.adapters.tables import messages, outbox
from services.chat.application.outbox_calls import RECORD_CONSENT
from tests.support.databases import query
from tests.support.network import free_port
from tests.support.rpc import violated_fields
from tests.support.services import notifier_environ, start_notifier
from tests.support.stack import ChatStack

VISITOR = (("x-client-ip", "203.0.113.9"), ("x-client-user-agent", "Mozilla/5.0 (Android 15)"))
HOT = "Mój email to anna@example.com, telefon 601 234 567, budżet 150 tys zł"


def say(chat, text: str, session: str = "visitor-1", **fields) -> pb.SendMessageResponse:
    return chat.SendMessage(
        pb.SendMessageRequest(session_id=session, message=text, **fields), metadata=VISITOR
    )


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_conversation_from_greeting_to_hot_lead(chat, slack, monday):
    greeting = say(chat, "Dzień dobry!")
    assert "NovaHouse" in greeting.reply
    assert (greeting.session_id, greeting.lead_id, greeting.lead_score) == ("visitor-1", "", 0)
    prices = say(chat, "Ile kosztuje wykończenie mieszkania 65 m2?")
    assert "zł za m²" in prices.reply
    assert prices.conversation_id == greeting.conversation_id
    assert prices.lead_id == ""  # no contact details yet

    lead = say(chat, HOT)
    assert "doradca" in lead.reply
    assert lead.lead_id
    assert lead.lead_score == 85  # email 25 + phone 25 + budget 20 + area 15

    conversation = chat.GetConversation(pb.GetConversationRequest(session_id="visitor-1"))
    assert conversation.email == "anna@example.com"
    assert [m.role for m in conversation.messages] == [pb.MESSAGE_ROLE_USER, pb.MESSAGE_ROLE_BOT] * 3
    assert conversation.messages[4].text == HOT
    assert conversation.messages[5].text == lead.reply

    [alert] = slack.wait_for(1)
    assert f"Hot lead #{lead.lead_id} (score 85)" in alert["text"]
    assert "anna@example.com" in alert["text"]
    [item] = monday.wait_for(1)
    assert item["variables"]["name"] == f"Lead #{lead.lead_id}: anna@example.com, +48601234567 (score 85)"


def test_a_hot_lead_is_announced_once_however_often_it_is_repeated(chat, slack, monday):
    for _ in range(3):
        say(chat, HOT)
    say(chat, "Termin: od zaraz")
    slack.wait_for(1)
    monday.wait_for(1)
    time.sleep(1.0)  # the relay sweeps every 0.2 s: room for a second alert, if one were queued
    assert len(slack.delivered()) == 1
    assert len(monday.delivered()) == 1


def test_consent_given_in_the_widget_is_recorded_with_the_visitors_identity(stack):
    say(stack.chat, "Proszę o kontakt", email="Jan@Example.com", marketing_consent=True, rodo_consent=True,
        consent_text_version="widget-2026-11")  # fmt: skip

    def recorded():
        entries = stack.consent.ListAuditLog(consent_pb2.ListAuditLogRequest(email="jan@example.com")).entries
        return entries[0] if entries else None

    wait_until(recorded)
    entry = recorded()
    # Marketing consent from the public chat waits for the mailbox owner's confirmation.
    assert (entry.action, entry.source, entry.consent_text_version) == (
        "consent-pending",
        "chat",
        "widget-2026-11",
    )
    assert (entry.ip_address, entry.user_agent) == ("203.0.113.9", "Mozilla/5.0 (Android 15)")
    assert (entry.marketing_consent, entry.rodo_consent) == (False, True)


def test_consent_handed_over_twice_is_recorded_once(stack):
    stack.stop_consent()  # the consent stays in the outbox, where its request can be read
    say(stack.chat, "Proszę o kontakt", session="twice", email="ewa@example.com", marketing_consent=True)
    database = stack.chat_environ["CHAT_DATABASE_URL"]
    (message_id,) = query(
        database,
        select(messages.c.id).where(messages.c.role == "user", messages.c.text == "Proszę o kontakt"),
    )[0]
    ((payload,),) = query(database, select(outbox.c.payload).where(outbox.c.kind == RECORD_CONSENT))
    request = json.loads(payload)
    assert request["idempotency_key"] == f"chat:consent:{message_id}"

    stack.start_consent()

    def entries():
        return stack.consent.ListAuditLog(consent_pb2.ListAuditLogRequest(email="ewa@example.com")).entries

    wait_until(entries)
    with grpc.insecure_channel(stack.consent_address) as channel:  # the relay's call, made again
        repeat = json_format.ParseDict(request, consent_pb2.RecordConsentRequest())
        consent_pb2_grpc.ConsentServiceStub(channel).RecordConsent(repeat, timeout=5)
    assert len(entries()) == 1


def test_unknown_session_is_not_found(chat):
    with pytest.raises(grpc.RpcError) as caught:
        chat.GetConversation(pb.GetConversationRequest(session_id="never-seen"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"session_id": "s1", "message": ""}, "message"),
        ({"session_id": "s1", "message": "   "}, "message"),
        ({"session_id": "s1", "message": "x" * 4001}, "message"),
        ({"session_id": "../etc/passwd", "message": "hi"}, "session_id"),
        ({"session_id": "s" * 129, "message": "hi"}, "session_id"),
        ({"session_id": "s1", "message": "hi", "email": "anna(at)example.com"}, "email"),
        ({"session_id": "s1", "message": "hi", "marketing_consent": True}, "email"),
        ({"session_id": "s1", "message": "hi", "consent_text_version": "v" * 65}, "consent_text_version"),
    ],
)
def test_bad_input_is_invalid_argument_and_nothing_is_written(chat, fields, field):
    with pytest.raises(grpc.RpcError) as caught:
        chat.SendMessage(pb.SendMessageRequest(**fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]
    with pytest.raises(grpc.RpcError) as missing:
        chat.GetConversation(pb.GetConversationRequest(session_id=fields["session_id"] or "s1"))
    assert missing.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def test_a_notifier_that_is_down_never_fails_the_visitor_and_gets_the_alert_later(
    databases, tmp_path, sinks_environ, slack
):
    notifier_port = free_port()
    stack = ChatStack(databases, str(tmp_path), sinks_environ)
    stack.notifier_service.stop()  # chat was wired to it; now nothing listens there...
    stack.chat_service.stop()
    stack.chat_environ["NOTIFIER_ADDR"] = f"127.0.0.1:{notifier_port}"
    from tests.support.services import start_chat

    stack.chat_service = start_chat(stack.chat_environ)
    chat = _stub(stack)
    try:
        answer = say(chat, HOT)
        assert answer.lead_score == 70  # email 25 + phone 25 + budget 20
        time.sleep(0.5)
        assert slack.delivered() == []
        # ...until a notifier comes up on the address chat was given.
        stack.notifier_service = start_notifier(
            notifier_environ(
                databases("notifier"), str(tmp_path), NOTIFIER_PORT=str(notifier_port), **sinks_environ
            )
        )
        [alert] = slack.wait_for(1, timeout=15)
        assert "score 70" in alert["text"]
    finally:
        stack.close()


def test_an_unconfigured_slack_channel_never_fails_the_visitor(databases, tmp_path, sinks_environ, monday):
    stack = ChatStack(databases, str(tmp_path), {**sinks_environ, "SLACK_WEBHOOK_URL": ""})
    try:
        assert say(stack.chat, HOT).lead_score == 70
        monday.wait_for(1)  # the other channel still gets its item
    finally:
        stack.close()


def _stub(stack: ChatStack):
    from novahouse.chat.v1 import chat_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{stack.chat_service.port}")
    stack._channels.append(channel)
    return chat_pb2_grpc.ChatServiceStub(channel)


ADMIN_KEY = "a" * 40


def _raw_stub(stack: ChatStack):
    """A client without the widget's token memory: what someone who only knows a session id has."""
    return _stub(stack)


def _not_found(call) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    return caught.value.details()


def test_someone_elses_session_id_reads_and_changes_nothing(stack):
    owner = say(stack.chat, "Mój email to ola@example.com", session="victim-1")
    assert owner.session_id == "victim-1"
    assert len(owner.session_token) >= 43  # 256 bits, URL-safe base64
    stranger = _raw_stub(stack)

    # Reading: without the token, or with someone else's, exactly as for a session that does not exist.
    unknown = _not_found(lambda: stranger.GetConversation(pb.GetConversationRequest(session_id="nobody-1")))
    assert _not_found(
        lambda: stranger.GetConversation(pb.GetConversationRequest(session_id="victim-1"))
    ) == unknown.replace("nobody-1", "victim-1")
    other = stranger.SendMessage(pb.SendMessageRequest(session_id="other-1", message="hej"))
    with_wrong_token = (("x-session-token", other.session_token),)
    assert _not_found(
        lambda: stranger.GetConversation(
            pb.GetConversationRequest(session_id="victim-1"), metadata=with_wrong_token
        )
    ) == unknown.replace("nobody-1", "victim-1")

    # Writing with a wrong token: refused the same way; without a token: a new conversation elsewhere.
    assert _not_found(
        lambda: stranger.SendMessage(
            pb.SendMessageRequest(session_id="victim-1", message="hijack", email="evil@example.com"),
            metadata=with_wrong_token,
        )
    ) == unknown.replace("nobody-1", "victim-1")
    fresh = stranger.SendMessage(
        pb.SendMessageRequest(session_id="victim-1", message="hijack", email="evil@example.com")
    )
    assert fresh.session_id != "victim-1"
    assert fresh.conversation_id != owner.conversation_id
    assert fresh.session_token
    assert fresh.session_token != owner.session_token

    mine = stack.chat.GetConversation(pb.GetConversationRequest(session_id="victim-1"))
    assert mine.email == "ola@example.com"
    assert [m.text for m in mine.messages if m.role == pb.MESSAGE_ROLE_USER] == [
        "Mój email to ola@example.com"
    ]
    rows = query(stack.chat_environ["CHAT_DATABASE_URL"], select(messages.c.text))
    assert sum(row.text == "hijack" for row in rows) == 1  # only in the stranger's own conversation


def test_a_message_without_session_id_gets_a_fresh_unguessable_one(chat):
    first = chat.SendMessage(pb.SendMessageRequest(message="Dzień dobry"))
    second = chat.SendMessage(pb.SendMessageRequest(message="Dzień dobry"))
    assert first.session_id.startswith("s-")
    assert len(first.session_id) >= 24
    assert first.session_id != second.session_id
    follow = chat.SendMessage(
        pb.SendMessageRequest(session_id=first.session_id, message="Ile kosztuje 50 m2?"),
        metadata=(("x-session-token", first.session_token),),
    )
    assert follow.conversation_id == first.conversation_id
    assert follow.session_token == ""  # issued once, with the first answer


def test_the_admin_key_reads_any_conversation(databases, tmp_path, sinks_environ):
    stack = ChatStack(databases, str(tmp_path), sinks_environ, ADMIN_API_KEY=ADMIN_KEY)
    try:
        say(stack.chat, "Dzień dobry", session="someone-1")
        stranger = _raw_stub(stack)
        request = pb.GetConversationRequest(session_id="someone-1")
        _not_found(lambda: stranger.GetConversation(request, metadata=(("x-admin-api-key", "b" * 40),)))
        view = stranger.GetConversation(request, metadata=(("x-admin-api-key", ADMIN_KEY),))
        assert len(view.messages) == 2
    finally:
        stack.close()
