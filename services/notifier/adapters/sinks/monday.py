"""Monday.com: a GraphQL create_item mutation on the configured board.

Monday answers HTTP 200 even when the mutation failed, with an `errors` array (or, on older API
versions, an `error_code`): that is a permanent failure, never retried and never counted by the breaker.
"""

from __future__ import annotations

import json

from services.notifier.adapters.sinks.http import HttpClient
from services.notifier.domain.model import ErrorInfo, Message, MondayItem, PermanentFailure

CREATE_ITEM = (
    "mutation ($board: ID!, $name: String!, $columns: JSON) "
    "{ create_item (board_id: $board, item_name: $name, column_values: $columns) { id } }"
)
API_VERSION = "2025-04"


class MondayGraphQLSink:
    def __init__(
        self, api_url: str, api_key: str, board_id: str, timeout: float, client: HttpClient | None = None
    ) -> None:
        self._board_id = board_id
        self.client = client or HttpClient(
            api_url, timeout, headers={"Authorization": api_key, "API-Version": API_VERSION}
        )

    def deliver(self, message: Message) -> None:
        assert isinstance(message, MondayItem)
        variables = {
            "board": self._board_id,
            "name": message.item_name,
            # Monday's JSON scalar takes the column values as a JSON-encoded string.
            "columns": json.dumps(message.column_values),
        }
        reply = self.client.post({"query": CREATE_ITEM, "variables": variables})
        try:
            body = reply.json()
        except ValueError:
            raise PermanentFailure(ErrorInfo("InvalidResponse", reply.status, reply.text[:500])) from None
        errors = (
            body.get("errors") or body.get("error_code") if isinstance(body, dict) else "not a JSON object"
        )
        if errors:
            raise PermanentFailure(ErrorInfo("GraphQLError", reply.status, json.dumps(errors)[:500]))

    def close(self) -> None:
        self.client.close()
