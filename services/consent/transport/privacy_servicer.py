"""PrivacyService on the consent service: the person's consent state and audit trail as JSON, and
their erasure (the subject row goes, the pseudonymised trail and a suppression stay)."""

from __future__ import annotations

import json

import grpc

from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.consent.application.privacy import ConsentPrivacy
from services.consent.domain.model import AuditEntry
from services.runtime.grpc_server import caller_identity

SERVICE = "consent"


def _time(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


def _entry(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "action": entry.action.value,
        "timestamp": _time(entry.occurred_at),
        "marketing_consent": entry.marketing_consent,
        "rodo_consent": entry.rodo_consent,
        "ip_address": entry.ip_address,
        "user_agent": entry.user_agent,
        "reason": entry.reason,
        "source": entry.source,
        "consent_text_version": entry.consent_text_version,
        "request_id": entry.request_id,
    }


class ConsentPrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, privacy: ConsentPrivacy) -> None:
        self._privacy = privacy

    def ExportPersonalData(
        self, request: privacy_pb2.ExportPersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ExportPersonalDataResponse:
        export = self._privacy.export(request.email)
        subject = export.subject
        document = {
            "consent": None
            if subject is None
            else {
                "email": subject.email,
                "marketing_consent": subject.marketing_consent,
                "rodo_consent": subject.rodo_consent,
                "is_unsubscribed": subject.unsubscribed,
                "last_action": subject.last_action.value if subject.last_action else None,
                "last_action_at": _time(subject.last_action_at),
            },
            "suppressed": export.suppressed,
            "audit_log": [_entry(entry) for entry in export.entries],
        }
        return privacy_pb2.ExportPersonalDataResponse(
            service=SERVICE, document_json=json.dumps(document, ensure_ascii=False)
        )

    def ErasePersonalData(
        self, request: privacy_pb2.ErasePersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ErasePersonalDataResponse:
        erased = self._privacy.erase(request.email, request.reason, caller_identity(context))
        return privacy_pb2.ErasePersonalDataResponse(
            service=SERVICE,
            counts={
                "subjects_erased": erased.subjects_erased,
                "audit_entries_kept": erased.audit_entries_kept,
                "suppressions": 1,
            },
        )
