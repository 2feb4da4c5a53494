"""Periodic upkeep inside each server process: a list of jobs, each run on its own interval.

Every worker of every instance runs the same jobs, so each job must be safe to run in
several places at once (a purge's deletes are idempotent). To keep them from all running at
the same moment, each job's first run falls anywhere within its first interval, and every
later interval is stretched or shortened at random by up to ``jitter``. A job that fails is
logged and counted, and runs again at its next turn; one slow job never delays another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ssooidc.observability import metrics

log = logging.getLogger("ssooidc.maintenance")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    """``run`` every ``interval`` seconds; an interval of 0 or less turns the job off."""

    name: str
    interval: float
    run: Callable[[], Awaitable[object]]


class Maintenance:
    """The jobs of one process, started and stopped with it (the app's lifespan)."""

    def __init__(
        self,
        jobs: Iterable[PeriodicJob],
        *,
        jitter: float = 0.25,
        random_fraction: Callable[[], float] = random.random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be at least 0 and less than 1")
        self.jobs = tuple(job for job in jobs if job.interval > 0)
        self._jitter = jitter
        self._random = random_fraction
        self._sleep = sleep
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Schedule every job on the running event loop."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.get_running_loop().create_task(self._loop(job), name=f"maintenance:{job.name}")
            for job in self.jobs
        ]

    async def stop(self) -> None:
        """Cancel the jobs and wait until each has stopped."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def delays(self, job: PeriodicJob) -> Iterable[float]:
        """The waits before each run: the first anywhere in one interval, then jittered."""
        yield job.interval * self._random()
        while True:
            yield job.interval * (1 - self._jitter + 2 * self._jitter * self._random())

    async def _loop(self, job: PeriodicJob) -> None:
        for delay in self.delays(job):
            await self._sleep(delay)
            await self.run_once(job)

    async def run_once(self, job: PeriodicJob) -> bool:
        """Run ``job`` now; False (logged and counted) when it failed."""
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("maintenance job %s failed; it runs again at its next turn", job.name)
            metrics.maintenance_run(job.name, "error")
            return False
        metrics.maintenance_run(job.name, "ok")
        return True
