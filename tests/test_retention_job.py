"""The daily retention job: `[database] retention_days` purges on its own, once per UTC day."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from kolwatch.retention_job import run_retention
from kolwatch.scheduler import build_scheduler
from kolwatch.settings import Settings, load_settings
from storage import repos
from storage.db import Database
from storage.models import PostRow
from tests.storage.test_repos import NOW, analysis, post


def settings(retention_days: int | None) -> Settings:
    database = {} if retention_days is None else {"retention_days": retention_days}
    return Settings.model_validate({"database": database})


def store_old_and_new(db: Database) -> None:
    with db.write() as s:
        repos.upsert_posts(
            s,
            posts=[post("old", minutes_ago=60 * 24 * 40), post("new", minutes_ago=60)],
            analyses=[analysis()] * 2,
            now=NOW,
        )


def post_ids(db: Database) -> list[str]:
    with db.read() as s:
        return sorted(r.post_id for r in s.exec(select(PostRow)).all())


def test_purges_once_per_day_and_logs_what_it_removed(
    any_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    store_old_and_new(any_db)
    with caplog.at_level(logging.INFO, logger="kolwatch.retention_job"):
        result = run_retention(any_db, settings(30), now=NOW)
    assert result is not None and result.posts == 1
    assert post_ids(any_db) == ["new"]
    assert "retention (30 days)" in caplog.text and "1 posts" in caplog.text
    # The same UTC day (another process, or the next hourly tick): already done.
    store_old_and_new(any_db)
    assert run_retention(any_db, settings(30), now=NOW + timedelta(hours=5)) is None
    assert post_ids(any_db) == ["new", "old"]
    # The next day purges again.
    again = run_retention(any_db, settings(30), now=NOW + timedelta(days=1))
    assert again is not None and again.posts == 1
    assert post_ids(any_db) == ["new"]


def test_without_retention_days_nothing_is_purged(any_db: Database) -> None:
    store_old_and_new(any_db)
    assert run_retention(any_db, settings(None), now=NOW) is None
    assert post_ids(any_db) == ["new", "old"]


def test_the_service_schedules_it_only_when_retention_days_is_set() -> None:
    async def tick() -> None:
        return None

    def jobs(conf: Settings) -> set[str]:
        service = SimpleNamespace(
            settings=conf,
            collect_tick=tick,
            alerts_tick=tick,
            outbox_tick=tick,
            kol_tick=tick,
            retention_tick=tick,
            digest_tick=tick,
        )
        return {job.id for job in build_scheduler(service).get_jobs()}  # type: ignore[arg-type]

    assert "retention" in jobs(settings(180))
    assert "retention" not in jobs(settings(None))
    assert load_settings("/dev/null", environ={}).database.retention_days is None  # off by default
