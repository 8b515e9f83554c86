"""Conformance over the shared recorded responses ($KOLWATCH_SHARED/fixtures, default ../shared).

Every file there is either parsed with assertions on the result or skipped with a stated reason
that pytest prints (-ra): `test_every_shared_file_is_accounted_for` fails when a file is neither,
so a new recording cannot sit unread. Weibo and Bilibili files are checked here; Mastodon and
RSSHub ones by test_mastodon.py and test_rss.py, which parametrize over every file of their
folders. A missing shared folder skips with the path it looked at (the developer guide: skip with
a clear reason when it is absent; CI has it).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from collectors import bilibili, weibo
from collectors.base import Blocked, CollectorError, Post, SourceSpec
from collectors.http import make_client
from tests.collectors.test_mastodon import _shared_mastodon
from tests.collectors.test_rss import _shared_rsshub

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("KOLWATCH_SHARED", ROOT.parent / "shared")) / "fixtures"
NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)


def shared_files(folder: str) -> list[Path]:
    """The response files of one platform folder (not .source.txt / .headers.json companions)."""

    path = SHARED / folder
    if not path.is_dir():
        return []
    return sorted(
        p for p in path.iterdir() if p.suffix in (".json", ".xml") and not p.name.endswith(".headers.json")
    )


def require_shared() -> None:
    if SHARED.is_dir():
        return
    pytest.skip(f"shared fixtures not found at {SHARED} (set KOLWATCH_SHARED)")


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ weibo


def _timeline(data: Any) -> None:
    page = weibo.parse_cards(data)
    cards = data["data"]["cards"]
    assert len(page.mblogs) == sum(1 for c in cards if "mblog" in c) == len(cards) >= 10
    assert page.next_token is not None and page.total and page.total > 100
    posts = [p for m in page.mblogs for p in weibo.mblog_posts(m, now=NOW)]
    assert len(posts) == len(page.mblogs) + sum(p.is_repost for p in posts)  # each repost's original too
    assert len({str(m["id"]) for m in page.mblogs}) == len(page.mblogs)  # (an original may also be listed)
    for post in posts:
        assert post.post_id.isdigit() and post.url.startswith("https://")
        assert post.author.author_id.isdigit() and post.author.name
        assert post.created_at.year in (2021, 2020, 2019) and post.created_at.tzinfo is UTC
        assert post.likes is not None and post.reposts is not None and post.comments is not None
        assert "<" not in post.text and "全文" not in post.text
    assert all(p.text for p in posts if not p.is_repost)
    assert any("#" in p.text for p in posts)  # topics kept as #话题#
    assert sum(bool(m.get("isLongText")) for m in page.mblogs) >= 1


def _profile(data: Any) -> None:
    author, containerid = weibo.parse_profile(data)
    assert (author.author_id, author.name) == ("6279793937", "明日方舟Arknights")
    assert (author.followers, author.following, author.posts_count) == (1_455_000, 34, 1553)
    assert author.verified and author.verified_type == "2"
    assert containerid == "1076036279793937"


def _longtext(data: Any) -> None:
    text, counts = weibo.parse_longtext(data)
    assert text.startswith("#明日方舟# 06月17日16:00闪断更新公告\n\n感谢您对《明日方舟》的关注与支持。")
    assert len(text) > 300 and "<" not in text and "全文" not in text
    assert counts == {"likes": 20111, "reposts": 79, "comments": 654}


def _status_repost(data: Any) -> None:
    original, repost = weibo.parse_status(data, now=NOW)
    assert (original.post_id, original.author.name) == ("4383404751066167", "upupming")
    assert (repost.post_id, repost.author.name) == ("4383411844046171", "九月九的晴天")
    assert repost.is_repost and repost.parent_id == original.post_id and not original.is_repost
    assert repost.text == "转发微博" and original.text.startswith("#️*️0️9️©️")
    assert original.created_at == datetime(2019, 6, 15, 3, 16, 35, tzinfo=UTC)
    assert repost.created_at == datetime(2019, 6, 15, 3, 44, 46, tzinfo=UTC)
    assert (original.reposts, repost.reposts) == (1, 0)


def _hotflow(data: Any) -> None:
    comments, max_id = weibo.parse_comments(data, parent_id="1", now=NOW)
    assert len(comments) == 20 and max_id == 314345666829623
    assert len({c.post_id for c in comments}) == 20
    assert all(c.kind == "comment" and c.parent_id == "1" and c.author.name and c.text for c in comments)
    assert comments[0].text.endswith("[羞嗒嗒]")


def _comments_show(data: Any) -> None:
    # The legacy page-numbered API: kolwatch reads comments from hotflow, so this file checks that
    # the shared parser reads its `data` list with relative times; its hot_data (hot comments,
    # hotflow's job) and `max` (a page count, not a cursor) are not read.
    comments, next_id = weibo.parse_comments(data, parent_id="4383183661430868", now=NOW)
    assert [c.post_id for c in comments] == [str(c["id"]) for c in data["data"]["data"]]
    first = comments[0]
    assert first.post_id == "4383932071637949" and first.author.name == "迪热热的毛裤诶"
    assert first.text == "吃的完吗？要不我帮你解决一点儿[太开心]"
    assert first.created_at == NOW  # "刚刚"
    assert next_id is None


def _hotsearch(data: Any) -> None:
    pinned, first = weibo.parse_hot_json(data, now=NOW)
    assert pinned.pinned and pinned.rank is None and pinned.title == "习近平总书记关心小朋友们健康成长"
    assert (first.rank, first.title, first.heat, first.category) == (
        1,
        "司机缺氧离世有5个上学孩子",
        1189449,
        "新",
    )
    assert first.url == "https://s.weibo.com/weibo?q=" + quote("#司机缺氧离世有5个上学孩子#")
    assert not first.is_ad and first.captured_at == NOW


def _weibo_empty(data: Any) -> None:
    assert weibo.parse_cards(data).mblogs == ()
    with pytest.raises(CollectorError) as info:
        weibo.parse_profile(data)
    assert info.value.health == "gone"


def _weibo_captcha(data: Any) -> None:
    with pytest.raises(Blocked):
        weibo.parse_cards(data)


WEIBO: dict[str, Callable[[Any], None]] = {
    "getindex_profile_type_uid.json": _profile,
    "getindex_user_timeline_since_id.json": _timeline,
    "getindex_user_timeline_since_id_2.json": _timeline,
    "getindex_user_timeline_page.json": _timeline,
    "statuses_extend_longtext.json": _longtext,
    "statuses_show_repost_2019.json": _status_repost,
    "comments_hotflow_2019.json": _hotflow,
    "api_comments_show_2019.json": _comments_show,
    "ajax_side_hotsearch.json": _hotsearch,
    "error_ok0_no_content.json": _weibo_empty,
    "error_ok_minus100_captcha.json": _weibo_captcha,
}


@pytest.mark.parametrize("path", shared_files("weibo"), ids=lambda p: p.name)
def test_shared_weibo_file(path: Path) -> None:
    WEIBO[path.name](load(path))


# --------------------------------------------------------------------------------------- bilibili


def _videos(posts: tuple[Post, ...], items: list[dict[str, Any]]) -> None:
    assert [p.post_id for p in posts] == [i["bvid"] for i in items] and posts
    for post in posts:
        assert post.kind == "video" and post.url == f"https://www.bilibili.com/video/{post.post_id}"
        assert post.title and "<em" not in post.title and post.text.startswith(post.title)
        assert post.author.author_id.isdigit() and post.views is not None and post.comments is not None
        assert post.created_at.tzinfo is UTC


def _arc(data: Any) -> None:
    page = bilibili.parse_arc_search(data)
    _videos(page.posts, data["data"]["list"]["vlist"])
    assert page.has_more and page.posts[0].views == 1_275_661


def _search(data: Any) -> None:
    page = bilibili.parse_search(data)
    _videos(page.posts, data["data"]["result"])
    assert page.has_more and len(page.posts) == 20


def _search_all(data: Any) -> None:
    # The mixed search groups results by type; its video group has search/type's item shape, which
    # the collector's parser must read the same way.
    [group] = [g for g in data["data"]["result"] if g["result_type"] == "video"]
    page = bilibili.parse_search({"code": 0, "data": {"result": group["data"], "page": 1, "numPages": 50}})
    _videos(page.posts, group["data"])
    assert page.posts[0].title == "【洛天依】2020.7.12洛天依生日会"  # highlights removed
    assert page.posts[0].author.name == "洛天依" and page.posts[0].views == 269428


def _view(data: Any) -> None:
    post = bilibili.parse_view(data)
    assert post.post_id == "BV117411r7R1" and post.author.author_id == "66606350"
    assert (post.views, post.likes, post.comments, post.reposts) == (2_387_699, 160_683, 2671, 9598)
    assert post.created_at == datetime(2020, 1, 30, 9, 40, 55, tzinfo=UTC)


def _replies(data: Any) -> None:
    posts = bilibili.parse_replies(data, parent_id="BV1")
    assert [p.post_id for p in posts] == [str(r["rpid"]) for r in data["data"]["replies"]] and posts
    assert all(p.kind == "comment" and p.text and p.author.author_id.isdigit() for p in posts)


def _card(data: Any) -> None:
    author = bilibili.parse_card(data)
    assert (author.author_id, author.name, author.followers) == ("2", "碧诗", 969_999)
    assert author.verified and author.verified_type == "0" and author.posts_count == 37


def _relation(data: Any) -> None:
    assert bilibili.parse_relation_stat(data) == 919_515


def _spi(data: Any) -> None:
    assert bilibili.parse_finger_spi(data) == "D9656DA8-9BEF-F464-5B72-C4849AFD336379044infoc"


def _nav(data: Any) -> None:
    assert bilibili.keys_from_nav(data) == (
        "7cd084941338484aae1ad9425b84077c",
        "4932caff0ff746eab6f01bf08b70ac45",
    )


def _wbi_vector(data: Any) -> None:
    assert list(bilibili.MIXIN_KEY_ENC_TAB) == data["mixin_key_enc_tab"]
    # The keys are the file stems of nav's wbi_img URLs (nav answers -101 when logged out).
    nav = {"code": -101, "message": "账号未登录", "data": {"isLogin": False, "wbi_img": data["nav_wbi_img"]}}
    assert bilibili.keys_from_nav(nav) == (data["img_key"], data["sub_key"])
    assert bilibili.mixin_key(data["img_key"], data["sub_key"]) == data["expected_mixin_key"]
    signed = bilibili.sign_wbi(data["params"], data["img_key"], data["sub_key"], wts=data["wts"])
    assert signed["w_rid"] == data["expected_w_rid"]
    unsigned = {k: v for k, v in signed.items() if k != "w_rid"}
    assert bilibili.wbi_query(unsigned) + data["expected_mixin_key"] == data["expected_string_to_hash"]
    example = data["encoding_example"]
    assert bilibili.wbi_query(example["params"]) == example["expected_sorted_query"]
    asyncio.run(_wbi_on_the_wire(data))


async def _wbi_on_the_wire(data: Any) -> None:
    """The collector's own path: nav -> keys -> signature -> the query httpx actually sends."""

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/x/web-interface/nav":
            return httpx.Response(200, json={"code": -101, "data": {"wbi_img": data["nav_wbi_img"]}})
        if request.url.path == "/x/frontend/finger/spi":
            return httpx.Response(
                200, json={"code": 0, "data": {"b_3": "D9656DA8-9BEF-F464-5B72-C4849AFD3363"}}
            )
        return httpx.Response(200, json={"code": 0, "data": {}})

    settings = bilibili.BilibiliSettings(base_url="https://api.bili.test", rate_per_s=1000, burst=100)
    async with make_client(settings, transport=httpx.MockTransport(handler), cookies={}) as client:
        collector = bilibili.BilibiliCollector(client, settings, wall_clock=lambda: float(data["wts"]))
        source = SourceSpec("bilibili", "search", "x")
        await collector._signed(source, "/x/web-interface/wbi/search/type", data["params"])
    query = sent[-1].url.query.decode()
    assert sorted(query.split("&")) == sorted(data["expected_final_query"].split("&"))


def _blocked(data: Any) -> None:
    with pytest.raises(Blocked):
        bilibili.check_envelope(data)


BILIBILI: dict[str, Callable[[Any], None]] = {
    "space_arc_search.json": _arc,
    "search_type_video.json": _search,
    "search_all_v2.json": _search_all,
    "web_interface_view.json": _view,
    "reply_list.json": _replies,
    "reply_wbi_main.json": _replies,
    "web_interface_card.json": _card,
    "relation_stat.json": _relation,
    "frontend_finger_spi.json": _spi,
    "nav_logged_out_wbi_img.json": _nav,
    "wbi_test_vector.json": _wbi_vector,
    "error_352_v_voucher.json": _blocked,
    "error_352_v_voucher_real.json": _blocked,
    "error_412_request_blocked.json": _blocked,
    "error_wbi_missing_v_voucher.json": _blocked,
}
# Success responses of endpoints the collector does not call: there is no parser to hold them to.
BILIBILI_NOT_CALLED = {
    "archive_stat.json": "x/web-interface/archive/stat; video sources read the same stat from /view",
    "dynamic_feed_space.json": "x/polymer/web-dynamic feed/space; user sources read wbi/arc/search",
    "live_master_info.json": "live_user/v1/Master/info; followers come from x/relation/stat",
    "space_upstat.json": "x/space/upstat (an up's total views/likes); no source kind needs it",
    "space_wbi_acc_info.json": "x/space/wbi/acc/info; profiles come from x/web-interface/card",
}


@pytest.mark.parametrize("path", shared_files("bilibili"), ids=lambda p: p.name)
def test_shared_bilibili_file(path: Path) -> None:
    data = load(path)
    if path.name in BILIBILI_NOT_CALLED:
        bilibili.check_envelope(data)  # a success envelope must not read as risk control or an error
        assert data["data"]
        pytest.skip(f"bilibili/{path.name}: kolwatch does not call {BILIBILI_NOT_CALLED[path.name]}")
    BILIBILI[path.name](data)


# ------------------------------------------------------------------- folders without a collector

SKIPPED_FOLDERS = {
    "bluesky": "kolwatch has no Bluesky collector (the platforms are Weibo, Bilibili, RSS/RSSHub, "
    "Mastodon, web pages and hot lists); the recorded timeline and the lexicon schemas are not read",
    "xiaohongshu": "kolwatch has no direct Xiaohongshu collector: Xiaohongshu is read through RSSHub "
    "routes, whose upstream failures arrive as degraded feeds (test_rss.py); the direct API's "
    "300011/300012 envelopes have no client to classify them (collectors/README.md)",
}


@pytest.mark.parametrize(
    "path",
    [p for folder in SKIPPED_FOLDERS for p in shared_files(folder)],
    ids=lambda p: p.parent.name + "/" + p.name,
)
def test_shared_file_without_collector(path: Path) -> None:
    load(path)  # still valid JSON, so the skip is about the platform, not a broken file
    pytest.skip(f"{path.parent.name}/{path.name}: {SKIPPED_FOLDERS[path.parent.name]}")


# ----------------------------------------------------------------------------------- the registry


def test_every_shared_file_is_accounted_for() -> None:
    require_shared()
    handled = {
        "weibo": set(WEIBO),
        "bilibili": set(BILIBILI) | set(BILIBILI_NOT_CALLED),
        "mastodon": {p.name for p in _shared_mastodon()},  # test_every_shared_mastodon_fixture
        "rsshub": {p.name for p in _shared_rsshub()},  # test_every_shared_rsshub_fixture
    }
    unaccounted = []
    for path in sorted(SHARED.rglob("*")):
        if path.is_dir() or path == SHARED / "README.md":
            continue
        folder, name = path.parent.name, path.name
        if name.endswith((".source.txt", ".headers.json")):
            # Companions: provenance and recorded headers of a response file beside them.
            stem = name.removesuffix(".source.txt").removesuffix(".headers.json")
            assert any(path.with_name(stem + ext).exists() for ext in (".json", ".xml")), path
            continue
        if folder in SKIPPED_FOLDERS:
            continue
        if name not in handled.get(folder, set()):
            unaccounted.append(f"{folder}/{name}")
    assert not unaccounted, f"shared files neither checked nor skipped with a reason: {unaccounted}"
    for folder, names in handled.items():  # and nothing checked here has gone missing
        assert names <= {p.name for p in shared_files(folder)}, folder
