"""When the purge (and any other periodic job) runs: each job on its own jittered interval,
the first run anywhere in the first interval, a failing job logged and run again."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from ssooidc.services.maintenance import Maintenance, PeriodicJob

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the test never depends on whether the test
    process's main thread already runs an event loop (a browser test's may)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class ScriptedSleep:
    """An ``asyncio.sleep`` stand-in: records each wait, and lets time pass at once."""

    def __init__(self) -> None:
        self.waits: list[tuple[str, float]] = []

    async def __call__(self, seconds: float) -> None:
        task = asyncio.current_task()
        self.waits.append((task.get_name() if task else "?", seconds))
        await asyncio.sleep(0)


def test_the_first_run_falls_anywhere_in_the_interval_then_jittered() -> None:
    fractions = itertools.cycle([0.0, 0.5, 1.0])
    maintenance = Maintenance(
        [PeriodicJob("purge", 300, lambda: asyncio.sleep(0))],
        jitter=0.25,
        random_fraction=lambda: next(fractions),
    )
    delays = list(itertools.islice(maintenance.delays(maintenance.jobs[0]), 4))
    assert delays == [0.0, 300.0, 375.0, 225.0]


def test_workers_do_not_all_purge_at_the_same_moment() -> None:
    job = PeriodicJob("purge", 300, lambda: asyncio.sleep(0))
    first_runs = [next(iter(Maintenance([job]).delays(job))) for _ in range(8)]
    assert all(0 <= s < 300 for s in first_runs)
    assert len({round(s, 3) for s in first_runs}) == 8


def test_jobs_run_on_their_own_intervals_and_a_failure_does_not_stop_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[str] = []

    async def purge() -> None:
        runs.append("purge")

    async def broken() -> None:
        runs.append("broken")
        raise RuntimeError("the store is away")

    sleep = ScriptedSleep()
    maintenance = Maintenance(
        [
            PeriodicJob("purge", 10, purge),
            PeriodicJob("broken", 20, broken),
            PeriodicJob("off", 0, purge),
        ],
        random_fraction=lambda: 0.5,
        sleep=sleep,
    )
    assert [job.name for job in maintenance.jobs] == ["purge", "broken"]

    async def scenario() -> None:
        maintenance.start()
        for _ in range(20):
            await asyncio.sleep(0)
        await maintenance.stop()

    with caplog.at_level(logging.ERROR, logger="ssooidc.maintenance"):
        run(scenario())
    assert runs.count("purge") >= 3 and runs.count("broken") >= 3
    waits = {
        name: [s for n, s in sleep.waits if n == name]
        for name in ("maintenance:purge", "maintenance:broken")
    }
    assert waits["maintenance:purge"][:3] == [5.0, 10.0, 10.0]
    assert waits["maintenance:broken"][:3] == [10.0, 20.0, 20.0]
    failures = [r for r in caplog.records if "broken" in r.getMessage()]
    assert failures and failures[0].exc_info is not None


def test_stop_cancels_a_job_that_is_running() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    maintenance = Maintenance([PeriodicJob("slow", 1, slow)], random_fraction=lambda: 0.0)

    async def scenario() -> None:
        maintenance.start()
        await asyncio.wait_for(started.wait(), 5)
        await maintenance.stop()

    run(scenario())
    assert cancelled == [True]


def test_jitter_must_leave_the_interval_positive() -> None:
    with pytest.raises(ValueError):
        Maintenance([], jitter=1.0)
