"""DiagnosticsService: a failing or hanging dependency is reported, never raised; jobs are listed."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from novahouse.runtime.v1 import diagnostics_pb2, diagnostics_pb2_grpc
from services.runtime import diagnostics as diagnostics_module
from services.runtime.diagnostics import Diagnostics
from services.runtime.grpc_server import create_server
from services.runtime.scheduler import JobScheduler


@pytest.fixture
def served():
    diagnostics = Diagnostics("probe-test")
    server = create_server("127.0.0.1:0", [diagnostics.definition()])
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield diagnostics, diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
    server.stop(0)
    diagnostics.close()


def test_failing_and_hanging_probes_are_reported_as_unreachable(served, monkeypatch):
    monkeypatch.setattr(diagnostics_module, "PROBE_TIMEOUT_SECONDS", 0.3)
    diagnostics, stub = served
    release = threading.Event()

    def refuse():
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    diagnostics.add_probe("database", lambda: "postgresql")
    diagnostics.add_probe("redis", refuse, required=False)
    diagnostics.add_probe("slow", lambda: release.wait(5) and "late")
    started = time.monotonic()
    report = stub.GetDiagnostics(diagnostics_pb2.GetDiagnosticsRequest(), timeout=5)
    release.set()
    assert time.monotonic() - started < 2
    found = {d.name: (d.reachable, d.detail, d.required) for d in report.dependencies}
    assert found == {
        "database": (True, "postgresql", True),
        "redis": (False, "ConnectionRefusedError: [Errno 111] Connection refused", False),
        "slow": (False, "no answer within 0s", True),
    }


def test_scheduled_jobs_are_listed_with_their_next_run(served):
    diagnostics, stub = served
    scheduler = JobScheduler()
    scheduler.every(0.5, "dlq_retry", lambda: None)
    diagnostics.scheduler = scheduler
    assert not stub.GetDiagnostics(diagnostics_pb2.GetDiagnosticsRequest()).scheduler_running
    scheduler.start()
    try:
        report = stub.GetDiagnostics(diagnostics_pb2.GetDiagnosticsRequest())
    finally:
        scheduler.shutdown()
    assert report.scheduler_running
    [job] = report.jobs
    assert (job.id, job.interval_seconds) == ("dlq_retry", 0.5)
    assert job.HasField("next_run_time")


def test_a_disabled_scheduler_runs_nothing():
    ran = threading.Event()
    scheduler = JobScheduler(enabled=False)
    scheduler.every(0.05, "job", ran.set)
    scheduler.start()
    assert not ran.wait(0.3)
    assert not scheduler.running
    scheduler.shutdown()
