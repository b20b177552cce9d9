"""Stand-ins for the notifier and chat services while they are being written: real gRPC servers (the
runtime's server, with health, reflection and DiagnosticsService) running small servicers that answer
plausibly and record what reached them, so gateway tests assert on observable behaviour. Replace them
with the real services once those exist."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from novahouse.chat.v1 import chat_pb2, chat_pb2_grpc
from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.runtime.diagnostics import Diagnostics
from services.runtime.grpc_server import GrpcServer, ServiceDefinition, create_server


@dataclass
class ReceivedCall:
    method: str
    request: Any
    metadata: dict[str, str]


@dataclass
class Behaviour:
    """What the fake does besides answering: wait first, fail with a status, or crash."""

    delay_seconds: float = 0.0
    fail_with: tuple[grpc.StatusCode, str] | None = None
    crash_with: Exception | None = None


class _Recording:
    def __init__(self) -> None:
        self.calls: list[ReceivedCall] = []
        self.behaviour = Behaviour()
        self._lock = threading.Lock()

    def _receive(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append(ReceivedCall(method, request, dict(context.invocation_metadata() or ())))
        if self.behaviour.delay_seconds:
            time.sleep(self.behaviour.delay_seconds)
        if self.behaviour.fail_with is not None:
            context.abort(*self.behaviour.fail_with)
        if self.behaviour.crash_with is not None:
            raise self.behaviour.crash_with

    def last(self, method: str) -> ReceivedCall:
        return [call for call in self.calls if call.method == method][-1]

    def count(self, method: str) -> int:
        return sum(1 for call in self.calls if call.method == method)


def _timestamp(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


class FakeChat(chat_pb2_grpc.ChatServiceServicer, _Recording):
    def SendMessage(self, request, context):
        self._receive("SendMessage", request, context)
        return chat_pb2.SendMessageResponse(
            conversation_id=f"conv-{request.session_id}",
            session_id=request.session_id,
            reply=f"You said: {request.message}",
        )

    def GetConversation(self, request, context):
        self._receive("GetConversation", request, context)
        if request.session_id == "unknown":
            context.abort(grpc.StatusCode.NOT_FOUND, "no conversation for this session")
        return chat_pb2.GetConversationResponse(
            conversation_id=f"conv-{request.session_id}",
            session_id=request.session_id,
            messages=[
                chat_pb2.Message(
                    role=chat_pb2.MESSAGE_ROLE_USER, text="Hi", created_at=_timestamp(1_700_000_000)
                ),
                chat_pb2.Message(
                    role=chat_pb2.MESSAGE_ROLE_BOT, text="Hello", created_at=_timestamp(1_700_000_001)
                ),
            ],
        )

    def SendFollowup(self, request, context):
        self._receive("SendFollowup", request, context)
        return chat_pb2.SendFollowupResponse(status=chat_pb2.FOLLOWUP_STATUS_SENT)

    def ListDueFollowups(self, request, context):
        self._receive("ListDueFollowups", request, context)
        return chat_pb2.ListDueFollowupsResponse(
            followups=[
                chat_pb2.DueFollowup(
                    conversation_id="conv-1", session_id="s-1", followup_number=1, idle_seconds=1900.5
                )
            ]
        )

    def RunDueFollowups(self, request, context):
        self._receive("RunDueFollowups", request, context)
        return chat_pb2.RunDueFollowupsResponse(sent=1)


class FakeNotifier(notifier_pb2_grpc.NotifierServiceServicer, _Recording):
    def __init__(self) -> None:
        super().__init__()
        self.breaker_state = notifier_pb2.BREAKER_STATE_CLOSED

    def _entry(self, entry_id: str) -> notifier_pb2.DeadLetter:
        return notifier_pb2.DeadLetter(
            id=entry_id,
            channel=notifier_pb2.CHANNEL_SLACK,
            idempotency_key=f"lead:{entry_id}:slack",
            status=notifier_pb2.DEAD_LETTER_STATUS_PENDING,
            attempts=2,
            created_at=_timestamp(1_700_000_000),
            payload_json='{"text": "Hot lead"}',
        )

    def ListDeadLetters(self, request, context):
        self._receive("ListDeadLetters", request, context)
        return notifier_pb2.ListDeadLettersResponse(entries=[self._entry("n-1")])

    def GetDeadLetter(self, request, context):
        self._receive("GetDeadLetter", request, context)
        if request.id == "404":
            context.abort(grpc.StatusCode.NOT_FOUND, f"no dead letter {request.id}")
        return notifier_pb2.GetDeadLetterResponse(entry=self._entry(request.id))

    def GetDeadLetterStats(self, request, context):
        self._receive("GetDeadLetterStats", request, context)
        return notifier_pb2.GetDeadLetterStatsResponse(
            counts=[
                notifier_pb2.DeadLetterCount(
                    status=notifier_pb2.DEAD_LETTER_STATUS_PENDING,
                    channel=notifier_pb2.CHANNEL_SLACK,
                    count=3,
                )
            ],
            pending=3,
            oldest_pending_age_seconds=120.0,
        )

    def RetryDeadLetters(self, request, context):
        self._receive("RetryDeadLetters", request, context)
        return notifier_pb2.RetryDeadLettersResponse(retried=len(request.ids), delivered=len(request.ids))

    def RedriveDeadLetters(self, request, context):
        self._receive("RedriveDeadLetters", request, context)
        return notifier_pb2.RedriveDeadLettersResponse(redriven=len(request.ids))

    def PurgeDeadLetters(self, request, context):
        self._receive("PurgeDeadLetters", request, context)
        return notifier_pb2.PurgeDeadLettersResponse(purged=4)

    def _breaker(self, name: str) -> notifier_pb2.Breaker:
        return notifier_pb2.Breaker(name=name, state=self.breaker_state, fail_max=5, reset_timeout_seconds=60)

    def ListBreakers(self, request, context):
        self._receive("ListBreakers", request, context)
        return notifier_pb2.ListBreakersResponse(
            breakers=[self._breaker(n) for n in ("slack", "monday", "email")]
        )

    def ResetBreaker(self, request, context):
        self._receive("ResetBreaker", request, context)
        if request.name not in ("slack", "monday", "email"):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no breaker named {request.name}")
        return notifier_pb2.ResetBreakerResponse(breaker=self._breaker(request.name))


class FakePrivacy(privacy_pb2_grpc.PrivacyServiceServicer):
    """PrivacyService holding nothing about anybody."""

    def __init__(self, name: str, recording: _Recording) -> None:
        self._name = name
        self._recording = recording

    def ExportPersonalData(self, request, context):
        self._recording._receive("ExportPersonalData", request, context)
        return privacy_pb2.ExportPersonalDataResponse(service=self._name, document_json="{}")

    def ErasePersonalData(self, request, context):
        self._recording._receive("ErasePersonalData", request, context)
        return privacy_pb2.ErasePersonalDataResponse(service=self._name, counts={})


@dataclass
class FakeUpstream:
    name: str
    servicer: Any
    server: GrpcServer
    diagnostics: Diagnostics
    stopped: bool = field(default=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.stop(0)
            self.diagnostics.close()


_REGISTER = {
    "chat": (FakeChat, chat_pb2, "ChatService", chat_pb2_grpc.add_ChatServiceServicer_to_server),
    "notifier": (
        FakeNotifier,
        notifier_pb2,
        "NotifierService",
        notifier_pb2_grpc.add_NotifierServiceServicer_to_server,
    ),
}


def start_fake(name: str, port: int = 0) -> FakeUpstream:
    """The fake `name` ('chat' or 'notifier') serving on 127.0.0.1 (port 0: a free one)."""
    servicer_class, module, service, add = _REGISTER[name]
    servicer = servicer_class()
    diagnostics = Diagnostics(name)
    diagnostics.add_probe("database", lambda: "fake")
    definition = ServiceDefinition(
        module.DESCRIPTOR.services_by_name[service].full_name, lambda server: add(servicer, server)
    )
    privacy = FakePrivacy(name, servicer)
    privacy_definition = ServiceDefinition(
        privacy_pb2.DESCRIPTOR.services_by_name["PrivacyService"].full_name,
        lambda server: privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(privacy, server),
    )
    server = create_server(
        f"127.0.0.1:{port}", [definition, privacy_definition, diagnostics.definition()], max_workers=8
    )
    server.start()
    return FakeUpstream(name, servicer, server, diagnostics)
