"""Event time of every consent change, and marketing grants pending the mailbox owner's confirmation.

consent_subjects.marketing_at / rodo_at: when the state in effect was given (event time); existing
subjects take their last action's time. consent_audit_log.given_at: the event time of each request.
consent_pending_grants: marketing consent given in the public chat, waiting for the confirmation link
(double opt-in); consent_subjects.confirmation_sent_at limits confirmation emails per address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("consent_subjects", sa.Column("marketing_at", UtcDateTime))
    op.add_column("consent_subjects", sa.Column("rodo_at", UtcDateTime))
    op.add_column("consent_subjects", sa.Column("confirmation_sent_at", UtcDateTime))
    op.execute("UPDATE consent_subjects SET marketing_at = last_action_at, rodo_at = last_action_at")
    op.add_column("consent_audit_log", sa.Column("given_at", UtcDateTime))
    op.create_table(
        "consent_pending_grants",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("given_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("consent_text_version", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("confirmed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_consent_pending_grants"),
        sa.UniqueConstraint("reference", name="uq_consent_pending_grants_reference"),
    )
    op.create_index(
        "ix_consent_pending_grants_subject_pseudonym", "consent_pending_grants", ["subject_pseudonym"]
    )


def downgrade() -> None:
    op.drop_table("consent_pending_grants")
    with op.batch_alter_table("consent_audit_log") as batch:
        batch.drop_column("given_at")
    with op.batch_alter_table("consent_subjects") as batch:
        batch.drop_column("confirmation_sent_at")
        batch.drop_column("rodo_at")
        batch.drop_column("marketing_at")
