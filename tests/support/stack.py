"""The three gRPC services together, in-process: real consent and notifier (fake Slack, Monday and
SMTP behind it) and chat wired to both."""

from __future__ import annotations

import grpc

from novahouse.chat.v1 import chat_pb2_grpc
from novahouse.consent.v1 import consent_pb2_grpc
from services.runtime.service_main import RunningService
from tests.support.network import free_port
from tests.support.services import (
    chat_environ,
    consent_environ,
    notifier_environ,
    start_chat,
    start_consent,
    start_notifier,
)
from tests.support.widget import widget_channel

PUBLIC_BASE_URL = "https://novahouse.example.com"


class ChatStack:
    """consent + notifier + chat; consent can be stopped and started again on its port."""

    def __init__(
        self,
        databases,
        var_dir: str,
        sinks_environ: dict[str, str],
        notifier_overrides: dict[str, str] | None = None,
        **chat_overrides: str,
    ) -> None:
        # Each service's database URL, for tests that look inside.
        self.database_urls = {name: databases(name) for name in ("consent", "notifier", "chat")}
        # The notifier's retry job delivers what concurrent callers found its channel busy for.
        self.notifier_service = start_notifier(
            notifier_environ(
                self.database_urls["notifier"],
                var_dir,
                **{
                    "SCHEDULER_ENABLED": "true",
                    "DLQ_RETRY_MINUTES": "0.005",
                    **sinks_environ,
                    **(notifier_overrides or {}),
                },
            )
        )
        # Consent sends the confirmation emails of marketing grants through the notifier.
        self._consent_environ = consent_environ(
            self.database_urls["consent"],
            var_dir,
            CONSENT_PORT=str(free_port()),
            NOTIFIER_ADDR=f"127.0.0.1:{self.notifier_service.port}",
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        )
        self.consent_service: RunningService | None = start_consent(self._consent_environ)
        self.consent_address = f"127.0.0.1:{self.consent_service.port}"
        self.chat_environ = chat_environ(
            self.database_urls["chat"],
            var_dir,
            CONSENT_ADDR=self.consent_address,
            NOTIFIER_ADDR=f"127.0.0.1:{self.notifier_service.port}",
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            **chat_overrides,
        )
        self.chat_service = start_chat(self.chat_environ)
        self._channels = [
            grpc.insecure_channel(self.consent_address),
            widget_channel(f"127.0.0.1:{self.chat_service.port}"),
        ]
        self.consent = consent_pb2_grpc.ConsentServiceStub(self._channels[0])
        self.chat = chat_pb2_grpc.ChatServiceStub(self._channels[1])

    def stop_consent(self) -> None:
        self.consent_service.stop()
        self.consent_service = None

    def start_consent(self) -> None:
        self.consent_service = start_consent(self._consent_environ)

    @property
    def addresses(self) -> dict[str, str]:
        """The *_ADDR variables a client of the three services needs."""
        return {
            "CONSENT_ADDR": self.consent_address,
            "NOTIFIER_ADDR": f"127.0.0.1:{self.notifier_service.port}",
            "CHAT_ADDR": f"127.0.0.1:{self.chat_service.port}",
        }

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        for running in (self.chat_service, self.notifier_service, self.consent_service):
            if running is not None:
                running.stop()
