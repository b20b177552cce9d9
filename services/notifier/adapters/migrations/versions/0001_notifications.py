"""Notifications and their dead-letter queue state.

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


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error_class", sa.String(100)),
        sa.Column("last_error_status", sa.Integer),
        sa.Column("last_error_text", sa.Text),
        sa.Column("next_attempt_at", UtcDateTime),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("leased_until", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("escalated_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
    )
    op.create_index("ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_status_channel", "notifications", ["status", "channel"])
    op.create_index("ix_notifications_status_finished_at", "notifications", ["status", "finished_at"])


def downgrade() -> None:
    op.drop_table("notifications")
