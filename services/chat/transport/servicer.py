"""ChatService over gRPC: each method converts the request, calls one use case, converts back."""

from __future__ import annotations

import datetime as dt

import grpc

from novahouse.chat.v1 import chat_pb2 as pb
from novahouse.chat.v1 import chat_pb2_grpc
from services.chat.application.conversations import ConversationService, VisitorMessage
from services.chat.application.followups import FollowupService
from services.chat.domain.model import FollowupOutcome, Role
from services.runtime.access import Secret
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.grpc_server import caller_identity
from services.runtime.identity import ADMIN_KEY_KEY, SESSION_TOKEN_KEY
from services.runtime.ids import parse_id
from services.runtime.pagination import page_limit
from services.runtime.timestamps import timestamp

_ROLE = {
    Role.USER: pb.MESSAGE_ROLE_USER,
    Role.BOT: pb.MESSAGE_ROLE_BOT,
    Role.FOLLOWUP: pb.MESSAGE_ROLE_FOLLOWUP,
}
_OUTCOME = {
    FollowupOutcome.SENT: pb.FOLLOWUP_STATUS_SENT,
    FollowupOutcome.ALREADY_SENT: pb.FOLLOWUP_STATUS_ALREADY_SENT,
    FollowupOutcome.SKIPPED_NO_CONSENT: pb.FOLLOWUP_STATUS_SKIPPED_NO_CONSENT,
    FollowupOutcome.NOT_DUE: pb.FOLLOWUP_STATUS_NOT_DUE,
}


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    def __init__(
        self,
        conversations: ConversationService,
        followups: FollowupService,
        admin_key: Secret | None = None,
    ) -> None:
        self._conversations = conversations
        self._admin_key = admin_key or Secret(None)  # none: only the session token opens a conversation
        self._followups = followups

    def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.ServicerContext
    ) -> pb.SendMessageResponse:
        answer = self._conversations.send_message(
            VisitorMessage(
                session_id=request.session_id,
                text=request.message,
                email=request.email,
                marketing_consent=request.marketing_consent
                if request.HasField("marketing_consent")
                else None,
                rodo_consent=request.rodo_consent if request.HasField("rodo_consent") else None,
                consent_text_version=request.consent_text_version,
                session_token=_metadata(context, SESSION_TOKEN_KEY),
                language=request.language,
            ),
            caller_identity(context),
        )
        return pb.SendMessageResponse(
            conversation_id=str(answer.conversation_id),
            session_id=answer.session_id,
            reply=answer.reply,
            lead_id=str(answer.lead_id) if answer.lead_id is not None else "",
            lead_score=answer.lead_score,
            session_token=answer.session_token,
        )

    def GetConversation(
        self, request: pb.GetConversationRequest, context: grpc.ServicerContext
    ) -> pb.GetConversationResponse:
        view = self._conversations.conversation(
            request.session_id,
            _metadata(context, SESSION_TOKEN_KEY),
            admin=self._admin_key.matches(_metadata(context, ADMIN_KEY_KEY)),
        )
        return pb.GetConversationResponse(
            conversation_id=str(view.conversation.id),
            session_id=view.conversation.session_id,
            email=view.conversation.email or "",
            messages=[
                pb.Message(
                    role=_ROLE[m.role],
                    text=m.text,
                    created_at=timestamp(m.created_at),
                    followup_number=m.followup_number,
                )
                for m in view.messages
            ],
        )

    def SendFollowup(
        self, request: pb.SendFollowupRequest, context: grpc.ServicerContext
    ) -> pb.SendFollowupResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id", "conversation")
        try:
            outcome = self._followups.send(conversation_id, request.followup_number, caller_identity(context))
        except InvalidArgument as error:
            # The contract declares followup_number >= 1 (checked before this); a number past this
            # deployment's FOLLOWUP_DELAYS names a follow-up that does not exist here.
            if error.field != "followup_number" or request.followup_number < 1:
                raise
            raise NotFound(f"no follow-up {request.followup_number} here: {error}") from None
        return pb.SendFollowupResponse(status=_OUTCOME[outcome])

    def ListDueFollowups(
        self, request: pb.ListDueFollowupsRequest, context: grpc.ServicerContext
    ) -> pb.ListDueFollowupsResponse:
        now = dt.datetime.now(dt.UTC)
        return pb.ListDueFollowupsResponse(
            followups=[
                pb.DueFollowup(
                    conversation_id=str(due.conversation_id),
                    session_id=due.session_id,
                    followup_number=due.number,
                    idle_seconds=(now - due.last_user_message_at).total_seconds(),
                )
                for due in self._followups.due(page_limit(request.page_size))
            ]
        )

    def RunDueFollowups(
        self, request: pb.RunDueFollowupsRequest, context: grpc.ServicerContext
    ) -> pb.RunDueFollowupsResponse:
        report = self._followups.run_due()
        return pb.RunDueFollowupsResponse(
            sent=report.sent,
            already_sent=report.already_sent,
            skipped_no_consent=report.skipped_no_consent,
            deferred=report.deferred,
        )


def _metadata(context: grpc.ServicerContext, key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return ""
