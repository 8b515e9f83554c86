"""The daily retention job: with `[database] retention_days` set, delete posts older than that and
what hangs off them (`repos.purge_older_than`, the same as `kolwatch db purge`).

The service ticks it hourly; the claim of the UTC day and the purge are one write transaction, so
several processes purge once a day between them, and a crash purges nothing and leaves the day
unclaimed for the next tick.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from kolwatch.settings import Settings
from storage import repos
from storage.db import Database

log = logging.getLogger(__name__)

JOB = "retention"


def run_retention(db: Database, settings: Settings, *, now: datetime) -> repos.PurgeResult | None:
    """Purge what is older than `retention_days` before `now`, once per UTC day; None when the
    setting is off or the day's purge was already done."""

    days = settings.database.retention_days
    if days is None:
        return None
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = repos.as_utc(now)
    cutoff = now - timedelta(days=days)
    with db.write() as session:
        if not repos.claim_job_period(session, job=JOB, period_key=f"{now:%Y-%m-%d}", now=now):
            return None
        result = repos.purge_older_than(session, cutoff=cutoff)
    log.info("retention (%d days): %s", days, result.summary())
    return result
