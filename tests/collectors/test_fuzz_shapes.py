"""Structured fuzzing: payloads in each platform's real shape, with hostile hypothesis leaves.

Random JSON never gets past an envelope check, so the payloads here are built the way the
platforms send them (Weibo cards[].mblog with user and retweeted_status, Bilibili data lists,
Mastodon statuses with accounts and reblogs, RSS/Atom XML, hot lists). `Shapes(hostile=False)`
gives only realistic values, and the `test_valid_*` tests check that those parse into posts, so
the shapes really are the platforms' success shapes. Hostile inputs are then made two ways:
`Shapes(hostile=True)` lets any field be anything (None, booleans, huge ints, floats, text with
lone surrogates, "²", 5000-digit numbers, impossible UTC offsets, years 1 and 9999), and
`mutated()` takes a valid payload and replaces one value at a random depth. Whatever the parsers
and the collectors (end to end over httpx.MockTransport, JSON with "\\ud83d" escapes on the wire)
are fed, only the CollectorError tree may escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors import bilibili, hotlists, mastodon, rss, webpage, weibo
from collectors.base import CollectorError, CollectorSettings, Page, SourceSpec
from collectors.http import HostLimiters, ScaledClock, make_client

NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point, lone surrogates included (hypothesis leaves out category Cs by default).
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=24)
NASTY = [
    "²",
    "١٢٣",
    "１２３",
    "9" * 5000,
    "\ud83d",
    "好喝\ud83d<br>",
    "\udc00\ud800",
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "0001-01-01T00:00:00+08:00",
    "9999-12-31T23:59:59-08:00",
    "Tue Jun 08 09:35:04 +2400 2021",
    "Fri Dec 31 23:59:59 -0800 9999",
    "Mon Jan 01 00:00:00 +0800 0001",
    "Mon, 01 Jan 0001 00:00:00 +2500",
    "03-22",
    "02-29",
    "999999分钟前",
    "99999999999999999999亿",
    "<a>" * 60,
    "&#xD800;",
    "",
]
LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    ANY_TEXT,
    st.sampled_from(NASTY),
)
JSON_ANY = st.recursive(
    LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(ANY_TEXT, c, max_size=3), max_leaves=6
)
TEXT_OR_NASTY = st.one_of(ANY_TEXT, st.sampled_from(NASTY))

SANE_DATES = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2100, 1, 1))
ANY_DATES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
COUNT = st.one_of(
    st.integers(0, 10**9), st.sampled_from(["10万+", "145.5万", "1.2亿", "3,021", "2.3k", "-", ""])
)
UNIX = st.integers(0, 4_000_000_000)
WEIBO_ID = st.one_of(st.integers(1, 10**17), st.integers(1, 10**17).map(str))
BVID = st.from_regex(r"BV1[0-9A-Za-z]{9}", fullmatch=True)
MID = st.one_of(st.integers(1, 10**10), st.integers(1, 10**10).map(str))
WBI_KEY = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
HTML = st.one_of(
    ANY_TEXT,
    st.builds(
        lambda a, b, c: (
            f"{a}<br /><a href='/n/{b}'>@{b}</a> #{c}#"
            f'<span class="url-icon"><img alt="[哈哈]" src="x.png"></span> {c}...<a href="/status/1">全文</a>'
        ),
        ANY_TEXT,
        ANY_TEXT,
        ANY_TEXT,
    ),
)


def _weibo_time(when: datetime, offset: str) -> str:
    return when.strftime("%a %b %d %H:%M:%S ") + offset + f" {when.year:04d}"


def _iso(when: datetime, offset: str) -> str:
    return when.isoformat() + ("Z" if offset == "Z" else f"{offset[:3]}:{offset[3:]}")


def _rfc822(when: datetime, offset: str) -> str:
    return when.strftime("%a, %d %b ") + f"{when.year:04d}" + when.strftime(" %H:%M:%S ") + offset


GOOD_OFFSET = st.sampled_from(["+0800", "+0000", "-0500", "+1400", "-1200"])
ANY_OFFSET = st.from_regex(r"[+-][0-9]{4}", fullmatch=True)


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(required, optional=optional or {})


class Shapes:
    """The platforms' payload shapes. `hostile=False`: realistic values only. `hostile=True`: any
    field may also be a failing-but-realistic value (`bad`) or anything at all."""

    def __init__(self, *, hostile: bool) -> None:
        self.hostile = hostile
        f = self.f
        self.weibo_time = f(
            st.one_of(
                st.builds(_weibo_time, SANE_DATES, GOOD_OFFSET),
                st.sampled_from(
                    ["刚刚", "5分钟前", "昨天 12:30", "03-21", "03-22", "2024-03-20", "3月21日 12:30"]
                ),
                UNIX,
            ),
            st.builds(_weibo_time, ANY_DATES, ANY_OFFSET),
        )
        self.iso_time = f(
            st.builds(_iso, SANE_DATES, st.sampled_from(["Z", "+0800", "-0500"])),
            st.builds(_iso, ANY_DATES, st.sampled_from(["Z", "+1400", "-1200"])),
        )
        self.rfc822 = f(
            st.builds(_rfc822, SANE_DATES, GOOD_OFFSET), st.builds(_rfc822, ANY_DATES, ANY_OFFSET)
        )
        count, text, html = f(COUNT), f(ANY_TEXT), f(HTML)

        # ------------------------------------------------------------------------------- weibo
        user = obj(
            {"id": f(WEIBO_ID), "screen_name": text},
            {
                "followers_count": count,
                "follow_count": count,
                "statuses_count": count,
                "verified": f(st.booleans()),
                "verified_type": f(st.integers(-1, 220)),
                "description": text,
            },
        )

        def mblog(retweeted: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
            return obj(
                {"id": f(WEIBO_ID), "created_at": self.weibo_time, "text": html, "user": f(user)},
                {
                    "mid": f(WEIBO_ID),
                    "bid": text,
                    "attitudes_count": count,
                    "reposts_count": count,
                    "comments_count": count,
                    "isLongText": f(st.booleans()),
                    "isTop": f(st.sampled_from([0, 1, True])),
                    "retweeted_status": retweeted,
                },
            )

        deleted_original = obj(
            {"id": f(WEIBO_ID), "user": st.none(), "text": st.just("抱歉，此微博已被作者删除。")},
            {"created_at": self.weibo_time},
        )
        self.weibo_mblog = mblog(f(st.one_of(mblog(st.none()), deleted_original)))

        def envelope(data: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
            return obj(
                {"ok": f(st.just(1), st.sampled_from([0, -100, "1"])), "data": f(data)},
                {"msg": f(st.just(""), st.sampled_from(["请求过于频繁", "该微博不存在"]))},
            )

        card = obj(
            {"card_type": st.sampled_from([9, 11, 58])},
            {
                "mblog": f(self.weibo_mblog),
                "card_group": f(st.lists(obj({}, {"mblog": self.weibo_mblog}), max_size=2)),
            },
        )
        self.weibo_cards = envelope(
            obj(
                {"cards": f(st.lists(card, max_size=4))},
                {
                    "cardlistInfo": f(
                        obj({}, {"since_id": f(WEIBO_ID), "page": f(st.integers(1, 50)), "total": count})
                    )
                },
            )
        )
        self.weibo_profile = envelope(
            obj(
                {"userInfo": f(user)},
                {
                    "tabsInfo": f(
                        obj(
                            {"tabs": f(st.lists(obj({"tab_type": f(st.just("weibo")), "containerid": text})))}
                        )
                    )
                },
            )
        )
        self.weibo_longtext = envelope(
            obj(
                {"longTextContent": html},
                {"attitudes_count": count, "reposts_count": count, "comments_count": count},
            )
        )
        comment = obj(
            {"id": f(WEIBO_ID), "user": f(user), "text": html, "created_at": self.weibo_time},
            {"like_count": count, "like_counts": count, "total_number": count},
        )
        self.weibo_comments = envelope(
            obj({"data": f(st.lists(comment, max_size=3))}, {"max_id": f(WEIBO_ID), "total_number": count})
        )
        hot_row = obj(
            {"word": f(ANY_TEXT.filter(str.strip))},
            {
                "realpos": f(st.integers(1, 50)),
                "rank": f(st.integers(0, 50)),
                "num": count,
                "is_ad": f(st.sampled_from([0, 1])),
                "word_scheme": text,
                "label_name": text,
                "category": text,
            },
        )
        self.weibo_hot = envelope(
            obj(
                {"realtime": f(st.lists(hot_row, max_size=4))},
                {"hotgovs": f(st.lists(obj({}, {"word": text, "name": text}), max_size=2))},
            )
        )
        self.weibo_hot_html = st.lists(
            st.builds(
                lambda rank, title, span, flag, href: (
                    f'<tr><td class="td-01">{rank}</td><td class="td-02"><a href="{href}">{title}</a>'
                    f"<span>{span}</span></td><td class='td-03'>{flag}</td></tr>"
                ),
                self.t(st.integers(1, 50).map(str)),
                self.t(st.just("鹿角咖啡")),
                self.t(st.sampled_from(["剧集 1,234,567", "12万", ""])),
                self.t(st.sampled_from(["荐", "热", ""])),
                self.t(st.sampled_from(["/weibo?q=x", "javascript:void(0)"])),
            ),
            min_size=1,
            max_size=4,
        ).map(lambda rows: "<html><body><table>" + "".join(rows) + "</table></body></html>")

        # ---------------------------------------------------------------------------- bilibili
        def bili(data: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
            return obj(
                {"code": f(st.just(0), st.sampled_from([-352, -412, -101, -799, -404])), "data": f(data)},
                {"message": text},
            )

        video = obj(
            {"bvid": f(BVID), "created": f(UNIX), "title": html, "mid": f(MID)},
            {"author": text, "description": text, "play": count, "comment": count, "like": count},
        )
        self.bili_arc = bili(
            obj(
                {"list": f(obj({"vlist": f(st.lists(video, max_size=3))}))},
                {"page": f(obj({"pn": f(st.integers(1, 5)), "ps": f(st.just(30)), "count": count}))},
            )
        )
        hit = obj(
            {"bvid": f(BVID), "pubdate": f(UNIX), "title": html, "mid": f(MID)},
            {
                "type": f(st.just("video")),
                "author": text,
                "description": text,
                "play": count,
                "review": count,
                "like": count,
            },
        )
        self.bili_search = bili(
            obj(
                {"result": f(st.lists(hit, max_size=3))},
                {"page": f(st.integers(1, 5)), "numPages": f(st.integers(1, 5))},
            )
        )
        self.bili_view = bili(
            obj(
                {
                    "bvid": f(BVID),
                    "aid": f(st.integers(1, 10**12)),
                    "owner": f(obj({"mid": f(MID)}, {"name": text})),
                    "stat": f(obj({}, {k: count for k in ("view", "like", "reply", "share")})),
                    "pubdate": f(UNIX),
                },
                {"title": html, "desc": text},
            )
        )
        reply = obj(
            {
                "rpid": f(st.integers(1, 10**12)),
                "member": f(obj({"mid": f(MID)}, {"uname": text})),
                "content": f(obj({"message": text})),
                "ctime": f(UNIX),
            },
            {
                "rpid_str": f(st.integers(1, 10**12).map(str), st.sampled_from(["²", "１２"])),
                "like": count,
                "rcount": count,
            },
        )
        self.bili_replies = bili(obj({"replies": f(st.lists(reply, max_size=3))}))
        self.bili_card = bili(
            obj(
                {
                    "card": f(
                        obj(
                            {"mid": f(MID), "name": text},
                            {
                                "Official": f(obj({"type": f(st.integers(-1, 2))})),
                                "fans": count,
                                "sign": text,
                                "attention": count,
                            },
                        )
                    )
                },
                {"follower": count, "archive_count": count},
            )
        )
        wbi_url = f(WBI_KEY.map(lambda k: f"https://i0.hdslb.com/bfs/wbi/{k}.png"))
        self.bili_nav = bili(obj({"wbi_img": f(obj({"img_url": wbi_url, "sub_url": wbi_url}))}))
        self.bili_spi = bili(obj({"b_3": f(st.just("1A2B3C4D-5E6F-7A8B-9C0D-E1F2A3B4C5D6infoc"))}))
        self.bili_stat = bili(obj({"follower": count}))
        popular = obj(
            {"bvid": f(BVID), "title": text},
            {"stat": f(obj({"view": count})), "rcmd_reason": f(obj({"content": text})), "tname": text},
        )
        self.bili_popular = bili(obj({"list": f(st.lists(popular, max_size=3))}))

        # ---------------------------------------------------------------------------- mastodon
        small = f(st.integers(0, 10**6))
        self.masto_account = obj(
            {
                "id": f(st.integers(1, 10**18).map(str)),
                "acct": f(st.sampled_from(["alice", "bob@other.example"])),
                "url": f(st.just("https://m.example/@alice")),
            },
            {
                "username": text,
                "display_name": text,
                "note": html,
                "followers_count": small,
                "following_count": small,
                "statuses_count": small,
                "bot": f(st.booleans()),
                "fields": f(st.lists(obj({}, {"verified_at": f(st.none(), self.iso_time)}), max_size=2)),
            },
        )
        uri = st.integers(1, 10**9).map(lambda n: f"https://m.example/users/a/statuses/{n}")

        def status(reblog: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
            return obj(
                {
                    "id": f(st.integers(1, 10**18).map(str)),
                    "uri": f(uri),
                    "created_at": self.iso_time,
                    "content": html,
                    "account": f(self.masto_account),
                },
                {
                    "url": f(uri),
                    "spoiler_text": text,
                    "favourites_count": small,
                    "reblogs_count": small,
                    "replies_count": small,
                    "reblog": reblog,
                },
            )

        self.masto_statuses = f(st.lists(status(f(st.one_of(st.none(), status(st.none())))), max_size=4))

        # -------------------------------------------------------------------------- rss, pages
        def xml(value: str) -> str:
            return escape(value)

        item = st.builds(
            lambda title, link, desc, date, author: (
                f"<item><title>{title}</title><link>{link}</link><description>{xml(desc)}</description>"
                f"<pubDate>{date}</pubDate><author>{author}</author><guid>{link}</guid></item>"
            ),
            self.t(
                st.from_regex(r"[鹿角咖啡新品 0-9]{1,20}", fullmatch=True),
                st.sampled_from(["undefined", "&#xD83D;", "<b>"]),
            ),
            self.t(st.integers(1, 10**6).map(lambda n: f"https://x.example/{n}")),
            HTML,
            self.t(self.rfc822.map(str), TEXT_OR_NASTY.map(xml)),
            self.t(st.just("a@x.example (A)"), st.sampled_from(["null", "&#x110000;", "</author>"])),
        )
        self.rss_body = st.builds(
            lambda title, items, generator: (
                "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                f"<title>{title}</title><link>https://x.example/</link>"
                f"<generator>{generator}</generator>{''.join(items)}</channel></rss>"
            ).encode("utf-8", "surrogatepass"),
            self.t(st.just("Brand news")),
            st.lists(item, min_size=1, max_size=3, unique=True),
            st.sampled_from(["RSSHub", "wordpress", ""]),
        )
        self.atom_body = st.builds(
            lambda title, content, updated: (
                "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                f"<title>Brand</title><entry><id>urn:x:1</id><title>{title}</title>"
                f"<updated>{updated}</updated><content type='html'>{xml(content)}</content>"
                "<author><name>A</name></author></entry></feed>"
            ).encode("utf-8", "surrogatepass"),
            self.t(st.just("新品")),
            HTML,
            self.t(self.iso_time.map(str), TEXT_OR_NASTY.map(xml)),
        )
        self.page_item = st.builds(
            lambda href, title, when: f"<li><a href='{xml(href)}'>{title}</a><time>{when}</time></li>",
            self.t(st.integers(1, 9).map(lambda n: f"/a/{n}")),
            HTML,
            self.t(st.sampled_from(["5分钟前", "2024-03-20 12:00", "03-21"])),
        )

    def f(self, good: st.SearchStrategy[Any], *bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """A JSON field: `good` when realistic; when hostile, sometimes `bad` or anything at all."""

        return self._pick(good, st.one_of(JSON_ANY, *bad))

    def t(self, good: st.SearchStrategy[str], *bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        """A piece of XML/HTML markup: `good`, or when hostile sometimes any text (or `bad`)."""

        return self._pick(good, st.one_of(TEXT_OR_NASTY, *bad))

    def _pick(self, good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        if not self.hostile:
            return good
        # sampled_from + flatmap, not one_of: one_of flattens nested one_ofs into equally likely
        # branches, and LEAF's seven would outvote the realistic value.
        return st.sampled_from([good, good, good, other]).flatmap(lambda chosen: chosen)


OK_SHAPES = Shapes(hostile=False)
BAD_SHAPES = Shapes(hostile=True)


def _slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) of a decoded JSON value, at every depth."""

    stack = [value]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            yield node, key
            stack.append(node[key])


def mutated(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid payload with one or two values, at any depth, replaced by anything (or removed)."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        payload = draw(valid)
        for _ in range(draw(st.integers(1, 2))):
            slots = list(_slots(payload))
            if not slots:
                break
            container, key = draw(st.sampled_from(slots))
            if isinstance(container, dict) and draw(st.booleans()):
                del container[key]
            else:
                container[key] = draw(JSON_ANY)
        return payload

    return build()


def hostile(name: str) -> st.SearchStrategy[Any]:
    valid = getattr(OK_SHAPES, name)
    return st.one_of(getattr(BAD_SHAPES, name), mutated(valid) if name not in _NOT_JSON else valid)


_NOT_JSON = {"weibo_hot_html", "rss_body", "atom_body", "page_item"}


def _quiet(call: Callable[[], Any]) -> Any:
    with contextlib.suppress(CollectorError):
        return call()
    return None


def weibo_posts(payload: Any) -> list[Any]:
    return [p for m in weibo.parse_cards(payload).mblogs for p in weibo.mblog_posts(m, now=NOW)]


# ------------------------------------------------------------------- valid shapes parse into posts


@VALID
@given(
    OK_SHAPES.weibo_cards,
    OK_SHAPES.weibo_profile,
    OK_SHAPES.weibo_comments,
    OK_SHAPES.weibo_hot,
    OK_SHAPES.weibo_hot_html,
)
def test_valid_weibo_shapes_parse(cards: Any, profile: Any, comments: Any, hot: Any, hot_html: str) -> None:
    page = weibo.parse_cards(cards)
    posts = weibo_posts(cards)
    assert len(posts) >= len(page.mblogs)
    assert len(page.mblogs) == sum(
        ("mblog" in c) + sum("mblog" in g for g in c.get("card_group", []))
        for c in cards.get("data", {}).get("cards", [])
    )
    for post in posts:
        post.text.encode("utf-8")
        assert post.created_at.tzinfo is not None
        assert post.is_repost == ((post.raw or {}).get("retweeted_status") is not None)
    found, _ = weibo.parse_comments(comments, parent_id="1", now=NOW)
    assert len(found) == len(comments.get("data", {}).get("data", []))
    assert len(weibo.parse_hot_json(hot, now=NOW)) == len(hot.get("data", {}).get("realtime", [])) + sum(
        1 for g in hot.get("data", {}).get("hotgovs", []) if (g.get("word") or g.get("name") or "").strip()
    )
    assert weibo.parse_hot_html(hot_html, now=NOW)
    author, _ = weibo.parse_profile(profile)
    assert author.author_id == str(profile["data"]["userInfo"]["id"])


@VALID
@given(
    OK_SHAPES.bili_arc,
    OK_SHAPES.bili_search,
    OK_SHAPES.bili_view,
    OK_SHAPES.bili_replies,
    OK_SHAPES.bili_card,
    OK_SHAPES.bili_nav,
    OK_SHAPES.bili_popular,
)
def test_valid_bilibili_shapes_parse(
    arc: Any, search: Any, view: Any, replies: Any, card: Any, nav: Any, popular: Any
) -> None:
    assert len(bilibili.parse_arc_search(arc).posts) == len(arc["data"]["list"]["vlist"])
    assert len(bilibili.parse_search(search).posts) == len(search["data"]["result"])
    assert bilibili.parse_view(view).post_id == view["data"]["bvid"]
    assert len(bilibili.parse_replies(replies, parent_id="BV1")) == len(replies["data"]["replies"])
    assert bilibili.parse_card(card).author_id == str(card["data"]["card"]["mid"])
    assert all(len(k) == 32 for k in bilibili.keys_from_nav(nav))
    assert len(hotlists.parse_bilibili_popular(popular, now=NOW)) == len(popular["data"]["list"])


@VALID
@given(OK_SHAPES.masto_statuses, OK_SHAPES.masto_account)
def test_valid_mastodon_shapes_parse(statuses: Any, account: Any) -> None:
    posts = mastodon.parse_statuses(statuses)
    assert len({p.post_id for p in posts}) == len(
        {s["uri"] for s in statuses} | {s["reblog"]["uri"] for s in statuses if s.get("reblog")}
    )
    assert mastodon.parse_account(account).author_id.count("@") == 1


@VALID
@given(
    st.one_of(OK_SHAPES.rss_body, OK_SHAPES.atom_body), st.lists(OK_SHAPES.page_item, min_size=1, max_size=3)
)
def test_valid_feed_and_page_shapes_parse(body: bytes, items: list[str]) -> None:
    parsed = rss.parse_feed(body, feed_url="https://x.example/feed", fetched_at=NOW)
    assert parsed.posts and all(p.text or p.title for p in parsed.posts)
    page = webpage.parse_page(
        "<ul>" + "".join(items) + "</ul>",
        page_url="https://x.example/",
        selectors=webpage.Selectors(item="li", title="a", time="time"),
        fetched_at=NOW,
    )
    assert page.matched == len(items) and page.posts


# ----------------------------------------------------------------- hostile shapes: parsers


@FUZZ
@given(
    hostile("weibo_cards"),
    hostile("weibo_profile"),
    hostile("weibo_longtext"),
    hostile("weibo_comments"),
    hostile("weibo_hot"),
    hostile("weibo_hot_html"),
)
def test_weibo_parsers_raise_only_collector_errors(
    cards: Any, profile: Any, longtext: Any, comments: Any, hot: Any, hot_html: str
) -> None:
    _quiet(lambda: weibo_posts(cards))
    data = cards.get("data") if isinstance(cards, dict) else None
    listed = data.get("cards") if isinstance(data, dict) else None
    for card in listed if isinstance(listed, list) else []:
        mblog = card.get("mblog") if isinstance(card, dict) else card
        _quiet(lambda mblog=mblog: weibo.parse_status({"ok": 1, "data": mblog}, now=NOW))
    _quiet(lambda: weibo.parse_profile(profile))
    _quiet(lambda: weibo.parse_longtext(longtext))
    _quiet(lambda: weibo.parse_comments(comments, parent_id="1", now=NOW))
    _quiet(lambda: weibo.parse_hot_json(hot, now=NOW))
    _quiet(lambda: weibo.parse_hot_html(hot_html, now=NOW))


@FUZZ
@given(
    hostile("bili_arc"),
    hostile("bili_search"),
    hostile("bili_view"),
    hostile("bili_replies"),
    hostile("bili_card"),
    hostile("bili_nav"),
    hostile("bili_popular"),
)
def test_bilibili_parsers_raise_only_collector_errors(
    arc: Any, search: Any, view: Any, replies: Any, card: Any, nav: Any, popular: Any
) -> None:
    _quiet(lambda: bilibili.parse_arc_search(arc))
    _quiet(lambda: bilibili.parse_search(search))
    _quiet(lambda: bilibili.parse_view(view))
    _quiet(lambda: bilibili.parse_replies(replies, parent_id="BV1"))
    _quiet(lambda: bilibili.parse_card(card))
    _quiet(lambda: bilibili.parse_relation_stat(card))
    _quiet(lambda: bilibili.keys_from_nav(nav))
    _quiet(lambda: hotlists.parse_bilibili_popular(popular, now=NOW))


@FUZZ
@given(hostile("masto_statuses"), hostile("masto_account"))
def test_mastodon_parsers_raise_only_collector_errors(statuses: Any, account: Any) -> None:
    _quiet(lambda: mastodon.parse_statuses(statuses))
    _quiet(lambda: mastodon.parse_account(account))
    _quiet(lambda: mastodon.parse_search({"accounts": [account], "statuses": statuses}))


@FUZZ
@given(st.one_of(hostile("rss_body"), hostile("atom_body")), st.sampled_from([None, "/weibo/user/1"]))
def test_rss_parser_raises_only_collector_errors(body: bytes, route: str | None) -> None:
    parsed = _quiet(lambda: rss.parse_feed(body, feed_url="https://x.example/f", fetched_at=NOW, route=route))
    for post in getattr(parsed, "posts", ()):
        post.text.encode("utf-8")  # what storage and the notifiers will do with it
        post.author.name.encode("utf-8")


@FUZZ
@given(st.lists(hostile("page_item"), max_size=4))
def test_webpage_parser_raises_only_collector_errors(items: list[str]) -> None:
    selectors = webpage.Selectors(item="li", title="a", time="time")
    _quiet(
        lambda: webpage.parse_page(
            "<ul>" + "".join(items) + "</ul>",
            page_url="https://x.example/",
            selectors=selectors,
            fetched_at=NOW,
        )
    )


# ------------------------------------------------------- hostile shapes: collectors end to end


def _json_response(payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    # ensure_ascii: lone surrogates travel as "\ud83d" escapes, exactly as a platform sends them.
    body = json.dumps(payload, ensure_ascii=True).encode()
    return httpx.Response(200, content=body, headers={"content-type": "application/json", **(headers or {})})


def _client(settings_obj: Any, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    clock = ScaledClock(10_000.0)
    return make_client(
        settings_obj,
        transport=httpx.MockTransport(handler),
        clock=clock,
        limiters=HostLimiters(clock),
        cookies={},
    )


async def _drain(collector: Any, spec: SourceSpec, cursor: dict[str, Any]) -> list[Page]:
    pages: list[Page] = []
    with contextlib.suppress(CollectorError):
        async for page in collector.collect(spec, cursor):
            pages.append(page)
    for page in pages:
        for post in page.posts:  # what storage will do with them: no lone surrogate survives
            post.text.encode("utf-8")
            post.author.name.encode("utf-8")
    return pages


@FUZZ
@given(
    hostile("weibo_profile"),
    st.lists(hostile("weibo_cards"), min_size=1, max_size=3),
    hostile("weibo_longtext"),
    hostile("weibo_comments"),
    st.sampled_from([{}, {"newest_id": "5"}, {"newest_id": "4000000000000000"}]),
    st.sampled_from(["user", "search"]),
)
def test_weibo_collector_raises_only_collector_errors(
    profile: Any, pages: list[Any], longtext: Any, comments: Any, cursor: dict[str, Any], kind: str
) -> None:
    served = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/statuses/extend":
            return _json_response(longtext)
        if request.url.path == "/comments/hotflow":
            return _json_response(comments)
        if "containerid" not in request.url.params:
            return _json_response(profile)
        return _json_response(next(served, pages[-1]))

    settings_obj = weibo.WeiboSettings(
        base_url="https://m.weibo.test", rate_per_s=1000, burst=100, retries=0, max_pages_per_run=3
    )

    async def run() -> None:
        async with _client(settings_obj, handler) as client:
            collector = weibo.WeiboCollector(client, settings_obj, now=lambda: NOW)
            await _drain(collector, SourceSpec("weibo", kind, "1234", {"comments": 2}), cursor)

    asyncio.run(run())


@FUZZ
@given(
    hostile("bili_nav"),
    hostile("bili_card"),
    hostile("bili_stat"),
    hostile("bili_arc"),
    hostile("bili_search"),
    hostile("bili_view"),
    hostile("bili_replies"),
    st.sampled_from(["user", "search", "video"]),
)
def test_bilibili_collector_raises_only_collector_errors(
    nav: Any, card: Any, stat: Any, arc: Any, search: Any, view: Any, replies: Any, kind: str
) -> None:
    routes = {
        "/x/web-interface/nav": nav,
        "/x/frontend/finger/spi": {"code": 0, "data": {"b_3": "1A2B3C4D-5E6F-7A8B-9C0D-E1F2A3B4C5D6infoc"}},
        "/x/web-interface/card": card,
        "/x/relation/stat": stat,
        "/x/space/wbi/arc/search": arc,
        "/x/web-interface/wbi/search/type": search,
        "/x/web-interface/view": view,
        "/x/v2/reply": replies,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return _json_response(routes[request.url.path])

    settings_obj = bilibili.BilibiliSettings(
        base_url="https://api.bili.test", rate_per_s=1000, burst=100, retries=0, max_pages_per_run=2
    )
    target = {"user": "42", "search": "鹿角", "video": "BV1xx411c7mD"}[kind]

    async def run() -> None:
        async with _client(settings_obj, handler) as client:
            collector = bilibili.BilibiliCollector(client, settings_obj, wall_clock=lambda: NOW.timestamp())
            await _drain(collector, SourceSpec("bilibili", kind, target), {})

    asyncio.run(run())


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@FUZZ
@given(
    hostile("masto_account"),
    st.lists(hostile("masto_statuses"), min_size=1, max_size=3),
    st.one_of(st.just('<https://m.example/api/v1/timelines/public?max_id=1>; rel="next"'), HEADER_TEXT),
    st.sampled_from(["", "0", "5"]),
    st.one_of(OK_SHAPES.iso_time, BAD_SHAPES.iso_time.filter(lambda v: isinstance(v, str)), HEADER_TEXT),
    st.sampled_from(["account", "hashtag", "public"]),
    st.sampled_from([{}, {"min_id": "100"}]),
)
def test_mastodon_collector_raises_only_collector_errors(
    account: Any, pages: list[Any], link: str, remaining: str, reset: str, kind: str, cursor: dict[str, Any]
) -> None:
    served = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts/lookup":
            return _json_response(account)
        headers = {"link": link, "x-ratelimit-reset": reset.encode("ascii", "replace").decode()}
        if remaining:
            headers["x-ratelimit-remaining"] = remaining
        return _json_response(next(served, []), headers)

    settings_obj = CollectorSettings(
        base_url="https://m.example", rate_per_s=1000, burst=100, retries=0, max_pages_per_run=3
    )

    async def run() -> None:
        async with _client(settings_obj, handler) as client:
            collector = mastodon.MastodonCollector(client, settings_obj, environ={})
            target = "瑞幸" if kind == "hashtag" else "alice"
            await _drain(collector, SourceSpec("mastodon", kind, target), cursor)

    asyncio.run(run())


@FUZZ
@given(st.one_of(hostile("rss_body"), hostile("atom_body")))
def test_rss_collector_raises_only_collector_errors(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/rss+xml"})

    settings_obj = rss.RssSettings(base_url="https://rsshub.test", rate_per_s=1000, burst=100, retries=0)

    async def run() -> None:
        async with _client(settings_obj, handler) as client:
            await _drain(
                rss.RssCollector(client, settings_obj), SourceSpec("rss", "feed", "/weibo/user/1"), {}
            )

    asyncio.run(run())
