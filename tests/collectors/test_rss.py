"""Tests for collectors.rss: feed parsing, degraded-feed detection, RSSHub routes, incremental runs."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import (
    Author,
    Blocked,
    CollectorError,
    CollectorSettings,
    LoginRequired,
    ParseError,
    Post,
    SourceGone,
    SourceSpec,
)
from collectors.http import HostLimiters, make_client
from collectors.rss import (
    RssCollector,
    RssSettings,
    parse_feed,
    platform_for,
    resolve_target,
    route_author_id,
    select_new,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rsshub"
SHARED = Path(os.environ.get("KOLWATCH_SHARED", Path(__file__).resolve().parents[3] / "shared"))
FETCHED = datetime(2024, 6, 4, tzinfo=UTC)
XHS_ROUTE = "/xiaohongshu/user/60aa11bb22cc33dd44ee55ff/notes"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# ------------------------------------------------------------------------------------ our fixtures


def test_xiaohongshu_route_feed_field_by_field() -> None:
    feed = parse_feed(
        fixture("xiaohongshu_user_notes_rss2.xml"),
        feed_url="https://rsshub.example.test" + XHS_ROUTE,
        fetched_at=FETCHED,
        route=XHS_ROUTE,
    )
    assert feed.title == "咖啡测评小站 - 小红书笔记"
    assert feed.is_rsshub
    assert len(feed.posts) == 3
    author = Author(
        platform="xiaohongshu",
        author_id="60aa11bb22cc33dd44ee55ff",
        name="咖啡测评小站",
        url="https://www.xiaohongshu.com/user/profile/60aa11bb22cc33dd44ee55ff",
    )
    first, second, third = feed.posts
    assert first.platform == "xiaohongshu"
    assert first.post_id == "https://www.xiaohongshu.com/explore/665c0a0b0000000005011aa1"
    assert first.url == first.post_id
    assert first.author == author
    assert first.title == "新品生椰拿铁二代实测，甜度终于降下来了"
    # Title is a real title here, so it leads the text; <img>/<iframe> are gone, emoticon codes stay.
    assert first.text == (
        "新品生椰拿铁二代实测，甜度终于降下来了\n周末去门店喝了生椰拿铁二代，比一代少糖，椰香更明显。\n"
        "[赞R]性价比还行，打八分！"
    )
    assert first.created_at == datetime(2024, 6, 2, 12, 30, tzinfo=UTC)
    assert (first.likes, first.reposts, first.comments, first.views) == (None, None, None, None)
    assert first.kind == "item" and not first.is_repost and first.parent_id is None

    # A title that is only the truncated start of the body is not repeated in the text.
    assert second.title == "门店排队一小时，服务态度真的让人失望..."
    assert second.text == "门店排队一小时，服务态度真的让人失望，店员全程没有理人。\n以后不会再来这家分店了。"
    assert second.created_at == datetime(2024, 6, 1, 9, 5, 10, tzinfo=UTC)

    # No pubDate (older Xiaohongshu routes): dated when first seen, entities decoded.
    assert third.created_at == FETCHED
    assert third.text == "六月联名杯套开箱\n联名杯套到手 & 颜值在线 #联名#"
    assert third.author == author


def test_generic_atom_feed_field_by_field() -> None:
    feed = parse_feed(
        fixture("brand_news_atom.xml"), feed_url="https://news.example.test/feed.atom", fetched_at=FETCHED
    )
    assert not feed.is_rsshub
    first, second = feed.posts
    assert first.platform == "rss"
    assert first.post_id == "tag:news.example.test,2024:price-war"
    assert first.url == "https://news.example.test/2024/06/price-war.html"  # relative link resolved
    assert first.author == Author(platform="rss", author_id="news.example.test:王小明", name="王小明")
    assert first.text == "连锁咖啡品牌六月价格战升级\n多家连锁品牌下调9.9元价格带。\n分析人士认为利润承压。"
    assert "alert" not in first.text
    assert first.created_at == datetime(2024, 6, 3, 0, 15, tzinfo=UTC)  # published wins over updated
    # No author anywhere: the site is the author, named after the feed.
    assert second.author == Author(
        platform="rss", author_id="news.example.test", name="饮品行业观察", url="https://news.example.test/"
    )
    assert second.created_at == datetime(2024, 6, 2, 20, tzinfo=UTC)  # updated when no published
    assert second.text == "茶饮新店开业潮\n上半年新开门店超过一万家。"


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("bilibili_user_video_degraded_undefined.xml", Blocked, "undefined"),
        ("douyin_user_empty_rss2.xml", Blocked, "no items"),
        ("zhihu_error_item_rss2.xml", Blocked, "error page"),
    ],
)
def test_degraded_rsshub_feeds_raise(name: str, error: type[CollectorError], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_feed(fixture(name), feed_url="https://rsshub.example.test/x", fetched_at=FETCHED)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        b'{"error": "route not found"}',
        b"\x00\x01\x02\xff\xfe garbage",
        b"<rss version='2.0'><channel><title>x",  # truncated
    ],
)
def test_non_feeds_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body, feed_url="https://feeds.example.test/f.xml", fetched_at=FETCHED)


def test_body_naming_a_local_file_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(fixture("brand_news_atom.xml"))
    # feedparser opens a str/bytes argument that names a file; we must parse the bytes themselves.
    with pytest.raises(ParseError):
        parse_feed(str(secret).encode(), feed_url="https://feeds.example.test/f.xml", fetched_at=FETCHED)


def test_generic_empty_feed_allowed_only_on_request() -> None:
    body = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Blog</title><link>https://b.example.test/</link></channel></rss>"
    with pytest.raises(ParseError, match="no items"):
        parse_feed(body, feed_url="https://b.example.test/rss", fetched_at=FETCHED)
    assert (
        parse_feed(body, feed_url="https://b.example.test/rss", fetched_at=FETCHED, allow_empty=True).posts
        == ()
    )


def test_undefined_author_is_degraded() -> None:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>\xe5\x8d\x9a\xe5\xae\xa2</title>"
        b"<item><title>a</title><guid>g1</guid><author>undefined</author></item></channel></rss>"
    )
    with pytest.raises(Blocked):
        parse_feed(body, feed_url="https://b.example.test/rss", fetched_at=FETCHED)


@pytest.mark.parametrize(
    ("title", "degraded"),
    [
        ("The null hypothesis", False),  # words in an ordinary title
        ("NaN and other floats", False),
        ("Nullable types", False),
        ("null", True),  # a JavaScript value as the whole title
        ("NaN", True),
        ("undefined", True),
        ("null 的 bilibili 空间", True),  # RSSHub's "<name> 的 ..." template with no name
        ("undefined 的 bilibili 空间", True),
    ],
)
def test_leaked_javascript_values_in_titles(title: str, degraded: bool) -> None:
    body = (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>{title}</title>"
        "<item><title>a</title><link>https://b.example.test/a</link><author>Desk</author></item>"
        "</channel></rss>"
    ).encode()
    if degraded:
        with pytest.raises(Blocked):
            parse_feed(body, feed_url="https://b.example.test/rss", fetched_at=FETCHED)
    else:
        assert parse_feed(body, feed_url="https://b.example.test/rss", fetched_at=FETCHED).title == title


def test_routes_targets_and_platforms() -> None:
    assert (
        resolve_target(XHS_ROUTE, "https://rsshub.example.test/").url
        == "https://rsshub.example.test" + XHS_ROUTE
    )
    assert resolve_target(XHS_ROUTE, "https://rsshub.example.test").route == XHS_ROUTE
    absolute = resolve_target(
        "https://rsshub.example.test/zhihu/people/answers/abc", "https://rsshub.example.test"
    )
    assert absolute.route == "/zhihu/people/answers/abc"
    assert resolve_target("https://blog.example.test/rss", "https://rsshub.example.test").route is None
    for bad in ("file:///etc/passwd", "//evil.test/x", "feed.xml", "ftp://x.test/f"):
        with pytest.raises(CollectorError):
            resolve_target(bad, "https://rsshub.example.test")
    with pytest.raises(CollectorError, match="base_url"):
        resolve_target(XHS_ROUTE, "")

    assert platform_for("/wechat/mp/msgalbum/x", is_rsshub=True, override=None) == "weixin"
    assert platform_for("/douyin/user/u1", is_rsshub=True, override=None) == "douyin"
    assert platform_for("/github/issue/a/b", is_rsshub=True, override=None) == "rss"
    assert platform_for("/douyin/user/u1", is_rsshub=False, override=None) == "rss"
    assert platform_for("/douyin/user/u1", is_rsshub=True, override="custom") == "custom"
    assert route_author_id("/bilibili/user/video/90817263") == "90817263"
    assert route_author_id("/zhihu/people/activities/coffee-lab") == "coffee-lab"
    assert route_author_id("/weibo/keyword/瑞幸") is None
    assert route_author_id("/bilibili/user") is None


def test_rsshub_detected_from_generator_without_route() -> None:
    # Absolute URL to some RSSHub: the self link names the route, so the platform is still derived.
    feed = parse_feed(
        fixture("xiaohongshu_user_notes_rss2.xml"),
        feed_url="https://other.example.test/feed",
        fetched_at=FETCHED,
    )
    assert {p.platform for p in feed.posts} == {"xiaohongshu"}
    assert {p.author.author_id for p in feed.posts} == {"60aa11bb22cc33dd44ee55ff"}


# ------------------------------------------------------------------------------------ incremental


def test_select_new_by_guid_and_time_window() -> None:
    posts = parse_feed(
        fixture("xiaohongshu_user_notes_rss2.xml"),
        feed_url="https://r.example.test" + XHS_ROUTE,
        fetched_at=FETCHED,
        route=XHS_ROUTE,
    ).posts
    new, cursor = select_new(posts, {}, max_seen=10, backfill_window_s=3600, fetched_at=FETCHED)
    assert [p.post_id for p in new] == [p.post_id for p in posts]
    assert cursor["newest"] == FETCHED.isoformat()  # the undated item counts as seen now
    assert cursor["seen"][0] == posts[2].post_id  # newest first
    again, cursor2 = select_new(posts, cursor, max_seen=10, backfill_window_s=3600, fetched_at=FETCHED)
    assert again == ()
    assert cursor2 == cursor
    # An unseen guid older than newest - window is an old item resurfacing, not news.
    trimmed = {"newest": cursor["newest"], "seen": [posts[0].post_id, posts[2].post_id]}
    assert select_new(posts, trimmed, max_seen=10, backfill_window_s=3600, fetched_at=FETCHED)[0] == ()
    assert select_new(posts, trimmed, max_seen=10, backfill_window_s=5 * 86400, fetched_at=FETCHED)[0] == (
        posts[1],
    )
    # Seen list is bounded.
    assert len(select_new(posts, {}, max_seen=2, backfill_window_s=0, fetched_at=FETCHED)[1]["seen"]) == 2
    # A malformed cursor is read as empty, not a crash.
    malformed = {"seen": "x", "newest": 5}
    assert len(select_new(posts, malformed, max_seen=10, backfill_window_s=0, fetched_at=FETCHED)[0]) == 3


def _dated_feed(*items: tuple[str, str]) -> tuple[Post, ...]:
    body = "<rss version='2.0'><channel><title>Brand news</title>" + "".join(
        f"<item><title>{guid}</title><link>https://news.example.test/{guid}</link>"
        f"<author>desk@news.example.test (Desk)</author><pubDate>{date}</pubDate></item>"
        for guid, date in items
    )
    return parse_feed(
        (body + "</channel></rss>").encode(), feed_url="https://news.example.test/feed", fetched_at=FETCHED
    ).posts


def test_one_future_dated_entry_does_not_silence_the_feed() -> None:
    first = _dated_feed(("a", "Mon, 03 Jun 2024 02:00:00 GMT"), ("typo", "Thu, 04 Jun 2099 02:00:00 GMT"))
    new, cursor = select_new(first, {}, max_seen=50, backfill_window_s=86400, fetched_at=FETCHED)
    assert {p.post_id for p in new} == {"https://news.example.test/a", "https://news.example.test/typo"}
    assert cursor["newest"] == FETCHED.isoformat()  # capped at the fetch, not 2099
    later = FETCHED + timedelta(days=1)
    second = _dated_feed(("b", "Tue, 04 Jun 2024 12:00:00 GMT"), ("a", "Mon, 03 Jun 2024 02:00:00 GMT"))
    new2, _ = select_new(second, cursor, max_seen=50, backfill_window_s=86400, fetched_at=later)
    assert [p.post_id for p in new2] == ["https://news.example.test/b"]
    # A cursor stored before the cap (newest in 2099) is capped when read.
    poisoned = {**cursor, "newest": "2099-03-21T02:00:00+00:00"}
    new3, cursor3 = select_new(second, poisoned, max_seen=50, backfill_window_s=86400, fetched_at=later)
    assert [p.post_id for p in new3] == ["https://news.example.test/b"]
    assert cursor3["newest"] == later.isoformat()


def _client(handler: httpx.MockTransport, base_url: str = "https://rsshub.example.test") -> httpx.AsyncClient:
    cs = CollectorSettings(base_url=base_url, rate_per_s=1000, burst=100, retries=0, backoff_base_s=0)
    return make_client(cs, transport=handler, limiters=HostLimiters())


async def test_collector_runs_incrementally_through_http_layer() -> None:
    body = fixture("xiaohongshu_user_notes_rss2.xml")
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "application/rss+xml"})

    async with _client(httpx.MockTransport(handler)) as client:
        collector = RssCollector(client, RssSettings(base_url="https://rsshub.example.test"))
        source = SourceSpec(platform="rss", kind="feed", target=XHS_ROUTE)
        pages = [page async for page in collector.collect(source, {})]
        assert len(pages) == 1 and len(pages[0].posts) == 3
        assert {p.platform for p in pages[0].posts} == {"xiaohongshu"}
        second = [page async for page in collector.collect(source, pages[0].cursor)]
        assert second[0].posts == ()
    assert str(requests[0].url) == "https://rsshub.example.test" + XHS_ROUTE
    assert "rss" in requests[0].headers["accept"]


async def test_collector_platform_option_and_gbk_declared_feed() -> None:
    # Served as UTF-8 with charset in the header but declaring GBK: the HTTP charset wins.
    xml = (
        "<?xml version='1.0' encoding='gbk'?><rss version='2.0'><channel><title>论坛</title>"
        "<link>https://bbs.example.test/</link><item><title>瑞幸新品讨论</title><guid>t-1</guid>"
        "<pubDate>Mon, 03 Jun 2024 08:00:00 GMT</pubDate></item></channel></rss>"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=xml.encode(), headers={"content-type": "text/xml; charset=utf-8"})

    async with _client(httpx.MockTransport(handler), base_url="") as client:
        collector = RssCollector(client, CollectorSettings())
        source = SourceSpec("rss", "feed", "https://bbs.example.test/rss", options={"platform": "bbs"})
        (page,) = [page async for page in collector.collect(source, {})]
    (post,) = page.posts
    assert (post.platform, post.post_id, post.text) == ("bbs", "t-1", "瑞幸新品讨论")


@pytest.mark.parametrize(
    ("status", "error"), [(401, LoginRequired), (404, SourceGone), (403, Blocked), (200, ParseError)]
)
async def test_collector_http_failures_map_to_health(status: int, error: type[CollectorError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html><body>oops</body></html>")

    async with _client(httpx.MockTransport(handler)) as client:
        collector = RssCollector(client, RssSettings(base_url="https://rsshub.example.test"))
        with pytest.raises(error):
            [page async for page in collector.collect(SourceSpec("rss", "feed", XHS_ROUTE), {})]


async def test_collector_rejects_unknown_kind_and_bad_platform_option() -> None:
    async with _client(httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        collector = RssCollector(client, RssSettings(base_url="https://rsshub.example.test"))
        with pytest.raises(CollectorError, match="kind"):
            [p async for p in collector.collect(SourceSpec("rss", "user", XHS_ROUTE), {})]
        with pytest.raises(CollectorError, match="platform"):
            [
                p
                async for p in collector.collect(
                    SourceSpec("rss", "feed", XHS_ROUTE, options={"platform": 3}), {}
                )
            ]


# ------------------------------------------------------------------------------------ hostile input


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_collector_errors(body: bytes) -> None:
    with contextlib.suppress(CollectorError):
        parse_feed(body, feed_url="https://feeds.example.test/f.xml", fetched_at=FETCHED)


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=200),
    st.text(max_size=200),
    st.text(max_size=50),
)
def test_hostile_feed_fields_raise_only_collector_errors(title: str, description: str, author: str) -> None:
    from xml.sax.saxutils import escape

    body = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        f"<item><title>{escape(title)}</title><description>{escape(description)}</description>"
        f"<author>{escape(author)}</author><pubDate>{escape(title[:30])}</pubDate></item></channel></rss>"
    ).encode("utf-8", errors="surrogatepass")
    try:
        feed = parse_feed(body, feed_url="https://feeds.example.test/f.xml", fetched_at=FETCHED)
    except CollectorError:
        return
    for post in feed.posts:
        assert post.created_at.tzinfo is not None
        assert post.post_id


# ------------------------------------------------------------------------------------ conformance


def _shared_rsshub() -> list[Path]:
    folder = SHARED / "fixtures" / "rsshub"
    return sorted(folder.glob("*.xml")) if folder.is_dir() else []


@pytest.mark.skipif(
    not _shared_rsshub(), reason=f"shared fixtures not found at {SHARED} (set KOLWATCH_SHARED)"
)
@pytest.mark.parametrize("path", _shared_rsshub(), ids=lambda p: p.name)
def test_every_shared_rsshub_fixture(path: Path) -> None:
    body = path.read_bytes()
    if "degraded" in path.name:
        with pytest.raises(Blocked, match="undefined"):
            parse_feed(body, feed_url="https://rsshub.example.test/feed", fetched_at=FETCHED)
        return
    feed = parse_feed(body, feed_url="https://rsshub.example.test/feed", fetched_at=FETCHED)
    assert feed.is_rsshub
    assert body.count(b"<item>") == len(feed.posts) > 0
    for post in feed.posts:
        assert post.post_id.startswith("https://")
        assert post.url == post.post_id
        assert post.author.name and post.author.author_id
        assert post.text and post.title
        assert post.created_at.tzinfo is not None and post.created_at != FETCHED
        assert "<" not in post.text
    if "bilibili" in path.name:
        # The route in atom:link names the platform and the account id.
        assert {p.platform for p in feed.posts} == {"bilibili"}
        assert {p.author.author_id for p in feed.posts} == {"28822227"}
