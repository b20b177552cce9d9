"""Chat clients that behave like the widget: they keep the session token each new conversation's first
answer carries and send it with every later message and read of that session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
import httpx

SESSION_TOKEN_KEY = "x-session-token"
_CHAT = "/novahouse.chat.v1.ChatService/"
CHAT_PATH = "/api/chatbot/chat"
CONVERSATIONS_PATH = "/api/chatbot/conversations/"


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


class WidgetClient(httpx.Client):
    """An HTTP client of the gateway that keeps each chat session's token like the widget does: from
    the first answer of a conversation, sent as X-Session-Token with later messages and reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: dict[str, str] = {}
        self._tokens_lock = threading.Lock()

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        path = str(url)
        session = None
        if path.startswith(CHAT_PATH) and isinstance(kwargs.get("json"), dict):
            session = kwargs["json"].get("session_id")
        elif path.startswith(CONVERSATIONS_PATH):
            session = path.removeprefix(CONVERSATIONS_PATH).split("?")[0]
        with self._tokens_lock:
            token = self.tokens.get(session) if session else None
        headers = dict(kwargs.pop("headers", None) or {})
        if token and not any(name.lower() == "x-session-token" for name in headers):
            headers["X-Session-Token"] = token
        response = super().request(method, url, headers=headers, **kwargs)
        if path.startswith(CHAT_PATH) and response.status_code == 200:
            answer = response.json()
            if answer.get("session_token"):
                with self._tokens_lock:
                    self.tokens[answer["session_id"]] = answer["session_token"]
        return response
