"""The whole system as an operator runs it: four processes (`python -m services.<name>`) on free ports,
against PostgreSQL and Redis when the run has them (SQLite and memory otherwise), with fake Slack,
Monday and SMTP servers. Tests drive it only from outside: HTTP to the gateway, and gRPC through
server reflection as grpcurl does."""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack

import grpc
import httpx
import pytest
from sqlalchemy.engine import URL

from services.runtime.db import normalise_url
from tests.support.databases import fresh_postgres_database, postgres_admin_url, postgres_reachable
from tests.support.fake_sinks import FakeHttpSink, FakeSmtpServer
from tests.support.network import free_port, wait_until_http_ok
from tests.support.processes import ServiceProcess
from tests.support.reflection import ReflectionClient
from tests.support.services import PSEUDONYM_KEY

ADMIN_KEY = "e2e-admin-key-0123456789"
ADMIN = {"X-ADMIN-API-KEY": ADMIN_KEY}


class Stack:
    """Four service processes; any of them can be killed and started again on its port."""

    def __init__(
        self,
        exits: ExitStack,
        var_dir: str,
        sinks: dict[str, str],
        *,
        postgres: URL | None = None,
        redis_url: str | None = None,
        **overrides: dict[str, str],
    ) -> None:
        """Databases go to `postgres` (an admin URL) and limits and caches to `redis_url` when given,
        else to TEST_DATABASE_URL and TEST_REDIS_URL when those are set."""
        admin = postgres or postgres_admin_url()
        use_postgres = admin is not None and postgres_reachable(admin)
        redis_url = redis_url or os.environ.get("TEST_REDIS_URL", "").strip()
        self.backend = "postgresql" if use_postgres else "sqlite"

        def database(name: str) -> str:
            if use_postgres:
                url = exits.enter_context(fresh_postgres_database(admin, f"e2e_{name}"))
            else:
                url = normalise_url(f"sqlite:///{var_dir}/{name}.db")
            return url.render_as_string(hide_password=False)

        ports = {name: free_port() for name in ("consent", "notifier", "chat", "gateway")}
        addresses = {
            f"{name.upper()}_ADDR": f"127.0.0.1:{ports[name]}" for name in ("consent", "notifier", "chat")
        }
        common = {"VAR_DIR": var_dir, "LOG_LEVEL": "info"}
        if redis_url:
            common |= {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": f"e2e-{uuid.uuid4().hex[:10]}"}
        self.environ = {
            "consent": {
                **common,
                "CONSENT_PORT": str(ports["consent"]),
                "CONSENT_DATABASE_URL": database("consent"),
                "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
            },
            "notifier": {
                **common,
                **sinks,
                "NOTIFIER_PORT": str(ports["notifier"]),
                "NOTIFIER_DATABASE_URL": database("notifier"),
                "CB_FAIL_MAX": "3",
                "CB_RESET_TIMEOUT": "2",
                "SINK_TIMEOUT_SECONDS": "1",
                "DLQ_RETRY_MINUTES": "0.01",
                "DLQ_BACKOFF_SECONDS": "0.2",
                "DLQ_BACKOFF_MAX_SECONDS": "1",
                "DLQ_LEASE_SECONDS": "3",
            },
            "chat": {
                **common,
                **addresses,
                "CHAT_PORT": str(ports["chat"]),
                "CHAT_DATABASE_URL": database("chat"),
                "UPSTREAM_TIMEOUT_SECONDS": "2",
                "FOLLOWUP_SCAN_SECONDS": "0.5",
                "OUTBOX_RELAY_SECONDS": "0.3",
                "OUTBOX_BACKOFF_SECONDS": "0.2",
                "OUTBOX_BACKOFF_MAX_SECONDS": "1",
                "OUTBOX_LEASE_SECONDS": "5",
            },
            "gateway": {
                **common,
                **addresses,
                "GATEWAY_PORT": str(ports["gateway"]),
                "ADMIN_API_KEY": ADMIN_KEY,
                "TRUSTED_PROXIES": "127.0.0.1/32",  # the tests stand in for the load balancer
                "CHAT_RATE_LIMIT": "1000/minute",
                "API_RATE_LIMIT_HOUR": "10000/hour",
                "API_RATE_LIMIT_MINUTE": "1000/minute",
            },
        }
        # Each process's own metrics endpoint (docs/observability.md), on a free port.
        self.metrics_ports = {name: free_port() for name in self.environ}
        for name, port in self.metrics_ports.items():
            self.environ[name][f"{name.upper()}_METRICS_PORT"] = str(port)
        for name, extra in overrides.items():
            self.environ[name] |= extra
        self.ports = ports
        self.url = f"http://127.0.0.1:{ports['gateway']}"
        self.processes: dict[str, ServiceProcess] = {}
        for name in ("consent", "notifier", "chat", "gateway"):
            self.start(name)

    def start(self, name: str) -> None:
        process = ServiceProcess(name, self.environ[name], port=self.ports[name]).start()
        self.processes[name] = process
        if name == "gateway":
            wait_until_http_ok(self.url + "/api/health")
        else:
            process.wait_serving()

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful anything."""
        self.processes[name].kill()

    def grpc(self, name: str) -> ReflectionClient:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.ports[name]}")
        return ReflectionClient(channel)

    def close(self) -> None:
        for name in ("gateway", "chat", "notifier", "consent"):
            if name in self.processes:
                self.processes[name].stop()
                self.processes[name].close()


@pytest.fixture(scope="module")
def sinks():
    slack, monday, smtp = FakeHttpSink("slack"), FakeHttpSink("monday"), FakeSmtpServer()
    yield slack, monday, smtp
    slack.close()
    monday.close()
    smtp.close()


@pytest.fixture(scope="module")
def sinks_environ(sinks) -> dict[str, str]:
    slack, monday, smtp = sinks
    return {
        "SLACK_WEBHOOK_URL": slack.url,
        "MONDAY_API_URL": monday.url,
        "MONDAY_API_KEY": "e2e-monday-key",
        "MONDAY_BOARD_ID": "777",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "hello@novahouse.example.com",
    }


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        yield client
