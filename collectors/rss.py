"""RSS/Atom collector (`rss`, kind `feed`): any feed, and RSSHub routes on a self-hosted instance.

Target: an absolute http(s) feed URL, or a path such as "/xiaohongshu/user/<id>/notes" that is
resolved against `[collectors.rss] base_url` (your RSSHub). The body is parsed by feedparser;
each entry becomes a Post whose text is the description's plain text.

Platform of the posts (decided here, see collectors/README.md): the source option `platform`
wins; otherwise, for an RSSHub route (a relative target, an absolute URL under base_url, or a
feed whose generator is RSSHub) the route's first segment names the platform when it is one we
track (xiaohongshu, douyin, zhihu, weixin for RSSHub's `wechat` namespace, weibo, bilibili);
everything else is `rss`. Post ids are the entry guid (else its link), so they never collide
with the native collectors' numeric ids even when the platform name is shared.

Degraded feeds are errors, never posts: RSSHub renders upstream failures as a normal-looking
feed ("undefined 的 bilibili 空间", items without authors, no items at all, an "Error" item),
which is what the upstream's risk control produces, so they raise Blocked; a body that is not a
feed at all (an HTML error or login page served with 200, garbage) raises ParseError.

Incremental: the cursor keeps the newest published time and the most recent guids; an entry is
new when its guid is unseen and it is not older than the newest time minus a backfill window
(feeds cut to their latest N items, and RSSHub re-dates some entries by a few hours).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
from pydantic import Field

from collectors.base import (
    Author,
    Blocked,
    Collector,
    CollectorError,
    CollectorSettings,
    Page,
    ParseError,
    Post,
    SourceSpec,
)
from collectors.http import fetch_text
from collectors.webpage import html_to_text

PLATFORM = "rss"

# RSSHub namespace -> the platform name our posts carry.
RSSHUB_PLATFORMS: Mapping[str, str] = {
    "xiaohongshu": "xiaohongshu",
    "douyin": "douyin",
    "zhihu": "zhihu",
    "wechat": "weixin",
    "weibo": "weibo",
    "bilibili": "bilibili",
}

# RSSHub user routes: (namespace, second segment) -> index of the account id in the path
# segments. The id from the route is the only stable author id such feeds have (the display
# name changes, and degraded feeds drop <author> altogether).
_ROUTE_AUTHOR_INDEX: Mapping[tuple[str, str], int] = {
    ("bilibili", "user"): 3,  # /bilibili/user/video/:uid, /bilibili/user/dynamic/:uid
    ("weibo", "user"): 2,  # /weibo/user/:uid
    ("xiaohongshu", "user"): 2,  # /xiaohongshu/user/:user_id/notes
    ("douyin", "user"): 2,  # /douyin/user/:uid
    ("zhihu", "people"): 3,  # /zhihu/people/activities/:id, /zhihu/people/answers/:id
    ("zhihu", "posts"): 3,  # /zhihu/posts/:usertype/:id
}

# A JavaScript `undefined`/`null` leaking into a title or author is RSSHub's sign that its call
# to the upstream profile API failed (risk control, missing cookie): a whole title or author of
# undefined/null/NaN, a title in RSSHub's "<name> 的 ..." template with such a name, or the word
# "undefined" anywhere. "null" and "NaN" inside ordinary titles ("The null hypothesis") are words.
_LEAKED_JS = re.compile(r"(undefined|null|NaN)")
_LEAKED_IN_TITLE = re.compile(r"(?<![\w-])undefined(?![\w-])|^(null|NaN)(\s*的|$)")
# RSSHub (and some feed proxies) render a route failure as a feed with one error item.
_ERROR_TITLE = re.compile(
    r"^\s*(error\b|错误|出错|发生错误|this route is empty|looks like something went wrong|route not found)",
    re.IGNORECASE,
)
_ELLIPSIS = re.compile(r"(\.\.\.|…)+\s*$")
_NO_SPACE = re.compile(r"\s+")
# Numeric character references; feedparser turns them into characters with chr(n).encode("utf-8"),
# which raises for a surrogate (&#xD83D;, half an emoji escaped by a careless exporter) and for
# numbers beyond Unicode.
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _drop_bad_charrefs(body: bytes) -> bytes:
    def keep(match: re.Match[bytes]) -> bytes:
        hex_digits, decimal = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        return b"" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group(0)

    return _CHARREF.sub(keep, body)


class RssSettings(CollectorSettings):
    """`[collectors.rss]`: base_url is the RSSHub instance for relative targets."""

    # Guids the cursor remembers; RSSHub routes return 10-50 items, generic feeds up to a few hundred.
    max_seen: int = Field(default=500, ge=10)
    # Entries older than the newest time seen minus this are ignored even if their guid is unseen.
    backfill_window_s: float = Field(default=86400.0, ge=0)


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """A resolved feed address: the URL to fetch and, for RSSHub, the route path."""

    url: str
    route: str | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    is_rsshub: bool
    posts: tuple[Post, ...]


def resolve_target(target: str, base_url: str) -> FeedTarget:
    """Absolute feed URL for `target`; a relative path needs `base_url` (the RSSHub instance)."""

    target = target.strip()
    parts = urlsplit(target)
    base = base_url.strip().rstrip("/")
    if parts.scheme:
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CollectorError(f"feed target must be an http(s) URL or a path, got {target!r}", url=target)
        route = None
        if base and (target == base or target.startswith(base + "/")):
            route = target[len(base) :] or "/"
        return FeedTarget(url=target, route=route)
    if not target.startswith("/") or target.startswith("//"):
        raise CollectorError(
            f"feed target must be an http(s) URL or a path starting with '/', got {target!r}"
        )
    if not base:
        raise CollectorError(
            f"feed path {target!r} needs [collectors.rss] base_url (your RSSHub instance)", url=target
        )
    return FeedTarget(url=base + target, route=target)


def route_segments(route: str | None) -> list[str]:
    if not route:
        return []
    path = urlsplit(route).path
    return [seg for seg in path.split("/") if seg]


def platform_for(route: str | None, *, is_rsshub: bool, override: str | None) -> str:
    if override:
        return override
    segs = route_segments(route)
    if is_rsshub and segs:
        return RSSHUB_PLATFORMS.get(segs[0], PLATFORM)
    return PLATFORM


def route_author_id(route: str | None) -> str | None:
    segs = route_segments(route)
    if len(segs) < 2:
        return None
    index = _ROUTE_AUTHOR_INDEX.get((segs[0], segs[1]))
    if index is None or index >= len(segs):
        return None
    return segs[index]


def _struct_to_utc(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _compose_text(title: str, body: str) -> str:
    """Body text, prefixed with the title unless the title is only the body's truncated start.

    RSSHub's Weibo/Twitter-style routes use the first ~100 characters of the post plus "..." as
    the title; repeating it would double every keyword. Video and article feeds have real titles.
    """

    if not body:
        return title
    if not title:
        return body
    head = _NO_SPACE.sub("", _ELLIPSIS.sub("", title))
    if head and _NO_SPACE.sub("", body).startswith(head):
        return body
    return f"{title}\n{body}"


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    fetched_at: datetime,
    route: str | None = None,
    platform: str | None = None,
    allow_empty: bool = False,
    charset: str | None = None,
) -> ParsedFeed:
    """Posts of one RSS/Atom document. Raises ParseError or Blocked (see module doc); nothing else.

    `route` is the RSSHub route when known; `platform` overrides the derived platform; an empty
    feed is accepted only with `allow_empty` (a generic feed seen for the first time). `charset`
    is the encoding of `body` when it was already decoded and re-encoded (it then overrides the
    XML declaration, as an HTTP charset does).
    """

    if not isinstance(body, bytes | bytearray):
        raise ParseError("feed body must be bytes", url=feed_url)
    body = _drop_bad_charrefs(bytes(body))
    try:
        # A BytesIO, never raw bytes or str: feedparser treats a str or bytes that names an
        # existing file (or a URL) as something to open, which hostile bodies could exploit.
        parsed = feedparser.parse(
            io.BytesIO(bytes(body)),
            sanitize_html=True,
            resolve_relative_uris=False,
            response_headers={"content-type": f"application/xml; charset={charset}"} if charset else None,
        )
    except Exception as exc:  # feedparser is tolerant, but its encoding detection can still raise
        raise ParseError(f"feed could not be parsed: {type(exc).__name__}: {exc}", url=feed_url) from exc

    feed = parsed.get("feed") or {}
    entries: Sequence[Any] = parsed.get("entries") or []
    if not parsed.get("version"):
        detail = parsed.get("bozo_exception")
        raise ParseError(
            "response is not an RSS/Atom feed" + (f" ({detail})" if detail else ""), url=feed_url
        )

    title = html_to_text(_str(feed.get("title")))
    generator = _str(feed.get("generator"))
    is_rsshub = route is not None or "rsshub" in generator.lower() or "RSSHub" in _str(feed.get("subtitle"))
    feed_link = _str(feed.get("link")) or feed_url
    feed_author = _str(feed.get("author"))
    _check_degraded(title, feed_author, entries, is_rsshub=is_rsshub, allow_empty=allow_empty, url=feed_url)

    if route is None and is_rsshub:
        route = _self_route(feed) or urlsplit(feed_url).path
    post_platform = platform_for(route, is_rsshub=is_rsshub, override=platform)
    site = urlsplit(feed_link).netloc or urlsplit(feed_url).netloc
    route_uid = route_author_id(route) if is_rsshub else None

    posts: dict[str, Post] = {}
    for entry in entries:
        post = _entry_post(
            entry,
            platform=post_platform,
            feed_url=feed_url,
            feed_link=feed_link,
            feed_title=title,
            feed_author=feed_author,
            site=site,
            route_uid=route_uid,
            fetched_at=fetched_at,
        )
        posts.setdefault(post.post_id, post)
    return ParsedFeed(title=title, is_rsshub=is_rsshub, posts=tuple(posts.values()))


def _self_route(feed: Mapping[str, Any]) -> str | None:
    """Route path from the feed's atom:link rel=self, which RSSHub sets to the requested route."""

    links = feed.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("rel") == "self" and isinstance(link.get("href"), str):
            path = urlsplit(link["href"]).path
            return path or None
    return None


def _check_degraded(
    title: str,
    feed_author: str,
    entries: Sequence[Any],
    *,
    is_rsshub: bool,
    allow_empty: bool,
    url: str,
) -> None:
    if _LEAKED_IN_TITLE.search(title.strip()) or _LEAKED_JS.fullmatch(feed_author or "-"):
        raise Blocked(f"degraded feed: title {title!r} shows the upstream profile call failed", url=url)
    if not entries:
        if is_rsshub:
            raise Blocked(
                "degraded feed: RSSHub returned no items (upstream refused or route broken)", url=url
            )
        if not allow_empty:
            raise ParseError("feed has no items", url=url)
        return
    only_title = _str(entries[0].get("title")) if len(entries) == 1 else ""
    if _ERROR_TITLE.match(title) or _ERROR_TITLE.match(only_title):
        shown = title if _ERROR_TITLE.match(title) else only_title
        raise Blocked(f"feed is an error page rendered as a feed: {shown[:120]!r}", url=url)
    authors = [_str(e.get("author")) for e in entries]
    if any(_LEAKED_JS.fullmatch(a) for a in authors if a):
        raise Blocked("degraded feed: item author is 'undefined'", url=url)
    if is_rsshub and not title and not feed_author and not any(authors):
        raise Blocked("degraded feed: RSSHub feed has no title and no item authors", url=url)


def _entry_post(
    entry: Any,
    *,
    platform: str,
    feed_url: str,
    feed_link: str,
    feed_title: str,
    feed_author: str,
    site: str,
    route_uid: str | None,
    fetched_at: datetime,
) -> Post:
    link = _str(entry.get("link"))
    url = urljoin(feed_url, link) if link else ""
    guid = _str(entry.get("id")) or url
    title = html_to_text(_str(entry.get("title")))
    html = ""
    content = entry.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        html = _str(content[0].get("value"))
    html = html or _str(entry.get("summary"))
    body = html_to_text(html)
    if not guid:
        # Neither guid nor link: identity from the content itself, stable across fetches.
        guid = "sha1:" + hashlib.sha1(f"{title}\n{body}".encode()).hexdigest()

    name = _str(entry.get("author")) or feed_author
    if route_uid:
        author_id = route_uid
    elif name:
        author_id = f"{site}:{name}"
    else:
        author_id = site or feed_url
    author = Author(
        platform=platform,
        author_id=author_id,
        name=name or feed_title or site,
        url=feed_link if (route_uid or not name) else "",
    )
    # dict.get, not FeedParserDict.get: the latter aliases updated <-> published with a
    # DeprecationWarning, and we want to know which of the two the feed really gave.
    created = _struct_to_utc(dict.get(entry, "published_parsed")) or _struct_to_utc(
        dict.get(entry, "updated_parsed")
    )
    return Post(
        platform=platform,
        post_id=guid,
        url=url,
        author=author,
        text=_compose_text(title, body),
        # Undated entries (older RSSHub Xiaohongshu routes) are dated when we first saw them.
        created_at=created or fetched_at,
        kind="item",
        title=title,
        raw={
            "guid": guid,
            "link": link,
            "title": title,
            "author": _str(entry.get("author")),
            "published": _str(dict.get(entry, "published")) or _str(dict.get(entry, "updated")),
            "feed": feed_url,
        },
    )


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def select_new(
    posts: Sequence[Post],
    cursor: Mapping[str, Any],
    *,
    max_seen: int,
    backfill_window_s: float,
    fetched_at: datetime,
) -> tuple[tuple[Post, ...], dict[str, Any]]:
    """Posts of this fetch that are new relative to `cursor`, and the cursor after them.

    Cursor: {"newest": ISO time of the newest post seen, "seen": [guid, ...] newest first}. A
    malformed cursor is treated as empty (the guids then dedupe in storage by natural key).
    "newest" never passes `fetched_at`: one entry dated in the future (a typo'd year, a wrong time
    zone) would otherwise move the backfill floor past every real post to come and silence the
    feed for good; a cursor stored before that rule is capped when read.
    """

    seen_list = (
        [s for s in cursor.get("seen", []) if isinstance(s, str)]
        if isinstance(cursor.get("seen"), list)
        else []
    )
    seen = set(seen_list)
    newest = _parse_iso(cursor.get("newest"))
    if newest is not None:
        newest = min(newest, fetched_at)
    floor = newest - timedelta(seconds=backfill_window_s) if newest else None
    new = tuple(p for p in posts if p.post_id not in seen and (floor is None or p.created_at >= floor))
    ordered = sorted(new, key=lambda p: p.created_at, reverse=True)
    merged = [p.post_id for p in ordered] + [s for s in seen_list if s not in {p.post_id for p in ordered}]
    times = [min(p.created_at, fetched_at) for p in posts] + ([newest] if newest else [])
    next_cursor: dict[str, Any] = {"seen": merged[:max_seen]}
    if times:
        next_cursor["newest"] = max(times).isoformat()
    return new, next_cursor


_FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"


class RssCollector(Collector):
    """Fetches one feed per run (feeds have no paging) and yields the entries not seen before."""

    name = "rss"
    kinds = frozenset({"feed"})
    Settings = RssSettings

    def __init__(self, client: httpx.AsyncClient, settings: CollectorSettings) -> None:
        if not isinstance(settings, RssSettings):
            settings = RssSettings.model_validate(settings.model_dump())
        super().__init__(client, settings)
        self.rss_settings: RssSettings = settings

    async def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind not in self.kinds:
            raise CollectorError(f"rss has no kind {source.kind!r}; use 'feed'")
        target = resolve_target(source.target, self.rss_settings.base_url)
        override = source.options.get("platform")
        if override is not None and (not isinstance(override, str) or not override.strip()):
            raise CollectorError(f"rss option platform must be a non-empty string, got {override!r}")
        text = await fetch_text(
            self.client, target.url, headers={"Accept": _FEED_ACCEPT}, source_key=f"rss:{target.url}"
        )
        seen_before = bool(cursor.get("seen"))
        fetched_at = datetime.now(UTC)
        parsed = parse_feed(
            text.encode("utf-8", errors="replace"),
            feed_url=target.url,
            fetched_at=fetched_at,
            route=target.route,
            platform=override.strip() if override else None,
            allow_empty=bool(source.options.get("allow_empty", not seen_before)),
            charset="utf-8",
        )
        new, next_cursor = select_new(
            parsed.posts,
            cursor,
            max_seen=self.rss_settings.max_seen,
            backfill_window_s=self.rss_settings.backfill_window_s,
            fetched_at=fetched_at,
        )
        yield Page(cursor=next_cursor, posts=new)
