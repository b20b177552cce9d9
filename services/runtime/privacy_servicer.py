"""PrivacyService for a service whose use case already answers the person's data as a JSON-ready
document and erases it with counts (chat, notifier); consent shapes its own document."""

from __future__ import annotations

import json
from typing import Protocol

import grpc

from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc


class PersonalData(Protocol):
    def export(self, email: str) -> dict: ...

    def erase(self, email: str) -> dict[str, int]: ...


class JsonPrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, service: str, privacy: PersonalData) -> None:
        self._service = service
        self._privacy = privacy

    def ExportPersonalData(
        self, request: privacy_pb2.ExportPersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ExportPersonalDataResponse:
        document = self._privacy.export(request.email)
        return privacy_pb2.ExportPersonalDataResponse(
            service=self._service, document_json=json.dumps(document, ensure_ascii=False)
        )

    def ErasePersonalData(
        self, request: privacy_pb2.ErasePersonalDataRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.ErasePersonalDataResponse:
        return privacy_pb2.ErasePersonalDataResponse(
            service=self._service, counts=self._privacy.erase(request.email)
        )
