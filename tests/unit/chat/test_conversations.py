"""A visitor's message through ConversationService against memory: what is stored, what the lead
becomes, and what is queued in the outbox for other services."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from services.chat.application.conversations import VisitorMessage
from services.chat.application.outbox_calls import NOTIFY, RECORD_CONSENT
from services.chat.domain.model import Role
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.identity import CallerIdentity
from tests.unit.chat.fakes import Chat

CALLER = CallerIdentity("203.0.113.9", "Mozilla/5.0", "req-9")
HOT = "anna@example.com, tel. 601 234 567, budżet 120 tys zł"


@pytest.fixture
def chat() -> Chat:
    return Chat()


def say(chat: Chat, text: str, session: str = "s-1", **fields):
    return chat.send(VisitorMessage(session, text, **fields), CALLER)


def test_a_first_message_opens_a_conversation_and_stores_both_sides(chat):
    answer = say(chat, "Dzień dobry!")

    assert answer.reply
    assert (answer.session_id, answer.lead_id, answer.lead_score) == ("s-1", None, 0)
    conversation = chat.uow.stored.conversations[answer.conversation_id]
    assert (conversation.session_id, conversation.email) == ("s-1", None)
    assert [(m.role, m.text) for m in chat.uow.messages(answer.conversation_id)] == [
        (Role.USER, "Dzień dobry!"),
        (Role.BOT, answer.reply),
    ]
    assert chat.uow.outbox_items() == []
    assert say(chat, "a potem?").conversation_id == answer.conversation_id


def test_contact_details_make_a_lead_that_is_announced_once_when_hot(chat):
    warm = say(chat, "mój mail anna@example.com")
    assert warm.lead_score == 25
    assert chat.uow.outbox_items() == []

    hot = say(chat, "tel. 601 234 567, budżet 120 tys zł")
    assert (hot.lead_id, hot.lead_score) == (warm.lead_id, 70)
    slack, monday = chat.uow.outbox_items()
    assert (slack.kind, slack.key, monday.key) == (
        NOTIFY,
        f"lead:{hot.lead_id}:slack",
        f"lead:{hot.lead_id}:monday",
    )
    assert slack.payload["idempotency_key"] == slack.key
    assert "anna@example.com" in slack.payload["slack"]["text"]
    assert "score 70" in monday.payload["monday"]["item_name"]
    assert slack.identity == CALLER
    assert chat.woken == 1

    say(chat, "mieszkanie 65 m2")
    assert len(chat.uow.outbox_items()) == 2  # announced once
    assert chat.uow.stored.leads[hot.conversation_id].alerted_at == chat.clock.now


@pytest.mark.parametrize("cache_lost", [False, True])
def test_what_was_said_before_the_contact_details_counts_with_or_without_the_cache(chat, cache_lost):
    say(chat, "budżet 120 tys zł")
    if cache_lost:  # a restart, or another replica: the history is read instead
        chat.conversations = chat.replica()
    answer = say(chat, "anna@example.com, tel. 601 234 567")
    assert answer.lead_score == 70
    assert len(chat.uow.outbox_items()) == 2


def test_consent_given_in_the_chat_is_queued_for_the_consent_service(chat):
    answer = say(chat, "Zapisz mnie", email=" Anna@Example.com ", marketing_consent=True)

    [item] = chat.uow.outbox_items()
    assert item.kind == RECORD_CONSENT
    user_message_id = next(
        i
        for i, (c, m) in chat.uow.stored.messages.items()
        if c == answer.conversation_id and m.role is Role.USER
    )
    assert item.key == f"consent:{user_message_id}"
    assert item.payload == {
        "email": "anna@example.com",
        "source": "chat",
        "idempotency_key": f"chat:consent:{user_message_id}",
        "given_at": item.payload["given_at"],
        "consent_text_version": "widget-1",
        "marketing_consent": True,
        "confirm_by_email": True,
        "language": "",
    }
    assert item.payload["given_at"].endswith("Z")
    assert chat.uow.stored.conversations[answer.conversation_id].email == "anna@example.com"
    assert chat.woken == 1


def test_consent_uses_an_email_the_visitor_gave_earlier(chat):
    say(chat, "anna@example.com")
    say(chat, "ok", rodo_consent=True, consent_text_version="2026-11")
    [item] = chat.uow.outbox_items()
    assert (item.payload["email"], item.payload["rodo_consent"], item.payload["consent_text_version"]) == (
        "anna@example.com",
        True,
        "2026-11",
    )
    assert "marketing_consent" not in item.payload


@pytest.mark.parametrize(
    ("session", "text", "fields", "field"),
    [
        ("bad session!", "hi", {}, "session_id"),
        ("s" * 129, "hi", {}, "session_id"),
        ("s-1", "   ", {}, "message"),
        ("s-1", "x" * 4001, {}, "message"),
        ("s-1", "hi", {"email": "not-an-email"}, "email"),
        ("s-1", "hi", {"marketing_consent": True}, "email"),  # consent, but nobody to record it for
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(chat, session, text, fields, field):
    with pytest.raises(InvalidArgument) as refused:
        say(chat, text, session, **fields)
    assert refused.value.field == field
    assert chat.uow.commits == 0
    assert chat.uow.stored.conversations == {}
    assert chat.cache.get(session) is None


def test_a_database_outage_stores_and_caches_nothing(chat):
    chat.uow.unavailable = 1
    with pytest.raises(OperationalError):
        say(chat, HOT)
    assert chat.uow.stored.conversations == {}
    assert chat.cache.get("s-1") is None
    assert chat.woken == 0


def test_a_conversation_is_read_back_by_session(chat):
    answer = say(chat, "Dzień dobry!", email="anna@example.com")
    view = chat.read("s-1")
    assert (view.conversation.id, view.conversation.email) == (answer.conversation_id, "anna@example.com")
    assert [m.role for m in view.messages] == [Role.USER, Role.BOT]
    with pytest.raises(NotFound):
        chat.read("nobody")
    with pytest.raises(InvalidArgument):
        chat.read("a/b")
    with pytest.raises(NotFound) as stranger:  # without the token: as if it did not exist
        chat.conversations.conversation("s-1", "", admin=False)
    assert str(stranger.value) == "no conversation for session s-1"
    with pytest.raises(NotFound):
        chat.conversations.conversation("s-1", "not-the-token", admin=False)
    assert chat.conversations.conversation("s-1", "", admin=True).conversation.id == answer.conversation_id


def test_someone_elses_session_id_opens_a_new_conversation_and_a_wrong_token_finds_nothing(chat):
    owner = say(chat, "anna@example.com", session="victim")
    intruder = chat.conversations.send_message(VisitorMessage("victim", "hijack"), CALLER)
    assert intruder.session_id != "victim"
    assert intruder.conversation_id != owner.conversation_id
    with pytest.raises(NotFound):
        chat.conversations.send_message(
            VisitorMessage("victim", "x", session_token=intruder.session_token), CALLER
        )
    assert chat.read("victim").messages[0].text == "anna@example.com"
    assert len(chat.read("victim").messages) == 2
