"""`python -m services.consent` as an operator runs it: reflection, health, SIGTERM, bad settings."""

from __future__ import annotations

import socket
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2

from services.consent.bootstrap import MIGRATIONS
from services.runtime.migrations import head_revision
from tests.support.network import free_port, health_status
from tests.support.processes import ServiceProcess, run_module
from tests.support.reflection import ReflectionClient
from tests.support.services import PSEUDONYM_KEY

CONSENT = "novahouse.consent.v1.ConsentService"


@pytest.fixture
def consent_process(consent_database, tmp_path):
    port = free_port()
    process = ServiceProcess(
        "consent",
        {
            "CONSENT_PORT": str(port),
            "CONSENT_DATABASE_URL": consent_database.render_as_string(hide_password=False),
            "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "VAR_DIR": str(tmp_path),
        },
        port=port,
    )
    yield process.start().wait_serving()
    process.close()


def test_reflection_health_and_a_call_as_grpcurl_makes_it(consent_process):
    with grpc.insecure_channel(consent_process.address) as channel:
        client = ReflectionClient(channel)
        assert {CONSENT, "grpc.health.v1.Health"} <= set(client.list_services())
        assert client.describe(CONSENT)["Unsubscribe"] == (
            "novahouse.consent.v1.UnsubscribeRequest",
            "novahouse.consent.v1.UnsubscribeResponse",
        )
        answer = client.call(f"{CONSENT}/Unsubscribe", {"email": "Ops@Example.com", "reason": "grpcurl"})
    assert answer == {
        "success": True,
        "message": "Successfully unsubscribed from marketing emails",
        "email": "ops@example.com",
    }
    assert health_status(consent_process.address, CONSENT) == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_stops_it_cleanly(consent_process):
    assert consent_process.stop() == 0
    output = consent_process.output()
    assert "consent received SIGTERM, shutting down" in output
    assert "consent stopped" in output
    assert health_status(consent_process.address) is None


def run_consent(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_module("services.consent", environ, *args)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"CONSENT_PORT": "fifty"}, "CONSENT_PORT"),
        ({"CONSENT_DATABASE_URL": "mysql://root@localhost/consent"}, "CONSENT_DATABASE_URL"),
        ({"AUTO_MIGRATE": "sometimes"}, "AUTO_MIGRATE"),
        ({"CONSENT_PSEUDONYM_KEY": "short"}, "CONSENT_PSEUDONYM_KEY"),
        ({"CONSENT_DATABASE_URL": "postgresql://postgres@127.0.0.1/consent"}, "CONSENT_PSEUDONYM_KEY"),
        ({"CONSENT_METRICS_PORT": "ninety"}, "CONSENT_METRICS_PORT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_a_bad_setting_stops_it_with_one_line_naming_the_variable(environ, variable, tmp_path):
    result = run_consent({"VAR_DIR": str(tmp_path), **environ})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"consent: configuration error: {variable}: expected ")
    assert "short" not in lines[0]  # a secret is never echoed back


def test_a_metrics_port_that_is_taken_stops_it_at_start_naming_the_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_consent(
            {"VAR_DIR": str(tmp_path), "CONSENT_PORT": str(free_port()), "CONSENT_METRICS_PORT": str(port)}
        )
    assert result.returncode == 2
    assert (
        f"consent: configuration error: CONSENT_METRICS_PORT: expected a free port on 127.0.0.1, got '{port} "
        in result.stderr
    )
    assert "serving on" not in result.stderr  # nothing was started


def test_without_auto_migrate_it_refuses_an_unmigrated_database(tmp_path):
    result = run_consent(
        {"VAR_DIR": str(tmp_path), "AUTO_MIGRATE": "false", "CONSENT_PORT": str(free_port())}
    )
    head = head_revision(MIGRATIONS.script_location, MIGRATIONS.version_table)
    assert result.returncode == 1
    assert f"database schema is at nothing, this release needs {head}" in result.stderr
    migrated = run_consent({"VAR_DIR": str(tmp_path)}, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from empty to {head}" in migrated.stderr


def test_on_sqlite_it_generates_a_pseudonym_key_and_keeps_it_across_restarts(tmp_path):
    """Without CONSENT_PSEUDONYM_KEY the embedded setup makes one key under VAR_DIR and reuses it, so
    the audit trail of an email is still found by that email after a restart."""
    port = free_port()
    environ = {"VAR_DIR": str(tmp_path), "CONSENT_PORT": str(port)}
    first = ServiceProcess("consent", environ, port=port).start().wait_serving()
    try:
        with grpc.insecure_channel(first.address) as channel:
            ReflectionClient(channel).call(f"{CONSENT}/Unsubscribe", {"email": "keep@example.com"})
    finally:
        assert first.stop() == 0
        first.close()
    key_file = tmp_path / "consent-pseudonym.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_bytes()

    second = ServiceProcess("consent", environ, port=port).start().wait_serving()
    try:
        with grpc.insecure_channel(second.address) as channel:
            log = ReflectionClient(channel).call(f"{CONSENT}/ListAuditLog", {"email": "keep@example.com"})
    finally:
        second.close()
    assert [entry["action"] for entry in log["entries"]] == ["unsubscribe"]
    assert key_file.read_bytes() == key


def test_diagnostics_reports_the_database(consent_process, backend):
    with grpc.insecure_channel(consent_process.address) as channel:
        report = ReflectionClient(channel).call("novahouse.runtime.v1.DiagnosticsService/GetDiagnostics", {})
    assert report["service"] == "consent"
    [database] = report["dependencies"]
    assert (database["name"], database["reachable"], database["required"]) == ("database", True, True)
    assert database["detail"] == backend
    assert report["jobs"] == []
