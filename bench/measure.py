"""Pure numbers (percentiles, ratios) and what the operating system says about a process: CPU time
from /proc/<pid>/stat (utime + stime), peak resident memory from VmHWM in /proc/<pid>/status."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by the nearest-rank method: a value that was observed."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {q}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the largest resident set the process has had, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for pid {pid}")


@dataclass(frozen=True)
class ProcessUsage:
    cpu_seconds: float
    peak_rss_mib: float


class CpuMeter:
    """CPU time each named group of processes spends between start() and stop()."""

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._before: dict[int, float] = {}

    def start(self) -> CpuMeter:
        self._before = {pid: cpu_seconds(pid) for pids in self._groups.values() for pid in pids}
        return self

    def stop(self) -> dict[str, ProcessUsage]:
        usage = {}
        for name, pids in self._groups.items():
            spent = sum(cpu_seconds(pid) - self._before[pid] for pid in pids)
            usage[name] = ProcessUsage(spent, sum(peak_rss_mib(pid) for pid in pids))
        return usage
