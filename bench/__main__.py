"""`python -m bench` (`make bench`): every scenario, the table on stdout, the JSON under bench/results/.

BENCH_SCALE (default 1) multiplies every count, so `BENCH_SCALE=0.1 make bench` is a quick try; the
default runs the issue's numbers (10,000 follow-ups, 10,000 notifications). BENCH_CONCURRENCY sets the
concurrency of every load (default 16).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from bench import audit_chain
from bench.observability import observability_cost
from bench.observability import summary as observability_summary
from bench.report import goals, machine, markdown
from bench.scenarios import Scale, Stack, followups, notifier_outage, unsubscribe_and_limits
from bench.stack import Backends

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def scale_from_env() -> Scale:
    factor = float(os.environ.get("BENCH_SCALE", "1"))
    if factor <= 0:
        raise SystemExit("BENCH_SCALE must be a positive number")
    return Scale(
        requests=max(100, round(3000 * factor)),
        concurrency=int(os.environ.get("BENCH_CONCURRENCY", "16")),
        warmup=max(50, round(300 * factor)),
        followups=max(100, round(10_000 * factor)),
        notifications=max(100, round(10_000 * factor)),
    )


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    scale = scale_from_env()
    started = time.monotonic()
    result: dict = {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine()}
    result["scale"] = asdict(scale)
    with ExitStack() as exits:
        backends = Backends(exits)
        result["backends"] = {"database": backends.database_kind, "redis": backends.redis_kind}
        say(f"databases: {backends.database_kind}; rate limits and Redis counts: {backends.redis_kind}")
        stack = Stack(exits, backends)
        say("scenarios 1-3: unsubscribe (gateway / gRPC / Flask / bare), chat, limit storages")
        result["runs"] = unsubscribe_and_limits(exits, backends, stack, scale)
        say(f"scenario 4: {scale.followups} follow-ups by two chat processes")
        result["followups"] = followups(exits, backends, stack, scale)
        say(f"scenario 5: {scale.notifications} notifications through a sink outage")
        result["notifier_outage"] = notifier_outage(exits, backends, stack, scale)
        say("scenario 6: observability cost (metrics off / on, tracing at 100 %)")
        result["observability"] = observability_cost(exits, backends, scale)
    say("scenario 7: the consent audit log's hash chain, per write and per verification (docs/privacy.md)")
    result["audit_chain"] = audit_chain.run(
        writes=max(100, scale.requests // 10), entries=scale.notifications * 2
    )
    for chain in result["audit_chain"]:
        say(f"audit chain on {chain['backend']}: {json.dumps(chain)}")
    result["goals"] = [
        {
            "name": g.name,
            "value": None if g.value is None else round(g.value, 3),
            "goal": g.goal,
            "verdict": g.verdict,
        }
        for g in goals(
            result["runs"], followups=result.get("followups"), notifier=result.get("notifier_outage")
        )
    ]
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(markdown(result))
    print("\n".join(observability_summary(result["observability"])))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    say(f"wrote {shown} in {result['duration_seconds']:.0f} s")


if __name__ == "__main__":
    main()
