"""Bilibili collector (api.bilibili.com web API): WBI signing, device cookies, users, search, videos.

Kinds and targets:
- `user`, target = mid: the user card (`x/web-interface/card`) and `x/relation/stat` (followers),
  then the video list `x/space/wbi/arc/search` (WBI-signed, newest first, paged by `pn`).
- `search`, target = keyword: `x/web-interface/wbi/search/type?search_type=video&order=pubdate`.
- `video`, target = bvid: `x/web-interface/view` (stats) and the newest comments (`x/v2/reply`).

Counts: view -> Post.views, like -> likes, reply/comment -> comments, share -> reposts; coins,
favourites and danmaku stay in `raw` (Post has no field for them).

Risk control: `-352`, `-412` and `code 0` whose data is only a `v_voucher` are Blocked; `-799` is
RateLimited; `-101` LoginRequired; `-404`/`62002`/`62004` SourceGone. A -352 on a signed call
refreshes the WBI keys once before giving up. WBI keys come from the nav call (which answers -101
when logged out but still carries `wbi_img`) and are refreshed when the Shanghai date changes.
Device cookie `buvid3` comes from `x/frontend/finger/spi` unless the operator's cookie
(KOLWATCH_BILIBILI_COOKIE) already has one.

Cursor (user/search): {"newest_ts": int, "newest_ids": [...], "catchup": {...}} (see `_walk`);
(video): {"newest_rpid": int}. Known videos and comments on the pages a run reads anyway are
yielded again, so storage refreshes their counts (no extra request for that).
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from collectors.base import (
    Author,
    Blocked,
    Collector,
    CollectorError,
    LoginRequired,
    Page,
    ParseError,
    Post,
    RateLimited,
    SourceGone,
    SourceSpec,
)
from collectors.http import (
    SHANGHAI,
    HttpSettings,
    expect_id,
    expect_list,
    expect_object,
    fetch_json,
    is_decimal,
    parse_count,
    parse_time,
)

PLATFORM = "bilibili"

# The WBI key permutation published with the signing scheme (see research/platforms.md §3.2).
MIXIN_KEY_ENC_TAB: tuple[int, ...] = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14, 39,
    12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59, 6, 63,
    57, 62, 11, 36, 20, 34, 44, 52,
)  # fmt: skip


class BilibiliSettings(HttpSettings):
    base_url: str = "https://api.bilibili.com"
    cookie_env: str = "KOLWATCH_BILIBILI_COOKIE"
    referer: str = "https://www.bilibili.com/"
    headers: dict[str, str] = {"Origin": "https://www.bilibili.com"}  # noqa: RUF012
    # Community practice: about one request per 1-3 s per IP, long rests after -412.
    rate_per_s: float = 0.5
    burst: int = 2
    page_size: int = 30


# ------------------------------------------------------------------------------------------ signing


def mixin_key(img_key: str, sub_key: str) -> str:
    raw = img_key + sub_key
    if len(raw) < 64:
        raise ParseError("WBI keys too short")
    return "".join(raw[i] for i in MIXIN_KEY_ENC_TAB)[:32]


_WBI_STRIP = re.compile(r"[!'()*]")


def wbi_query(params: Mapping[str, Any]) -> str:
    """Sorted, percent-encoded query (uppercase hex, space as %20, !'()* removed from values)."""

    parts = []
    for key in sorted(params):
        value = _WBI_STRIP.sub("", str(params[key]))
        parts.append(f"{quote(str(key), safe='')}={quote(value, safe='')}")
    return "&".join(parts)


def sign_wbi(params: Mapping[str, Any], img_key: str, sub_key: str, *, wts: int) -> dict[str, str]:
    """Params plus `wts` and `w_rid` as the WBI scheme wants them (values cleaned as signed)."""

    signed = {str(k): _WBI_STRIP.sub("", str(v)) for k, v in params.items()}
    signed["wts"] = str(wts)
    query = wbi_query(signed)
    signed["w_rid"] = hashlib.md5((query + mixin_key(img_key, sub_key)).encode()).hexdigest()
    return signed


def keys_from_nav(payload: Any) -> tuple[str, str]:
    """img_key, sub_key: the file stems of nav's wbi_img URLs (present even when code is -101)."""

    data = payload.get("data") if isinstance(payload, dict) else None
    img = data.get("wbi_img") if isinstance(data, dict) else None
    if not isinstance(img, dict):
        check_envelope(payload)
        raise ParseError("nav response has no wbi_img")
    keys = []
    for field in ("img_url", "sub_url"):
        url = img.get(field)
        if not isinstance(url, str) or "/" not in url:
            raise ParseError(f"nav wbi_img.{field} missing")
        stem = url.rsplit("/", 1)[1].split(".", 1)[0]
        if not re.fullmatch(r"[0-9a-zA-Z]{16,64}", stem):
            raise ParseError(f"nav wbi_img.{field} has an odd key")
        keys.append(stem)
    return keys[0], keys[1]


# ------------------------------------------------------------------------------------------ parsing


def check_envelope(payload: Any) -> None:
    """Raise what a Bilibili `{code, message, data}` envelope means; return when it is a real success."""

    body = expect_object(payload, "bilibili envelope")
    code = body.get("code")
    message = str(body.get("message") or body.get("msg") or "")[:120]
    data = body.get("data")
    if code == 0:
        if isinstance(data, dict) and "v_voucher" in data and len(data) <= 2:
            raise Blocked("bilibili risk control: v_voucher with code 0 (WBI signature missing or wrong)")
        return
    if code in (-352, -412):
        raise Blocked(f"bilibili risk control {code}: {message}")
    if code == -799:
        raise RateLimited(f"bilibili: too frequent ({message})", retry_after=3.0)
    if code == -101:
        raise LoginRequired(f"bilibili: not logged in ({message})")
    if code in (-404, 62002, 62004, -403):
        raise SourceGone(f"bilibili {code}: {message}")
    if not isinstance(code, int) or isinstance(code, bool):
        raise ParseError("bilibili envelope without an integer code")
    raise ParseError(f"bilibili error {code}: {message}")


_EM = re.compile(r"<[^>]{0,200}>")


def _clean_title(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError("bilibili title is not a string")
    return html.unescape(_EM.sub("", value)).strip()


def _video_url(bvid: str) -> str:
    return f"https://www.bilibili.com/video/{bvid}"


def _text(title: str, desc: Any) -> str:
    description = desc.strip() if isinstance(desc, str) else ""
    if description in ("", "-"):
        return title
    return f"{title}\n{description}"


def parse_card(payload: Any) -> Author:
    """x/web-interface/card -> Author (followers from data.follower, else card.fans)."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "envelope").get("data"), "bilibili card data")
    card = expect_object(data.get("card"), "bilibili card")
    mid = expect_id(card.get("mid"), "bilibili card")
    official = card.get("Official") if isinstance(card.get("Official"), dict) else {}
    official_type = official.get("type")
    followers = data.get("follower", card.get("fans"))
    sign = card.get("sign")
    return Author(
        platform=PLATFORM,
        author_id=mid,
        name=str(card.get("name") or ""),
        url=f"https://space.bilibili.com/{mid}",
        followers=parse_count(followers),
        verified=isinstance(official_type, int) and official_type >= 0,
        verified_type=None if official_type in (None, -1) else str(official_type),
        description=sign if isinstance(sign, str) else "",
        following=parse_count(card.get("attention")),
        posts_count=parse_count(data.get("archive_count")),
    )


def parse_relation_stat(payload: Any) -> int | None:
    check_envelope(payload)
    return parse_count(
        expect_object(expect_object(payload, "envelope").get("data"), "bilibili relation").get("follower")
    )


@dataclass(frozen=True, slots=True)
class VideoPage:
    posts: tuple[Post, ...]
    has_more: bool


def _minimal_author(mid: Any, name: Any) -> Author:
    author_id = expect_id(mid, "bilibili author mid")
    return Author(PLATFORM, author_id, str(name or ""), url=f"https://space.bilibili.com/{author_id}")


def parse_arc_search(payload: Any, *, author: Author | None = None) -> VideoPage:
    """x/space/wbi/arc/search -> video Posts (newest first) and whether another page exists."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "envelope").get("data"), "bilibili arc data")
    listing = expect_object(data.get("list"), "bilibili arc list")
    posts = []
    for item in expect_list(listing.get("vlist"), "bilibili vlist"):
        item = expect_object(item, "bilibili video")
        bvid = expect_id(item.get("bvid"), "bilibili video")
        owner = author if author is not None else _minimal_author(item.get("mid"), item.get("author"))
        title = _clean_title(item.get("title"))
        posts.append(
            Post(
                platform=PLATFORM,
                post_id=bvid,
                url=_video_url(bvid),
                author=owner,
                text=_text(title, item.get("description")),
                created_at=parse_time(item.get("created")),
                views=parse_count(item.get("play")),
                comments=parse_count(item.get("comment")),
                likes=parse_count(item.get("like")) if "like" in item else None,
                kind="video",
                title=title,
                raw=item,
            )
        )
    page = expect_object(data.get("page"), "bilibili arc page") if data.get("page") is not None else {}
    pn, ps, count = (parse_count(page.get(k)) for k in ("pn", "ps", "count"))
    has_more = bool(posts) and None not in (pn, ps, count) and pn * ps < count  # type: ignore[operator]
    return VideoPage(tuple(posts), has_more)


def parse_search(payload: Any) -> VideoPage:
    """x/web-interface/wbi/search/type (video) -> video Posts; titles lose their <em> highlights."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "envelope").get("data"), "bilibili search data")
    posts = []
    for item in expect_list(data.get("result"), "bilibili search result"):
        item = expect_object(item, "bilibili search item")
        if item.get("type", "video") != "video":
            continue
        bvid = expect_id(item.get("bvid"), "bilibili search item")
        title = _clean_title(item.get("title"))
        posts.append(
            Post(
                platform=PLATFORM,
                post_id=bvid,
                url=_video_url(bvid),
                author=_minimal_author(item.get("mid"), item.get("author")),
                text=_text(title, item.get("description")),
                created_at=parse_time(item.get("pubdate")),
                views=parse_count(item.get("play")),
                comments=parse_count(item.get("review")),
                likes=parse_count(item.get("like")) if "like" in item else None,
                kind="video",
                title=title,
                raw=item,
            )
        )
    page, pages = parse_count(data.get("page")), parse_count(data.get("numPages"))
    return VideoPage(tuple(posts), bool(posts) and page is not None and pages is not None and page < pages)


def parse_view(payload: Any) -> Post:
    """x/web-interface/view -> the video Post with its stats."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "envelope").get("data"), "bilibili view data")
    bvid = expect_id(data.get("bvid"), "bilibili view")
    owner = expect_object(data.get("owner"), "bilibili owner")
    stat = expect_object(data.get("stat"), "bilibili stat")
    title = _clean_title(data.get("title"))
    return Post(
        platform=PLATFORM,
        post_id=bvid,
        url=_video_url(bvid),
        author=_minimal_author(owner.get("mid"), owner.get("name")),
        text=_text(title, data.get("desc")),
        created_at=parse_time(data.get("pubdate")),
        views=parse_count(stat.get("view")),
        likes=parse_count(stat.get("like")),
        comments=parse_count(stat.get("reply")),
        reposts=parse_count(stat.get("share")),
        kind="video",
        title=title,
        raw=data,
    )


def parse_replies(payload: Any, *, parent_id: str) -> list[Post]:
    """x/v2/reply or x/v2/reply/wbi/main -> comment Posts (top-level replies)."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "envelope").get("data"), "bilibili reply data")
    posts = []
    for reply in expect_list(data.get("replies"), "bilibili replies"):
        reply = expect_object(reply, "bilibili reply")
        rpid = expect_id(reply.get("rpid_str") or reply.get("rpid"), "bilibili reply")
        member = expect_object(reply.get("member"), "bilibili reply member")
        content = expect_object(reply.get("content"), "bilibili reply content")
        message = content.get("message")
        if not isinstance(message, str):
            raise ParseError("bilibili reply without message")
        posts.append(
            Post(
                platform=PLATFORM,
                post_id=rpid,
                url=f"{_video_url(parent_id)}#reply{rpid}",
                author=_minimal_author(member.get("mid") or reply.get("mid"), member.get("uname")),
                text=message.strip(),
                created_at=parse_time(reply.get("ctime")),
                likes=parse_count(reply.get("like")),
                comments=parse_count(reply.get("rcount")),
                parent_id=parent_id,
                kind="comment",
                raw=reply,
            )
        )
    return posts


def parse_finger_spi(payload: Any) -> str:
    check_envelope(payload)
    buvid3 = expect_object(expect_object(payload, "envelope").get("data"), "bilibili spi data").get("b_3")
    if not isinstance(buvid3, str) or not re.fullmatch(r"[0-9A-Za-z\-]{10,80}", buvid3):
        raise ParseError("finger/spi has no usable b_3")
    return buvid3


# ----------------------------------------------------------------------------------------- collector


class BilibiliCollector(Collector):
    name: ClassVar[str] = PLATFORM
    kinds: ClassVar[frozenset[str]] = frozenset({"user", "search", "video"})
    Settings: ClassVar[type[BilibiliSettings]] = BilibiliSettings

    def __init__(
        self, client: Any, settings: BilibiliSettings, *, wall_clock: Callable[[], float] | None = None
    ) -> None:
        super().__init__(client, settings)
        self.settings: BilibiliSettings = settings
        self._time = wall_clock or time.time  # unix seconds for `wts` and the key-rotation day
        self._keys: tuple[str, str] | None = None
        self._keys_day: str | None = None
        self._buvid3: str | None = None

    def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind not in self.kinds:
            raise CollectorError(f"bilibili has no kind {source.kind!r} (known: {sorted(self.kinds)})")
        target = source.target.strip()
        if not target:
            raise CollectorError(f"bilibili {source.kind} source needs a target")
        if source.kind == "user" and not is_decimal(target):
            raise CollectorError(f"bilibili user target must be a numeric mid, got {target!r}")
        if source.kind == "video":
            return self._video(source, dict(cursor))
        return self._walk(source, dict(cursor))

    def _key(self, source: SourceSpec) -> str:
        return f"{PLATFORM}:{source.kind}:{source.target}"

    def _cookie_header(self) -> dict[str, str]:
        base = self.client.headers.get("Cookie", "")
        if self._buvid3 and "buvid3=" not in base:
            joined = f"{base}; buvid3={self._buvid3}" if base else f"buvid3={self._buvid3}"
            return {"Cookie": joined}
        return {}

    async def _get(self, source: SourceSpec, path: str, params: Mapping[str, Any]) -> Any:
        return await fetch_json(
            self.client,
            path,
            params=params,
            headers=self._cookie_header(),
            source_key=self._key(source),
            check=check_envelope,
        )

    async def _ensure_device(self, source: SourceSpec) -> None:
        if self._buvid3 is None and "buvid3=" not in self.client.headers.get("Cookie", ""):
            payload = await fetch_json(self.client, "/x/frontend/finger/spi", source_key=self._key(source))
            self._buvid3 = parse_finger_spi(payload)

    async def _wbi_keys(self, source: SourceSpec, *, refresh: bool = False) -> tuple[str, str]:
        day = datetime.fromtimestamp(self._time(), SHANGHAI).date().isoformat()
        if refresh or self._keys is None or self._keys_day != day:
            payload = await fetch_json(
                self.client,
                "/x/web-interface/nav",
                headers=self._cookie_header(),
                source_key=self._key(source),
            )
            self._keys = keys_from_nav(payload)
            self._keys_day = day
        return self._keys

    async def _signed(self, source: SourceSpec, path: str, params: Mapping[str, Any]) -> Any:
        await self._ensure_device(source)
        for attempt in range(2):
            img, sub = await self._wbi_keys(source, refresh=attempt > 0)
            signed = sign_wbi(params, img, sub, wts=int(self._time()))
            try:
                return await self._get(source, path, signed)
            except Blocked:
                if attempt == 0:
                    continue  # keys may have rotated under us: refetch them once
                raise
        raise AssertionError("unreachable")

    async def _user_author(self, source: SourceSpec) -> Author:
        mid = source.target.strip()
        author = parse_card(await self._get(source, "/x/web-interface/card", {"mid": mid, "photo": "false"}))
        followers = parse_relation_stat(await self._get(source, "/x/relation/stat", {"vmid": mid}))
        if followers is None:
            return author
        return Author(
            **{**{f: getattr(author, f) for f in author.__dataclass_fields__}, "followers": followers}
        )

    async def _fetch_page(self, source: SourceSpec, pn: int, author: Author | None) -> VideoPage:
        target = source.target.strip()
        if source.kind == "user":
            params = {
                "mid": target,
                "ps": self.settings.page_size,
                "pn": pn,
                "order": "pubdate",
                # The space endpoints answer -352 without these browser-fingerprint fields.
                "dm_img_list": "[]",
                "dm_img_str": "V2ViR0wgMS4wIChPcGVuR0wgRVMgMi4wIENocm9taXVtKQ",
                "dm_cover_img_str": "QU5HTEUgKEludGVsLCBJbnRlbChSKSBVSEQgR3JhcGhpY3MgNjMwKQ",
            }
            return parse_arc_search(
                await self._signed(source, "/x/space/wbi/arc/search", params), author=author
            )
        params = {"search_type": "video", "keyword": target, "page": pn, "order": "pubdate"}
        return parse_search(await self._signed(source, "/x/web-interface/wbi/search/type", params))

    async def _walk(self, source: SourceSpec, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        """Newest-first walk by (created time, bvid), resumable by page number like weibo's walk."""

        floor_ts = cursor.get("newest_ts")
        floor_ids = set(cursor.get("newest_ids") or [])
        catchup = cursor.get("catchup") if isinstance(cursor.get("catchup"), dict) else None
        pn = int(catchup["pn"]) if catchup else 1
        top_ts = catchup.get("top_ts") if catchup else None
        top_ids = set(catchup.get("top_ids") or []) if catchup else set()
        author = await self._user_author(source) if source.kind == "user" else None
        authors = (author,) if author else ()
        for step in range(self.settings.max_pages_per_run):
            page = await self._fetch_page(source, pn, author)
            posts = []
            reached = False
            for post in page.posts:
                ts = int(post.created_at.timestamp())
                posts.append(post)  # known videos too: storage refreshes their views/likes/comments
                if floor_ts is not None and (ts < floor_ts or (ts == floor_ts and post.post_id in floor_ids)):
                    reached = True
                    continue
                if top_ts is None or ts > top_ts:
                    top_ts, top_ids = ts, {post.post_id}
                elif ts == top_ts:
                    top_ids.add(post.post_id)
            last_step = step == self.settings.max_pages_per_run - 1
            if reached or not page.has_more or (floor_ts is None and last_step):
                if top_ts is None or (floor_ts is not None and top_ts < floor_ts):
                    new_cursor = {"newest_ts": floor_ts, "newest_ids": sorted(floor_ids)} if floor_ts else {}
                elif floor_ts is not None and top_ts == floor_ts:
                    new_cursor = {"newest_ts": top_ts, "newest_ids": sorted(top_ids | floor_ids)}
                else:
                    new_cursor = {"newest_ts": top_ts, "newest_ids": sorted(top_ids)}
                yield Page(cursor=new_cursor, posts=tuple(posts), authors=authors)
                return
            pn += 1
            yield Page(
                cursor={
                    "newest_ts": floor_ts,
                    "newest_ids": sorted(floor_ids),
                    "catchup": {"pn": pn, "top_ts": top_ts, "top_ids": sorted(top_ids)},
                },
                posts=tuple(posts),
                authors=authors,
            )
            authors = ()

    async def _video(self, source: SourceSpec, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        bvid = source.target.strip()
        video = parse_view(await self._get(source, "/x/web-interface/view", {"bvid": bvid}))
        raw = video.raw or {}
        aid = raw.get("aid")
        if isinstance(aid, bool) or not isinstance(aid, int | str):
            raise ParseError("bilibili view has no aid")
        floor = int(cursor.get("newest_rpid") or 0)
        newest = floor
        comments: list[Post] = []
        for pn in range(1, self.settings.max_pages_per_run + 1):
            params = {"type": 1, "oid": aid, "sort": 0, "ps": 20, "pn": pn}
            batch = parse_replies(await self._get(source, "/x/v2/reply", params), parent_id=bvid)
            rpids = [c for c in batch if is_decimal(c.post_id) and len(c.post_id) < 30]
            fresh = [c for c in rpids if int(c.post_id) > floor]
            comments.extend(batch)  # the known ones too, for their fresh like counts
            newest = max([newest, *(int(c.post_id) for c in fresh)])
            if len(fresh) < len(batch) or not batch:
                break
        now = datetime.now(UTC).isoformat()
        yield Page(cursor={"newest_rpid": newest, "checked_at": now}, posts=(video, *comments))
