"""When a conversation's personal data was erased (on request or by the retention job).

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


def upgrade() -> None:
    op.add_column("conversations", sa.Column("erased_at", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("erased_at")
