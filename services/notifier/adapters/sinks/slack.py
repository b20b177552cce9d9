"""Slack incoming webhooks: POST {"text": ...}; Slack answers 200 "ok" or a 4xx/5xx with a reason."""

from __future__ import annotations

from services.notifier.adapters.sinks.http import HttpClient
from services.notifier.domain.model import Message, SlackMessage


class SlackWebhookSink:
    def __init__(self, webhook_url: str, timeout: float, client: HttpClient | None = None) -> None:
        self.client = client or HttpClient(webhook_url, timeout)

    def deliver(self, message: Message) -> None:
        assert isinstance(message, SlackMessage)
        self.client.post({"text": message.text})

    def close(self) -> None:
        self.client.close()
