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
from collectors.base import SourceSpec
from collectors.http import make_client
from kolwatch.commands.sources import format_health_table
from kolwatch.context import sync_settings
from kolwatch.outbox import HEALTH_TEXT
from kolwatch.pipeline import Pipeline
from kolwatch.settings import Settings
from nlp.analyze import analyze
from storage import repos
from storage.db import Database
from storage.models import AlertRow, CounterRow, MentionRow, PostRow, SourceRow

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

    def cursor(self) -> dict[str, Any]:
        with self.db.read() as session:
            [row] = session.exec(select(SourceRow)).all()
            return dict(row.cursor)

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


async def test_a_failure_while_storing_is_not_blamed_on_the_collector(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.handler = weibo_handler(lambda: [weibo_mblog(5000000000000001, "鹿角咖啡 好喝")])

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(repos, "store_posts", locked)
    [summary] = await world.run()
    assert summary.health == "parse_error"
    assert summary.message == "internal error storing a weibo page: RuntimeError: database is locked"
    [row] = world.health()
    assert row.message == summary.message


async def test_a_source_the_collector_cannot_read_is_a_parse_error(tmp_path: Path) -> None:
    w = World(tmp_path, [{"platform": "weibo", "kind": "user", "target": "not-a-uid"}])
    w.handler = weibo_handler(list)
    try:
        [summary] = await w.run()
        assert summary.health == "parse_error"
        assert "numeric uid" in summary.message
    finally:
        w.db.dispose()


# ------------------------------------------------------------------- one bad item, not the source

A, LONG, NEWER = 5000000000000001, 5000000000000002, 5000000000000003


def timeline(*mblogs: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(mblogs, key=lambda m: int(m["id"]), reverse=True)


async def test_long_text_of_a_deleted_post_keeps_the_truncated_text_and_the_cursor_moves(
    world: World,
) -> None:
    cut = "鹿角咖啡 新品长文开头 ...<a href='/status/5000000000000002'>全文</a>"
    mblogs = [weibo_mblog(A, "鹿角咖啡 好喝"), weibo_mblog(LONG, cut, isLongText=True)]

    def gone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": 0, "msg": "该微博不存在"})

    world.handler = weibo_handler(lambda: timeline(*mblogs), **{"/statuses/extend": gone})
    [summary] = await world.run()
    assert summary.health == "ok", summary.message
    posts = world.posts()
    assert posts[str(LONG)].text == "鹿角咖啡 新品长文开头"  # the truncated text, not nothing
    assert world.cursor()["newest_id"] == str(LONG)

    mblogs.append(weibo_mblog(NEWER, "鹿角咖啡 第二天"))
    [summary] = await world.run()
    assert summary.health == "ok" and summary.new == 1
    assert str(NEWER) in world.posts()
    assert world.cursor()["newest_id"] == str(NEWER)


async def test_a_rate_limited_long_text_call_still_stops_the_source(world: World) -> None:
    mblogs = [weibo_mblog(A, "鹿角咖啡"), weibo_mblog(LONG, "长文...", isLongText=True)]
    world.handler = weibo_handler(
        lambda: timeline(*mblogs), **{"/statuses/extend": lambda request: httpx.Response(429)}
    )
    [summary] = await world.run()
    assert summary.health == "rate_limited"
    assert world.posts() == {} and world.cursor() == {}  # the page is retried next run, not skipped


async def test_a_deleted_original_without_time_or_user_keeps_the_repost(world: World) -> None:
    deleted = {"id": "4900000000000001", "user": None, "text": "抱歉，此微博已被作者删除。"}
    mblogs = [weibo_mblog(A, "转发 鹿角咖啡", retweeted_status=deleted), weibo_mblog(A - 1, "鹿角咖啡 早")]
    world.handler = weibo_handler(lambda: timeline(*mblogs))
    [summary] = await world.run()
    assert summary.health == "ok", summary.message
    posts = world.posts()
    assert set(posts) == {str(A), str(A - 1)}  # no row for the deleted original
    assert posts[str(A)].is_repost and posts[str(A)].parent_id == "4900000000000001"
    assert world.cursor()["newest_id"] == str(A)


async def test_failed_hot_comments_skip_only_that_posts_comments(tmp_path: Path) -> None:
    w = World(tmp_path, [{"platform": "weibo", "kind": "user", "target": UID, "options": {"comments": 2}}])
    comment = {
        "id": "4900000000009999",
        "text": "鹿角咖啡 同感",
        "created_at": "Thu Mar 21 10:05:00 +0800 2024",
        "user": {"id": 42, "screen_name": "路人"},
        "like_count": 3,
    }

    def comments(request: httpx.Request) -> httpx.Response:
        if request.url.params["id"] == str(A):
            return httpx.Response(500)
        return httpx.Response(200, json={"ok": 1, "data": {"data": [comment], "max_id": 0}})

    mblogs = [weibo_mblog(A, "鹿角咖啡 一"), weibo_mblog(NEWER, "鹿角咖啡 二")]
    w.handler = weibo_handler(lambda: timeline(*mblogs), **{"/comments/hotflow": comments})
    try:
        [summary] = await w.run()
        assert summary.health == "ok", summary.message
        posts = w.posts()
        assert set(posts) == {str(A), str(NEWER), "4900000000009999"}
        assert posts["4900000000009999"].parent_id == str(NEWER)
        assert w.cursor()["newest_id"] == str(NEWER)
    finally:
        w.db.dispose()


async def test_many_failed_per_post_calls_do_not_open_the_sources_breaker() -> None:
    ids = [5000000000000010 + i for i in range(4)]
    handler = weibo_handler(
        lambda: timeline(*(weibo_mblog(i, "长文...", isLongText=True) for i in ids)),
        **{"/statuses/extend": lambda request: httpx.Response(200, json={"ok": 0, "msg": "该微博不存在"})},
    )
    settings = weibo.WeiboSettings(
        base_url="https://m.weibo.test", rate_per_s=1000, burst=100, breaker_threshold=2
    )
    async with make_client(settings, transport=httpx.MockTransport(handler), cookies={}) as client:
        collector = weibo.WeiboCollector(client, settings, now=lambda: NOW)
        for _ in range(2):  # the second run still reads the timeline
            pages = [page async for page in collector.collect(SourceSpec("weibo", "user", UID), {})]
            posts = [p for page in pages for p in page.posts]
            assert sorted(p.post_id for p in posts) == [str(i) for i in ids]
            assert all(p.raw and "longtext_failed" in p.raw for p in posts)


# ------------------------------------------------------------------ re-seen posts refresh counts


class ThreePlatforms:
    """Weibo user, Bilibili user and Mastodon hashtag timelines whose like counts can change."""

    def __init__(self) -> None:
        self.likes = {"weibo": 10, "bilibili": 20, "mastodon": 30}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if host == "m.weibo.test":
            mblog = weibo_mblog(A, "鹿角咖啡 桂花拿铁", likes=self.likes["weibo"])
            return weibo_handler(lambda: [mblog])(request)
        if host == "api.bili.test":
            return httpx.Response(200, json={"code": 0, "data": self._bilibili(path)})
        account = {"id": "1", "acct": "kafei", "url": "https://m.example/@kafei", "followers_count": 5}
        status = {
            "id": "110000000000000001",
            "uri": "https://m.example/users/kafei/statuses/1",
            "created_at": "2024-03-21T02:00:00Z",
            "content": "<p>鹿角咖啡 #鹿角</p>",
            "favourites_count": self.likes["mastodon"],
            "reblogs_count": 1,
            "replies_count": 0,
            "account": account,
        }
        return httpx.Response(200, json=[status])

    def _bilibili(self, path: str) -> dict[str, Any]:
        if path == "/x/web-interface/nav":
            wbi = "https://i0.hdslb.com/bfs/wbi/"
            return {"wbi_img": {"img_url": wbi + "a" * 32 + ".png", "sub_url": wbi + "b" * 32 + ".png"}}
        if path == "/x/frontend/finger/spi":
            return {"b_3": "1A2B3C4D-5E6F-7A8B-9C0D-E1F2A3B4C5D6infoc"}
        if path == "/x/web-interface/card":
            return {"card": {"mid": "42", "name": "咖啡实验室"}, "follower": 1000}
        if path == "/x/relation/stat":
            return {"follower": 1000}
        video = {
            "bvid": "BV1kw000901",
            "mid": 42,
            "title": "鹿角咖啡盲测",
            "created": 1711000000,
            "play": 100,
            "comment": 3,
            "like": self.likes["bilibili"],
        }
        return {"list": {"vlist": [video]}, "page": {"pn": 1, "ps": 2, "count": 1}}


async def test_a_second_run_updates_counts_in_place_and_adds_no_rows(tmp_path: Path) -> None:
    w = World(
        tmp_path,
        [
            {"platform": "weibo", "kind": "user", "target": UID},
            {"platform": "bilibili", "kind": "user", "target": "42"},
            {"platform": "mastodon", "kind": "hashtag", "target": "鹿角"},
        ],
    )
    platforms = ThreePlatforms()
    w.handler = platforms
    try:
        first = await w.run()
        assert [(s.platform, s.health, s.new) for s in first] == [
            ("weibo", "ok", 1),
            ("bilibili", "ok", 1),
            ("mastodon", "ok", 1),
        ]
        before = w.posts()
        with w.db.read() as session:
            mentions = len(session.exec(select(MentionRow)).all())
            volume = sum(c.raw_volume for c in session.exec(select(CounterRow)).all())
        assert len(before) == 3 and mentions == 3

        platforms.likes = {"weibo": 11, "bilibili": 25, "mastodon": 31}
        second = await w.run()
        assert [(s.health, s.seen, s.new) for s in second] == [("ok", 1, 0)] * 3
        after = w.posts()
        assert set(after) == set(before)  # no new rows
        assert {p.platform: p.likes for p in after.values()} == platforms.likes
        assert all(after[k].text == before[k].text for k in before)
        with w.db.read() as session:  # matched and counted once, not again on re-seeing
            assert len(session.exec(select(MentionRow)).all()) == mentions
            assert sum(c.raw_volume for c in session.exec(select(CounterRow)).all()) == volume
        assert sorted(r.posts_total for r in w.health()) == [1, 1, 1]
    finally:
        w.db.dispose()


# ----------------------------------------------------------------------------- alert once


async def test_health_alerts_fire_on_healthy_unhealthy_transitions_only(world: World) -> None:
    ok = weibo_handler(lambda: [weibo_mblog(A, "鹿角咖啡")])
    outages = {"network": httpx.Response(500), "blocked": httpx.Response(418)}
    plan = ["ok", "network", "blocked", "network", "blocked", "ok", "network"]
    stored: list[str] = []
    for step in plan:
        world.handler = ok if step == "ok" else (lambda request, step=step: outages[step])
        [summary] = await world.run()
        assert summary.health == step
        stored.append(world.health()[0].health)
    assert stored == plan  # the stored class follows every change, failure to failure too
    alerts = world.health_alerts()
    # ok -> network alerts; network <-> blocked flapping does not; blocked -> ok is the recovery;
    # ok -> network again is a new incident.
    assert [(a.details["old"], a.details["new"]) for a in alerts] == [
        ("ok", "network"),
        ("blocked", "ok"),
        ("ok", "network"),
    ]
    assert [a.level for a in alerts] == [2, 1, 2]
    with world.db.read() as session:  # each alert has its delivery in the outbox
        assert repos.delivery_counts(session) == {"pending": 3}
