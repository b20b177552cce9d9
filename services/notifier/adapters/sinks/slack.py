"""Slack incoming webhooks: POST {"text": ...}; Slack answers 200 "ok" or a 4xx/5xx with a reason."""

from __future__ import annotations

import requests

from services.notifier.adapters.sinks.http import post
from services.notifier.domain.model import Message, SlackMessage


class SlackWebhookSink:
    def __init__(self, webhook_url: str, timeout: float, session: requests.Session | None = None) -> None:
        self._url = webhook_url
        self._timeout = timeout
        self._session = session or requests.Session()

    def deliver(self, message: Message) -> None:
        assert isinstance(message, SlackMessage)
        post(lambda: self._session.post(self._url, json={"text": message.text}, timeout=self._timeout))
