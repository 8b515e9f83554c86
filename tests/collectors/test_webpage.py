"""Tests for collectors.webpage: html_to_text, CSS-selector page parsing, layout-change detection."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import Author, CollectorError, CollectorSettings, ParseError, SourceSpec
from collectors.http import HostLimiters, make_client
from collectors.webpage import (
    Selectors,
    WebpageCollector,
    WebpageSettings,
    html_to_text,
    parse_page,
    select_new,
    selectors_for,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webpage"
PAGE_URL = "https://bbs.example.test/f/coffee"
FETCHED = datetime(2024, 6, 3, 4, 0, tzinfo=UTC)
SELECTORS = Selectors(
    item="li.thread", title="a.title", link="a.title", text="p.summary", author="span.author", time="time"
)


def page_bytes() -> bytes:
    return (FIXTURES / "forum_list.html").read_bytes()


def test_html_to_text() -> None:
    assert html_to_text(None) == "" and html_to_text("") == ""
    assert html_to_text("纯文本  两个空格") == "纯文本 两个空格"
    assert html_to_text("<p>一</p><p>二<br/>三</p>") == "一\n二\n三"
    assert html_to_text('好<img alt="[哈哈]" src="x.png">耶<img alt="photo">') == "好[哈哈]耶"
    assert html_to_text("<script>alert(1)</script><iframe src=x></iframe>正文&amp;<!-- c -->") == "正文&"
    assert html_to_text("http://looks.like/a/url") == "http://looks.like/a/url"  # no bs4 warning
    assert html_to_text("<div><b>未闭合<i>标签") == "未闭合标签"


def test_forum_page_field_by_field() -> None:
    parsed = parse_page(page_bytes(), page_url=PAGE_URL, selectors=SELECTORS, fetched_at=FETCHED)
    assert parsed.matched == 5
    ids = [p.post_id for p in parsed.posts]
    # Fragment dropped so the duplicate last item collapses; the ad without a link is skipped.
    assert ids == [
        "https://bbs.example.test/t/90001.html",
        "https://bbs.example.test/t/90002.html",
        "https://bbs.example.test/t/80000.html",
    ]
    first, second, sticky = parsed.posts
    assert first.platform == "webpage" and first.kind == "article"
    assert first.url == first.post_id
    assert first.title == "瑞幸新品生椰拿铁二代怎么样？"
    assert first.text == "瑞幸新品生椰拿铁二代怎么样？\n今天试了一下，甜度比上一代低。\n大家觉得呢？"
    assert first.author == Author(platform="webpage", author_id="bbs.example.test:豆子君", name="豆子君")
    assert first.created_at == datetime(2024, 6, 3, 2, 20, tzinfo=UTC)  # zone-less text read as Shanghai
    assert (first.likes, first.comments) == (None, None)
    assert second.created_at == FETCHED - timedelta(minutes=5)
    assert second.text == "门店服务投诉贴（持续更新）\n排队一小时&店员态度差"
    # No author, no time: the site is the author and the item is dated when first seen.
    assert sticky.author == Author(
        platform="webpage",
        author_id="bbs.example.test",
        name="bbs.example.test",
        url="https://bbs.example.test/",
    )
    assert sticky.created_at == FETCHED


def test_attribute_selectors_and_default_link() -> None:
    selectors = Selectors(item="li.thread", time="time@datetime")
    parsed = parse_page(page_bytes(), page_url=PAGE_URL, selectors=selectors, fetched_at=FETCHED)
    first = parsed.posts[0]
    assert first.post_id == "https://bbs.example.test/t/90001.html"  # first a[href] of the item
    assert first.created_at == datetime(2024, 6, 3, 2, 20, tzinfo=UTC)
    assert first.title.startswith("瑞幸新品生椰拿铁二代怎么样？")  # no title/text selector: whole item


def test_unreadable_time_is_a_parse_error() -> None:
    html = '<ul><li class="thread"><a class="title" href="/t/1">x</a><time>上古时期</time></li></ul>'
    with pytest.raises(ParseError, match="上古时期"):
        parse_page(html, page_url=PAGE_URL, selectors=SELECTORS, fetched_at=FETCHED)


def test_layout_change_and_broken_link_selector() -> None:
    parsed = parse_page(page_bytes(), page_url=PAGE_URL, selectors=SELECTORS, fetched_at=FETCHED)
    new, cursor = select_new(parsed, {}, max_seen=100, page_url=PAGE_URL)
    assert len(new) == 3 and cursor["matched_before"] is True
    assert select_new(parsed, cursor, max_seen=100, page_url=PAGE_URL)[0] == ()

    redesigned = parse_page(
        "<html><body><div class='post'>新版</div></body></html>",
        page_url=PAGE_URL,
        selectors=SELECTORS,
        fetched_at=FETCHED,
    )
    with pytest.raises(ParseError, match="layout changed"):
        select_new(redesigned, cursor, max_seen=100, page_url=PAGE_URL)
    # Never matched before (a new source on an empty board): an empty success.
    assert select_new(redesigned, {}, max_seen=100, page_url=PAGE_URL) == (
        (),
        {"seen": [], "matched_before": False},
    )

    no_links = Selectors(item="li.thread", link="a.missing")
    with pytest.raises(ParseError, match="usable link"):
        select_new(
            parse_page(page_bytes(), page_url=PAGE_URL, selectors=no_links, fetched_at=FETCHED),
            {},
            max_seen=100,
            page_url=PAGE_URL,
        )


def test_hostile_links_are_skipped() -> None:
    html = (
        '<li class="thread"><a href="javascript:alert(1)">a</a></li>'
        '<li class="thread"><a href="data:text/html,x">b</a></li>'
        '<li class="thread"><a href="mailto:x@y">c</a></li>'
        '<li class="thread"><a href="/ok">好</a></li>'
    )
    parsed = parse_page(html, page_url=PAGE_URL, selectors=Selectors(item="li.thread"), fetched_at=FETCHED)
    assert [p.post_id for p in parsed.posts] == ["https://bbs.example.test/ok"]


def test_selectors_configuration_errors() -> None:
    settings_ = WebpageSettings()
    with pytest.raises(CollectorError, match="no selectors"):
        selectors_for(SourceSpec("webpage", "page", PAGE_URL), settings_)
    with pytest.raises(CollectorError):
        selectors_for(SourceSpec("webpage", "page", PAGE_URL, options={"selectors": "li"}), settings_)
    with pytest.raises(CollectorError):
        selectors_for(SourceSpec("webpage", "page", PAGE_URL, options={"selectors": {"item": ""}}), settings_)
    with pytest.raises(CollectorError):
        selectors_for(
            SourceSpec("webpage", "page", PAGE_URL, options={"selectors": {"item": "li", "x": "y"}}),
            settings_,
        )
    with pytest.raises(CollectorError, match="selector"):
        parse_page(page_bytes(), page_url=PAGE_URL, selectors=Selectors(item="li[[["), fetched_at=FETCHED)
    with pytest.raises(CollectorError, match="selector"):
        parse_page(
            page_bytes(), page_url=PAGE_URL, selectors=Selectors(item="li", title=":::"), fetched_at=FETCHED
        )
    default = WebpageSettings(selectors=SELECTORS)
    assert selectors_for(SourceSpec("webpage", "page", PAGE_URL), default) == SELECTORS


def test_binary_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_page(b"\x89PNG\r\n\x1a\n\x00\x00", page_url=PAGE_URL, selectors=SELECTORS, fetched_at=FETCHED)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=1500) | st.text(max_size=800).map(lambda t: f"<li class='thread'>{t}</li>"))
def test_arbitrary_input_raises_only_collector_errors(body: bytes | str) -> None:
    with contextlib.suppress(CollectorError):
        parsed = parse_page(body, page_url=PAGE_URL, selectors=SELECTORS, fetched_at=FETCHED)
        for post in parsed.posts:
            assert post.url.startswith(("http://", "https://"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_html_to_text_never_raises(text: str) -> None:
    assert isinstance(html_to_text(text), str)


async def test_collector_through_http_layer() -> None:
    requests: list[httpx.Request] = []
    body = {"value": page_bytes()}

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(
            200, content=body["value"], headers={"content-type": "text/html; charset=utf-8"}
        )

    cs = CollectorSettings(rate_per_s=1000, burst=100, retries=0)
    async with make_client(cs, transport=httpx.MockTransport(handler), limiters=HostLimiters()) as client:
        collector = WebpageCollector(client, WebpageSettings(selectors=SELECTORS))
        source = SourceSpec("webpage", "page", PAGE_URL)
        (page,) = [p async for p in collector.collect(source, {})]
        assert len(page.posts) == 3
        (again,) = [p async for p in collector.collect(source, page.cursor)]
        assert again.posts == ()
        body["value"] = "<html><body><p>改版了</p></body></html>".encode()
        with pytest.raises(ParseError, match="layout changed"):
            [p async for p in collector.collect(source, again.cursor)]
        with pytest.raises(CollectorError, match="http"):
            [p async for p in collector.collect(SourceSpec("webpage", "page", "file:///etc/passwd"), {})]
        with pytest.raises(CollectorError, match="kind"):
            [p async for p in collector.collect(SourceSpec("webpage", "feed", PAGE_URL), {})]
    assert "text/html" in requests[0].headers["accept"]
