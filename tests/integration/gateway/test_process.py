"""`python -m services.gateway` as operators run it: replicas sharing one Redis budget, a graceful
SIGTERM, the access log, and a refusal to start on a malformed setting."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.support.gateway import GatewayProcess
from tests.support.processes import run_module


@pytest.fixture
def processes():
    started: list[GatewayProcess] = []

    def start(environ: dict[str, str]) -> GatewayProcess:
        process = GatewayProcess(environ)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.close()


def test_two_gateway_processes_on_one_redis_share_one_budget(processes, upstream_environ, redis_url, chat):
    environ = {**upstream_environ, "REDIS_URL": redis_url, "CHAT_RATE_LIMIT": "6 per hour"}
    replicas = [processes(environ), processes(environ)]
    for replica in replicas:
        replica.wait_serving()
    statuses = []
    for n in range(10):
        replica = replicas[n % 2]
        response = httpx.post(f"{replica.url}/api/chatbot/chat", json={"message": "hi", "session_id": "s"})
        statuses.append(response.status_code)
    assert statuses == [200] * 6 + [429] * 4
    assert chat.servicer.count("SendMessage") == 6


def test_sigterm_stops_it_gracefully_and_every_request_was_logged(processes, upstream_environ):
    gateway = processes({**upstream_environ, "LOG_LEVEL": "info"}).wait_serving()
    response = httpx.get(
        f"{gateway.url}/api/chatbot/conversations/s-7", headers={"X-Request-ID": "req-log-1"}
    )
    assert response.status_code == 200
    assert gateway.stop() == 0
    output = gateway.output()
    assert "http GET /api/chatbot/conversations/{session_id} 200 " in output
    assert "request_id=req-log-1 client=127.0.0.1" in output
    assert "gateway stopped" in output
    assert "Traceback" not in output


def run_gateway(environ: dict[str, str]) -> subprocess.CompletedProcess:
    return run_module("services.gateway", environ)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"CHAT_RATE_LIMIT": "lots"}, "CHAT_RATE_LIMIT"),
        ({"ADMIN_API_KEY": "short"}, "ADMIN_API_KEY"),
        ({"GATEWAY_METRICS_PORT": "-1"}, "GATEWAY_METRICS_PORT"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_a_malformed_setting_stops_it_with_one_line_naming_the_variable(environ, variable):
    """Every variable's validation is unit-tested (tests/unit/gateway/test_settings.py); this is the
    command line around it."""
    result = run_gateway(environ)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gateway: configuration error: {variable}: expected ")
    assert "short'" not in lines[0]  # secrets are never printed
