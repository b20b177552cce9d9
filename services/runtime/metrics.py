"""Prometheus metrics: the registry every process exports at `GET /metrics` on a port of its own.

Metric objects live in the module that counts (this one for gRPC and the scheduler; each service's
`metrics` module for its business counters). Values that need a database or Redis read are not kept
up to date on the request path: a `ScrapeSource` computes them when Prometheus scrapes, in a worker
thread with a timeout, and reuses a result for `cache_seconds`. A source that fails or times out leaves
its gauges out of that scrape and counts `novahouse_metrics_scrape_errors_total{source}`; everything else
is still answered.

With METRICS_ENABLED=false a process neither serves nor counts (services.runtime.recording).

Labels never carry personal data (email, phone, session id, message text): only method, route template,
channel, status, outcome and the like, from fixed sets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from services.runtime.config import ConfigError, Environment
from services.runtime.recording import UNCOUNTED_CALL, UncountedCall, recording

log = logging.getLogger(__name__)
# No `*_created` twin of every counter and histogram: Prometheus does not need them.
disable_created_metrics()

# Defaults of <SERVICE>_METRICS_PORT; an empty value turns the endpoint off.
DEFAULT_METRICS_PORTS = {"gateway": 9460, "consent": 9461, "notifier": 9462, "chat": 9463}

# grpc.StatusCode name -> the spelling of go-grpc-prometheus (Go's codes.Code.String()).
GRPC_CODE_NAMES = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}
_GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

GRPC_SERVER_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _GRPC_LABELS)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, regardless of success or failure.",
    (*_GRPC_LABELS, "grpc_code"),
)
GRPC_SERVER_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Response latency of RPCs handled by the server.",
    _GRPC_LABELS,
)
GRPC_CLIENT_STARTED = Counter("grpc_client_started_total", "RPCs started by the client.", _GRPC_LABELS)
GRPC_CLIENT_HANDLED = Counter(
    "grpc_client_handled_total",
    "RPCs completed by the client, regardless of success or failure.",
    (*_GRPC_LABELS, "grpc_code"),
)
GRPC_CLIENT_HANDLING = Histogram(
    "grpc_client_handling_seconds",
    "Response latency of RPCs made by the client, until the status arrived.",
    _GRPC_LABELS,
)
SCHEDULER_RUNS = Counter("novahouse_scheduler_job_runs_total", "Background job runs.", ("job",))
SCHEDULER_FAILURES = Counter(
    "novahouse_scheduler_job_failures_total", "Background job runs that raised.", ("job",)
)
SCHEDULER_LAST_SUCCESS_SECONDS = Gauge(
    "novahouse_scheduler_job_last_success_timestamp_seconds",
    "When the job last finished without raising (Unix time).",
    ("job",),
)


def grpc_code_name(code_name: str) -> str:
    """'INVALID_ARGUMENT' -> 'InvalidArgument'."""
    return GRPC_CODE_NAMES.get(code_name, "Unknown")


def split_method(full_method: str) -> tuple[str, str]:
    """'/novahouse.consent.v1.ConsentService/Unsubscribe' -> (service, method)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


@dataclass
class GrpcCallMetrics:
    """The labelled children for one method, looked up once."""

    started: Counter
    handled: dict[str, Counter]
    handling: Histogram
    _handled_parent: Counter
    _labels: tuple[str, str, str]

    @classmethod
    def of(cls, full_method: str, *, client: bool) -> GrpcCallMetrics:
        service, method = split_method(full_method)
        labels = ("unary", service, method)
        started, handled, handling = (
            (GRPC_CLIENT_STARTED, GRPC_CLIENT_HANDLED, GRPC_CLIENT_HANDLING)
            if client
            else (GRPC_SERVER_STARTED, GRPC_SERVER_HANDLED, GRPC_SERVER_HANDLING)
        )
        return cls(started.labels(*labels), {}, handling.labels(*labels), handled, labels)

    def done(self, code_name: str, seconds: float) -> None:
        code = grpc_code_name(code_name)
        child = self.handled.get(code)
        if child is None:
            child = self.handled[code] = self._handled_parent.labels(*self._labels, code)
        child.inc()
        self.handling.observe(seconds)


_method_metrics: dict[tuple[str, bool], GrpcCallMetrics] = {}


def grpc_call_metrics(full_method: str, *, client: bool) -> GrpcCallMetrics | UncountedCall:
    if not recording():
        return UNCOUNTED_CALL
    key = (full_method, client)
    found = _method_metrics.get(key)
    if found is None:
        found = _method_metrics[key] = GrpcCallMetrics.of(full_method, client=client)
    return found


# --- scheduler ---------------------------------------------------------------------------------------


def counted_job(job_id: str, func: Callable[[], object]) -> Callable[[], object]:
    """`func`, counting its runs and failures (the exception still reaches the scheduler's log)."""
    runs, failures = SCHEDULER_RUNS.labels(job_id), SCHEDULER_FAILURES.labels(job_id)
    last_success = SCHEDULER_LAST_SUCCESS_SECONDS.labels(job_id)

    def run() -> object:
        runs.inc()
        try:
            result = func()
        except BaseException:
            failures.inc()
            raise
        last_success.set_to_current_time()
        return result

    return run


# --- values computed at scrape time ------------------------------------------------------------------

Families = Iterable[Metric]


@dataclass
class _Source:
    name: str
    read: Callable[[], list[Metric]]
    timeout: float
    cache_seconds: float
    executor: ThreadPoolExecutor = field(init=False)
    running: Future | None = None
    cached: list[Metric] | None = None
    cached_at: float = 0.0

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"metrics-{self.name}")


class ScrapeSources(Collector):
    """Every registered source, read when the registry is collected; registered once per process."""

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self._errors: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        read: Callable[[], Families],
        *,
        timeout: float = 2.0,
        cache_seconds: float = 5.0,
    ) -> None:
        """Adds (or replaces) a source; `read` runs in a worker thread of its own."""
        with self._lock:
            old = self._sources.pop(name, None)
            self._sources[name] = _Source(name, lambda: list(read()), timeout, cache_seconds)
            self._errors.setdefault(name, 0)
        if old is not None:
            old.executor.shutdown(wait=False)

    def remove(self, name: str) -> None:
        with self._lock:
            old = self._sources.pop(name, None)
        if old is not None:
            old.executor.shutdown(wait=False)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            families = self._read(source)
            if families is not None:
                yield from families
        errors = CounterMetricFamily(
            "novahouse_metrics_scrape_errors",
            "Scrape-time reads (database, Redis) that failed or timed out; their gauges were left out.",
            labels=["source"],
        )
        with self._lock:
            for name, count in sorted(self._errors.items()):
                errors.add_metric([name], count)
        yield errors

    def _read(self, source: _Source) -> list[Metric] | None:
        now = time.monotonic()
        if source.cached is not None and now - source.cached_at < source.cache_seconds:
            return source.cached
        # A read still running from an earlier scrape is waited for again rather than doubled.
        if source.running is None or source.running.done():
            try:
                source.running = source.executor.submit(source.read)
            except RuntimeError:  # shut down meanwhile
                return None
        try:
            families = source.running.result(timeout=source.timeout)
        except FutureTimeout:
            self._failed(source, f"no answer within {source.timeout:g}s")
            return None
        except Exception as error:
            self._failed(
                source, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            return None
        source.cached, source.cached_at = families, time.monotonic()
        return families

    def _failed(self, source: _Source, why: str) -> None:
        with self._lock:
            self._errors[source.name] = self._errors.get(source.name, 0) + 1
        log.warning("metrics: %s could not be read: %s", source.name, why[:300])


SCRAPE_SOURCES = ScrapeSources()
REGISTRY.register(SCRAPE_SOURCES)


BREAKER_STATES = ("closed", "open", "half_open")


def breaker_states(current: dict[str, str]) -> Metric:
    """`novahouse_breaker_state{breaker,state}` as resilience4j exports a state set: one sample per
    breaker and state, 1 for the state it is in. pybreaker's 'half-open' is spelled 'half_open'."""
    family = GaugeMetricFamily(
        "novahouse_breaker_state",
        "Circuit breaker state (1 for the current one).",
        labels=["breaker", "state"],
    )
    for breaker, state in sorted(current.items()):
        state = state.replace("-", "_")
        for candidate in BREAKER_STATES:
            family.add_metric([breaker, candidate], 1.0 if candidate == state else 0.0)
    return family


# --- the endpoint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsEndpoint:
    variable: str
    port: int | None  # None: off


def metrics_endpoint(env: Environment, service: str) -> MetricsEndpoint:
    """<SERVICE>_METRICS_PORT: unset -> the default port, empty -> off; raises ConfigError."""
    variable = f"{service.upper()}_METRICS_PORT"
    raw = env.raw(variable)
    if raw is not None and not raw.strip():
        return MetricsEndpoint(variable, None)
    return MetricsEndpoint(variable, env.port(variable, DEFAULT_METRICS_PORTS[service]))


class MetricsServer:
    """prometheus_client's HTTP server in a daemon thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int, *, variable: str = "metrics port") -> MetricsServer:
    """Serves the registry at http://host:port/metrics; raises ConfigError naming `variable` when the
    port cannot be bound (taken, or a host this machine does not have)."""
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as error:
        raise ConfigError(variable, f"a free port on {host}", f"{port} ({error.strerror or error})") from None
    return MetricsServer(server, thread, server.server_address[1])


def start_metrics(env: Environment, service: str, host: str) -> MetricsServer | None:
    """The process's endpoint as configured, or None when it is off; raises ConfigError."""
    endpoint = metrics_endpoint(env, service)
    if endpoint.port is None:
        return None
    return serve_metrics(host, endpoint.port, variable=endpoint.variable)
