"""Consent subjects and the append-only consent audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_POSTGRES_APPEND_ONLY = [
    """
    CREATE FUNCTION consent_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'consent_audit_log is append-only: % refused', TG_OP;
    END
    $$
    """,
    """
    CREATE TRIGGER consent_audit_log_append_only BEFORE UPDATE OR DELETE ON consent_audit_log
    FOR EACH ROW EXECUTE FUNCTION consent_audit_log_append_only()
    """,
]
_SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER consent_audit_log_no_{operation.lower()} BEFORE {operation} ON consent_audit_log
    BEGIN SELECT RAISE(ABORT, 'consent_audit_log is append-only: {operation} refused'); END
    """
    for operation in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "consent_subjects",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("marketing_consent", sa.Boolean, nullable=False),
        sa.Column("rodo_consent", sa.Boolean, nullable=False),
        sa.Column("unsubscribed", sa.Boolean, nullable=False),
        sa.Column("last_action", sa.String(32)),
        sa.Column("last_action_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_subjects"),
        sa.UniqueConstraint("email", name="uq_consent_subjects_email"),
        sa.UniqueConstraint("pseudonym", name="uq_consent_subjects_pseudonym"),
    )
    op.create_table(
        "consent_audit_log",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("marketing_consent", sa.Boolean, nullable=False),
        sa.Column("rodo_consent", sa.Boolean, nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("consent_text_version", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_audit_log"),
    )
    op.create_index(
        "ix_consent_audit_log_subject_pseudonym_id", "consent_audit_log", ["subject_pseudonym", "id"]
    )
    op.create_index("ix_consent_audit_log_action_id", "consent_audit_log", ["action", "id"])
    op.create_index("ix_consent_audit_log_occurred_at", "consent_audit_log", ["occurred_at"])
    statements = _POSTGRES_APPEND_ONLY if op.get_bind().dialect.name == "postgresql" else _SQLITE_APPEND_ONLY
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("consent_audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION consent_audit_log_append_only()")
    op.drop_table("consent_subjects")
