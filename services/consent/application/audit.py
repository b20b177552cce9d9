"""The one way a consent change becomes an audit entry: the subject's consents after the change and
the caller's identity, cut to the lengths the audit log stores."""

from __future__ import annotations

import datetime as dt

from services.consent.domain.model import AuditEntry, ConsentAction, Subject
from services.runtime.identity import CallerIdentity

_MAX_IP, _MAX_USER_AGENT, _MAX_REQUEST_ID = 64, 512, 128


def audit_entry(
    action: ConsentAction,
    subject: Subject,
    now: dt.datetime,
    caller: CallerIdentity,
    *,
    reason: str,
    source: str,
    consent_text_version: str,
    given_at: dt.datetime,
    idempotency_key: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        action=action,
        occurred_at=now,
        marketing_consent=subject.marketing_consent,
        rodo_consent=subject.rodo_consent,
        ip_address=caller.ip_address[:_MAX_IP],
        user_agent=caller.user_agent[:_MAX_USER_AGENT],
        reason=reason,
        source=source,
        consent_text_version=consent_text_version,
        request_id=caller.request_id[:_MAX_REQUEST_ID],
        idempotency_key=idempotency_key,
        given_at=given_at,
    )
