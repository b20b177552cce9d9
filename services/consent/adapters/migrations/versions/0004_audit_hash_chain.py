"""The consent audit log as a hash chain: prev_hash and entry_hash on every entry (existing entries are
hashed here, in id order), the chain's head, the suppressions of erased people, TRUNCATE refused on
PostgreSQL, and no UPDATE/DELETE/TRUNCATE for the service's own role where roles are separated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import datetime as dt
import os

import sqlalchemy as sa
from alembic import op

from services.consent.domain.chain import GENESIS_HASH, HASH_VERSION, ChainedEntry, entry_hash
from services.runtime.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The role the consent service connects as, when it is not the role that owns the tables (docs/privacy.md).
SERVICE_ROLE_VARIABLE = "CONSENT_DB_SERVICE_ROLE"
_BATCH = 5000
_SQLITE_NO_UPDATE = """
    CREATE TRIGGER consent_audit_log_no_update BEFORE UPDATE ON consent_audit_log
    BEGIN SELECT RAISE(ABORT, 'consent_audit_log is append-only: UPDATE refused'); END
"""


def _hash_existing_entries(bind: sa.engine.Connection) -> tuple[int, str]:
    log = sa.table(
        "consent_audit_log",
        *(sa.column(name) for name in ChainedEntry.__dataclass_fields__ if name != "occurred_at"),
        sa.column("occurred_at", UtcDateTime),
    )
    prev_hash, last_id = GENESIS_HASH, 0
    while True:
        rows = bind.execute(sa.select(log).where(log.c.id > last_id).order_by(log.c.id).limit(_BATCH)).all()
        if not rows:
            return last_id, prev_hash
        for row in rows:
            entry = ChainedEntry(**row._mapping)
            own = entry_hash(entry, prev_hash)
            bind.execute(
                sa.update(log)
                .where(log.c.id == entry.id)
                .values(hash_version=HASH_VERSION, prev_hash=prev_hash, entry_hash=own)
            )
            prev_hash, last_id = own, entry.id


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("consent_audit_log", sa.Column("hash_version", sa.Integer))
    op.add_column("consent_audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("consent_audit_log", sa.Column("entry_hash", sa.String(64)))
    op.create_table(
        "consent_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_audit_head"),
    )
    op.create_table(
        "consent_suppressions",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name="pk_consent_suppressions"),
    )
    # Existing entries get their hashes once, with the append-only trigger out of the way meanwhile.
    if postgres:
        op.execute("ALTER TABLE consent_audit_log DISABLE TRIGGER consent_audit_log_append_only")
    else:
        op.execute("DROP TRIGGER consent_audit_log_no_update")
    last_id, head_hash = _hash_existing_entries(bind)
    if postgres:
        op.execute("ALTER TABLE consent_audit_log ENABLE TRIGGER consent_audit_log_append_only")
    else:
        op.execute(_SQLITE_NO_UPDATE)
    head = sa.table(
        "consent_audit_head",
        sa.column("id"),
        sa.column("last_entry_id"),
        sa.column("head_hash"),
        sa.column("updated_at", UtcDateTime),
    )
    bind.execute(
        sa.insert(head).values(
            id=1, last_entry_id=last_id, head_hash=head_hash, updated_at=dt.datetime.now(dt.UTC)
        )
    )
    if not postgres:
        return
    # Row triggers do not see TRUNCATE; a statement trigger does.
    op.execute(
        "CREATE TRIGGER consent_audit_log_no_truncate BEFORE TRUNCATE ON consent_audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION consent_audit_log_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON consent_audit_log FROM PUBLIC")
    role = os.environ.get(SERVICE_ROLE_VARIABLE, "").strip()
    if role:
        quoted = bind.dialect.identifier_preparer.quote_identifier(role)
        op.execute(f"GRANT SELECT, INSERT ON consent_audit_log TO {quoted}")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON consent_audit_log FROM {quoted}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON consent_audit_head TO {quoted}")
        op.execute(f"GRANT SELECT, INSERT ON consent_suppressions TO {quoted}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER consent_audit_log_no_truncate ON consent_audit_log")
    op.drop_table("consent_suppressions")
    op.drop_table("consent_audit_head")
    with op.batch_alter_table("consent_audit_log") as batch:
        batch.drop_column("entry_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("hash_version")
