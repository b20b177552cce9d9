"""`python -m bench.spread RESULT.json...`: the goal rows of several `make bench` runs side by side,
with their median and its verdict, as bench/RESULTS.md records them."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path


def holds(value: float, goal: str) -> bool:
    """Whether `value` meets a goal as the report spells it: "≤ 0.5", "≥ 2", "0", "≤ 1.25 (why)"."""
    words = goal.split()
    if words[0] in ("≤", "≥"):
        bound = float(words[1])
        return value <= bound if words[0] == "≤" else value >= bound
    return abs(value - float(words[0])) < 0.01


def _row(name: str, values: Sequence[float | None], goal: str, verdicts: Sequence[str]) -> str:
    known = [v for v in values if v is not None]
    median = statistics.median(known) if known else None
    shown = " | ".join("n/a" if v is None else f"{v:.2f}" for v in values)
    met = sum(verdict == "met" for verdict in verdicts)
    if median is None:
        return f"| {name} | {shown} | n/a | {goal} | not measured |"
    verdict = "met" if holds(median, goal) else "MISSED"
    return f"| {name} | {shown} | {median:.2f} | {goal} | {verdict} (met in {met} of {len(values)} runs) |"


def table(results: Sequence[dict]) -> str:
    """One row per goal (in the first run's order), one column per run, then the median and whether the
    median meets the goal (issue 19 judges the median of three runs)."""
    header = " | ".join(r["started_at"][11:16] for r in results)
    lines = [
        f"| goal | {header} | median | goal | verdict |",
        "|---|" + "---:|" * len(results) + "---:|---:|---|",
    ]
    for goal in results[0]["goals"]:
        same = [next((g for g in r["goals"] if g["name"] == goal["name"]), None) for r in results]
        values = [g["value"] if g else None for g in same]
        verdicts = [g["verdict"] if g else "not measured" for g in same]
        lines.append(_row(goal["name"], values, goal["goal"], verdicts))
    metrics = [r.get("observability", {}).get("goal") for r in results]
    if all(metrics):
        lines.append(
            _row(
                str(metrics[0]["name"]),
                [m["value"] for m in metrics],
                str(metrics[0]["goal"]),
                [m["verdict"] for m in metrics],
            )
        )
    return "\n".join(lines)


def main(paths: Sequence[str]) -> None:
    results = [json.loads(Path(path).read_text()) for path in paths]
    print(table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
