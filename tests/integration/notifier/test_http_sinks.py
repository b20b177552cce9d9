"""The Slack and Monday sinks' HTTP client against loopback servers: one kept-alive connection reused by
every delivery, and what a refused connection, a timeout or a bad URL means for the delivery."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notifier.adapters.sinks.http import HttpClient
from services.notifier.adapters.sinks.monday import MondayGraphQLSink
from services.notifier.adapters.sinks.slack import SlackWebhookSink
from services.notifier.domain.model import (
    MondayItem,
    PermanentFailure,
    RateLimited,
    RetryableFailure,
    SlackMessage,
)
from tests.support.network import free_port


class KeepAliveServer:
    """Answers every POST with `status` over HTTP/1.1 keep-alive; counts connections and requests."""

    def __init__(self, status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None) -> None:
        self.connections = 0
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                server.headers.append(dict(self.headers.items()))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def serve():
    servers: list[KeepAliveServer] = []

    def start(*args, **kwargs) -> KeepAliveServer:
        servers.append(KeepAliveServer(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_every_delivery_of_a_sink_reuses_one_pooled_connection(serve):
    server = serve()
    sink = SlackWebhookSink(server.url, timeout=5)
    for n in range(20):
        sink.deliver(SlackMessage(f"Hot lead #{n}"))

    assert len(server.bodies) == 20
    assert server.bodies[3] == b'{"text": "Hot lead #3"}'
    assert server.headers[0]["Content-Type"] == "application/json"
    assert server.connections == 1


def test_monday_sends_its_headers_on_the_pooled_connection_and_reads_graphql_errors(serve):
    fine = serve(body=b'{"data": {"create_item": {"id": "1"}}}')
    sink = MondayGraphQLSink(fine.url, "api-key", "42", timeout=5)
    sink.deliver(MondayItem("Lead 1", {"status": "new"}))
    sink.deliver(MondayItem("Lead 2", {}))

    assert fine.connections == 1
    assert (fine.headers[1]["Authorization"], fine.headers[1]["API-Version"]) == ("api-key", "2025-04")
    rejected = serve(body=b'{"errors": [{"message": "Column value is invalid"}]}')
    with pytest.raises(PermanentFailure, match="Column value is invalid"):
        MondayGraphQLSink(rejected.url, "api-key", "42", timeout=5).deliver(MondayItem("Lead 3", {}))


@pytest.mark.parametrize(
    ("status", "headers", "failure", "kind"),
    [
        (500, {}, RetryableFailure, "HTTPError"),
        (429, {"Retry-After": "7"}, RateLimited, "HTTPError"),
        (400, {}, PermanentFailure, "HTTPError"),
        (302, {"Location": "http://127.0.0.1:1/"}, PermanentFailure, "HTTPError"),
    ],
)
def test_an_answer_other_than_2xx_is_classified(serve, status, headers, failure, kind):
    server = serve(status=status, body=b"invalid_payload", headers=headers)
    with pytest.raises(failure) as raised:
        HttpClient(server.url, timeout=5).post({"text": "x"})

    assert (raised.value.info.kind, raised.value.info.status) == (kind, status)
    if failure is RateLimited:
        assert raised.value.retry_after == 7.0


def test_a_refused_connection_and_a_silent_server_are_retryable_and_a_bad_url_permanent():
    with pytest.raises(RetryableFailure) as refused:
        HttpClient(f"http://127.0.0.1:{free_port()}/hook", timeout=2).post({"text": "x"})
    assert refused.value.info.kind == "ConnectionError"

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    with silent, pytest.raises(RetryableFailure) as timed_out:
        HttpClient(f"http://127.0.0.1:{silent.getsockname()[1]}/hook", timeout=0.3).post({"text": "x"})
    assert timed_out.value.info.kind == "Timeout"

    for url in ("http://[::1/hook", "http://127.0.0.1:99999/hook"):
        with pytest.raises(PermanentFailure) as invalid:
            HttpClient(url, timeout=1).post({"text": "x"})
        assert invalid.value.info.kind == "InvalidURL"
