"""Conversations and their messages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from services.runtime.errors import InvalidArgument

MAX_MESSAGE_LENGTH = 4000
MAX_LABEL_LENGTH = 64
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Role(StrEnum):
    USER = "user"
    BOT = "bot"
    FOLLOWUP = "followup"


class FollowupOutcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    SKIPPED_NO_CONSENT = "skipped_no_consent"
    NOT_DUE = "not_due"


def session_id(raw: str) -> str:
    if not _SESSION_ID.fullmatch(raw):
        raise InvalidArgument("session_id", "must be 1 to 128 letters, digits, '-' or '_'")
    return raw


def message_text(raw: str) -> str:
    if not raw.strip():
        raise InvalidArgument("message", "is required")
    if len(raw) > MAX_MESSAGE_LENGTH:
        raise InvalidArgument(
            "message", f"is {len(raw)} characters long, at most {MAX_MESSAGE_LENGTH} are allowed"
        )
    return raw.strip()


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    text: str
    created_at: dt.datetime
    followup_number: int = 0


@dataclass
class Conversation:
    id: int
    session_id: str
    email: str | None
    created_at: dt.datetime
    last_user_message_at: dt.datetime
    # SHA-256 of the session credential; None for conversations from before credentials existed.
    token_hash: str | None = None
