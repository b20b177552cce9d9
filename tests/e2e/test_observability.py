"""Observability of the running system, seen from outside: each process's metrics endpoint, traces at
an OTLP/HTTP receiver that follow a visitor through the outbox, JSON log lines, and a real Prometheus
(Debian's binary) scraping the four processes and answering queries."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.integration.runtime.test_metrics import sample
from tests.support.network import free_port
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.polling import eventually
from tests.support.system import ADMIN, Stack

EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
SERVICES = ("gateway", "consent", "notifier", "chat")
TRACED = {
    "LOG_FORMAT": "json",
    "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
}


@pytest.fixture(scope="module")
def receiver():
    running = OtlpReceiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ, receiver):
    environ = {**TRACED, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    with ExitStack() as exits:
        running = Stack(
            exits,
            str(tmp_path_factory.mktemp("e2e-observability")),
            sinks_environ,
            **{name: environ for name in SERVICES},
        )
        yield running
        running.close()


def scrape(stack: Stack, name: str) -> str:
    answer = httpx.get(f"http://127.0.0.1:{stack.metrics_ports[name]}/metrics", timeout=10)
    assert answer.status_code == 200
    return answer.text


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def test_metrics_show_the_calls_by_method_code_and_route_template_and_no_email(stack, http):
    email = "metrics.reader@example.com"
    assert http.post("/api/unsubscribe", json={"email": email}).status_code == 200
    refused = http.post("/api/unsubscribe", json={"email": "not-an-address"})
    assert refused.status_code == 400
    assert http.get(f"/api/unsubscribe/status/{email}", headers=ADMIN).status_code == 200
    assert http.get(f"/api/no-such-route/{email}").status_code == 404  # a raw path with an address
    assert http.get("/admin/static/console.css").status_code == 200  # a console page (Starlette's routes)

    consent = scrape(stack, "consent")
    ok = sample(consent, "grpc_server_handled_total", grpc_method="Unsubscribe", grpc_code="OK")
    assert ok >= 1
    assert sample(
        consent, "grpc_server_handled_total", grpc_method="Unsubscribe", grpc_code="InvalidArgument"
    )
    assert sample(consent, "novahouse_consent_changes_total", action="unsubscribe") >= 1

    gateway = scrape(stack, "gateway")
    assert sample(gateway, "http_requests_total", method="POST", route="/api/unsubscribe", status="400") >= 1
    status_route = "/api/unsubscribe/status/{email}"
    assert sample(gateway, "http_requests_total", method="GET", route=status_route, status="200") >= 1
    assert sample(gateway, "http_request_duration_seconds_count", method="GET", route=status_route) >= 1
    assert sample(gateway, "http_requests_total", method="GET", route="unmatched", status="404") >= 1
    console_route = "/admin/static/{name}"
    assert sample(gateway, "http_requests_total", method="GET", route=console_route, status="200") >= 1
    assert sample(gateway, "grpc_client_handled_total", grpc_method="Unsubscribe", grpc_code="OK") >= 1
    assert sample(gateway, "novahouse_gateway_rate_limit_decisions_total", decision="allowed") >= 1
    storage = "redis" if stack.environ["gateway"].get("REDIS_URL") else "memory"
    assert sample(gateway, "novahouse_gateway_rate_limit_storage", storage=storage) == 1

    notifier = scrape(stack, "notifier")
    assert sample(notifier, "novahouse_notifier_dlq_entries", channel="slack", status="pending") is not None
    assert sample(notifier, "novahouse_notifier_dlq_oldest_pending_seconds", channel="slack") is not None
    assert sample(notifier, "novahouse_breaker_state", breaker="slack", state="closed") == 1
    assert sample(notifier, "novahouse_breaker_state", breaker="slack", state="open") == 0

    chat = scrape(stack, "chat")
    assert sample(chat, "novahouse_chat_outbox_pending") is not None

    for name, text in (("consent", consent), ("gateway", gateway), ("notifier", notifier), ("chat", chat)):
        assert not EMAIL_PATTERN.search(text), name
        assert sample(text, "novahouse_metrics_scrape_errors_total") in (None, 0.0), name


def test_a_traceparent_continues_through_the_gateway_into_consent_and_its_sql(stack, http, receiver):
    assert http.post("/api/unsubscribe", json={"email": "traced.reader@example.com"}).status_code == 200
    trace_id, parent = traceparent()
    answer = http.get(
        "/api/unsubscribe/status/traced.reader@example.com", headers={**ADMIN, "traceparent": parent}
    )
    assert answer.status_code == 200

    def spans_by_service(found):
        return {span.service for span in found}

    spans = eventually(
        lambda: receiver.spans(trace_id),
        lambda found: (
            {"novahouse-gateway", "novahouse-consent"} <= spans_by_service(found)
            # The gateway's server span ends after its client span, so it may be exported later.
            and any(s.service == "novahouse-gateway" and s.kind == 2 for s in found)
            and any("db.system" in s.attributes or "db.system.name" in s.attributes for s in found)
        ),
        timeout=15,
    )
    [http_span] = [s for s in spans if s.service == "novahouse-gateway" and s.kind == 2]  # SERVER
    assert http_span.name == "GET /api/unsubscribe/status/{email}"  # the template, never the address
    assert http_span.parent_span_id == parent.split("-")[2]
    rpc = [s for s in spans if s.service == "novahouse-consent" and s.name.endswith("/GetConsentStatus")]
    assert rpc, [s.name for s in spans]
    sql = [s for s in spans if s.service == "novahouse-consent" and "db.system" in str(s.attributes)]
    assert sql, "no SQL span: the SQLAlchemy instrumentation did not run"
    if stack.environ["gateway"].get("REDIS_URL"):
        assert any(s.name == "EVALSHA" for s in spans if s.service == "novahouse-gateway")  # the rate limit
    for span in spans:
        assert "traced.reader@example.com" not in span.name


def test_a_hot_lead_is_handed_over_and_delivered_inside_the_visitors_trace(stack, http, receiver, sinks):
    slack, _, _ = sinks
    trace_id, parent = traceparent()
    answer = http.post(
        "/api/chatbot/chat",
        json={
            "message": "Mój telefon 601 234 567, budżet 150 tys zł, mieszkanie 70 m2",
            "session_id": "traced-visitor",
            "email": "traced.visitor@example.com",
            "marketing_consent": True,
            "rodo_consent": True,
        },
        headers={"traceparent": parent},
    )
    assert answer.status_code == 200, answer.text

    def complete(found):
        names = {(s.service, s.name) for s in found}
        return {
            ("novahouse-chat", "outbox.hand_over notifier.Notify"),
            ("novahouse-chat", "outbox.hand_over consent.RecordConsent"),
            ("novahouse-notifier", "/novahouse.notifier.v1.NotifierService/Notify"),
            ("novahouse-notifier", "notifier.deliver"),
        } <= names

    spans = eventually(lambda: receiver.spans(trace_id), complete, timeout=20)
    by_id = {s.span_id: s for s in spans}
    hand_over = next(s for s in spans if s.name == "outbox.hand_over notifier.Notify")
    # The hand-over's parent is the span of the request that queued it: the chat service's RPC.
    queued_by = by_id[hand_over.parent_span_id]
    assert (queued_by.service, queued_by.name) == (
        "novahouse-chat",
        "/novahouse.chat.v1.ChatService/SendMessage",
    )
    assert any(s.name == "outbox.hand_over consent.RecordConsent" for s in spans)
    notify = next(s for s in spans if s.service == "novahouse-notifier" and s.name.endswith("/Notify"))
    assert by_id[notify.parent_span_id].service == "novahouse-chat"  # the relay's client span
    delivery = next(s for s in spans if s.name == "notifier.deliver")
    assert delivery.attributes["notifier.channel"] in ("slack", "monday", "email")
    assert slack.wait_for(1)


def test_every_log_line_of_every_service_is_json_with_the_trace_id(stack, http):
    trace_id, parent = traceparent()
    assert http.get("/api/health", headers={"traceparent": parent}).status_code == 200
    assert http.post("/api/unsubscribe", json={"email": "json.reader@example.com"}).status_code == 200
    request_id = "json-log-check-1"
    answer = http.get(
        "/api/unsubscribe/status/json.reader@example.com",
        headers={**ADMIN, "traceparent": parent, "X-Request-ID": request_id},
    )
    assert answer.status_code == 200

    def records(name):
        lines = stack.processes[name].output().splitlines()
        return [json.loads(line) for line in lines if line.strip()]  # raises on any non-JSON line

    for name in SERVICES:
        parsed = records(name)
        assert parsed, name
        for record in parsed:
            assert {"time", "level", "logger", "message", "service", "request_id", "trace_id"} <= set(record)
            assert record["service"] == name
    access = eventually(
        lambda: [r for r in records("gateway") if r["request_id"] == request_id],
        lambda found: len(found) >= 1,
    )
    assert access[0]["trace_id"] == trace_id
    calls = eventually(
        lambda: [r for r in records("consent") if r["request_id"] == request_id],
        lambda found: len(found) >= 1,
    )
    assert calls[0]["trace_id"] == trace_id


# --- a real Prometheus --------------------------------------------------------------------------------


class Prometheus:
    """Debian's prometheus binary on a free loopback port, scraping the stack every second."""

    def __init__(self, exits: ExitStack, stack: Stack) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("the prometheus binary is missing: apt-get install prometheus (.ci/run does)")
        directory = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="prometheus-")))
        jobs = [
            {
                "job_name": f"novahouse-{name}",
                "static_configs": [{"targets": [f"127.0.0.1:{stack.metrics_ports[name]}"]}],
            }
            for name in SERVICES
        ]
        rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": jobs,
        }
        (directory / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        exits.callback(self.stop)
        self._log_path = directory / "prometheus.log"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start:\n{self._log_path.read_text()}")
            time.sleep(0.2)

    def query(self, expression: str) -> list[dict]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expression: str) -> float | None:
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def prometheus(stack):
    with ExitStack() as exits:
        yield Prometheus(exits, stack)


def test_a_real_prometheus_scrapes_all_four_and_answers_the_operators_queries(stack, http, sinks, prometheus):
    slack, _, _ = sinks
    up = eventually(
        lambda: prometheus.query('up{job=~"novahouse-.*"}'),
        lambda result: len(result) == 4 and all(r["value"][1] == "1" for r in result),
    )
    assert {r["metric"]["job"] for r in up} == {f"novahouse-{name}" for name in SERVICES}

    assert http.post("/api/unsubscribe", json={"email": "prometheus.reader@example.com"}).status_code == 200
    handled = eventually(
        lambda: prometheus.value('sum(grpc_server_handled_total{grpc_method="Unsubscribe",grpc_code="OK"})'),
        lambda value: value is not None and value >= 1,
    )
    assert handled >= 1

    slack.answer("error")  # Slack is down: hot-lead alerts wait in the DLQ and the breaker opens
    try:
        for n in range(4):
            answer = http.post(
                "/api/chatbot/chat",
                json={
                    "message": f"lead{n}@example.com, tel. 601 234 {n:03d}, budżet 120 tys zł",
                    "session_id": f"prometheus-outage-{n}",
                },
            )
            assert answer.status_code == 200
        pending = eventually(
            lambda: prometheus.value('sum(novahouse_notifier_dlq_entries{channel="slack",status="pending"})'),
            lambda value: value is not None and value >= 1,
            timeout=30,
        )
        assert pending >= 1
        opened = eventually(
            lambda: prometheus.value(
                'max_over_time(novahouse_breaker_state{breaker="slack",state="open"}[1m])'
            ),
            lambda value: value == 1,
            timeout=30,
        )
        assert opened == 1
        assert prometheus.value('novahouse_breaker_state{breaker="monday",state="closed"}') == 1
    finally:
        slack.answer("ok")
    eventually(
        lambda: prometheus.value('sum(novahouse_notifier_dlq_entries{channel="slack",status="pending"})'),
        lambda value: value == 0,
        timeout=40,
    )
    assert not prometheus.query('{__name__=~".+", email!=""}')  # no label carries an address
