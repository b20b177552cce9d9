"""Rows of the consent tables to and from the domain's objects (services/consent/adapters/repository.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row

from services.consent.domain.chain import HASH_VERSION, ChainedEntry, ChainHead, entry_hash
from services.consent.domain.model import AuditEntry, ConsentAction, Subject


def saved(subject: Subject, now: dt.datetime) -> dict[str, Any]:
    return {
        "subject_email": subject.email,
        "marketing_consent": subject.marketing_consent,
        "rodo_consent": subject.rodo_consent,
        "unsubscribed": subject.unsubscribed,
        "last_action": subject.last_action.value if subject.last_action else None,
        "last_action_at": subject.last_action_at,
        "marketing_at": subject.marketing_at,
        "rodo_at": subject.rodo_at,
        "confirmation_sent_at": subject.confirmation_sent_at,
        "updated_at": now,
    }


def chained(pseudonym: str, entry: AuditEntry, head: ChainHead) -> dict[str, Any]:
    """The entry's row, next after `head` and linked to it by its hashes."""
    values: dict[str, Any] = {
        "id": head.last_entry_id + 1,
        "subject_pseudonym": pseudonym,
        "action": entry.action.value,
        "occurred_at": entry.occurred_at,
        "marketing_consent": entry.marketing_consent,
        "rodo_consent": entry.rodo_consent,
        "ip_address": entry.ip_address,
        "user_agent": entry.user_agent,
        "reason": entry.reason,
        "source": entry.source,
        "consent_text_version": entry.consent_text_version,
        "request_id": entry.request_id,
        "idempotency_key": entry.idempotency_key,
        "given_at": entry.given_at,
        "hash_version": HASH_VERSION,
        "prev_hash": head.head_hash,
    }
    values["entry_hash"] = entry_hash(ChainedEntry(**values, entry_hash=None), head.head_hash)
    return values


def moved(values: dict[str, Any], entry: AuditEntry) -> dict[str, Any]:
    return {"last_entry_id": values["id"], "head_hash": values["entry_hash"], "updated_at": entry.occurred_at}


def subject(row: Row) -> Subject:
    return Subject(
        email=row.email,
        marketing_consent=row.marketing_consent,
        rodo_consent=row.rodo_consent,
        unsubscribed=row.unsubscribed,
        last_action=ConsentAction(row.last_action) if row.last_action else None,
        last_action_at=row.last_action_at,
        marketing_at=row.marketing_at,
        rodo_at=row.rodo_at,
        confirmation_sent_at=row.confirmation_sent_at,
    )


def audit_entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        email=row.email or "",
        action=ConsentAction(row.action),
        occurred_at=row.occurred_at,
        marketing_consent=row.marketing_consent,
        rodo_consent=row.rodo_consent,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        reason=row.reason,
        source=row.source,
        consent_text_version=row.consent_text_version,
        request_id=row.request_id,
        given_at=row.given_at,
    )
