"""Background jobs on APScheduler: interval jobs that never overlap themselves.

Every replica runs its own scheduler (an APScheduler job store cannot be shared between processes);
jobs that touch shared state must claim their work in the database so that this is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from services.runtime.metrics import counted_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobInfo:
    id: str
    next_run_time: dt.datetime | None
    interval_seconds: float


class JobScheduler:
    """Interval jobs in a background thread; `enabled=False` (SCHEDULER_ENABLED=false) runs nothing."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            # A slow run is never doubled up, and runs missed while busy collapse into one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def every(self, seconds: float, job_id: str, func: Callable[[], object]) -> None:
        """Runs `func` every `seconds` (fractions allowed), first after one interval."""
        self._scheduler.add_job(
            counted_job(job_id, func),
            IntervalTrigger(seconds=seconds, timezone=dt.UTC),
            id=job_id,
            name=job_id,
        )

    def start(self) -> None:
        if not self.enabled:
            log.info("scheduler disabled (SCHEDULER_ENABLED=false); jobs run only when asked")
            return
        self._scheduler.start()
        for job in self.jobs():
            log.info("job %s every %.1fs", job.id, job.interval_seconds)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def jobs(self) -> list[JobInfo]:
        return [
            JobInfo(
                id=job.id,
                next_run_time=getattr(job, "next_run_time", None) if self.running else None,
                interval_seconds=job.trigger.interval.total_seconds(),
            )
            for job in self._scheduler.get_jobs()
        ]
