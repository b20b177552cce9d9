"""Scenario 6: what observability costs. `POST /api/unsubscribe` through a gateway and consent, one pair
per mode, all started before any load: instrumentation off (METRICS_ENABLED=false: no metrics
interceptors, middleware counting or endpoint; tracing off), metrics on with tracing off (the default),
and tracing on at 100 % sampling to a local OTLP/HTTP receiver (metrics on too). The goal (issue 15):
metrics cost the gateway at most 10 % CPU per request.

The machine is shared, so a mode measured after another would also measure the change in load between
them: the modes are measured in turn, ROUNDS times, each round in another order (off, on, traced; on,
traced, off; traced, off, on), and each figure is the median of its rounds; the on ÷ off ratio is the
median of the per-round ratios, shown with its spread. Off and on differ in the instrumentation only:
the same code, databases and limits. What is left on when off: the services' business counters (an
increment each) and the access log lines, which are not instrumentation but the service's log.

`python -m bench.observability` runs this scenario alone (BENCH_SCALE applies); `make bench` runs it
with the others.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from bench.load import hey
from bench.measure import ratio
from bench.stack import UNLIMITED, Backends, start_gateway, start_service

if TYPE_CHECKING:
    from bench.scenarios import Scale
from tests.support.network import free_port
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.services import PSEUDONYM_KEY

UNSUBSCRIBE_BODY = json.dumps({"email": "bench.observability@example.com"}).encode()
MODES = ("metrics_off", "metrics_on", "tracing_on")
ROUNDS = 3
# After a traced load the exporters still send, and the receiver (in this process) still parses, its
# last spans: the next mode's load would pay for them.
SETTLE_SECONDS = 2.0
GOAL = 1.10  # gateway CPU per request, metrics on ÷ off


def _observability(mode: str, service: str, receiver: OtlpReceiver) -> dict[str, str]:
    variable = f"{service.upper()}_METRICS_PORT"
    if mode == "metrics_off":
        return {"METRICS_ENABLED": "false"}  # nothing counted, nothing served
    environ = {variable: str(free_port())}
    if mode == "tracing_on":
        environ |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
    return environ


def _start(run: ExitStack, mode: str, backends: Backends, receiver: OtlpReceiver) -> tuple[str, dict]:
    """A consent and a gateway in `mode`: the gateway's URL and the processes to meter."""
    common = {"VAR_DIR": backends.var_dir, "LOG_LEVEL": "info"}
    consent = start_service(
        run,
        "consent",
        {
            **common,
            **_observability(mode, "consent", receiver),
            "CONSENT_DATABASE_URL": backends.database(f"consent_{mode}"),
            "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
        },
    )
    gateway = start_gateway(
        run,
        {
            **common,
            **_observability(mode, "gateway", receiver),
            "CONSENT_ADDR": consent.address,
            "CHAT_RATE_LIMIT": UNLIMITED,
            "API_RATE_LIMIT_HOUR": UNLIMITED,
            "API_RATE_LIMIT_MINUTE": UNLIMITED,
        },
    )
    assert gateway.process is not None
    assert consent.process is not None
    return f"{gateway.url}/api/unsubscribe", {
        "gateway": [gateway.process.pid],
        "consent": [consent.process.pid],
    }


def _median_run(rounds: list[dict]) -> dict:
    """Each figure the median of the rounds'; the rounds kept as measured."""

    def median(read: Any) -> float:
        return round(statistics.median(read(r) for r in rounds), 3)

    names = rounds[0]["processes"]
    return {
        "rounds": rounds,
        "requests_per_round": rounds[0]["requests"],
        "rps": median(lambda r: r["rps"]),
        "p99_ms": median(lambda r: r["p99_ms"]),
        "cpu_ms_per_request": median(lambda r: r["cpu_ms_per_request"]),
        "failures": {k: v for r in rounds for k, v in r["failures"].items()},
        "processes": {
            name: {
                "cpu_ms_per_request": median(lambda r, n=name: r["processes"][n]["cpu_ms_per_request"]),
                "peak_rss_mib": max(r["processes"][name]["peak_rss_mib"] for r in rounds),
            }
            for name in names
        },
    }


def _ratios(runs: dict, mode: str, base: str, read: Any) -> dict:
    """The per-round ratios of `mode` to `base` (rounds measured side by side), their median and spread."""
    per_round = [
        ratio(read(a), read(b)) for a, b in zip(runs[mode]["rounds"], runs[base]["rounds"], strict=True)
    ]
    known = [value for value in per_round if value is not None]
    return {
        "median": round(statistics.median(known), 3) if known else None,
        "per_round": [None if value is None else round(value, 3) for value in per_round],
    }


def observability_cost(exits: ExitStack, backends: Backends, scale: Scale) -> dict:
    from bench.scenarios import measured

    receiver = OtlpReceiver()
    exits.callback(receiver.close)
    measured_rounds: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with ExitStack() as run:
        started = {mode: _start(run, mode, backends, receiver) for mode in MODES}
        for url, _ in started.values():
            hey(url, scale.warmup, scale.concurrency, body=UNSUBSCRIBE_BODY)
        for turn in range(ROUNDS):
            for mode in MODES[turn % len(MODES) :] + MODES[: turn % len(MODES)]:
                url, pids = started[mode]
                load = lambda url=url: hey(url, scale.requests, scale.concurrency, body=UNSUBSCRIBE_BODY)  # noqa: E731
                measured_rounds[mode].append(measured(load, pids, backends))
                if mode == "tracing_on":
                    time.sleep(SETTLE_SECONDS)  # its last spans exported and received before the next
    runs: dict[str, Any] = {mode: _median_run(rounds) for mode, rounds in measured_rounds.items()}
    runs["spans_received"] = len(receiver.spans())

    def gateway(r: dict) -> float:
        return r["processes"]["gateway"]["cpu_ms_per_request"]

    def consent(r: dict) -> float:
        return r["processes"]["consent"]["cpu_ms_per_request"]

    def both(r: dict) -> float:
        return r["cpu_ms_per_request"]

    runs["ratios"] = {
        "gateway_cpu_metrics_on_vs_off": _ratios(runs, "metrics_on", "metrics_off", gateway),
        "consent_cpu_metrics_on_vs_off": _ratios(runs, "metrics_on", "metrics_off", consent),
        "total_cpu_metrics_on_vs_off": _ratios(runs, "metrics_on", "metrics_off", both),
        "gateway_cpu_tracing_on_vs_metrics_on": _ratios(runs, "tracing_on", "metrics_on", gateway),
        "total_cpu_tracing_on_vs_metrics_on": _ratios(runs, "tracing_on", "metrics_on", both),
    }
    value = runs["ratios"]["gateway_cpu_metrics_on_vs_off"]["median"]
    runs["goal"] = {
        "name": "gateway CPU per request, metrics on ÷ instrumentation off (issue 15)",
        "value": value,
        "goal": f"≤ {GOAL:.2f}",
        "verdict": "not measured" if value is None else ("met" if value <= GOAL else "MISSED"),
    }
    return runs


def _ratio_text(entry: dict) -> str:
    rounds = ", ".join("n/a" if v is None else f"{v:.3f}" for v in entry["per_round"])
    median = "n/a" if entry["median"] is None else f"{entry['median']:.3f}"
    return f"{median} (rounds: {rounds})"


def summary(runs: dict) -> list[str]:
    first = runs[MODES[0]]
    lines = [
        "",
        "Scenario 6: POST /api/unsubscribe through gateway + consent, one pair per mode, measured in turn "
        f"{len(first['rounds'])} times ({first['requests_per_round']} requests each); medians of the rounds. "
        "CPU ms per request (gateway, consent, Σ), req/s and p99:",
        "",
        "| mode | gateway | consent | Σ | req/s | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "metrics_off": "instrumentation off",
        "metrics_on": "metrics on, tracing off",
        "tracing_on": "metrics on, tracing 100 %",
    }
    for mode in MODES:
        run = runs[mode]
        gateway, consent = run["processes"]["gateway"], run["processes"]["consent"]
        lines.append(
            f"| {labels[mode]} | {gateway['cpu_ms_per_request']:.3f} | "
            f"{consent['cpu_ms_per_request']:.3f} | {run['cpu_ms_per_request']:.3f} | {run['rps']:.0f} | "
            f"{run['p99_ms']:.2f} |"
        )
    ratios, goal = runs["ratios"], runs["goal"]
    lines += [
        "",
        f"Gateway CPU per request, metrics on ÷ off: {_ratio_text(ratios['gateway_cpu_metrics_on_vs_off'])}; "
        f"goal {goal['goal']}: {goal['verdict']}.",
        f"Consent, metrics on ÷ off: {_ratio_text(ratios['consent_cpu_metrics_on_vs_off'])}; both processes: "
        f"{_ratio_text(ratios['total_cpu_metrics_on_vs_off'])}.",
        "Tracing at 100 % ÷ metrics only: gateway "
        f"{_ratio_text(ratios['gateway_cpu_tracing_on_vs_metrics_on'])}, "
        f"both processes {_ratio_text(ratios['total_cpu_tracing_on_vs_metrics_on'])} "
        f"({runs['spans_received']} spans received).",
    ]
    return lines


def main() -> None:
    from bench.__main__ import scale_from_env

    with ExitStack() as exits:
        backends = Backends(exits)
        runs = observability_cost(exits, backends, scale_from_env())
    print("\n".join(summary(runs)))
    json.dump(runs, sys.stderr, indent=2)


if __name__ == "__main__":
    main()
