"""The chat service's schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.runtime.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "conversations",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("session_id", String(128), nullable=False, unique=True),
    Column("email", String(254)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_user_message_at", UtcDateTime, nullable=False),
    Column("token_hash", String(64)),
    # Set once the conversation's personal data was erased (docs/privacy.md).
    Column("erased_at", UtcDateTime),
    Index("ix_conversations_last_user_message_at", "last_user_message_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("conversation_id", ID_TYPE, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("followup_number", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_messages_conversation_id_id", "conversation_id", "id"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        ID_TYPE,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("email", String(254)),
    Column("phone", String(32)),
    Column("budget", Boolean, nullable=False),
    Column("area", Boolean, nullable=False),
    Column("timeline", Boolean, nullable=False),
    Column("score", Integer, nullable=False),
    Column("alerted_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

followup_events = Table(
    "followup_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("conversation_id", ID_TYPE, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("followup_number", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The idempotency of follow-ups: one row per conversation and number, whoever inserts it.
    UniqueConstraint("conversation_id", "followup_number", name="uq_followup_events_conversation_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text),
    Column("claim_token", String(32)),
    Column("leased_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("trace_context", String(512)),
    Index("ix_outbox_next_attempt_at", "next_attempt_at"),
)
