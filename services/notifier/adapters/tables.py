"""The notifier's schema: one row per accepted notification; pending and failed rows are the DLQ."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from services.runtime.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)
_Id = BigInteger().with_variant(Integer(), "sqlite")

notifications = Table(
    "notifications",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error_class", String(100)),
    Column("last_error_status", Integer),
    Column("last_error_text", Text),
    Column("next_attempt_at", UtcDateTime),
    # A claim: who is attempting the entry, and until when nobody else may.
    Column("claim_token", String(32)),
    Column("leased_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("escalated_at", UtcDateTime),
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_status_channel", "status", "channel"),
    Index("ix_notifications_status_finished_at", "status", "finished_at"),
)
