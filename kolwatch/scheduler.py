"""APScheduler keeps time only: in-memory jobs that call the service's ticks.

The database is the truth (sources are leased, deliveries claimed, digests recorded per period),
so several processes can each run this scheduler without collecting or sending anything twice.
No job store is shared between processes (APScheduler 3 does not support that).

Digest times are standard crontab lines in each workspace's timezone. APScheduler 3 numbers the
days of the week from Monday = 0, while crontab uses Sunday = 0 (and 7): `crontab_trigger`
translates the day-of-week field to day names itself instead of `CronTrigger.from_crontab`,
which would send the Monday ("1") digest on Tuesday.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from kolwatch.service import Service

log = logging.getLogger(__name__)


# Crontab day numbers: 0 and 7 are Sunday. APScheduler 3 takes names, which mean the same in both.
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NUMBER = {name: number for number, name in enumerate(_DAY_NAMES)}
_DOW_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(\d+))?$")


def _day_number(token: str) -> int:
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise ValueError(f"day of week {token!r} is not 0-7 (0 and 7 are Sunday)")
        return number
    if token in _DAY_NUMBER:
        return _DAY_NUMBER[token]
    raise ValueError(f"day of week {token!r} is not a number 0-7 or a name sun..sat")


def cron_days_of_week(field: str) -> str:
    """A crontab day-of-week field (0-7 with 0 and 7 = Sunday, names, ranges, lists, steps) as
    APScheduler 3's `day_of_week`: "*" or a list of day names ("mon", "mon,wed,fri")."""

    days: set[int] = set()
    for item in field.strip().lower().split(","):
        match = _DOW_ITEM.match(item)
        if not match:
            raise ValueError(f"cannot read day of week {item!r}")
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step in day of week {item!r} must be at least 1")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-")
            first, last = _day_number(a), _day_number(b)
            if last == 0 and first > 0:  # "mon-sun", "5-0": Sunday closes the week
                last = 7
            if last < first:
                raise ValueError(f"day-of-week range {item!r} runs backwards")
        else:
            first = _day_number(span)
            last = 7 if step_text else first  # "1/2" = from Monday on, every other day
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    # Monday first, as people read a week; APScheduler takes the names in any order.
    return ",".join(_DAY_NAMES[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def crontab_trigger(expr: str, timezone: str | tzinfo) -> CronTrigger:
    """A CronTrigger firing when crontab `expr` ("m h dom mon dow") would, in `timezone`.

    ValueError (with the reason) for an expression that is not five valid crontab fields, and for
    one restricting both day of month and day of week: cron fires when *either* matches,
    APScheduler only when both do, so such a line would silently run on other days.
    """

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"need 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    minute, hour, day, month, dow = fields
    if day != "*" and dow != "*":
        raise ValueError(
            "restricting both day of month and day of week is not supported "
            "(cron runs when either matches); use one of them and '*' for the other"
        )
    values = {"minute": minute, "hour": hour, "day": day, "month": month}
    for name, value in values.items():
        try:
            CronTrigger(**{name: value}, timezone="UTC")
        except ValueError as exc:  # say which field: APScheduler's message only quotes the value
            raise ValueError(f"{name.replace('day', 'day of month')} {value!r}: {exc}") from None
    return CronTrigger(**values, day_of_week=cron_days_of_week(dow), timezone=timezone)


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
    if settings.database.retention_days is not None:
        # Hourly tries, one purge per UTC day (claimed in the database): a process that was down
        # at some fixed hour still purges that day.
        intervals.append(("retention", 3600.0, service.retention_tick))
    for name, seconds, job in intervals:
        scheduler.add_job(_guarded(name, job), IntervalTrigger(seconds=seconds), id=name, name=name)
    for ws in settings.workspaces:
        for period, cron in (("day", settings.digest.daily_cron), ("week", settings.digest.weekly_cron)):
            trigger = crontab_trigger(cron, ws.timezone)

            async def digest(ws_name: str = ws.name, period: str = period) -> None:
                await service.digest_tick(ws_name, period)

            scheduler.add_job(
                _guarded(f"digest-{ws.name}-{period}", digest), trigger, id=f"digest:{ws.name}:{period}"
            )
    return scheduler
