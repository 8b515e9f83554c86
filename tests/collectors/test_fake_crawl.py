"""End-to-end crawls against the local fake platform: pagination, incremental cursors, faults, rate limit."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select

from collectors import COLLECTORS
from collectors.base import Blocked, CollectorError, LoginRequired, ParseError, Post, SourceSpec
from collectors.http import CircuitOpen, HostLimiters, ScaledClock, make_client
from kolwatch.context import sync_settings
from kolwatch.fake_platform import FakePlatform, load_scenario
from kolwatch.pipeline import Pipeline
from kolwatch.settings import Settings
from nlp.analyze import analyze
from storage.db import Database
from storage.models import MentionRow, PostRow, SourceRow, SourceRunRow

NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)


def _settings(platform: str, base_url: str, **kw: Any) -> Any:
    section: dict[str, Any] = {
        "base_url": base_url,
        "rate_per_s": 4.0,
        "burst": 2,
        "retries": 3,
        "backoff_base_s": 0.5,
        "backoff_max_s": 10.0,
        "max_pages_per_run": 4,
        "breaker_threshold": 50,
    }
    if platform == "weibo":
        section.update(hot_json_url="/ajax/side/hotSearch", hot_html_url="/top/summary")
    section.update(kw)
    return COLLECTORS[platform].Settings(**section)


async def _run(collector: Any, spec: SourceSpec, cursor: dict[str, Any]) -> tuple[list[Post], dict[str, Any]]:
    posts: list[Post] = []
    async for page in collector.collect(spec, cursor):
        posts.extend(page.posts)
        cursor = page.cursor
    return posts, cursor


def _is_new(post: Post, cursor: dict[str, Any]) -> bool:
    """Newer than the run's starting cursor (Weibo: id above newest_id; Bilibili: time, then id)."""

    if post.platform == "weibo":
        return int(post.post_id) > int(cursor["newest_id"])
    ts = int(post.created_at.timestamp())
    return ts > cursor["newest_ts"] or (
        ts == cursor["newest_ts"] and post.post_id not in cursor["newest_ids"]
    )


class JumpClock:
    """Virtual time that moves only when someone sleeps (backoff, Retry-After, the token bucket,
    a slow server): the real latency of a request costs no virtual time at all. With it, a client
    without a rate limiter sends its whole crawl in a handful of virtual instants, whatever the
    machine's speed, while a limited one is spaced exactly by its bucket."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def assert_token_bucket(stamps: list[float], *, rate: float, burst: int) -> None:
    """No window of the server's request log holds more than burst + rate * width requests (plus
    one for a request whose token was granted just before a concurrent sleep moved the clock)."""

    stamps = sorted(stamps)
    worst = (0.0, 0, 0.0, 0.0)  # excess, requests, window start, window end
    for i, first in enumerate(stamps):
        for j in range(i, len(stamps)):
            excess = (j - i + 1) - (burst + rate * (stamps[j] - first) + 1)
            if excess > worst[0]:
                worst = (excess, j - i + 1, first, stamps[j])
    excess, count, start, end = worst
    assert excess <= 1e-9, f"{count} requests in [{start:.2f}, {end:.2f}] s: {excess:.1f} over the bucket"


def _feed(items: int) -> str:
    fresh = datetime.now(UTC)
    entries = "".join(
        f"<item><title>鹿角咖啡 探店笔记 {n}</title><link>https://www.xiaohongshu.com/explore/n{n}</link>"
        f"<author>小鹿</author><pubDate>{format_datetime(fresh - timedelta(minutes=60 - n))}</pubDate></item>"
        for n in range(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>小鹿 的小红书</title>"
        f"<link>https://www.xiaohongshu.com/user/profile/5a1</link><generator>RSSHub</generator>{entries}"
        "</channel></rss>"
    )


async def test_crawl_200_pages_with_faults_stored_once_and_rate_limited(tmp_path: Any) -> None:
    """23 Weibo and Bilibili accounts walked over their whole history (200+ pages, with faults),
    plus an RSSHub feed, through the real pipeline into SQLite: every post stored once, every
    failure recorded as source health, and the fake server's request log obeys the token bucket."""

    clock = JumpClock()
    scenario = load_scenario()
    server = FakePlatform(scenario, clock=clock, now=NOW, page_size=5)
    base = await server.start()
    rate, burst = 4.0, 2
    limiters = HostLimiters(clock)
    weibo_settings = _settings("weibo", base, max_pages_per_run=5, rate_per_s=rate, burst=burst)
    bili_settings = _settings("bilibili", base, page_size=5, rate_per_s=rate, burst=burst)
    rss_settings = COLLECTORS["rss"].Settings(base_url="https://rsshub.test", rate_per_s=rate, burst=burst)
    feed_items = [3]
    rss_transport = httpx.MockTransport(lambda request: httpx.Response(200, text=_feed(feed_items[0])))
    clients = [
        make_client(weibo_settings, clock=clock, limiters=limiters, rng=random.Random(1), cookies={}),
        make_client(bili_settings, clock=clock, limiters=limiters, rng=random.Random(2), cookies={}),
        make_client(rss_settings, clock=clock, limiters=limiters, transport=rss_transport),
    ]
    weibo = COLLECTORS["weibo"](clients[0], weibo_settings, now=lambda: NOW)
    bili = COLLECTORS["bilibili"](clients[1], bili_settings, wall_clock=lambda: NOW.timestamp())
    rss = COLLECTORS["rss"](clients[2], rss_settings)

    counts = Counter((p.platform, p.author) for posts in server.posts.values() for p in posts)
    specs = [(platform, author) for (platform, author), _ in counts.most_common(19)]
    specs += [("bilibili", mid) for mid in ("100000001", "100000002", "100000003", "100000004")]
    expected = {pid for platform, author in specs for pid in _own(server, platform, author)}
    db_url = f"sqlite:///{tmp_path / 'crawl.db'}"
    settings = Settings.model_validate(
        {
            "database": {"url": db_url},
            "workspaces": [{"name": "acme", "watches": [{"name": "鹿角", "query": "鹿角咖啡"}]}],
            "sources": [{"workspace": "acme", "platform": p, "kind": "user", "target": t} for p, t in specs]
            + [
                {
                    "workspace": "acme",
                    "platform": "rss",
                    "kind": "feed",
                    "target": "/xiaohongshu/user/5a1/notes",
                }
            ],
        }
    )
    db = Database(db_url)
    db.create_all()
    sync_settings(db, settings)
    pipeline = Pipeline(db, settings, analyzer=lambda texts: analyze(texts))
    pipeline._collectors.update(weibo=weibo, bilibili=bili, rss=rss)  # clients on the virtual clock
    with db.write() as session:  # a floor older than every post: each source walks its whole history
        for row in session.exec(select(SourceRow)).all():
            if row.platform in ("weibo", "bilibili"):
                row.cursor = (
                    {"newest_id": "1"} if row.platform == "weibo" else {"newest_ts": 1, "newest_ids": []}
                )
        ids = [row.id for row in session.exec(select(SourceRow).order_by(SourceRow.id)).all()]

    # Faults that retries absorb (slow, 5xx, 429 with Retry-After) and ones that fail a run.
    server.inject("500", path="/api/container/getIndex", times=3)
    server.inject("429", path="/api/container/getIndex", times=2, retry_after=2)
    server.inject("slow", path="/x/space/wbi/arc/search", times=2, delay=0.5)
    server.inject("truncated", path="/statuses/extend", times=1)  # costs one post its full text
    server.inject("login_redirect", path="/api/container/getIndex", times=1)
    server.inject("-352", path="/x/space/wbi/arc/search", times=2)  # two in a row outlast the key refresh
    server.inject("truncated", path="/x/space/wbi/arc/search", times=1)
    try:
        for rounds in range(1, 30):  # noqa: B007 (read after the loop)
            for source_id in ids:  # one source at a time: the pipeline's own claim, store and finish
                await pipeline.collect_due(only_ids=[source_id], ignore_schedule=True)
            feed_items[0] += 1  # a new note in the feed every round
            with db.read() as session:
                stored = {p.post_id for p in session.exec(select(PostRow)).all()}
            if expected <= stored:
                break
        assert rounds < 29, "crawl did not converge"
        with db.read() as session:
            rows = session.exec(select(PostRow)).all()
            sources = {s.target: s for s in session.exec(select(SourceRow)).all()}
            outcomes = Counter(r.outcome for r in session.exec(select(SourceRunRow)).all())
            mentions = session.exec(select(MentionRow)).all()
    finally:
        await pipeline.aclose()
        for client in clients:
            await client.aclose()
        await server.stop()
        db.dispose()

    # Stored once: every post a new row exactly once, counted once as new by the source that found it.
    assert expected <= {r.post_id for r in rows}
    assert sum(s.posts_total for s in sources.values()) == len(rows)
    assert len({(m.watch_id, m.post_pk, m.competitor) for m in mentions}) == len(mentions) > 0
    notes = {r.post_id for r in rows if r.platform == "xiaohongshu"}
    assert len(notes) == feed_items[0] - 1 and sources["/xiaohongshu/user/5a1/notes"].posts_total == len(
        notes
    )
    for platform, author in specs:
        own = _own(server, platform, author)
        newest = max(own, key=lambda pid: (server.by_id[pid].created, pid))
        cursor = sources[author].cursor
        if platform == "weibo":
            assert cursor == {"newest_id": newest, "newest_at": cursor["newest_at"]}
        else:
            assert cursor["newest_ts"] == int(server.by_id[newest].created.timestamp())
            assert "catchup" not in cursor
    # Failures are recorded as the runs' health, and the sources recovered.
    assert (outcomes["login_required"], outcomes["blocked"], outcomes["parse_error"]) == (1, 1, 1)
    assert {s.health for s in sources.values()} == {"ok"}
    truncated = next(r.query["id"] for r in server.requests if r.path == "/statuses/extend")
    by_id = {r.post_id: r for r in rows}
    assert len(by_id[truncated].text) < len(server.by_id[truncated].text)  # the cut text, kept
    pages = sum(
        1
        for r in server.requests
        if r.status == 200
        and (
            r.path == "/x/space/wbi/arc/search"
            or (r.path == "/api/container/getIndex" and "containerid" in r.query)
        )
    )
    assert pages >= 200, pages
    # Per-host rate limit, from the server's request log in virtual seconds.
    assert_token_bucket([r.t for r in server.requests], rate=rate, burst=burst)


def _own(server: FakePlatform, platform: str, author: str) -> set[str]:
    return {p.post_id for p in server.posts[platform] if p.author == author}


async def test_incremental_runs_see_new_posts_once() -> None:
    scenario = load_scenario()
    clock = ScaledClock(50.0)
    server = FakePlatform(scenario, clock=clock, now=NOW, page_size=5)
    base = await server.start()
    try:
        settings = _settings("weibo", base, max_pages_per_run=3, rate_per_s=50.0, burst=10)
        client = make_client(settings, clock=clock, limiters=HostLimiters(clock), cookies={})
        collector = COLLECTORS["weibo"](client, settings)
        collector._now = lambda: NOW  # type: ignore[attr-defined]
        spec = SourceSpec("weibo", "user", "6300000001")
        own = [p for p in server.posts["weibo"] if p.author == "6300000001"]
        async with client:
            first, cursor = await _run(collector, spec, {})
            first_ids = [p.post_id for p in first if p.author.author_id == spec.target]
            assert first_ids == [p.post_id for p in own[:15]]
            assert cursor["newest_id"] == own[0].post_id
            # Nothing new: the first page is read again and its posts come back for their counts.
            server.by_id[own[0].post_id].likes += 100
            again, cursor2 = await _run(collector, spec, cursor)
            assert [p.post_id for p in again if p.author.author_id == spec.target] == [
                p.post_id for p in own[:5]
            ]
            assert again[0].likes == own[0].likes  # the fresh count
            assert cursor2["newest_id"] == own[0].post_id
            # Twelve new posts arrive: more than one page, fewer than the budget.
            newest = int(own[0].post_id)
            for i in range(12):
                post = type(own[0])(
                    **{
                        **own[0].__dict__,
                        "post_id": str(newest + 10 + i),
                        "repost_of": None,
                        "text": f"新品{i}号 [赞]",
                        "created": NOW,
                    }
                )
                server.posts["weibo"].insert(0, post)
                server.by_id[post.post_id] = post
            server.posts["weibo"].sort(key=lambda p: (p.created, p.post_id), reverse=True)
            fresh, cursor3 = await _run(collector, spec, cursor2)
            mine = [p for p in fresh if p.author.author_id == spec.target]
            assert sorted(p.post_id for p in mine if _is_new(p, cursor2)) == [
                str(newest + 10 + i) for i in range(12)
            ]
            # The third page met the known posts: those come again, and nothing older than it.
            assert [p.post_id for p in mine if not _is_new(p, cursor2)] == [p.post_id for p in own[:3]]
            assert cursor3["newest_id"] == str(newest + 21)
            assert "catchup" not in cursor3
    finally:
        await server.stop()


async def test_catchup_resumes_after_budget_without_gap() -> None:
    clock = ScaledClock(50.0)
    server = FakePlatform(load_scenario(), clock=clock, now=NOW, page_size=5)
    base = await server.start()
    try:
        settings = _settings("weibo", base, max_pages_per_run=1, rate_per_s=50.0, burst=10)
        client = make_client(settings, clock=clock, limiters=HostLimiters(clock), cookies={})
        collector = COLLECTORS["weibo"](client, settings)
        collector._now = lambda: NOW  # type: ignore[attr-defined]
        spec = SourceSpec("weibo", "user", "6300000002")
        own = [p for p in server.posts["weibo"] if p.author == spec.target]
        floor = own[11]  # pretend we had seen everything up to the 12th newest post
        cursor: dict[str, Any] = {"newest_id": floor.post_id}
        seen: list[str] = []
        async with client:
            for _ in range(5):
                posts, cursor = await _run(collector, spec, cursor)
                seen += [p.post_id for p in posts if p.author.author_id == spec.target]
                if "catchup" not in cursor:
                    break
        # Every new post once, in order, then the known ones on the last page read (for counts).
        assert seen == [p.post_id for p in own[:15]]
        assert cursor == {"newest_id": own[0].post_id, "newest_at": cursor["newest_at"]}
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("432", Blocked),
        ("418", Blocked),
        ("login_html", LoginRequired),
        ("html", ParseError),
        ("captcha", Blocked),
        ("ok-100", LoginRequired),
        ("truncated", ParseError),
    ],
)
async def test_faults_are_classified(fault: str, error: type[CollectorError]) -> None:
    clock = ScaledClock(50.0)
    server = FakePlatform(load_scenario(), clock=clock, now=NOW)
    base = await server.start()
    try:
        settings = _settings("weibo", base, rate_per_s=100.0, burst=10, breaker_threshold=1)
        client = make_client(settings, clock=clock, limiters=HostLimiters(clock), cookies={})
        collector = COLLECTORS["weibo"](client, settings)
        server.inject(fault, times=1)
        spec = SourceSpec("weibo", "user", "6100000003")
        async with client:
            with pytest.raises(error):
                await _run(collector, spec, {})
            with pytest.raises(CircuitOpen) as info:
                await _run(collector, spec, {})
            assert info.value.health == error.health
    finally:
        await server.stop()


async def test_bilibili_search_video_and_hotlists() -> None:
    clock = ScaledClock(50.0)
    server = FakePlatform(load_scenario(), clock=clock, now=NOW)
    base = await server.start()
    try:
        limiters = HostLimiters(clock)
        settings = _settings("bilibili", base, rate_per_s=100.0, burst=10)
        client = make_client(settings, clock=clock, limiters=limiters, cookies={})
        bili = COLLECTORS["bilibili"](client, settings, wall_clock=lambda: NOW.timestamp())
        hot_settings = COLLECTORS["hotlist"].Settings(
            base_url=base,
            weibo_url="/ajax/side/hotSearch",
            weibo_html_url="/top/summary",
            bilibili_url="/x/web-interface/popular",
            rate_per_s=100.0,
        )
        hot_client = make_client(hot_settings, clock=clock, limiters=limiters, cookies={})
        hot = COLLECTORS["hotlist"](hot_client, hot_settings, now=lambda: NOW)
        async with client, hot_client:
            found, cursor = await _run(bili, SourceSpec("bilibili", "search", "鹿角咖啡"), {})
            assert found and all("鹿角咖啡" in p.title for p in found)
            assert cursor["newest_ts"] == max(int(p.created_at.timestamp()) for p in found)
            video_id = found[0].post_id
            posts, _ = await _run(bili, SourceSpec("bilibili", "video", video_id), {})
            assert posts[0].post_id == video_id and posts[0].views == server.by_id[video_id].views
            entries = []
            for target, options in (("weibo", {}), ("weibo", {"format": "html"}), ("bilibili", {})):
                async for page in hot.collect(SourceSpec("hotlist", "hot", target, options), {}):
                    entries.append(page.hot_entries)
            json_rows, html_rows, bili_rows = entries
            assert [e.title for e in json_rows] == [e.title for e in html_rows]
            assert json_rows[2].title == "鹿角咖啡喝出异物" and json_rows[2].rank == 3
            assert json_rows[2].heat == html_rows[2].heat == 1_560_000
            assert bili_rows[0].rank == 1 and bili_rows[0].heat is not None
    finally:
        await server.stop()


def test_server_runs_in_a_thread_for_sync_callers() -> None:
    import httpx

    server = FakePlatform(load_scenario(), now=NOW)
    base = server.start_in_thread()
    try:
        response = httpx.get(f"{base}/api/container/getIndex", params={"type": "uid", "value": "6100000001"})
        assert response.json()["data"]["userInfo"]["followers_count"] == 3_020_000
    finally:
        server.stop_thread()
