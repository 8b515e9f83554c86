"""APScheduler keeps time only: in-memory jobs that call the service's ticks.

The database is the truth (sources are leased, deliveries claimed, digests recorded per period),
so several processes can each run this scheduler without collecting or sending anything twice.
No job store is shared between processes (APScheduler 3 does not support that).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from kolwatch.service import Service

log = logging.getLogger(__name__)


def _guarded(name: str, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:  # one failing tick must not unschedule the job
            log.exception("job %s failed; it runs again at its next time", name)

    run.__name__ = f"job_{name}"
    return run


def build_scheduler(service: Service) -> AsyncIOScheduler:
    settings = service.settings
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    every = settings.service
    intervals: list[tuple[str, float, Callable[[], Awaitable[Any]]]] = [
        ("collect", every.tick_s, service.collect_tick),
        ("alerts", every.alerts_every_s, service.alerts_tick),
        ("outbox", every.outbox_every_s, service.outbox_tick),
        ("kol", every.kol_every_s, service.kol_tick),
    ]
    for name, seconds, job in intervals:
        scheduler.add_job(_guarded(name, job), IntervalTrigger(seconds=seconds), id=name, name=name)
    for ws in settings.workspaces:
        for period, cron in (("day", settings.digest.daily_cron), ("week", settings.digest.weekly_cron)):
            trigger = CronTrigger.from_crontab(cron, timezone=ws.timezone)

            async def digest(ws_name: str = ws.name, period: str = period) -> None:
                await service.digest_tick(ws_name, period)

            scheduler.add_job(
                _guarded(f"digest-{ws.name}-{period}", digest), trigger, id=f"digest:{ws.name}:{period}"
            )
    return scheduler
