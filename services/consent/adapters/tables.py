"""The consent service's schema. The email lives only in consent_subjects; the audit log names the
subject by its keyed pseudonym and is append-only (the migrations add triggers that refuse UPDATE,
DELETE and, on PostgreSQL, TRUNCATE, and no code path issues either). Its entries form a hash chain
(services/consent/domain/chain.py) whose head is the one row of consent_audit_head."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

from services.runtime.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_Id = BigInteger().with_variant(Integer(), "sqlite")

subjects = Table(
    "consent_subjects",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("pseudonym", String(64), nullable=False, unique=True),
    Column("marketing_consent", Boolean, nullable=False),
    Column("rodo_consent", Boolean, nullable=False),
    Column("unsubscribed", Boolean, nullable=False),
    Column("last_action", String(32)),
    Column("last_action_at", UtcDateTime),
    # Event times of the marketing and processing states in effect (migration 0003).
    Column("marketing_at", UtcDateTime),
    Column("rodo_at", UtcDateTime),
    Column("confirmation_sent_at", UtcDateTime),  # the last confirmation email asked for (double opt-in)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "consent_audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("subject_pseudonym", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("marketing_consent", Boolean, nullable=False),
    Column("rodo_consent", Boolean, nullable=False),
    Column("ip_address", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("consent_text_version", String(64), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("idempotency_key", String(200)),
    Column("given_at", UtcDateTime),  # when the person acted; NULL on entries older than 0003
    Column("hash_version", Integer),
    Column("prev_hash", String(64)),
    Column("entry_hash", String(64)),
    Index("ix_consent_audit_log_subject_pseudonym_id", "subject_pseudonym", "id"),
    Index("ix_consent_audit_log_action_id", "action", "id"),
    Index("ix_consent_audit_log_occurred_at", "occurred_at"),
    # A request recorded once per key, whoever repeats it (NULLs, requests without a key, never clash).
    Index("uq_consent_audit_log_idempotency_key", "idempotency_key", unique=True),
)

# Marketing consent given in the public chat, effective only once the mailbox owner confirms it through
# the emailed link (double opt-in); unconfirmed rows expire at `expires_at`.
pending_grants = Table(
    "consent_pending_grants",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("reference", String(64), nullable=False, unique=True),  # what the confirmation link names
    Column("subject_pseudonym", String(64), nullable=False, index=True),
    Column("given_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("consent_text_version", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("source", String(64), nullable=False),
    Column("confirmed_at", UtcDateTime),
)

# One row (id 1): the last entry of the chain. Every append locks it, so writers form one linear chain.
audit_head = Table(
    "consent_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_entry_id", _Id, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Erased people, by pseudonym: never mailed again, whatever consent their address brings later.
suppressions = Table(
    "consent_suppressions",
    metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)
