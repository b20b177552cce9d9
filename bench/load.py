"""Load generators: Debian's `hey` for HTTP, and a multi-process gRPC client for direct calls, each with
a fixed request count and concurrency. Both answer every request's latency, so percentiles come from
the same computation."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import percentile

DISTINCT_EMAILS_SCRIPT = Path(__file__).resolve().parent / "distinct_emails.lua"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies: Sequence[float] = field(repr=False)
    statuses: Counter
    # Percentile (50, 95, 99) -> seconds, when the load generator reports percentiles, not latencies (wrk).
    percentiles: dict[float, float] | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def latency_ms(self, q: float) -> float:
        if self.percentiles is not None:
            return self.percentiles[q] * 1000
        return percentile(self.latencies, q) * 1000


def hey_executable() -> str:
    executable = shutil.which("hey")
    if executable is None:
        raise RuntimeError("hey is not installed: apt-get install hey (`make bench` does it)")
    return executable


def hey(
    url: str, requests: int, concurrency: int, *, body: bytes | None = None, headers: Sequence[str] = ()
) -> LoadResult:
    """`requests` calls with `concurrency` workers; POST with a JSON body when one is given. The CSV
    output has one row per request: its latency, status and offset from the start."""
    command = [hey_executable(), "-n", str(requests), "-c", str(concurrency), "-o", "csv", "-t", "30"]
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-d", body.decode()]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=600).stdout  # noqa: S603
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    finished = 0.0
    for row in csv.DictReader(io.StringIO(output)):
        latency = float(row["response-time"])
        latencies.append(latency)
        statuses[int(row["status-code"])] += 1
        finished = max(finished, float(row["offset"]) + latency)
    if not latencies:
        raise RuntimeError(f"hey answered no requests for {url}")
    return LoadResult(len(latencies), finished, latencies, statuses)


def wrk(url: str, seconds: float, concurrency: int, prefix: str, seeded: int = 0) -> LoadResult:
    """Debian's `wrk` for `seconds` with `concurrency` connections over 2 threads, POSTing a distinct
    address per request (bench/distinct_emails.lua), or with `seeded` > 0 a random one of the seeded
    "<prefix>-<n>@example.com". wrk answers percentiles (its done() hook prints them), not latencies."""
    executable = shutil.which("wrk")
    if executable is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (`make bench` does it)")
    command = [
        executable, "-t", "2", "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
        "-s", str(DISTINCT_EMAILS_SCRIPT), url, "--", prefix, str(seeded),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout  # noqa: S603
    line = next((x for x in output.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary for {url}:\n{output}")
    summary = json.loads(line.removeprefix("WRK_JSON "))
    failed = summary["non_2xx"] + sum(summary[k] for k in ("connect", "read", "write", "timeout"))
    statuses: Counter = Counter({200: summary["requests"] - failed})
    if failed:
        statuses["non-2xx or socket error"] = failed
    percentiles = {float(q): summary[f"p{q}_us"] / 1e6 for q in (50, 95, 99)}
    return LoadResult(summary["requests"], summary["duration_us"] / 1e6, (), statuses, percentiles)


def grpc_load(address: str, kind: str, requests: int, concurrency: int, processes: int = 2) -> LoadResult:
    """`requests` unary calls of `kind` (see _request) from `processes` client processes with
    concurrency/processes threads each: one Python process cannot load a server without measuring
    its own GIL."""
    context = multiprocessing.get_context("spawn")  # no fork after grpc has started its threads
    per_process = [requests // processes + (i < requests % processes) for i in range(processes)]
    threads = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    with context.Pool(processes) as pool:
        ready = time.time() + 3.0  # every process has imported grpc and connected by then
        parts = pool.starmap(
            _client_process, [(address, kind, i, per_process[i], threads[i], ready) for i in range(processes)]
        )
    latencies = [latency for part in parts for latency in part[0]]
    statuses = sum((Counter(part[1]) for part in parts), Counter())
    seconds = max(part[3] for part in parts) - min(part[2] for part in parts)
    return LoadResult(len(latencies), seconds, latencies, statuses)


def _client_process(
    address: str, kind: str, index: int, requests: int, threads: int, ready: float
) -> tuple[list[float], dict[str, int], float, float]:
    import grpc

    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    call, make = _request(channel, kind)
    latencies: list[float] = []
    statuses: Counter = Counter()
    counter = iter(range(requests))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            request = make(index, number)
            started = time.perf_counter()
            try:
                call(request, timeout=30)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[code] += 1

    time.sleep(max(0.0, ready - time.time()))
    started = time.time()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    finished = time.time()
    channel.close()
    return latencies, dict(statuses), started, finished


def _request(channel: object, kind: str) -> tuple:
    """The stub method and a request factory (process index, request number) for a load kind."""
    if kind == "unsubscribe":
        from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc

        consent = consent_pb2_grpc.ConsentServiceStub(channel)
        request = consent_pb2.UnsubscribeRequest(email=UNSUBSCRIBE_EMAIL)
        return consent.Unsubscribe, lambda _index, _number: request
    if kind == "notify":
        from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc

        notifier = notifier_pb2_grpc.NotifierServiceStub(channel)

        def notify(index: int, number: int) -> object:
            key = f"bench:{index}:{number}"
            return notifier_pb2.NotifyRequest(idempotency_key=key, slack=notifier_pb2.SlackMessage(text=key))

        return notifier.Notify, notify
    raise ValueError(f"unknown load kind {kind!r}")


# Every client (hey, the gRPC processes, the baseline) unsubscribes the same address: hey sends one body.
UNSUBSCRIBE_EMAIL = "bench@example.com"
