"""The ratios the issue sets goals for, the machine's description, the Markdown table and the JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from bench.measure import ratio


@dataclass(frozen=True)
class Goal:
    name: str
    value: float | None
    goal: str
    met: Callable[[float], bool]

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        return "met" if self.met(self.value) else "MISSED"


def goals(runs: dict, followups: dict | None = None, *, notifier: dict | None = None) -> list[Goal]:
    """`followups` and `notifier` are scenarios 4 and 5's results (bench.scenarios)."""
    gateway = runs.get("gateway_limits_redis") or runs["gateway_limits_memory"]
    baseline, direct, bare = runs["flask_baseline"], runs["direct_grpc"], runs["bare_starlette"]
    found = [
        Goal(
            "(gateway + consent) CPU per unsubscribe ÷ Flask baseline CPU per unsubscribe",
            ratio(gateway["cpu_ms_per_request"], baseline["cpu_ms_per_request"]),
            "≤ 0.5",
            lambda v: v <= 0.5,
        ),
        Goal(
            "requests/s through the gateway ÷ Flask baseline requests/s",
            ratio(gateway["rps"], baseline["rps"]),
            "≥ 2",
            lambda v: v >= 2,
        ),
        Goal(
            "gateway CPU per request ÷ bare uvicorn/Starlette CPU per request",
            ratio(
                gateway["processes"]["gateway"]["cpu_ms_per_request"],
                bare["processes"]["bare"]["cpu_ms_per_request"],
            ),
            "≤ 2.5",
            lambda v: v <= 2.5,
        ),
        Goal(
            "gateway p99 ÷ direct gRPC p99",
            ratio(gateway["p99_ms"], direct["p99_ms"]),
            "≤ 2",
            lambda v: v <= 2,
        ),
        Goal(
            "Redis round trips per limited request (2 limits, headers included)",
            runs.get("gateway_limits_redis", {}).get("redis_round_trips_per_request"),
            "1",
            lambda v: abs(v - 1) < 0.01,
        ),
        # --- Follow-ups (issue 19, scenario 4): rows only when the scenario ran; see followup_goals. ---
        *followup_goals(followups),
        *unsubscribe_goals(runs),
        *chat_goals(runs),
    ]
    # --- the notifier (scenario 5, bench.scenarios.notifier_outage): its rows are notifier_goals below.
    if notifier is not None:
        found += notifier_goals(notifier)
    # --- end of the notifier's goals
    return found


def notifier_goals(outage: dict) -> list[Goal]:
    """The notifier's drain rate after a Slack outage, nothing lost or doubled, and CPU per delivery flat
    between 10^4 and 10^5 entries in its table."""
    return [
        Goal(
            "notifier drain to a local HTTP sink, one process: deliveries/s",
            outage.get("deliveries_per_second"),
            "≥ 1000",
            lambda v: v >= 1000,
        ),
        Goal("notifier drain: notifications lost", outage.get("lost"), "0", lambda v: v == 0),
        Goal("notifier drain: notifications delivered twice", outage.get("doubled"), "0", lambda v: v == 0),
        Goal(
            "notifier CPU per delivery with 10⁵ entries ÷ with 10⁴ entries in its table",
            outage.get("cpu_per_delivery_ratio_largest_to_smallest"),
            "≤ 1.25 (flat within noise)",
            lambda v: v <= 1.25,
        ),
    ]


# Follow-ups (issue 19): rate, duplicates and consent CPU per follow-up of scenario 4.
def followup_goals(followups: dict | None) -> list[Goal]:
    """Rate, duplicates and the consent service's CPU per follow-up; none without scenario 4."""
    if not followups:
        return []
    consent = followups["processes"].get("consent", {}).get("cpu_ms_per_followup")
    return [
        Goal(
            "follow-ups per second, two chat processes",
            followups["followups_per_second"],
            "≥ 500",
            lambda v: v >= 500,
        ),
        Goal("follow-ups sent twice (two chat processes)", followups["duplicates"], "0", lambda v: v == 0),
        Goal("consent CPU ms per follow-up", consent, "≤ 0.5", lambda v: v <= 0.5),
    ]


# --- Issue 19, the unsubscribe path (bench/unsubscribe.py): latency tail, PostgreSQL cost, distinct
# addresses and cost vs size. Other issue-19 blocks (follow-ups, notifier) are separate.
def unsubscribe_goals(runs: dict) -> list[Goal]:
    gateway = runs.get("gateway_limits_redis") or runs.get("gateway_limits_memory") or {}
    baseline = runs.get("flask_baseline", {})
    distinct, flask_distinct = runs.get("gateway_distinct", {}), runs.get("flask_distinct", {})
    small, large = runs.get("size_10000", {}), runs.get("size_1000000", {})
    return [
        Goal(
            "unsubscribe p99 through the gateway ÷ Flask baseline p99 (same load)",
            ratio(gateway.get("p99_ms"), baseline.get("p99_ms")),
            "≤ 1",
            lambda v: v <= 1,
        ),
        Goal(
            "PostgreSQL CPU per unsubscribe, gateway path ÷ Flask baseline",
            ratio(gateway.get("postgres_cpu_ms_per_request"), baseline.get("postgres_cpu_ms_per_request")),
            "≤ 1",
            lambda v: v <= 1,
        ),
        Goal(
            "PostgreSQL round trips per unsubscribe, gateway path ÷ Flask baseline",
            ratio(
                gateway.get("postgres_round_trips_per_request"),
                baseline.get("postgres_round_trips_per_request"),
            ),
            "≤ 1",
            lambda v: v <= 1,
        ),
        Goal(
            "distinct addresses (wrk): requests/s through the gateway ÷ Flask baseline",
            ratio(distinct.get("rps"), flask_distinct.get("rps")),
            "≥ 2",
            lambda v: v >= 2,
        ),
        Goal(
            "cost vs size: (gateway + consent + PostgreSQL) CPU per unsubscribe at 10⁶ ÷ at 10⁴ subjects",
            ratio(_with_postgres(large), _with_postgres(small)),
            "≤ 1.2",
            lambda v: v <= 1.2,
        ),
    ]


def _with_postgres(run: dict) -> float | None:
    if "cpu_ms_per_request" not in run or "postgres_cpu_ms_per_request" not in run:
        return None
    return float(run["cpu_ms_per_request"] + run["postgres_cpu_ms_per_request"])


# --- end of the issue-19 unsubscribe block


# Issue 19, a chat message through the gateway (scenario 2): CPU of every process it touches, and its
# tail against the Flask baseline's unsubscribe tail in the same run.
def chat_goals(runs: dict) -> list[Goal]:
    chat, baseline = runs.get("chat_gateway", {}), runs.get("flask_baseline", {})
    return [
        Goal(
            "chat message through the gateway: CPU ms per message (gateway + chat + consent)",
            chat.get("cpu_ms_per_request"),
            "≤ 2.0",
            lambda v: v <= 2.0,
        ),
        Goal(
            "chat message p99 ÷ Flask baseline unsubscribe p99",
            ratio(chat.get("p99_ms"), baseline.get("p99_ms")),
            "≤ 1",
            lambda v: v <= 1,
        ),
    ]


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "0"
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "redis_server": _version(["redis-server", "--version"]),
        "hey": "hey " + (_version(["dpkg-query", "-W", "-f=${Version}", "hey"]) or "?"),
        "wrk": "wrk " + (_version(["dpkg-query", "-W", "-f=${Version}", "wrk"]) or "?"),
        "commit": _version(["git", "rev-parse", "--short", "HEAD"]),
    }


def _read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return ""


def _version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
        return done.stdout.strip()
    except OSError:
        return None


LOAD_ROWS = [
    ("gateway_limits_redis", "1, 3", "POST /api/unsubscribe via gateway, limits in Redis"),
    ("gateway_limits_memory", "3", "POST /api/unsubscribe via gateway, limits in memory"),
    ("gateway_limits_off", "3", "POST /api/unsubscribe via gateway, limits off"),
    ("direct_grpc", "1", "Unsubscribe by direct gRPC (2 client processes)"),
    ("flask_baseline", "1", "Flask baseline (gunicorn, 2 sync workers)"),
    ("bare_starlette", "-", "bare uvicorn/Starlette, same JSON, no upstream"),
    ("chat_gateway", "2", "POST /api/chatbot/chat via gateway"),
    ("gateway_distinct", "1", "wrk, a new address per request, via gateway"),
    ("flask_distinct", "1", "wrk, a new address per request, Flask baseline"),
    ("size_10000", "1", "wrk, random seeded subject of 10^4, via gateway (limits off)"),
    ("size_1000000", "1", "wrk, random seeded subject of 10^6, via gateway (limits off)"),
]


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    runs = result["runs"]
    lines = [
        f"Databases: {result['backends']['database']}; rate-limit storage: {result['backends']['redis']}. "
        f"{result['scale']['requests']} requests per run at concurrency {result['scale']['concurrency']} "
        f"(after {result['scale']['warmup']} warm-up requests).",
        "",
        "| scenario | run | req/s | p50 ms | p95 ms | p99 ms | CPU ms/req per process | peak RSS MiB "
        "| Redis commands/req | Redis round trips/req | errors |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|---|",
    ]
    for key, scenario, label in LOAD_ROWS:
        run = runs.get(key)
        if run is None:
            continue
        cpu = ", ".join(f"{n} {p['cpu_ms_per_request']:.3f}" for n, p in run["processes"].items())
        rss = ", ".join(f"{n} {p['peak_rss_mib']:.0f}" for n, p in run["processes"].items())
        errors = ", ".join(f"{k}: {v}" for k, v in run["failures"].items()) or "0"
        lines.append(
            f"| {scenario} | {label} | {run['rps']:.0f} | {run['p50_ms']:.2f} | {run['p95_ms']:.2f} | "
            f"{run['p99_ms']:.2f} | {cpu} (Σ {run['cpu_ms_per_request']:.3f}) | {rss} | "
            f"{_number(run['redis_commands_per_request'])} | "
            f"{_number(run.get('redis_round_trips_per_request'))} | {errors} |"
        )
    for key, _, label in LOAD_ROWS:
        sent = runs.get(key, {}).get("redis_commands_sent")
        if sent:
            named = ", ".join(f"{name} {count}" for name, count in sorted(sent.items()))
            lines += [
                "",
                f"Redis round trips of {label}, as MONITOR saw them over one warm-up load: {named} "
                f"({runs[key]['redis_connection_setup_commands']} of them handshakes of newly opened pool "
                "connections, not counted per request).",
            ]
    postgres = [
        (label, runs[key])
        for key, _, label in LOAD_ROWS
        if "postgres_cpu_ms_per_request" in runs.get(key, {})
    ]
    if postgres:
        lines += [
            "",
            "| run | PostgreSQL CPU ms/req | backends | round trips/req | messages sent (probe) |",
            "|---|---:|---:|---:|---|",
        ]
        for label, run in postgres:
            sent = ", ".join(f"{k} {v}" for k, v in sorted(run.get("postgres_messages_sent", {}).items()))
            lines.append(
                f"| {label} | {run['postgres_cpu_ms_per_request']:.3f} | {run['postgres_backends']} | "
                f"{_number(run.get('postgres_round_trips_per_request'))} | {sent or '-'} |"
            )
    followups, outage = result.get("followups"), result.get("notifier_outage")
    if followups:
        cpu = ", ".join(f"{n} {p['cpu_ms_per_followup']:.2f}" for n, p in followups["processes"].items())
        rss = ", ".join(f"{n} {p['peak_rss_mib']:.0f}" for n, p in followups["processes"].items())
        lines += [
            "",
            f"Scenario 4: {followups['followups']} due follow-ups, two chat processes: "
            f"{followups['followups_per_second']:.0f} follow-ups/s ({followups['seconds']:.1f} s), "
            f"duplicates {followups['duplicates']} (goal 0), sent {followups['sent']}; "
            f"CPU ms per follow-up: {cpu}; peak RSS MiB: {rss}.",
        ]
    if outage:
        lines += [
            "",
            f"Scenario 5: {outage['notifications']} notifications queued during a Slack outage in "
            f"{outage['queue_seconds']:.1f} s ({outage['pending_after_outage']} pending), drained in "
            f"{outage['drain_seconds']:.1f} s after recovery ({outage['deliveries_per_second']:.0f}/s); "
            f"keys delivered {outage['keys_delivered']}, keys not delivered exactly once "
            f"{outage['keys_not_delivered_once']} (goal 0); notifier CPU "
            f"{outage['notifier_cpu_ms_per_delivery']:.2f} ms per delivery, peak RSS "
            f"{outage['notifier_peak_rss_mib']:.0f} MiB.",
        ]
    lines += ["", "| ratio | value | goal | verdict |", "|---|---:|---:|---|"]
    for goal in result["goals"]:
        lines.append(f"| {goal['name']} | {_number(goal['value'])} | {goal['goal']} | {goal['verdict']} |")
    return "\n".join(lines)
