"""Collectors through the real pipeline and database: health classes, admin alerts, re-seen counts.

Each test runs `Pipeline.collect_due` against an httpx.MockTransport that plays the platform, on a
SQLite file, and asserts on what the database and the outbox hold afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from collectors import weibo
from kolwatch.commands.sources import format_health_table
from kolwatch.context import sync_settings
from kolwatch.outbox import HEALTH_TEXT
from kolwatch.pipeline import Pipeline
from kolwatch.settings import Settings
from nlp.analyze import analyze
from storage import repos
from storage.db import Database
from storage.models import AlertRow, PostRow

NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)
UID = "1234500001"
Handler = Callable[[httpx.Request], httpx.Response]


def build_settings(db_url: str, tmp_path: Path, sources: list[dict[str, Any]]) -> Settings:
    fast = {"rate_per_s": 1000, "burst": 100, "retries": 0, "breaker_threshold": 1000}
    return Settings.model_validate(
        {
            "database": {"url": db_url},
            "service": {"alerts_dir": str(tmp_path / "alerts")},
            "collectors": {
                "weibo": {**fast, "base_url": "https://m.weibo.test", "max_pages_per_run": 3},
                "bilibili": {**fast, "base_url": "https://api.bili.test", "page_size": 2},
                "mastodon": {**fast, "base_url": "https://m.example"},
                "rss": {**fast, "base_url": "https://rsshub.test"},
            },
            "workspaces": [
                {
                    "name": "acme",
                    "channels": ["console"],
                    "watches": [{"name": "鹿角", "query": "鹿角咖啡 OR 鹿角"}],
                }
            ],
            "sources": [{"workspace": "acme", "every": "10m", **s} for s in sources],
        }
    )


class World:
    """A database, the settings, a mutable platform handler and a pipeline clock."""

    def __init__(self, tmp_path: Path, sources: list[dict[str, Any]]) -> None:
        url = f"sqlite:///{tmp_path / 'kw.db'}"
        self.db = Database(url)
        self.db.create_all()
        self.settings = build_settings(url, tmp_path, sources)
        sync_settings(self.db, self.settings)
        self.now = NOW
        self.handler: Handler = lambda request: httpx.Response(404)

    def pipeline(self) -> Pipeline:
        return Pipeline(
            self.db,
            self.settings,
            transport=httpx.MockTransport(lambda request: self.handler(request)),
            analyzer=lambda texts: analyze(texts),
            clock=lambda: self.now,
        )

    async def run(self) -> list[Any]:
        pipeline = self.pipeline()
        try:
            return await pipeline.collect_due(ignore_schedule=True)
        finally:
            await pipeline.aclose()
            self.now += timedelta(minutes=11)

    def health(self) -> list[repos.SourceHealthRow]:
        with self.db.read() as session:
            return repos.source_health(session)

    def health_alerts(self) -> list[AlertRow]:
        with self.db.read() as session:
            rows = session.exec(
                select(AlertRow).where(AlertRow.kind == "source_health").order_by(AlertRow.id)
            )
            return list(rows.all())

    def posts(self) -> dict[str, PostRow]:
        with self.db.read() as session:
            return {p.post_id: p for p in session.exec(select(PostRow)).all()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, [{"platform": "weibo", "kind": "user", "target": UID}])
    yield w
    w.db.dispose()


def weibo_user() -> dict[str, Any]:
    return {"id": int(UID), "screen_name": "小鹿爱喝拿铁", "followers_count": "3.2万"}


def weibo_mblog(post_id: int, text: str, *, likes: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(post_id),
        "created_at": "Thu Mar 21 10:00:00 +0800 2024",
        "text": text,
        "user": weibo_user(),
        "attitudes_count": likes,
        "reposts_count": 0,
        "comments_count": 0,
        **extra,
    }


def weibo_handler(mblogs: Callable[[], list[dict[str, Any]]], **routes: Handler) -> Handler:
    """m.weibo.cn: the profile, one timeline page of `mblogs()`, and any extra `routes` by path."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path in routes:
            return routes[request.url.path](request)
        if "containerid" not in request.url.params:
            return httpx.Response(200, json={"ok": 1, "data": {"userInfo": weibo_user()}})
        cards = [{"card_type": 9, "mblog": m} for m in mblogs()]
        return httpx.Response(200, json={"ok": 1, "data": {"cardlistInfo": {"since_id": 0}, "cards": cards}})

    return handle


# ------------------------------------------------------------------------------ health classes


async def test_a_collector_bug_is_recorded_as_a_parse_error_not_an_undocumented_class(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.handler = weibo_handler(lambda: [weibo_mblog(5000000000000001, "鹿角咖啡 好喝")])

    def broken(payload: Any) -> Any:
        raise KeyError("userInfo")  # what a parser bug looks like from the outside

    monkeypatch.setattr(weibo, "parse_profile", broken)
    [summary] = await world.run()
    assert summary.health == "parse_error"
    [row] = world.health()
    assert row.health == "parse_error"
    assert "internal error in the weibo collector: KeyError" in row.message
    table = format_health_table([row], NOW)
    assert "parse_error" in table and "internal error" in table
    [alert] = world.health_alerts()
    assert HEALTH_TEXT["parse_error"] in alert.body and "internal error" in alert.body


async def test_a_source_the_collector_cannot_read_is_a_parse_error(tmp_path: Path) -> None:
    w = World(tmp_path, [{"platform": "weibo", "kind": "user", "target": "not-a-uid"}])
    w.handler = weibo_handler(list)
    try:
        [summary] = await w.run()
        assert summary.health == "parse_error"
        assert "numeric uid" in summary.message
    finally:
        w.db.dispose()
