import datetime as dt

import pytest

from services.notifier.adapters.sinks.http import DEFAULT_RETRY_AFTER_SECONDS, retry_after_seconds
from services.notifier.domain.model import (
    Channel,
    email_message,
    message_from_payload,
    message_payload,
    monday_item,
    slack_message,
)
from services.runtime.errors import InvalidArgument

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7),
        ("0", 0),
        ("-3", 0),
        ("86400", 3600),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0),
        (None, DEFAULT_RETRY_AFTER_SECONDS),
        ("soon", DEFAULT_RETRY_AFTER_SECONDS),
    ],
)
def test_retry_after_as_seconds_or_http_date(value, seconds):
    assert retry_after_seconds(value, now=NOW) == seconds


def test_messages_round_trip_through_their_stored_payload():
    for message in (
        slack_message("Hot lead"),
        monday_item("Anna", '{"status": {"label": "New"}}'),
        email_message(" Anna@Example.com ", "Wycena", "Dzień dobry"),
    ):
        assert message_from_payload(Channel(message.channel), message_payload(message)) == message
    assert email_message("Anna@Example.com", "s", "b").to == "anna@example.com"
    assert monday_item("Anna", "").column_values == {}


def test_a_subject_with_a_line_break_could_inject_headers_and_is_refused():
    with pytest.raises(InvalidArgument) as caught:
        email_message("a@b.pl", "Hello\nBcc: everyone@example.com", "body")
    assert caught.value.field == "email.subject"


def test_a_marketing_email_keeps_its_unsubscribe_url_and_refuses_one_that_could_inject_headers():
    url = "https://novahouse.example.com/api/unsubscribe/one-click/abc.def"
    message = email_message("a@b.pl", "s", "b", url)
    assert message_from_payload(Channel.EMAIL, message_payload(message)) == message
    for bad in ("javascript:alert(1)", "https://x.pl/a>\r\nBcc: all@x.pl", "https://x.pl/" + "a" * 2000):
        with pytest.raises(InvalidArgument) as caught:
            email_message("a@b.pl", "s", "b", bad)
        assert caught.value.field == "email.list_unsubscribe_url"
