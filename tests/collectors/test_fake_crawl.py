"""End-to-end crawls against the local fake platform: pagination, incremental cursors, faults, rate limit."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors import COLLECTORS
from collectors.base import Blocked, CollectorError, LoginRequired, ParseError, Post, SourceSpec
from collectors.http import CircuitOpen, HostLimiters, ScaledClock, make_client
from kolwatch.fake_platform import FakePlatform, load_scenario

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


async def test_crawl_200_pages_with_faults_exactly_once_and_rate_limited() -> None:
    # 40 virtual seconds per real second: 4 req/s virtual is 160 req/s real; a Retry-After of 2 s is 50 ms.
    clock = ScaledClock(40.0)
    scenario = load_scenario()
    server = FakePlatform(scenario, clock=clock, now=NOW, page_size=5)
    base = await server.start()
    try:
        limiters = HostLimiters(clock)
        weibo_settings = _settings("weibo", base, max_pages_per_run=5)
        bili_settings = _settings("bilibili", base, page_size=5)
        weibo_client = make_client(
            weibo_settings, clock=clock, limiters=limiters, rng=random.Random(1), cookies={}
        )
        bili_client = make_client(
            bili_settings, clock=clock, limiters=limiters, rng=random.Random(2), cookies={}
        )
        weibo = COLLECTORS["weibo"](weibo_client, weibo_settings)
        weibo._now = lambda: NOW  # type: ignore[attr-defined]
        bili = COLLECTORS["bilibili"](bili_client, bili_settings, wall_clock=lambda: NOW.timestamp())

        counts = Counter((p.platform, p.author) for posts in server.posts.values() for p in posts)
        specs = [SourceSpec(platform, "user", author) for (platform, author), _ in counts.most_common(19)]
        specs += [
            SourceSpec("bilibili", "user", mid)
            for mid in ("100000001", "100000002", "100000003", "100000004")
        ]
        # A floor older than every post: each source must walk its whole history across runs.
        cursors: list[dict[str, Any]] = [
            {"newest_id": "1"} if spec.platform == "weibo" else {"newest_ts": 1, "newest_ids": []}
            for spec in specs
        ]
        expected = [{p.post_id for p in server.posts[s.platform] if p.author == s.target} for s in specs]

        # Faults that retries absorb (slow, 5xx, 429 with Retry-After) and ones that fail a run.
        server.inject("500", path="/api/container/getIndex", times=3)
        server.inject("429", path="/api/container/getIndex", times=2, retry_after=2)
        server.inject("slow", path="/x/space/wbi/arc/search", times=2, delay=0.5)
        # A broken long-text answer costs that post its full text, not the run.
        server.inject("truncated", path="/statuses/extend", times=1)
        server.inject("login_redirect", path="/api/container/getIndex", times=1)
        server.inject("-352", path="/x/space/wbi/arc/search", times=2)  # two in a row outlast the key refresh
        server.inject("truncated", path="/x/space/wbi/arc/search", times=1)

        seen: list[Counter[str]] = [Counter() for _ in specs]
        failures: Counter[str] = Counter()
        longtext_failed: list[str] = []
        runs = 0
        async with weibo_client, bili_client:
            while not all(set(seen[i]) >= expected[i] for i in range(len(specs))):
                runs += 1
                assert runs < 30, "crawl did not converge"
                for i, spec in enumerate(specs):
                    collector = weibo if spec.platform == "weibo" else bili
                    start = cursors[i]
                    try:
                        async for page in collector.collect(spec, cursors[i]):
                            for post in page.posts:
                                # Known posts come again (for their counts); count only the new ones.
                                if post.author.author_id == spec.target and _is_new(post, start):
                                    seen[i][post.post_id] += 1
                                if post.raw and "longtext_failed" in post.raw:
                                    longtext_failed.append(post.post_id)
                            cursors[i] = page.cursor
                    except CollectorError as error:
                        failures[error.health] += 1
        pages = sum(
            1
            for r in server.requests
            if r.status == 200
            and (
                r.path == "/x/space/wbi/arc/search"
                or (r.path == "/api/container/getIndex" and "containerid" in r.query)
            )
        )

        for i, spec in enumerate(specs):
            assert set(seen[i]) == expected[i], spec
            dupes = [pid for pid, n in seen[i].items() if n > 1]
            assert not dupes, (spec, dupes[:5])
            newest = max(expected[i], key=lambda pid: (server.by_id[pid].created, pid))
            if spec.platform == "weibo":
                assert cursors[i] == {"newest_id": newest, "newest_at": cursors[i]["newest_at"]}
            else:
                assert cursors[i]["newest_ts"] == int(server.by_id[newest].created.timestamp())
                assert "catchup" not in cursors[i]
        assert failures["login_required"] == 1
        assert failures["blocked"] == 1
        assert failures["parse_error"] == 1  # the truncated video list
        assert len(longtext_failed) == 1 and server.by_id[longtext_failed[0]].long
        assert pages >= 200, pages

        # Per-host rate limit, measured from the server's request log (virtual seconds).
        stamps = sorted(r.t for r in server.requests)
        window = 5.0
        for i, start in enumerate(stamps):
            inside = sum(1 for t in stamps[i:] if t < start + window)
            # burst + rate * window, plus one token of slack for scheduling jitter between client and server
            assert inside <= 2 + 4.0 * window + 1, (start, inside)
    finally:
        await server.stop()


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
