"""Control characters anywhere in a request's text are found and named; line breaks and tabs are text."""

from __future__ import annotations

from novahouse.chat.v1 import chat_pb2
from novahouse.notifier.v1 import notifier_pb2
from services.runtime.control_characters import field_with_control_character


def test_the_first_field_with_a_control_character_is_named_with_its_path():
    assert field_with_control_character(chat_pb2.SendMessageRequest(message="a\x00b")) == "message"
    nested = notifier_pb2.NotifyRequest(email=notifier_pb2.EmailMessage(to="a@example.com", body="x\x1b[2J"))
    assert field_with_control_character(nested) == "email.body"
    assert (
        field_with_control_character(chat_pb2.SendMessageRequest(message="a\r\n\tb", email="é@x.pl")) is None
    )
