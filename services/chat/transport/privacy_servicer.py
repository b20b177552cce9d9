"""PrivacyService on the chat service: the person's conversations, messages and leads as JSON, and
their erasure."""

from __future__ import annotations

import json

import grpc

from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.chat.application.privacy import ChatPrivacy

SERVICE = "chat"


class ChatPrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, privacy: ChatPrivacy) -> None:
        self._privacy = privacy

    def ExportPersonalData(
        self, request: privacy_pb2.ExportPersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ExportPersonalDataResponse:
        document = self._privacy.export(request.email)
        return privacy_pb2.ExportPersonalDataResponse(
            service=SERVICE, document_json=json.dumps(document, ensure_ascii=False)
        )

    def ErasePersonalData(
        self, request: privacy_pb2.ErasePersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ErasePersonalDataResponse:
        return privacy_pb2.ErasePersonalDataResponse(
            service=SERVICE, counts=self._privacy.erase(request.email)
        )
