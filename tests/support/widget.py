"""Chat clients that behave like the widget: they keep the session token each new conversation's first
answer carries and send it with every later message and read of that session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc

SESSION_TOKEN_KEY = "x-session-token"
_CHAT = "/novahouse.chat.v1.ChatService/"


class SessionTokens(grpc.UnaryUnaryClientInterceptor):
    """A gRPC client interceptor: session id -> token, learnt from SendMessage answers."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        if method not in (f"{_CHAT}SendMessage", f"{_CHAT}GetConversation"):
            return continuation(client_call_details, request)
        metadata = list(client_call_details.metadata or ())
        with self._lock:
            token = self.tokens.get(request.session_id)
        if token and not any(key == SESSION_TOKEN_KEY for key, _ in metadata):
            metadata.append((SESSION_TOKEN_KEY, token))
        details = client_call_details._replace(metadata=metadata)
        outcome = continuation(details, request)
        if method.endswith("SendMessage") and outcome.exception() is None:
            answer = outcome.result()
            if answer.session_token:
                with self._lock:
                    self.tokens[answer.session_id] = answer.session_token
        return outcome


def widget_channel(address: str) -> grpc.Channel:
    """A channel to the chat service that carries each session's token like the widget does."""
    return grpc.intercept_channel(grpc.insecure_channel(address), SessionTokens())
