"""Work queues in a table: rows claimed with a token and a lease, so replicas never work one row at
once and a crashed worker's rows come back when the lease ends.

On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers each
get different rows; SQLite drops FOR UPDATE, but its transactions take the write lock up front, which
serialises claims instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Row, Select, Table, and_, or_, update
from sqlalchemy.orm import Session

from services.runtime.db import affected_rows
from services.runtime.leases import Claim


def unleased(table: Table, now: dt.datetime) -> ColumnElement[bool]:
    return or_(table.c.leased_until.is_(None), table.c.leased_until < now)


def claim_rows(session: Session, table: Table, candidates: Select, claim: Claim) -> Sequence[Row]:
    """Marks the rows `candidates` selects (a select of ids) as claimed and returns them."""
    return session.execute(
        update(table)
        .where(table.c.id.in_(candidates.with_for_update(skip_locked=True).scalar_subquery()))
        .values(claim_token=claim.token, leased_until=claim.lease_until)
        .returning(*table.c)
    ).all()


def renew_claim(session: Session, table: Table, row_id: int, token: str | None, claim: Claim) -> bool:
    """Extends a row's lease if `token` still holds it; False if another worker took it over."""
    renewed = affected_rows(
        session,
        update(table)
        .where(and_(table.c.id == row_id, table.c.claim_token == token))
        .values(leased_until=claim.lease_until),
    )
    return renewed == 1
