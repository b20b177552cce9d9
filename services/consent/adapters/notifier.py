"""The confirmation email handed to the notifier, which keeps it in its dead-letter queue while SMTP
is down. A notifier that cannot be reached is Unavailable: the consent request is rolled back and its
caller (the chat outbox) tries again; the idempotency key keeps a repeat from sending twice."""

from __future__ import annotations

import grpc

from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from services.runtime.errors import Unavailable


class NotifierMailer:
    def __init__(self, channel: grpc.Channel, timeout: float) -> None:
        self._stub = notifier_pb2_grpc.NotifierServiceStub(channel)
        self._timeout = timeout

    def send(self, to: str, subject: str, body: str, idempotency_key: str) -> None:
        request = notifier_pb2.NotifyRequest(
            idempotency_key=idempotency_key,
            email=notifier_pb2.EmailMessage(to=to, subject=subject, body=body),
        )
        try:
            self._stub.Notify(request, timeout=self._timeout)
        except grpc.RpcError as error:
            raise Unavailable(
                f"the notifier did not take the confirmation email: {error.code().name}"
            ) from None
