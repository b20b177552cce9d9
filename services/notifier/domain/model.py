"""Notifications: what is delivered where, and the state each one is in."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from enum import StrEnum

from services.runtime.emails import mask_emails, normalise_email
from services.runtime.errors import InvalidArgument

MAX_KEY_LENGTH = 200
MAX_SLACK_TEXT = 4000
MAX_ITEM_NAME = 255
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_URL = 2000
_URL = re.compile(r"^https?://[\x21-\x7e]+$")  # printable ASCII: no spaces, no line breaks, no '<>'-escapes


class Channel(StrEnum):
    SLACK = "slack"
    MONDAY = "monday"
    EMAIL = "email"


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class SlackMessage:
    text: str

    channel = Channel.SLACK


@dataclass(frozen=True)
class MondayItem:
    item_name: str
    column_values: dict

    channel = Channel.MONDAY


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    body: str
    list_unsubscribe: str = ""  # the one-click unsubscribe URL of a marketing email (RFC 8058)

    channel = Channel.EMAIL


Message = SlackMessage | MondayItem | EmailMessage


def _text(field: str, value: str, maximum: int) -> str:
    if not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > maximum:
        raise InvalidArgument(field, f"is {len(value)} characters long, at most {maximum} are allowed")
    return value


def slack_message(text: str) -> SlackMessage:
    return SlackMessage(_text("slack.text", text, MAX_SLACK_TEXT))


def monday_item(item_name: str, column_values_json: str) -> MondayItem:
    name = _text("monday.item_name", item_name, MAX_ITEM_NAME)
    if not column_values_json.strip():
        return MondayItem(name, {})
    try:
        columns = json.loads(column_values_json)
    except ValueError as error:
        raise InvalidArgument("monday.column_values_json", f"is not valid JSON: {error}") from None
    if not isinstance(columns, dict):
        raise InvalidArgument("monday.column_values_json", "must be a JSON object")
    return MondayItem(name, columns)


def email_message(to: str, subject: str, body: str, list_unsubscribe: str = "") -> EmailMessage:
    subject = _text("email.subject", subject, MAX_SUBJECT)
    if "\r" in subject or "\n" in subject:
        raise InvalidArgument("email.subject", "must be a single line")
    if list_unsubscribe and (
        len(list_unsubscribe) > MAX_URL or not _URL.match(list_unsubscribe) or ">" in list_unsubscribe
    ):
        raise InvalidArgument(
            "email.list_unsubscribe_url", f"must be an http(s) URL of at most {MAX_URL} characters"
        )
    return EmailMessage(
        normalise_email(to, "email.to"), subject, _text("email.body", body, MAX_BODY), list_unsubscribe
    )


def idempotency_key(key: str) -> str:
    return _text("idempotency_key", key, MAX_KEY_LENGTH)


def message_payload(message: Message) -> dict:
    """The message as stored and shown to operators."""
    if isinstance(message, SlackMessage):
        return {"text": message.text}
    if isinstance(message, MondayItem):
        return {"item_name": message.item_name, "column_values": message.column_values}
    payload = {"to": message.to, "subject": message.subject, "body": message.body}
    if message.list_unsubscribe:
        payload["list_unsubscribe"] = message.list_unsubscribe
    return payload


def message_from_payload(channel: Channel, payload: dict) -> Message:
    if channel is Channel.SLACK:
        return SlackMessage(payload["text"])
    if channel is Channel.MONDAY:
        return MondayItem(payload["item_name"], payload["column_values"])
    return EmailMessage(
        payload["to"], payload["subject"], payload["body"], payload.get("list_unsubscribe", "")
    )


@dataclass(frozen=True)
class ErrorInfo:
    """What a sink answered: the error's class, the HTTP or SMTP status (0 if none) and its text, with
    every email address in it masked (it is stored, logged and mailed in escalations)."""

    kind: str
    status: int
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", mask_emails(self.text))


class DeliveryFailure(Exception):
    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(f"{info.kind} {info.status}: {info.text}")
        self.info = info


class RetryableFailure(DeliveryFailure):
    """The sink is down or struggling (timeout, connection error, 5xx, SMTP 4xx): try again later."""


class PermanentFailure(DeliveryFailure):
    """The sink refused this message for good (4xx, a GraphQL error, SMTP 5xx): retrying cannot help."""


class RateLimited(DeliveryFailure):
    """The sink asked us to slow down (429): wait `retry_after` seconds; not the sink's failure."""

    def __init__(self, info: ErrorInfo, retry_after: float) -> None:
        super().__init__(info)
        self.retry_after = retry_after


@dataclass
class Notification:
    """One accepted notification and its place in the dead-letter queue."""

    id: int
    idempotency_key: str
    message: Message
    status: Status
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    last_error: ErrorInfo | None = None
    claim_token: str | None = None

    @property
    def channel(self) -> Channel:
        return self.message.channel
