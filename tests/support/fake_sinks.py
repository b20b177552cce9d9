"""Stand-ins for Slack, Monday.com and the mail relay that speak the real protocols on loopback.

Each records what reached it and can be told how to answer: the way Slack and Monday answer when they
are fine, down (500), rate limiting (429 with Retry-After), rejecting the payload (400 invalid_payload,
or Monday's 200 with an `errors` array), or hanging until released.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.support.network import free_port

ESCALATION_EMAIL = "ops@novahouse.example.com"


@dataclass(frozen=True)
class Behaviour:
    """How to answer: 'ok', 'error' (500), 'rate-limited' (429), 'invalid' (400 invalid_payload),
    'graphql-errors' (200 with errors), 'unauthorized' (401) or 'hang'."""

    mode: str = "ok"
    retry_after: str = "1"
    delay: float = 0.0  # seconds between receiving a request and answering it


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict
    accepted: bool = False  # answered as a success; a hung request never is (its client gave up)


class FakeHttpSink:
    """A Slack incoming webhook (kind='slack'), a Monday GraphQL endpoint (kind='monday') or an
    OpenAI-compatible chat-completions endpoint (kind='llm')."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        path = {"slack": "services/T0/B0/x", "monday": "v2", "llm": "v1/chat/completions"}[kind]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def answer(self, mode: str, *, retry_after: str = "1", delay: float = 0.0) -> None:
        self.behaviour = Behaviour(mode, retry_after, delay)
        if mode != "hang":
            self._release.clear()

    def release(self) -> None:
        """Lets every hanging request finish (it then answers 200, after its client gave up)."""
        self._release.set()

    def delivered(self) -> list[dict]:
        """Bodies the fake accepted (answered 2xx without an error payload)."""
        with self._lock:
            return [r.body for r in self.received if r.accepted]

    def deliveries_per_key(self, key_of: Callable[[dict], str]) -> Counter:
        return Counter(key_of(body) for body in self.delivered())

    def hits(self) -> int:
        with self._lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            delivered = self.delivered()
            if len(delivered) >= count:
                return delivered
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind}: {len(self.delivered())} deliveries, expected {count}")

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                behaviour = sink.behaviour
                record = Received(self.path, dict(self.headers.items()), body)
                with sink._lock:
                    sink.received.append(record)
                if behaviour.mode == "hang":
                    sink._release.wait(30)
                    return
                time.sleep(behaviour.delay)
                status, headers, payload = sink._response(behaviour)
                record.accepted = behaviour.mode == "ok"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up
                    self.wfile.write(payload)

        return Handler

    def _response(self, behaviour: Behaviour) -> tuple[int, dict[str, str], bytes]:
        if behaviour.mode == "error":
            return 500, {}, b"internal_error"
        if behaviour.mode == "rate-limited":
            return 429, {"Retry-After": behaviour.retry_after}, b"rate_limited"
        if behaviour.mode == "invalid":
            return 400, {}, b"invalid_payload"
        if behaviour.mode == "unauthorized":
            return 401, {}, b"invalid_token"
        if self.kind == "llm":
            completion = {
                "choices": [{"message": {"role": "assistant", "content": "LLM: Dzień dobry, w czym pomóc?"}}]
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(completion).encode()
        if self.kind == "monday":
            if behaviour.mode == "graphql-errors":
                errors = {"errors": [{"message": "Column value is invalid"}], "account_id": 1}
                return 200, {"Content-Type": "application/json"}, json.dumps(errors).encode()
            created = {"data": {"create_item": {"id": str(len(self.received))}}, "account_id": 1}
            return 200, {"Content-Type": "application/json"}, json.dumps(created).encode()
        return 200, {"Content-Type": "text/plain"}, b"ok"


@dataclass
class Mail:
    mail_from: str
    recipients: list[str]
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _SmtpHandler:
    mode: str = "ok"  # 'ok', 'temporary' (451), 'permanent' (550) or 'refuse-recipient' (550 naming it)
    messages: list[Mail] = field(default_factory=list)

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, rcpt_options: list
    ) -> str:
        if self.mode == "refuse-recipient":  # as relays do: the refusal names the address
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        if self.mode == "temporary":
            return "451 4.3.0 Mail server temporarily unavailable"
        if self.mode == "permanent":
            return "550 5.1.1 Mailbox unavailable"
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append(
            Mail(
                mail_from=envelope.mail_from or "",
                recipients=list(envelope.rcpt_tos),
                subject=str(parsed["Subject"]),
                body=parsed.get_content().replace("\r\n", "\n"),  # SMTP sends CRLF line ends
                headers={name: str(value) for name, value in parsed.items()},
            )
        )
        return "250 OK"


class FakeSmtpServer:
    """A real SMTP server (aiosmtpd) on loopback recording every message it accepts; over TLS from the
    first byte with `ssl_context`, offering STARTTLS with `tls_context`."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._handler = _SmtpHandler()
        self.port = free_port()
        extra: dict[str, Any] = {"tls_context": tls_context} if tls_context is not None else {}
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, ssl_context=ssl_context, **extra
        )
        self._controller.start()

    @property
    def messages(self) -> list[Mail]:
        return list(self._handler.messages)

    def answer(self, mode: str) -> None:
        self._handler.mode = mode

    def clear(self) -> None:
        """Forgets what was received so far (e.g. a confirmation email already acted on)."""
        self._handler.messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self._handler.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise TimeoutError(f"smtp: {len(self._handler.messages)} messages, expected {count}")

    def close(self) -> None:
        self._controller.stop()
