"""gRPC clients of the consent service and the notifier, over channels opened once.

Every call has a deadline and carries the visitor's identity (client IP, user agent, request id) as
metadata, so the consent audit log records who gave consent even when the relay hands it over later.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import json_format

from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc
from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from services.chat.application.outbox_calls import NOTIFY, RECORD_CONSENT
from services.chat.application.ports import ConsentAnswer, OutboxItem
from services.chat.application.relay import HandOverFailed
from services.runtime.errors import Unavailable
from services.runtime.identity import CallerIdentity

CONSENT_BATCH = 500  # CheckConsentBatchRequest.emails max_items

_PURPOSE = {
    "marketing": consent_pb2.CONSENT_PURPOSE_MARKETING,
    "processing": consent_pb2.CONSENT_PURPOSE_PROCESSING,
}


class ConsentClient:
    def __init__(self, channel: grpc.Channel, timeout: float) -> None:
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._timeout = timeout

    def allows(self, email: str, purpose: str, identity: CallerIdentity) -> bool:
        return self._check(email, purpose, identity).allowed

    def marketing_token(self, email: str, identity: CallerIdentity) -> str | None:
        answer = self._check(email, "marketing", identity)
        return answer.unsubscribe_token if answer.allowed and answer.unsubscribe_token else None

    def check_batch(self, emails: Sequence[str], identity: CallerIdentity) -> list[ConsentAnswer]:
        answers: list[ConsentAnswer] = []
        for start in range(0, len(emails), CONSENT_BATCH):
            request = consent_pb2.CheckConsentBatchRequest(emails=emails[start : start + CONSENT_BATCH])
            try:
                response = self._stub.CheckConsentBatch(
                    request, timeout=self._timeout, metadata=identity.as_metadata()
                )
            except grpc.RpcError as error:
                raise Unavailable(
                    f"the consent service did not answer: {error.code().name} {error.details()}"
                ) from None
            answers.extend(
                ConsentAnswer(r.processing_allowed, (r.marketing_allowed and r.unsubscribe_token) or None)
                for r in response.results
            )
        if len(answers) != len(emails):
            raise Unavailable(f"the consent service answered {len(answers)} of {len(emails)} addresses")
        return answers

    def _check(self, email: str, purpose: str, identity: CallerIdentity) -> consent_pb2.CheckConsentResponse:
        request = consent_pb2.CheckConsentRequest(email=email, purpose=_PURPOSE[purpose])
        try:
            return self._stub.CheckConsent(request, timeout=self._timeout, metadata=identity.as_metadata())
        except grpc.RpcError as error:
            raise Unavailable(
                f"the consent service did not answer: {error.code().name} {error.details()}"
            ) from None


class UpstreamRelayTarget:
    """Makes the calls the outbox queued."""

    def __init__(self, consent_channel: grpc.Channel, notifier_channel: grpc.Channel, timeout: float) -> None:
        self._calls = {
            RECORD_CONSENT: (
                consent_pb2_grpc.ConsentServiceStub(consent_channel).RecordConsent,
                consent_pb2.RecordConsentRequest,
            ),
            NOTIFY: (
                notifier_pb2_grpc.NotifierServiceStub(notifier_channel).Notify,
                notifier_pb2.NotifyRequest,
            ),
        }
        self._timeout = timeout

    def hand_over(self, item: OutboxItem) -> None:
        method, request_type = self._calls[item.kind]
        request = json_format.ParseDict(item.payload, request_type())
        try:
            method(request, timeout=self._timeout, metadata=item.identity.as_metadata())
        except grpc.RpcError as error:
            # Whatever the reason (down, overloaded, a channel not configured yet), the call stays
            # queued and is tried again with backoff: it is never dropped.
            raise HandOverFailed(f"{error.code().name}: {error.details()}") from None
