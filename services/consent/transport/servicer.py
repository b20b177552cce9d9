"""ConsentService over gRPC: each method converts the request, calls one use case, converts back.
Errors are raised as ServiceErrors and mapped to status codes by the runtime's call interceptor."""

from __future__ import annotations

import datetime as dt

import grpc

from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc
from services.consent.application.optin import OptIn
from services.consent.application.privacy import ConsentPrivacy
from services.consent.application.service import ConsentService, RecordConsent
from services.consent.domain.model import AuditEntry, Purpose, Subject
from services.runtime.errors import FailedPrecondition
from services.runtime.grpc_server import caller_identity
from services.runtime.timestamps import timestamp

UNSUBSCRIBED_MESSAGE = "Successfully unsubscribed from marketing emails"
REVOKED_MESSAGE = "All consents revoked. Your data will not be processed."
CONFIRMED_MESSAGE = "Marketing consent confirmed"

_PURPOSES = {
    consent_pb2.CONSENT_PURPOSE_MARKETING: Purpose.MARKETING,
    consent_pb2.CONSENT_PURPOSE_PROCESSING: Purpose.PROCESSING,
}


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(
        self, service: ConsentService, opt_in: OptIn | None = None, privacy: ConsentPrivacy | None = None
    ) -> None:
        self._service = service
        self._links = opt_in
        self._privacy = privacy

    def RecordConsent(
        self, request: consent_pb2.RecordConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.RecordConsentResponse:
        command = RecordConsent(
            email=request.email,
            marketing_consent=request.marketing_consent if request.HasField("marketing_consent") else None,
            rodo_consent=request.rodo_consent if request.HasField("rodo_consent") else None,
            source=request.source,
            consent_text_version=request.consent_text_version,
            reason=request.reason,
            idempotency_key=request.idempotency_key,
            given_at=request.given_at.ToDatetime(dt.UTC) if request.HasField("given_at") else None,
            confirm_by_email=request.confirm_by_email,
            language=request.language,
        )
        recorded = self._service.record_consent(command, caller_identity(context))
        return consent_pb2.RecordConsentResponse(
            **_status_fields(recorded.subject),
            applied=recorded.applied,
            superseded_purposes=[purpose.value for purpose in recorded.superseded],
            marketing_pending=recorded.marketing_pending,
        )

    def Unsubscribe(
        self, request: consent_pb2.UnsubscribeRequest, context: grpc.ServicerContext
    ) -> consent_pb2.UnsubscribeResponse:
        subject = self._service.unsubscribe(request.email, request.reason, caller_identity(context))
        return consent_pb2.UnsubscribeResponse(
            success=True, message=UNSUBSCRIBED_MESSAGE, email=subject.email
        )

    def RevokeConsent(
        self, request: consent_pb2.RevokeConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.RevokeConsentResponse:
        subject, affected = self._service.revoke(request.email, request.reason, caller_identity(context))
        return consent_pb2.RevokeConsentResponse(
            success=True, message=REVOKED_MESSAGE, email=subject.email, affected_records=affected
        )

    def GetConsentStatus(
        self, request: consent_pb2.GetConsentStatusRequest, context: grpc.ServicerContext
    ) -> consent_pb2.GetConsentStatusResponse:
        return consent_pb2.GetConsentStatusResponse(**_status_fields(self._service.status(request.email)))

    def CheckConsent(
        self, request: consent_pb2.CheckConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.CheckConsentResponse:
        purpose = _PURPOSES[request.purpose]  # the contract allows MARKETING and PROCESSING only
        allowed = self._service.check(request.email, purpose)
        marketing = allowed and purpose is Purpose.MARKETING
        token = self._service.unsubscribe_token(request.email) if marketing else ""
        return consent_pb2.CheckConsentResponse(allowed=allowed, unsubscribe_token=token)

    def CheckConsentBatch(
        self, request: consent_pb2.CheckConsentBatchRequest, context: grpc.ServicerContext
    ) -> consent_pb2.CheckConsentBatchResponse:
        answers = self._service.check_batch(list(request.emails))
        return consent_pb2.CheckConsentBatchResponse(
            results=[
                consent_pb2.ConsentCheckResult(
                    processing_allowed=a.processing,
                    marketing_allowed=a.marketing,
                    unsubscribe_token=a.unsubscribe_token,
                )
                for a in answers
            ]
        )

    def UnsubscribeOneClick(
        self, request: consent_pb2.UnsubscribeOneClickRequest, context: grpc.ServicerContext
    ) -> consent_pb2.UnsubscribeResponse:
        self._opt_in().unsubscribe(request.token, caller_identity(context))
        return consent_pb2.UnsubscribeResponse(success=True, message=UNSUBSCRIBED_MESSAGE)

    def ConfirmConsent(
        self, request: consent_pb2.ConfirmConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ConfirmConsentResponse:
        self._opt_in().confirm(request.token, caller_identity(context))
        return consent_pb2.ConfirmConsentResponse(confirmed=True, message=CONFIRMED_MESSAGE)

    def _opt_in(self) -> OptIn:
        if self._links is None:
            raise FailedPrecondition("signed links are not configured")
        return self._links

    def ListAuditLog(
        self, request: consent_pb2.ListAuditLogRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ListAuditLogResponse:
        page = self._service.audit_log(
            email=request.email,
            action=request.action,
            since=request.since.ToDatetime(dt.UTC) if request.HasField("since") else None,
            until=request.until.ToDatetime(dt.UTC) if request.HasField("until") else None,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return consent_pb2.ListAuditLogResponse(
            entries=[_audit_entry(entry) for entry in page.entries], next_page_token=page.next_page_token
        )

    def VerifyAuditLog(
        self, request: consent_pb2.VerifyAuditLogRequest, context: grpc.ServicerContext
    ) -> consent_pb2.VerifyAuditLogResponse:
        if self._privacy is None:
            raise FailedPrecondition("audit log verification is not wired into this server")
        result = self._privacy.verify()
        return consent_pb2.VerifyAuditLogResponse(
            ok=result.ok,
            entries_checked=result.entries_checked,
            head_hash=result.head_hash,
            first_invalid_entry_id=str(result.first_invalid_entry_id or ""),
            problem=result.problem,
        )


def _status_fields(subject: Subject) -> dict:
    return {
        "email": subject.email,
        "is_unsubscribed": subject.unsubscribed,
        "marketing_consent": subject.marketing_consent,
        "rodo_consent": subject.rodo_consent,
        "last_action": subject.last_action.value if subject.last_action else "",
        "last_action_at": timestamp(subject.last_action_at),
    }


def _audit_entry(entry: AuditEntry) -> consent_pb2.AuditEntry:
    return consent_pb2.AuditEntry(
        id=entry.id or 0,
        email=entry.email,
        action=entry.action.value,
        timestamp=timestamp(entry.occurred_at),
        ip_address=entry.ip_address,
        user_agent=entry.user_agent,
        reason=entry.reason,
        source=entry.source,
        consent_text_version=entry.consent_text_version,
        request_id=entry.request_id,
        marketing_consent=entry.marketing_consent,
        rodo_consent=entry.rodo_consent,
        given_at=timestamp(entry.given_at or entry.occurred_at),
    )
