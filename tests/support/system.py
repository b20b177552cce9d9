"""The whole system as an operator runs it: four processes (`python -m services.<name>`) on free ports,
against PostgreSQL and Redis when the run has them (SQLite and memory otherwise). Used by the e2e and
the fault suites."""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack

import grpc
from sqlalchemy.engine import URL

from services.runtime.db import normalise_url
from tests.support.databases import fresh_postgres_database, postgres_admin_url, postgres_reachable
from tests.support.network import free_port, wait_until_http_ok
from tests.support.processes import ServiceProcess
from tests.support.reflection import ReflectionClient
from tests.support.services import PSEUDONYM_KEY

ADMIN_KEY = "e2e-admin-key-0123456789-0123456789"
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
                # Confirmation emails of marketing grants go out through the notifier, with links to
                # the gateway.
                "NOTIFIER_ADDR": addresses["NOTIFIER_ADDR"],
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
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
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
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


def hot_lead(http, session: str, n: int) -> dict:
    message = f"lead{n}@example.com, tel. 601 234 {n:03d}, budżet 120 tys zł"
    answer = http.post("/api/chatbot/chat", json={"message": message, "session_id": session})
    assert answer.status_code == 200, answer.text
    return answer.json()


def alerted_leads(slack) -> list[str]:
    """Lead ids in the alerts Slack accepted, in order (one per delivery)."""
    return [body["text"].split("#")[1].split(" ")[0] for body in slack.delivered()]


def dependency(stack: Stack, service: str, name: str) -> dict:
    """One dependency from a service's diagnostics, e.g. ("chat", "outbox") -> {"detail": ...}."""
    diagnostics = stack.grpc(service).call("novahouse.runtime.v1.DiagnosticsService/GetDiagnostics", {})
    return next(d for d in diagnostics["dependencies"] if d["name"] == name)
