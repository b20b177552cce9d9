"""Monday.com: a GraphQL create_item mutation on the configured board.

Monday answers HTTP 200 even when the mutation failed, with an `errors` array (or, on older API
versions, an `error_code`): that is a permanent failure, never retried and never counted by the breaker.
"""

from __future__ import annotations

import json

import requests

from services.notifier.adapters.sinks.http import post
from services.notifier.domain.model import ErrorInfo, Message, MondayItem, PermanentFailure

CREATE_ITEM = (
    "mutation ($board: ID!, $name: String!, $columns: JSON) "
    "{ create_item (board_id: $board, item_name: $name, column_values: $columns) { id } }"
)
API_VERSION = "2025-04"


class MondayGraphQLSink:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        board_id: str,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self._url = api_url
        self._headers = {"Authorization": api_key, "API-Version": API_VERSION}
        self._board_id = board_id
        self._timeout = timeout
        self._session = session or requests.Session()

    def deliver(self, message: Message) -> None:
        assert isinstance(message, MondayItem)
        variables = {
            "board": self._board_id,
            "name": message.item_name,
            # Monday's JSON scalar takes the column values as a JSON-encoded string.
            "columns": json.dumps(message.column_values),
        }
        response = post(
            lambda: self._session.post(
                self._url,
                json={"query": CREATE_ITEM, "variables": variables},
                headers=self._headers,
                timeout=self._timeout,
            )
        )
        try:
            body = response.json()
        except ValueError:
            raise PermanentFailure(
                ErrorInfo("InvalidResponse", response.status_code, response.text[:500])
            ) from None
        errors = (
            body.get("errors") or body.get("error_code") if isinstance(body, dict) else "not a JSON object"
        )
        if errors:
            raise PermanentFailure(ErrorInfo("GraphQLError", response.status_code, json.dumps(errors)[:500]))
