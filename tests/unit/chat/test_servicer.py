"""ChatServicer through grpcio-testing: requests become use-case calls, the caller's identity comes from
the metadata the gateway sends, and answers become messages."""

from __future__ import annotations

import grpc
import pytest

from novahouse.chat.v1 import chat_pb2 as pb
from services.chat.transport.servicer import ChatServicer
from services.runtime.identity import CLIENT_IP_KEY, CLIENT_USER_AGENT_KEY
from tests.support.grpc_testing_server import CallFailed, InProcessService
from tests.unit.chat.fakes import DELAYS, Chat

GATEWAY_METADATA = ((CLIENT_IP_KEY, "198.51.100.4"), (CLIENT_USER_AGENT_KEY, "Widget/1.0"))
HOT = "anna@example.com, tel. 601 234 567, budżet 120 tys zł"


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def rpc(chat) -> InProcessService:
    return InProcessService(
        pb.DESCRIPTOR.services_by_name["ChatService"], ChatServicer(chat.conversations, chat.followups)
    )


def test_send_message_answers_and_queues_work_under_the_callers_identity(rpc, chat):
    answer = rpc.call(
        "SendMessage",
        pb.SendMessageRequest(session_id="s-1", message=HOT, marketing_consent=False),
        GATEWAY_METADATA,
    )
    assert (answer.session_id, answer.lead_score) == ("s-1", 70)
    assert all((answer.reply, answer.conversation_id, answer.lead_id))
    items = chat.uow.outbox_items()
    assert {item.identity.ip_address for item in items} == {"198.51.100.4"}
    assert {item.identity.user_agent for item in items} == {"Widget/1.0"}
    consent = next(item for item in items if item.kind == "consent.RecordConsent")
    assert consent.payload["marketing_consent"] is False  # an explicit false is kept, not dropped
    assert "rodo_consent" not in consent.payload  # unset optional field: not given


def test_a_conversation_is_rendered_with_its_messages(rpc, chat):
    sent = rpc.call(
        "SendMessage", pb.SendMessageRequest(session_id="s-1", message="Dzień dobry"), GATEWAY_METADATA
    )
    request = pb.GetConversationRequest(session_id="s-1")
    with pytest.raises(CallFailed, match="no conversation for session s-1"):  # without its token
        rpc.call("GetConversation", request)
    view = rpc.call("GetConversation", request, (("x-session-token", sent.session_token),))
    assert [m.role for m in view.messages] == [pb.MESSAGE_ROLE_USER, pb.MESSAGE_ROLE_BOT]
    assert view.messages[0].text == "Dzień dobry"
    assert view.email == ""


def test_followups_over_grpc(rpc, chat):
    sent = rpc.call("SendMessage", pb.SendMessageRequest(session_id="s-1", message=HOT), GATEWAY_METADATA)
    chat.consent.granted = {("anna@example.com", "processing")}
    chat.clock.advance(DELAYS[0])

    due = rpc.call("ListDueFollowups", pb.ListDueFollowupsRequest(page_size=10)).followups
    assert [(d.conversation_id, d.session_id, d.followup_number) for d in due] == [
        (sent.conversation_id, "s-1", 1)
    ]
    outcome = rpc.call(
        "SendFollowup",
        pb.SendFollowupRequest(conversation_id=sent.conversation_id, followup_number=1),
        GATEWAY_METADATA,
    )
    assert outcome.status == pb.FOLLOWUP_STATUS_SENT
    report = rpc.call("RunDueFollowups", pb.RunDueFollowupsRequest())
    assert (report.sent, report.already_sent, report.skipped_no_consent, report.deferred) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("method", "request_message", "text"),
    [
        ("SendMessage", pb.SendMessageRequest(session_id="a b", message="hi"), "session_id:"),
        ("GetConversation", pb.GetConversationRequest(session_id="nobody"), "no conversation"),
        ("SendFollowup", pb.SendFollowupRequest(conversation_id="x", followup_number=1), "conversation_id:"),
    ],
)
def test_bad_requests_leave_the_servicer_as_the_use_case_error(rpc, chat, method, request_message, text):
    with pytest.raises(CallFailed) as failed:
        rpc.call(method, request_message, GATEWAY_METADATA)
    assert failed.value.code is grpc.StatusCode.UNKNOWN  # mapped by the interceptor, absent here
    assert text in failed.value.details
    assert chat.uow.stored.conversations == {}
