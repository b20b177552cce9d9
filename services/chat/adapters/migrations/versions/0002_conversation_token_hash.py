"""Session credentials: the SHA-256 of each conversation's token.

Conversations from before have none, so only an admin can read them and a message naming their session
id opens a new conversation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("token_hash")
