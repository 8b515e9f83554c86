"""Parser tests: our own fixtures field by field, hypothesis fuzzing (shared: test_shared_conformance)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import bilibili, hotlists, mastodon, webpage, weibo
from collectors.base import Author, CollectorError, LoginRequired, ParseError, Post, SourceSpec
from collectors.http import make_client

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_own_weibo_timeline_field_by_field() -> None:
    page = weibo.parse_cards(load(FIXTURES / "weibo" / "timeline_since_id.json"))
    assert page.next_token == {"since_id": "5010000000000101"}
    assert page.total == 57
    posts = [p for m in page.mblogs for p in weibo.mblog_posts(m, now=NOW)]
    # The repost's original was deleted (user null): it is not a post of its own, the repost keeps
    # its id as parent and says why it is missing.
    assert [p.post_id for p in posts] == ["5010000000000300", "5010000000000420", "5010000000000410"]
    pinned, fresh, repost = posts
    author = Author(
        "weibo",
        "1234500001",
        "小鹿爱喝拿铁",
        "https://weibo.com/u/1234500001",
        31500,
        False,
        "-1",
        "一天不喝咖啡会死星人",
        210,
        980,
    )
    assert pinned.author == author
    assert pinned.text == "置顶：欢迎来到@鹿角咖啡官方微博 的小店[心]"
    assert pinned.url == "https://weibo.com/1234500001/QaZ1x2Y3w"
    assert (pinned.likes, pinned.reposts, pinned.comments, pinned.views) == (88, 3, 12, None)
    assert fresh.text == "#鹿角上新#\n桂花拿铁好喝到哭[哈哈] 就是排队太久"
    assert fresh.created_at == datetime(2024, 3, 21, 2, 30, tzinfo=UTC)
    assert fresh.comments == 10_000 and fresh.likes == 1024
    assert fresh.author.followers == 32_000 and fresh.author.description == ""
    assert not fresh.is_repost and fresh.parent_id is None
    assert repost.is_repost and repost.parent_id == "5010000000000100" and repost.text == "转发微博"
    assert repost.raw is not None
    assert repost.raw["original_unavailable"] == "deleted: 抱歉，此微博已被作者删除。"


def test_own_bilibili_arc_field_by_field() -> None:
    page = bilibili.parse_arc_search(load(FIXTURES / "bilibili" / "arc_search.json"))
    assert page.has_more
    first, second = page.posts
    assert first == Post(
        platform="bilibili",
        post_id="BV1kw000901",
        url="https://www.bilibili.com/video/BV1kw000901",
        author=Author("bilibili", "100000001", "咖啡实验室阿北", "https://space.bilibili.com/100000001"),
        text="【咖啡实验】鹿角咖啡 & 星巢咖啡盲测\n不是广告，自费购买。",
        created_at=datetime(2024, 3, 21, 5, 46, 40, tzinfo=UTC),
        likes=None,
        reposts=None,
        comments=789,
        views=123456,
        kind="video",
        title="【咖啡实验】鹿角咖啡 & 星巢咖啡盲测",
    )
    assert second.text == "冷萃怎么做" and second.views == 15_000 and second.comments == 0


def test_wbi_own_vector() -> None:
    # Our own keys and params; the expected values are derived step by step, not by calling sign_wbi.
    img, sub = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    raw = img + sub
    expected_mixin = "".join(raw[i] for i in bilibili.MIXIN_KEY_ENC_TAB)[:32]
    assert bilibili.mixin_key(img, sub) == expected_mixin
    signed = bilibili.sign_wbi({"mid": 42, "keyword": "鹿角 咖啡(新)!"}, img, sub, wts=1711000000)
    query = "keyword=%E9%B9%BF%E8%A7%92%20%E5%92%96%E5%95%A1%E6%96%B0&mid=42&wts=1711000000"
    assert signed["w_rid"] == hashlib.md5((query + expected_mixin).encode()).hexdigest()
    assert signed["keyword"] == "鹿角 咖啡新"


def test_weibo_login_envelope() -> None:
    with pytest.raises(LoginRequired):
        weibo.check_envelope({"ok": -100, "url": "https://passport.weibo.cn/signin/welcome?entry=mweibo"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {"ok": st.sampled_from([1, 0, -100, "x"]), "code": st.sampled_from([0, -352, -412, -101, 5])},
    optional={"data": json_values, "msg": st.text(max_size=10), "url": st.text(max_size=10)},
)

PARSERS = [
    weibo.parse_cards,
    weibo.parse_profile,
    weibo.parse_longtext,
    lambda d: weibo.parse_status(d, now=NOW),
    lambda d: weibo.parse_comments(d, parent_id="1", now=NOW),
    lambda d: weibo.parse_hot_json(d, now=NOW),
    lambda d: weibo.parse_hot_html(d, now=NOW),
    lambda d: [p for m in weibo.parse_cards(d).mblogs for p in weibo.mblog_posts(m, now=NOW)],
    bilibili.parse_arc_search,
    bilibili.parse_search,
    bilibili.parse_view,
    lambda d: bilibili.parse_replies(d, parent_id="BV1"),
    bilibili.parse_card,
    bilibili.keys_from_nav,
    bilibili.parse_finger_spi,
    lambda d: hotlists.parse_bilibili_popular(d, now=NOW),
]


@settings(max_examples=150, deadline=None)
@given(st.one_of(json_values, envelopes), st.integers(0, len(PARSERS) - 1))
def test_parsers_raise_only_collector_errors(payload: Any, which: int) -> None:
    with contextlib.suppress(CollectorError):
        PARSERS[which](payload)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_html_helpers_survive_hostile_text(text: str) -> None:
    assert isinstance(weibo.html_to_text(text), str)
    with contextlib.suppress(CollectorError):
        weibo.parse_hot_html(text, now=NOW)


def test_audit_escapes_are_collector_errors_or_clean_text() -> None:
    """The inputs that used to escape as ValueError / UnicodeEncodeError / OverflowError."""

    def cards(**info: Any) -> dict[str, Any]:
        mblog = {"id": "5010000000000100", "created_at": "刚刚", "text": "x", "user": {"id": 1}}
        return {"ok": 1, "data": {"cards": [{"mblog": mblog}], "cardlistInfo": info}}

    with pytest.raises(ParseError):
        weibo.parse_cards(cards(page="²"))
    with pytest.raises(ParseError):
        weibo.mblog_posts({"id": "²", "created_at": "刚刚", "user": None}, now=NOW)
    html = '<table><tr><td class="td-01">²</td><td class="td-02"><a href="/x">t</a></td></tr></table>'
    assert weibo.parse_hot_html(html, now=NOW)[0].rank is None
    assert weibo.html_to_text("好喝\ud83d<br>[哈哈]") == "好喝\n[哈哈]"
    assert webpage.html_to_text("<p>hi \ud800</p>") == "hi"
    with pytest.raises(ParseError):
        mastodon.parse_iso_time("0001-01-01T00:00:00+08:00", field="created_at")


async def test_wbi_keys_are_refetched_when_the_shanghai_day_changes() -> None:
    """Bilibili rotates the WBI keys daily: the collector reads nav once per Shanghai date, and
    once more when a signed call is refused with -352 (the keys changed under it)."""

    days = [("0" * 32, "1" * 32), ("2" * 32, "3" * 32), ("4" * 32, "5" * 32)]
    served = {"keys": 0, "refused": 0}
    signed_with: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/x/web-interface/nav":
            img, sub = days[served["keys"]]
            wbi = {"img_url": f"https://i0.hdslb.com/bfs/wbi/{img}.png", "sub_url": f"https://x/{sub}.png"}
            return httpx.Response(200, json={"code": -101, "data": {"wbi_img": wbi}})
        if path == "/x/frontend/finger/spi":
            return httpx.Response(
                200, json={"code": 0, "data": {"b_3": "D9656DA8-9BEF-F464-5B72-C4849AFD3363"}}
            )
        params = dict(request.url.params)
        w_rid = params.pop("w_rid")
        current = days[served["keys"]]
        valid = bilibili.sign_wbi(params, *current, wts=int(params.pop("wts")))["w_rid"] == w_rid
        if not valid:
            served["refused"] += 1
            return httpx.Response(
                200, json={"code": -352, "message": "风控校验失败", "data": {"v_voucher": "v"}}
            )
        signed_with.append(current)
        return httpx.Response(200, json={"code": 0, "data": {"result": [], "page": 1, "numPages": 1}})

    wall = [datetime(2024, 3, 21, 15, 0, tzinfo=UTC).timestamp()]  # 23:00 in Shanghai
    settings_ = bilibili.BilibiliSettings(base_url="https://api.bili.test", rate_per_s=1000, burst=100)
    source = SourceSpec("bilibili", "search", "鹿角咖啡")

    async def search() -> None:
        async for _ in collector.collect(source, {}):
            pass

    def nav_calls() -> int:
        return sum(1 for r in requests if r.url.path == "/x/web-interface/nav")

    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    async with make_client(settings_, transport=httpx.MockTransport(recording), cookies={}) as client:
        collector = bilibili.BilibiliCollector(client, settings_, wall_clock=lambda: wall[0])
        await search()
        wall[0] += 1800  # 23:30, same day: the cached keys
        await search()
        assert nav_calls() == 1 and signed_with == [days[0], days[0]]
        served["keys"] = 1  # the platform rotates at midnight
        wall[0] += 3600  # 00:30 the next day in Shanghai (16:30 UTC, still the 21st in UTC)
        await search()
        assert nav_calls() == 2 and signed_with[-1] == days[1]
        assert served["refused"] == 0  # fetched because the day changed, not after a refusal
        served["keys"] = 2  # rotated early: the cached keys are refused once, then refetched
        await search()
        assert nav_calls() == 3 and signed_with[-1] == days[2] and served["refused"] == 1


@pytest.mark.parametrize(
    ("mblog", "text"),
    [
        ({"text": "等等..."}, "等等..."),  # the author's own ellipsis
        ({"text": "等等...<br />真的..."}, "等等...\n真的..."),
        ({"text": "桂花拿铁 ...<a href='/status/1'>全文</a>"}, "桂花拿铁"),  # cut by Weibo
        ({"text": "桂花拿铁 ...", "isLongText": True}, "桂花拿铁"),
    ],
)
def test_trailing_ellipsis_is_dropped_only_from_cut_posts(mblog: dict[str, Any], text: str) -> None:
    data = {"id": "5010000000000100", "created_at": "刚刚", "user": {"id": 1}, **mblog}
    assert weibo.parse_mblog(data, now=NOW).text == text


@pytest.mark.parametrize("platform", ["weibo", "bilibili"])
@pytest.mark.parametrize("target", ["²", "１２３", "12a", "-5"])
async def test_user_target_must_be_ascii_digits_before_any_request(platform: str, target: str) -> None:
    # str.isdigit() accepts "²" and "１２３"; and Weibo answers a bad uid's profile call with ok:0,
    # Bilibili a bad mid's with -404: both read as a deleted account, not a misconfigured source.
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if platform == "weibo":
            return httpx.Response(200, json={"ok": 0, "msg": "这里还没有内容"})
        return httpx.Response(200, json={"code": -404, "message": "啥都木有"})

    cls: Any = weibo.WeiboCollector if platform == "weibo" else bilibili.BilibiliCollector
    settings_ = cls.Settings(base_url=f"https://{platform}.test", rate_per_s=1000, burst=100)
    async with make_client(settings_, transport=httpx.MockTransport(handler), cookies={}) as client:
        collector = cls(client, settings_)
        with pytest.raises(CollectorError, match="must be a numeric") as info:
            async for _ in collector.collect(SourceSpec(platform, "user", target), {}):
                pass
    assert type(info.value) is CollectorError and sent == []
