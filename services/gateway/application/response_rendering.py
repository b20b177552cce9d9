"""An RPC's response message as the HTTP response body."""

from __future__ import annotations

import json

from google.protobuf.message import Message

from services.gateway.application.contracts import HttpBinding
from services.gateway.application.json_values import message_to_json


class ResponseRenderer:
    """A response message as JSON: proto field names, fields with default values printed."""

    def __init__(self, binding: HttpBinding) -> None:
        self._field = binding.response_body or None

    def render(self, message: Message) -> bytes:
        document = message_to_json(message)
        body = document if self._field is None else document.get(self._field)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
