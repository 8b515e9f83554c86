"""Weibo collector (m.weibo.cn container API): user profiles and timelines, keyword search, hot search.

Parsers are pure functions over decoded JSON/HTML that raise only CollectorError; `WeiboCollector`
does the requests through `collectors.http` and the incremental bookkeeping.

Kinds and targets:
- `user`, target = uid: one profile request (followers, verified_type), then the timeline
  (`containerid=107603{uid}`), paged by `cardlistInfo.since_id` or `cardlistInfo.page`, whichever
  the response carries. Options: `comments` (int, hot comments fetched per new post, default 0).
- `search`, target = keyword: `containerid=100103type={search_type}&q=...` paged by `page`.
  Options: `search_type` ("1" 综合 by default, "61" 实时), `comments`.
- `hot`, target ignored: the hot-search list, from weibo.com/ajax/side/hotSearch (JSON) or, with
  option `format = "html"`, the s.weibo.com/top/summary page.

Cursor (user/search): {"newest_id": str, "newest_at": iso, "catchup": {"token": {...}, "top": str}}.
Weibo ids grow with time, so "new" means id > newest_id. A run walks from the newest page down
until it meets a known id, at most `max_pages_per_run` pages. If the budget runs out first, the
cursor keeps the old `newest_id` plus a `catchup` token, and the next run continues down from that
token instead of the top, so no gap is ever skipped; once the walk meets the known id,
`newest_id` becomes the newest id seen. A first run (empty cursor) reads at most
`max_pages_per_run` pages of history. Known posts on the pages a run reads anyway (the page where
the walk meets the known id, a pinned post) are yielded again, so their counts are refreshed in
storage; they cost no extra request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from bs4 import BeautifulSoup, Tag

from collectors.base import (
    Author,
    Blocked,
    Collector,
    CollectorError,
    HotEntry,
    LoginRequired,
    Page,
    ParseError,
    Post,
    RateLimited,
    SourceGone,
    SourceSpec,
)
from collectors.http import (
    HttpSettings,
    clean_text,
    expect_id,
    expect_list,
    expect_object,
    fetch_json,
    fetch_text,
    is_decimal,
    parse_count,
    parse_time,
)

PLATFORM = "weibo"
log = logging.getLogger(__name__)


class WeiboSettings(HttpSettings):
    base_url: str = "https://m.weibo.cn"
    cookie_env: str = "KOLWATCH_WEIBO_COOKIE"
    mobile: bool = True
    referer: str = "https://m.weibo.cn/"
    headers: dict[str, str] = {"MWeibo-Pwa": "1", "X-Requested-With": "XMLHttpRequest"}  # noqa: RUF012
    # Weibo answers 418 when polled faster than a few requests a minute per cookie.
    rate_per_s: float = 0.1
    burst: int = 2
    # Absolute URLs leave m.weibo.cn; relative ones (a fake server, a mirror) follow base_url.
    hot_json_url: str = "https://weibo.com/ajax/side/hotSearch"
    hot_html_url: str = "https://s.weibo.com/top/summary?cate=realtimehot"


# ------------------------------------------------------------------------------------------ parsing


def _id_number(post_id: str) -> int:
    if not is_decimal(post_id) or len(post_id) > 30:
        raise ParseError(f"weibo id is not numeric: {post_id[:30]!r}")
    return int(post_id)


def check_envelope(payload: Any) -> None:
    """Raise the CollectorError an m.weibo.cn envelope means; return for ok:1 and the empty ok:0."""

    body = expect_object(payload, "weibo envelope")
    ok = body.get("ok")
    if ok == 1:
        return
    msg = str(body.get("msg") or "")
    url = str(body.get("url") or "")
    if ok == 0:
        if "频繁" in msg:
            raise RateLimited(f"weibo: {msg}")
        if "没有内容" in msg or not msg:
            return  # empty or invalid container: an empty result, not an error (see parse_profile)
        if "不存在" in msg or "已被删除" in msg:
            raise SourceGone(f"weibo: {msg[:100]}")  # "该微博不存在": the post (or account) is gone
        raise ParseError(f"weibo ok:0: {msg[:100]}")
    if ok in (-100, "-100"):
        if "captcha" in url or "verify" in url:
            raise Blocked(f"weibo asks for a captcha (account rate-limited): {url[:120]}")
        raise LoginRequired(f"weibo login required (cookie missing or expired) {url[:120]}".strip())
    raise ParseError(f"weibo envelope with unknown ok={ok!r}")


def html_to_text(html: Any, *, truncated: bool = False) -> str:
    """Weibo text HTML -> plain text: emoticons as their codes ([哈哈]), #话题#, @mentions, line breaks.

    Link-icon images without alt text are dropped, and so is the trailing "全文" link of a cut post.
    The "..." Weibo puts before that link goes too, but only on a cut post (`truncated`, i.e.
    isLongText, or a 全文 link): an author's own trailing "..." is part of the text.
    """

    if html is None:
        return ""
    if not isinstance(html, str):
        raise ParseError(f"weibo text is {type(html).__name__}, not a string")
    html = clean_text(html)
    if "<" not in html and "&" not in html:
        return _drop_ellipsis(html.strip()) if truncated else html.strip()
    soup = BeautifulSoup(html, "lxml")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for img in soup.find_all("img"):
        alt = img.get("alt") if isinstance(img, Tag) else None
        img.replace_with(alt if isinstance(alt, str) else "")
    for link in soup.find_all("a"):
        if link.get_text(strip=True) == "全文":
            link.decompose()
            truncated = True
    text = soup.get_text()
    lines = [line.strip() for line in text.replace("\u200b", "").splitlines()]
    text = "\n".join(lines).strip()
    return _drop_ellipsis(text) if truncated else text


def _drop_ellipsis(text: str) -> str:
    return text[:-3].rstrip() if text.endswith("...") else text


def parse_user(user: Any) -> Author:
    """An mblog.user / userInfo object -> Author (followers may be "145.5万")."""

    data = expect_object(user, "weibo user")
    uid = expect_id(data.get("id"), "weibo user")
    verified_type = data.get("verified_type")
    description = data.get("description")
    return Author(
        platform=PLATFORM,
        author_id=uid,
        name=str(data.get("screen_name") or ""),
        url=f"https://weibo.com/u/{uid}",
        followers=parse_count(data.get("followers_count")),
        verified=bool(data.get("verified")),
        verified_type=None if verified_type is None else str(verified_type),
        description=description if isinstance(description, str) else "",
        following=parse_count(data.get("follow_count")),
        posts_count=parse_count(data.get("statuses_count")),
    )


DELETED_AUTHOR = Author(platform=PLATFORM, author_id="", name="")


def parse_mblog(mblog: Any, *, now: datetime) -> Post:
    """One mblog -> Post. A null user (deleted original) gets DELETED_AUTHOR (empty id and name).

    For a repost, `parent_id` is the original's id when the embedded original carries a usable
    one, else None (the post is still a repost).
    """

    data = expect_object(mblog, "weibo mblog")
    post_id = expect_id(data.get("id") or data.get("mid"), "weibo mblog")
    _id_number(post_id)
    user = data.get("user")
    author = DELETED_AUTHOR if user is None else parse_user(user)
    bid = data.get("bid")
    if isinstance(bid, str) and bid and author.author_id:
        url = f"https://weibo.com/{author.author_id}/{bid}"
    else:
        url = f"https://m.weibo.cn/status/{post_id}"
    retweeted = data.get("retweeted_status")
    parent_id = _original_id(retweeted) if retweeted is not None else None
    created = data.get("created_at")
    if created is None:
        raise ParseError(f"weibo mblog {post_id} has no created_at")
    return Post(
        platform=PLATFORM,
        post_id=post_id,
        url=url,
        author=author,
        text=html_to_text(data.get("text"), truncated=bool(data.get("isLongText"))),
        created_at=parse_time(created, now=now),
        likes=parse_count(data.get("attitudes_count", data.get("like_count"))),
        reposts=parse_count(data.get("reposts_count")),
        comments=parse_count(data.get("comments_count")),
        is_repost=retweeted is not None,
        parent_id=parent_id,
        raw=data,
    )


def _original_id(retweeted: Any) -> str | None:
    if not isinstance(retweeted, dict):
        return None
    value = retweeted.get("id") or retweeted.get("mid")
    try:
        post_id = expect_id(value, "weibo retweeted_status")
        _id_number(post_id)
    except ParseError:
        return None
    return post_id


def mblog_posts(mblog: Any, *, now: datetime) -> list[Post]:
    """An mblog and, for a repost, its embedded original (original first).

    An original that was deleted (user null, often no created_at: "抱歉，此微博已被作者删除。") or
    that does not parse is not a post we can store; the repost is kept on its own with
    raw["original_unavailable"] saying why, so one dead original never fails the page.
    """

    post = parse_mblog(mblog, now=now)
    if not post.is_repost:
        return [post]
    original = expect_object(mblog, "weibo mblog").get("retweeted_status")
    if isinstance(original, dict) and original.get("user") is None:
        reason = "deleted: " + html_to_text(original.get("text"))[:100] if original.get("text") else "deleted"
    else:
        try:
            return [parse_mblog(original, now=now), post]
        except ParseError as exc:
            reason = f"unreadable: {exc.message[:100]}"
    return [replace(post, raw={**(post.raw or {}), "original_unavailable": reason})]


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """One page of a card list. `mblogs` keeps the raw objects (long text and pinned flags)."""

    mblogs: tuple[dict[str, Any], ...]
    next_token: dict[str, int | str] | None  # {"since_id": ...} or {"page": n}; None at the end
    total: int | None


def parse_cards(payload: Any) -> TimelinePage:
    """A getIndex card-list response (timeline or search) -> its mblogs and the next-page token."""

    check_envelope(payload)
    body = expect_object(payload, "weibo envelope")
    data = body.get("data")
    if body.get("ok") == 0:
        return TimelinePage((), None, 0)
    data = expect_object(data, "weibo data")
    mblogs: list[dict[str, Any]] = []
    for card in expect_list(data.get("cards"), "weibo cards"):
        card = expect_object(card, "weibo card")
        if isinstance(card.get("mblog"), dict):
            mblogs.append(card["mblog"])
        for inner in expect_list(card.get("card_group"), "weibo card_group"):
            inner = expect_object(inner, "weibo card_group item")
            if isinstance(inner.get("mblog"), dict):
                mblogs.append(inner["mblog"])
    info = data.get("cardlistInfo")
    info = expect_object(info, "weibo cardlistInfo") if info is not None else {}
    token: dict[str, int | str] | None = None
    since_id = info.get("since_id")
    page = info.get("page")
    if since_id not in (None, "", 0, "0"):
        if isinstance(since_id, bool) or not isinstance(since_id, int | str):
            raise ParseError(f"weibo since_id of type {type(since_id).__name__}")
        token = {"since_id": str(since_id)}
    elif page not in (None, "", 0, "0"):
        if isinstance(page, bool) or not is_decimal(str(page)) or len(str(page)) > 9:
            raise ParseError(f"weibo page {page!r} is not a number")
        token = {"page": int(page)}
    if not mblogs:
        token = None
    return TimelinePage(tuple(mblogs), token, parse_count(info.get("total")))


def parse_profile(payload: Any) -> tuple[Author, str | None]:
    """getIndex?type=uid -> (Author, timeline containerid or None). ok:0 means the user is gone."""

    check_envelope(payload)
    body = expect_object(payload, "weibo envelope")
    if body.get("ok") == 0:
        raise SourceGone(f"weibo user not found: {body.get('msg')!s}"[:120])
    data = expect_object(body.get("data"), "weibo data")
    author = parse_user(data.get("userInfo"))
    containerid = None
    tabs = data.get("tabsInfo")
    if isinstance(tabs, dict):
        for tab in expect_list(tabs.get("tabs"), "weibo tabs"):
            if isinstance(tab, dict) and tab.get("tab_type") == "weibo" and tab.get("containerid"):
                containerid = str(tab["containerid"])
    return author, containerid


def parse_longtext(payload: Any) -> tuple[str, dict[str, int | None]]:
    """statuses/extend -> (plain full text, fresh counts)."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "weibo envelope").get("data"), "weibo extend data")
    content = data.get("longTextContent")
    if not isinstance(content, str):
        raise ParseError("weibo extend has no longTextContent")
    counts = {
        "likes": parse_count(data.get("attitudes_count")),
        "reposts": parse_count(data.get("reposts_count")),
        "comments": parse_count(data.get("comments_count")),
    }
    return html_to_text(content), counts


def parse_status(payload: Any, *, now: datetime) -> list[Post]:
    """statuses/show -> the status (and its original when it is a repost)."""

    check_envelope(payload)
    return mblog_posts(expect_object(payload, "weibo envelope").get("data"), now=now)


def parse_comments(payload: Any, *, parent_id: str, now: datetime) -> tuple[list[Post], int | None]:
    """comments/hotflow or api/comments/show -> (comment Posts, next max_id or None at the end)."""

    check_envelope(payload)
    body = expect_object(payload, "weibo envelope")
    if body.get("ok") == 0:
        return [], None
    data = expect_object(body.get("data"), "weibo comments data")
    posts: list[Post] = []
    for item in expect_list(data.get("data"), "weibo comments"):
        item = expect_object(item, "weibo comment")
        comment_id = expect_id(item.get("id"), "weibo comment")
        author = parse_user(item.get("user"))
        posts.append(
            Post(
                platform=PLATFORM,
                post_id=comment_id,
                url=f"https://m.weibo.cn/detail/{parent_id}?cid={comment_id}",
                author=author,
                text=html_to_text(item.get("text")),
                created_at=parse_time(item.get("created_at"), now=now),
                likes=parse_count(item.get("like_count", item.get("like_counts"))),
                comments=parse_count(item.get("total_number")),
                parent_id=parent_id,
                kind="comment",
                raw=item,
            )
        )
    max_id = data.get("max_id")
    next_id = None
    if max_id not in (None, 0, "0", ""):
        try:
            next_id = int(str(max_id))
        except ValueError:
            raise ParseError(f"weibo comments max_id {max_id!r}") from None
    return posts, next_id


def _search_url(word: str) -> str:
    return "https://s.weibo.com/weibo?q=" + quote(word)


def parse_hot_json(payload: Any, *, now: datetime) -> list[HotEntry]:
    """weibo.com/ajax/side/hotSearch -> entries: pinned gov topics (rank None), then realtime rows."""

    check_envelope(payload)
    data = expect_object(expect_object(payload, "weibo envelope").get("data"), "weibo hot data")
    captured = now.astimezone(UTC)
    entries: list[HotEntry] = []
    for gov in expect_list(data.get("hotgovs"), "weibo hotgovs"):
        gov = expect_object(gov, "weibo hotgov")
        word = str(gov.get("word") or gov.get("name") or "").strip()
        if word:
            entries.append(
                HotEntry(
                    PLATFORM,
                    "realtime",
                    None,
                    word.strip("#"),
                    None,
                    _search_url(word),
                    captured,
                    pinned=True,
                )
            )
    for row in expect_list(data.get("realtime"), "weibo realtime"):
        row = expect_object(row, "weibo realtime row")
        word = row.get("word")
        if not isinstance(word, str) or not word.strip():
            raise ParseError("weibo hot row without word")
        rank = row.get("realpos")
        if rank is None and isinstance(row.get("rank"), int):
            rank = row["rank"] + 1
        is_ad = bool(row.get("is_ad"))
        scheme = row.get("word_scheme") if isinstance(row.get("word_scheme"), str) else word
        entries.append(
            HotEntry(
                platform=PLATFORM,
                board="realtime",
                rank=parse_count(rank),
                title=word.strip(),
                heat=parse_count(row.get("num")),
                url=_search_url(scheme or word),
                captured_at=captured,
                category=str(row.get("label_name") or row.get("category") or ""),
                is_ad=is_ad,
            )
        )
    return entries


_HEAT = re.compile(r"(\d[\d,.]*\s*[万亿]?)\s*$")


def parse_hot_html(html: Any, *, now: datetime) -> list[HotEntry]:
    """The s.weibo.com/top/summary table -> entries. A page without the table is a login wall or a change."""

    if not isinstance(html, str):
        raise ParseError("weibo hot page is not text")
    soup = BeautifulSoup(clean_text(html), "lxml")
    rows = soup.select("td.td-02")
    if not rows:
        if "passport" in html or "登录" in html:
            raise LoginRequired("s.weibo.com answered with a login page")
        raise ParseError("s.weibo.com hot page has no td-02 cells (layout changed?)")
    captured = now.astimezone(UTC)
    entries: list[HotEntry] = []
    for cell in rows:
        link = cell.find("a")
        if not isinstance(link, Tag):
            continue
        title = link.get_text(strip=True)
        if not title:
            continue
        row = cell.parent
        rank_cell = row.find("td", class_="td-01") if isinstance(row, Tag) else None
        rank_text = rank_cell.get_text(strip=True) if isinstance(rank_cell, Tag) else ""
        rank = int(rank_text) if is_decimal(rank_text) and len(rank_text) < 10 else None
        span = cell.find("span")
        span_text = span.get_text(" ", strip=True) if isinstance(span, Tag) else ""
        heat_match = _HEAT.search(span_text)
        heat = parse_count(heat_match.group(1).replace(" ", "")) if heat_match else None
        category = span_text[: heat_match.start()].strip() if heat_match else span_text
        flag_cell = row.find("td", class_="td-03") if isinstance(row, Tag) else None
        flag = flag_cell.get_text(strip=True) if isinstance(flag_cell, Tag) else ""
        href = link.get("href")
        href_text = href if isinstance(href, str) else ""
        url = href_text if href_text.startswith("http") else "https://s.weibo.com" + href_text
        is_ad = flag == "荐" or "javascript:void" in href_text
        entries.append(
            HotEntry(
                PLATFORM,
                "realtime",
                rank,
                title,
                heat,
                url,
                captured,
                category=category or flag,
                is_ad=is_ad,
                pinned=rank is None,
            )
        )
    return entries


# ----------------------------------------------------------------------------------------- collector

_SOURCE_LEVEL = frozenset({RateLimited.health, LoginRequired.health, Blocked.health})


def _source_level(error: CollectorError) -> bool:
    """Errors that concern the whole source (and so must stop the run), not one post.

    Also a CircuitOpen whose breaker was opened by such errors (its health says which).
    """

    return error.health in _SOURCE_LEVEL


class WeiboCollector(Collector):
    name: ClassVar[str] = PLATFORM
    kinds: ClassVar[frozenset[str]] = frozenset({"user", "search", "hot"})
    Settings: ClassVar[type[WeiboSettings]] = WeiboSettings

    def __init__(self, client: Any, settings: WeiboSettings, *, now: Any = None) -> None:
        super().__init__(client, settings)
        self.settings: WeiboSettings = settings
        # Injectable wall clock for relative times ("5分钟前") and hot-list capture times.
        self._now = now or (lambda: datetime.now(UTC))

    def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind not in self.kinds:
            raise CollectorError(f"weibo has no kind {source.kind!r} (known: {sorted(self.kinds)})")
        if source.kind == "hot":
            return self._hot(source)
        target = source.target.strip()
        if not target:
            raise CollectorError(f"weibo {source.kind} source needs a target")
        if source.kind == "user" and not is_decimal(target):
            # Checked before the profile call: Weibo answers any other uid with ok:0, which reads
            # as a deleted account ("gone") rather than a misconfigured source.
            raise CollectorError(f"weibo user target must be a numeric uid, got {target!r}")
        return self._walk(source, dict(cursor))

    def _key(self, source: SourceSpec) -> str:
        return f"{PLATFORM}:{source.kind}:{source.target}"

    async def _json(self, source: SourceSpec, url: str, params: Mapping[str, Any]) -> Any:
        return await fetch_json(
            self.client, url, params=params, source_key=self._key(source), check=check_envelope
        )

    async def _hot(self, source: SourceSpec) -> AsyncIterator[Page]:
        now = self._now()
        if source.options.get("format") == "html":
            html = await fetch_text(self.client, self.settings.hot_html_url, source_key=self._key(source))
            entries = parse_hot_html(html, now=now)
        else:
            payload = await self._json(source, self.settings.hot_json_url, {})
            entries = parse_hot_json(payload, now=now)
        yield Page(cursor={"captured_at": now.astimezone(UTC).isoformat()}, hot_entries=tuple(entries))

    def _page_params(self, source: SourceSpec, token: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
        target = source.target.strip()
        if source.kind == "user":  # a numeric uid (checked in collect)
            params: dict[str, Any] = {"type": "uid", "value": target, "containerid": f"107603{target}"}
        else:
            search_type = str(source.options.get("search_type", "1"))
            params = {"containerid": f"100103type={search_type}&q={target}", "page_type": "searchall"}
        if token:
            params.update(token)
        return params, "/api/container/getIndex"

    async def _profile(self, source: SourceSpec) -> Author:
        payload = await self._json(
            source, "/api/container/getIndex", {"type": "uid", "value": source.target.strip()}
        )
        author, _ = parse_profile(payload)
        return author

    async def _item_json(
        self,
        source: SourceSpec,
        url: str,
        params: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        # Per-post calls (long text, hot comments) have their own breaker: a run of deleted posts
        # must not open the source's breaker and stop the timeline itself.
        return await fetch_json(
            self.client,
            url,
            params=params,
            headers=headers,
            source_key=self._key(source) + ":items",
            check=check_envelope,
        )

    async def _complete(self, source: SourceSpec, mblog: dict[str, Any], now: datetime) -> list[Post]:
        """The posts of one mblog with its full text and hot comments where they can be had.

        A failed long-text call keeps the truncated text (raw["longtext_failed"]); failed hot
        comments are skipped. Rate limits, login walls and blocks concern the whole source and
        still propagate.
        """

        posts = mblog_posts(mblog, now=now)
        main = posts[-1]
        if mblog.get("isLongText"):
            try:
                text, counts = parse_longtext(
                    await self._item_json(source, "/statuses/extend", {"id": main.post_id})
                )
            except CollectorError as exc:
                if _source_level(exc):
                    raise
                log.warning("weibo %s: keeping the truncated text: %s", main.post_id, exc)
                main = replace(main, raw={**(main.raw or {}), "longtext_failed": exc.message[:200]})
            else:
                main = replace(
                    main,
                    text=text,
                    likes=counts["likes"] if counts["likes"] is not None else main.likes,
                    reposts=counts["reposts"] if counts["reposts"] is not None else main.reposts,
                    comments=counts["comments"] if counts["comments"] is not None else main.comments,
                )
            posts[-1] = main
        limit = source.options.get("comments", 0)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            try:
                payload = await self._item_json(
                    source,
                    "/comments/hotflow",
                    {"id": main.post_id, "mid": main.post_id, "max_id_type": 0},
                    headers={"Referer": f"https://m.weibo.cn/detail/{main.post_id}"},
                )
                comments, _ = parse_comments(payload, parent_id=main.post_id, now=now)
            except CollectorError as exc:
                if _source_level(exc):
                    raise
                log.warning("weibo %s: skipping its hot comments: %s", main.post_id, exc)
            else:
                posts.extend(comments[:limit])
        return posts

    async def _walk(self, source: SourceSpec, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        newest = cursor.get("newest_id")
        floor = _id_number(str(newest)) if newest not in (None, "") else None
        catchup = cursor.get("catchup") if isinstance(cursor.get("catchup"), dict) else None
        token: dict[str, Any] | None = dict(catchup["token"]) if catchup and catchup.get("token") else None
        top = _id_number(str(catchup["top"])) if catchup and catchup.get("top") else None
        newest_at = cursor.get("newest_at")
        authors: tuple[Author, ...] = ()
        if source.kind == "user":
            authors = (await self._profile(source),)
        for _ in range(self.settings.max_pages_per_run):
            params, path = self._page_params(source, token)
            now = self._now()
            page = parse_cards(await self._json(source, path, params))
            posts: list[Post] = []
            reached = False
            all_old = bool(page.mblogs)
            for mblog in page.mblogs:
                post_id = expect_id(mblog.get("id") or mblog.get("mid"), "weibo mblog")
                number = _id_number(post_id)
                if floor is not None and number <= floor:
                    if not mblog.get("isTop"):  # a pinned post is old but says nothing about the rest
                        reached = True
                    # Seen before, but on a page we read anyway: yielded again so storage refreshes
                    # its likes/reposts/comments (no long-text or comment calls for it).
                    posts.extend(mblog_posts(mblog, now=now))
                    continue
                all_old = False
                posts.extend(await self._complete(source, mblog, now))
                if top is None or number > top:
                    top = number
                    newest_at = parse_time(mblog.get("created_at"), now=now).isoformat()
            # Search results are not strictly by time, so only a page of nothing new ends that walk.
            done = page.next_token is None or (reached if source.kind == "user" else all_old)
            if page.next_token is not None and page.next_token == token:
                done = True  # the platform repeated the token: stop rather than loop
            if done or (floor is None and _ == self.settings.max_pages_per_run - 1):
                best = max(x for x in (top, floor) if x is not None) if (top or floor) else None
                new_cursor: dict[str, Any] = {}
                if best is not None:
                    new_cursor = {"newest_id": str(best), "newest_at": newest_at}
                yield Page(cursor=new_cursor, posts=tuple(posts), authors=authors)
                return
            token = dict(page.next_token) if page.next_token else None
            yield Page(
                cursor={
                    "newest_id": None if floor is None else str(floor),
                    "newest_at": cursor.get("newest_at"),
                    "catchup": {"token": token, "top": None if top is None else str(top)},
                },
                posts=tuple(posts),
                authors=authors,
            )
            authors = ()
