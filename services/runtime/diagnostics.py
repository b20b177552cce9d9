"""What a service depends on, probed on request, and its scheduled jobs: DiagnosticsService."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import grpc
from sqlalchemy import Engine, text

from novahouse.runtime.v1 import diagnostics_pb2, diagnostics_pb2_grpc
from services.runtime.grpc_server import ServiceDefinition
from services.runtime.scheduler import JobScheduler
from services.runtime.timestamps import timestamp

SERVICE_NAME = diagnostics_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"].full_name
PROBE_TIMEOUT_SECONDS = 2.0

# A probe returns a short description of what it found, or raises.
Probe = Callable[[], str]


@dataclass(frozen=True)
class _Registered:
    name: str
    probe: Probe
    required: bool


def database_probe(engine: Engine) -> Probe:
    def probe() -> str:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return engine.dialect.name

    return probe


class Diagnostics:
    """The dependencies and jobs of one service; each service's bootstrap registers its own."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._probes: list[_Registered] = []
        self.scheduler: JobScheduler | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")

    def add_probe(self, name: str, probe: Probe, *, required: bool = True) -> None:
        self._probes.append(_Registered(name, probe, required))

    def report(self) -> diagnostics_pb2.GetDiagnosticsResponse:
        response = diagnostics_pb2.GetDiagnosticsResponse(service=self.service)
        started = {p.name: (p, time.perf_counter(), self._pool.submit(p.probe)) for p in self._probes}
        for registered, began, future in started.values():
            remaining = max(0.0, PROBE_TIMEOUT_SECONDS - (time.perf_counter() - began))
            try:
                detail, reachable = future.result(timeout=remaining), True
            except FutureTimeout:
                detail, reachable = f"no answer within {PROBE_TIMEOUT_SECONDS:.0f}s", False
            except Exception as error:  # a probe's failure is its answer
                detail, reachable = f"{type(error).__name__}: {error}".splitlines()[0][:300], False
            response.dependencies.add(
                name=registered.name,
                reachable=reachable,
                detail=detail,
                latency_ms=(time.perf_counter() - began) * 1000,
                required=registered.required,
            )
        if self.scheduler is not None:
            response.scheduler_running = self.scheduler.running
            for job in self.scheduler.jobs():
                entry = response.jobs.add(id=job.id, interval_seconds=job.interval_seconds)
                if job.next_run_time is not None:
                    entry.next_run_time.CopyFrom(timestamp(job.next_run_time))
        return response

    def definition(self) -> ServiceDefinition:
        servicer = _DiagnosticsServicer(self)
        return ServiceDefinition(
            SERVICE_NAME,
            lambda server: diagnostics_pb2_grpc.add_DiagnosticsServiceServicer_to_server(servicer, server),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _DiagnosticsServicer(diagnostics_pb2_grpc.DiagnosticsServiceServicer):
    def __init__(self, diagnostics: Diagnostics) -> None:
        self._diagnostics = diagnostics

    def GetDiagnostics(
        self, request: diagnostics_pb2.GetDiagnosticsRequest, context: grpc.ServicerContext
    ) -> diagnostics_pb2.GetDiagnosticsResponse:
        return self._diagnostics.report()
