"""The audit entry's idempotency key: a RecordConsent repeated with the same key is recorded once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable (existing entries and requests without a key have none) and unique through an index,
    # which SQLite can add to an existing table where it cannot add a UNIQUE column.
    op.add_column("consent_audit_log", sa.Column("idempotency_key", sa.String(200)))
    op.create_index(
        "uq_consent_audit_log_idempotency_key", "consent_audit_log", ["idempotency_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_consent_audit_log_idempotency_key", table_name="consent_audit_log")
    with op.batch_alter_table("consent_audit_log") as batch:
        batch.drop_column("idempotency_key")
