"""NotifierService over gRPC: each method converts the request, calls one use case, converts back."""

from __future__ import annotations

import datetime as dt
import json

import grpc

from novahouse.notifier.v1 import notifier_pb2 as pb
from novahouse.notifier.v1 import notifier_pb2_grpc
from services.notifier.application.dead_letters import DeadLetterAdmin
from services.notifier.application.delivery import DeliveryService, NotifyStatus
from services.notifier.domain.model import (
    Channel,
    Message,
    Notification,
    Status,
    email_message,
    message_payload,
    monday_item,
    slack_message,
)
from services.runtime.circuit import BreakerStatus
from services.runtime.errors import InvalidArgument
from services.runtime.ids import parse_id
from services.runtime.timestamps import timestamp

_NOTIFY_STATUS = {
    NotifyStatus.DELIVERED: pb.NOTIFICATION_STATUS_DELIVERED,
    NotifyStatus.QUEUED: pb.NOTIFICATION_STATUS_QUEUED,
    NotifyStatus.DUPLICATE: pb.NOTIFICATION_STATUS_DUPLICATE,
    NotifyStatus.FAILED: pb.NOTIFICATION_STATUS_FAILED,
}
_STATUS = {
    Status.PENDING: pb.DEAD_LETTER_STATUS_PENDING,
    Status.DELIVERED: pb.DEAD_LETTER_STATUS_DELIVERED,
    Status.FAILED: pb.DEAD_LETTER_STATUS_FAILED,
}
_STATUS_OF = {value: key for key, value in _STATUS.items()}
_CHANNEL = {
    Channel.SLACK: pb.CHANNEL_SLACK,
    Channel.MONDAY: pb.CHANNEL_MONDAY,
    Channel.EMAIL: pb.CHANNEL_EMAIL,
}
_CHANNEL_OF = {value: key for key, value in _CHANNEL.items()}
_BREAKER_STATE = {
    "closed": pb.BREAKER_STATE_CLOSED,
    "open": pb.BREAKER_STATE_OPEN,
    "half-open": pb.BREAKER_STATE_HALF_OPEN,
}


class NotifierServicer(notifier_pb2_grpc.NotifierServiceServicer):
    def __init__(self, delivery: DeliveryService, dead_letters: DeadLetterAdmin) -> None:
        self._delivery = delivery
        self._dead_letters = dead_letters

    def Notify(self, request: pb.NotifyRequest, context: grpc.ServicerContext) -> pb.NotifyResponse:
        notification_id, status = self._delivery.notify(request.idempotency_key, _message(request))
        return pb.NotifyResponse(notification_id=str(notification_id), status=_NOTIFY_STATUS[status])

    def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: grpc.ServicerContext
    ) -> pb.ListDeadLettersResponse:
        page = self._dead_letters.page(
            _STATUS_OF.get(request.status),
            _CHANNEL_OF.get(request.channel),
            request.page_size,
            request.page_token,
        )
        return pb.ListDeadLettersResponse(
            entries=[_dead_letter(n) for n in page.entries], next_page_token=page.next_page_token
        )

    def GetDeadLetter(
        self, request: pb.GetDeadLetterRequest, context: grpc.ServicerContext
    ) -> pb.GetDeadLetterResponse:
        return pb.GetDeadLetterResponse(entry=_dead_letter(self._dead_letters.get(_id(request.id, "id"))))

    def GetDeadLetterStats(
        self, request: pb.GetDeadLetterStatsRequest, context: grpc.ServicerContext
    ) -> pb.GetDeadLetterStatsResponse:
        stats = self._dead_letters.stats()
        response = pb.GetDeadLetterStatsResponse()
        for (status, channel), count in sorted(stats.counts.items()):
            response.counts.add(status=_STATUS[status], channel=_CHANNEL[channel], count=count)
        response.pending = sum(c for (s, _), c in stats.counts.items() if s is Status.PENDING)
        response.failed = sum(c for (s, _), c in stats.counts.items() if s is Status.FAILED)
        response.delivered = sum(c for (s, _), c in stats.counts.items() if s is Status.DELIVERED)
        if stats.oldest_pending_created_at is not None:
            age = dt.datetime.now(dt.UTC) - stats.oldest_pending_created_at
            response.oldest_pending_age_seconds = max(0.0, age.total_seconds())
        return response

    def RetryDeadLetters(
        self, request: pb.RetryDeadLettersRequest, context: grpc.ServicerContext
    ) -> pb.RetryDeadLettersResponse:
        report = self._delivery.retry([_id(value, "ids") for value in request.ids])
        return pb.RetryDeadLettersResponse(
            retried=report.retried, delivered=report.delivered, failed=report.failed
        )

    def RedriveDeadLetters(
        self, request: pb.RedriveDeadLettersRequest, context: grpc.ServicerContext
    ) -> pb.RedriveDeadLettersResponse:
        return pb.RedriveDeadLettersResponse(
            redriven=self._dead_letters.redrive([_id(v, "ids") for v in request.ids])
        )

    def PurgeDeadLetters(
        self, request: pb.PurgeDeadLettersRequest, context: grpc.ServicerContext
    ) -> pb.PurgeDeadLettersResponse:
        purged = self._dead_letters.purge(_STATUS_OF.get(request.status), request.older_than_days)
        return pb.PurgeDeadLettersResponse(purged=purged)

    def ListBreakers(
        self, request: pb.ListBreakersRequest, context: grpc.ServicerContext
    ) -> pb.ListBreakersResponse:
        return pb.ListBreakersResponse(breakers=[_breaker(b) for b in self._dead_letters.breakers()])

    def ResetBreaker(
        self, request: pb.ResetBreakerRequest, context: grpc.ServicerContext
    ) -> pb.ResetBreakerResponse:
        return pb.ResetBreakerResponse(breaker=_breaker(self._dead_letters.reset_breaker(request.name)))


def _message(request: pb.NotifyRequest) -> Message:
    kind = request.WhichOneof("message")
    if kind == "slack":
        return slack_message(request.slack.text)
    if kind == "monday":
        return monday_item(request.monday.item_name, request.monday.column_values_json)
    if kind == "email":
        email = request.email
        return email_message(email.to, email.subject, email.body, email.list_unsubscribe_url)
    raise InvalidArgument("message", "one of slack, monday or email is required")


def _id(value: str, field: str) -> int:
    return parse_id(value, field, "notification")


def _dead_letter(n: Notification) -> pb.DeadLetter:
    error = n.last_error
    return pb.DeadLetter(
        id=str(n.id),
        channel=_CHANNEL[n.channel],
        idempotency_key=n.idempotency_key,
        status=_STATUS[n.status],
        attempts=n.attempts,
        last_error_class=error.kind if error else "",
        last_error_status=error.status if error else 0,
        last_error_text=error.text if error else "",
        next_attempt_at=timestamp(n.next_attempt_at),
        created_at=timestamp(n.created_at),
        delivered_at=timestamp(n.finished_at if n.status is Status.DELIVERED else None),
        payload_json=json.dumps(message_payload(n.message), ensure_ascii=False),
    )


def _breaker(status: BreakerStatus) -> pb.Breaker:
    return pb.Breaker(
        name=status.name,
        state=_BREAKER_STATE[status.state],
        fail_counter=status.fail_counter,
        fail_max=status.fail_max,
        reset_timeout_seconds=status.reset_timeout,
        opened_at=timestamp(status.opened_at),
    )
