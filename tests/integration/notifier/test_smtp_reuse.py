"""The SMTP sink keeps its relay connection between messages: one session for a run of messages, a
fresh one once the relay dropped the kept one (checked with NOOP before it carries a message) or it sat
idle too long."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from services.notifier.adapters.sinks import smtp as smtp_module
from services.notifier.adapters.sinks.smtp import SmtpSink
from services.notifier.domain.model import EmailMessage
from tests.support.network import free_port


class PeerRecorder:
    """Accepts every message and records the client connection (peer address) that carried it."""

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.subjects: list[str] = []

    async def handle_DATA(self, server: object, session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        content = (envelope.original_content or b"").decode(errors="replace")
        self.subjects.append(next(line for line in content.splitlines() if line.startswith("Subject:")))
        return "250 OK"


@pytest.fixture
def relay():
    recorder = PeerRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller
    controller.stop()


def mail(n: int) -> EmailMessage:
    return EmailMessage(to=f"client{n}@example.com", subject=f"Offer {n}", body="Dzień dobry")


def test_messages_share_one_relay_connection_until_it_drops_or_idles(relay, monkeypatch):
    recorder, controller = relay
    sink = SmtpSink("127.0.0.1", controller.port, "bot@novahouse.pl", security="none", timeout=5)
    for n in range(3):
        sink.deliver(mail(n))

    assert recorder.subjects == ["Subject: Offer 0", "Subject: Offer 1", "Subject: Offer 2"]
    assert len(set(recorder.peers)) == 1

    sink._client.sock.shutdown(socket.SHUT_RDWR)  # the kept connection is gone (as if the relay hung up)
    sink.deliver(mail(3))
    assert len(recorder.subjects) == 4
    assert len(set(recorder.peers)) == 2  # NOOP failed: a fresh connection carried it

    monkeypatch.setattr(smtp_module, "IDLE_SECONDS", 0.0)
    sink.deliver(mail(4))
    assert len(set(recorder.peers)) == 3  # idle too long: not reused
    sink.close()
    assert sink._client is None
