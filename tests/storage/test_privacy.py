"""Pseudonymisation (PIPL/GDPR): no stored row of a pseudonymised account names it, post URLs
included, and `kolwatch db pseudonymise` leaves no real id behind even when the service already
stored the account under its pseudonym."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from collectors.base import Author, Post
from collectors.mastodon import parse_status
from collectors.weibo import parse_mblog
from storage import repos
from storage.db import Database
from storage.models import (
    AlertRow,
    AuthorRow,
    DetectorStateRow,
    FollowerSnapshotRow,
    IgnoredAuthorRow,
    KolScoreRow,
    MentionRow,
    PostRow,
)
from tests.storage.test_repos import NOW, analysis, setup_workspace

PRIVACY = repos.Privacy(pseudonymise_below=1000, salt="pepper")
UID = "1234567890"


def weibo_post(mid: str, bid: str, *, followers: int, minutes_ago: int = 0) -> Post:
    """A post as the Weibo collector builds it from an API mblog (URL weibo.com/<uid>/<bid>)."""

    created = (NOW - timedelta(minutes=minutes_ago)).astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")
    mblog = {
        "id": mid,
        "bid": bid,
        "created_at": created,
        "text": f"鹿角咖啡 第{mid}条",
        "user": {"id": int(UID), "screen_name": "小鹿本鹿", "followers_count": followers},
        "attitudes_count": 1,
        "reposts_count": 0,
        "comments_count": 0,
    }
    return parse_mblog(mblog, now=NOW)


def mastodon_post(followers: int) -> Post:
    status: dict[str, Any] = {
        "id": "113344556677889900",
        "uri": "https://mastodon.social/users/alice/statuses/113344556677889900",
        "url": "https://mastodon.social/@alice/113344556677889900",
        "created_at": "2026-03-02T10:00:00.000Z",
        "content": "<p>鹿角咖啡 今天排队好长</p>",
        "spoiler_text": "",
        "account": {
            "id": "1",
            "acct": "alice",
            "username": "alice",
            "url": "https://mastodon.social/@alice",
            "display_name": "Alice",
            "followers_count": followers,
            "note": "",
        },
        "reblog": None,
        "favourites_count": 1,
        "reblogs_count": 0,
        "replies_count": 0,
    }
    return parse_status(status)[0]


@pytest.mark.parametrize(
    ("url", "identities", "expected"),
    [
        (f"https://weibo.com/{UID}/Pq3xYzAbC", (), "https://m.weibo.cn/status/Pq3xYzAbC"),
        (f"https://www.weibo.com/{UID}/Pq3xYzAbC?from=x", (), "https://m.weibo.cn/status/Pq3xYzAbC"),
        ("https://m.weibo.cn/status/5012345678901234", (UID,), "https://m.weibo.cn/status/5012345678901234"),
        ("https://m.weibo.cn/detail/5012345678901234?cid=5012345678909999", (UID,), None),
        ("https://mastodon.social/@alice/113344556677889900", (), ""),
        ("https://mastodon.social/users/alice/statuses/113344556677889900", (), ""),
        ("https://www.bilibili.com/video/BV1xx411c7mD", ("208259",), None),
        ("https://www.bilibili.com/video/BV1xx411c7mD#reply12345", ("208259",), None),
        ("https://blog.example.com/2026/03/luckin.html", ("example.com:小鹿", "小鹿"), None),
        ("https://blog.example.com/authors/%E5%B0%8F%E9%B9%BF/luckin.html", ("小鹿",), ""),
        ("https://rsshub.example/xiaohongshu/user/5a1b2c/notes/9", ("5a1b2c",), ""),
        ("", ("x",), ""),
    ],
)
def test_private_post_url(url: str, identities: tuple[str, ...], expected: str | None) -> None:
    assert repos.private_post_url(url, identities) == (url if expected is None else expected)


def test_identity_tokens_cover_handles_and_profile_urls() -> None:
    alice = Author("mastodon", "alice@mastodon.social", "Alice", url="https://mastodon.social/@alice")
    assert {"alice", "Alice", "alice@mastodon.social"} <= set(repos.identity_tokens(alice))
    assert repos.private_post_url("https://mirror.example/notes/alice-1", repos.identity_tokens(alice)) == ""


def test_posts_of_pseudonymised_authors_are_stored_without_the_account_in_the_url(any_db: Database) -> None:
    small = weibo_post("5012345678901234", "Pq3xYzAbC", followers=50)
    big = replace(
        weibo_post("5012345678905678", "Pq3xYzXyZ", followers=50_000),
        author=Author("weibo", "7654321098", "大V", url="https://weibo.com/u/7654321098", followers=50_000),
        url="https://weibo.com/7654321098/Pq3xYzXyZ",
    )
    toot = mastodon_post(followers=12)
    assert small.url == f"https://weibo.com/{UID}/Pq3xYzAbC"  # what the collector really gives
    assert toot.url == "https://mastodon.social/@alice/113344556677889900"
    with any_db.write() as s:
        repos.upsert_posts(s, posts=[small, big, toot], analyses=[analysis()] * 3, now=NOW, privacy=PRIVACY)
    with any_db.read() as s:
        urls = {r.post_id: r.url for r in s.exec(select(PostRow))}
    assert urls[small.post_id] == "https://m.weibo.cn/status/Pq3xYzAbC"
    assert urls[big.post_id] == "https://weibo.com/7654321098/Pq3xYzXyZ"  # not pseudonymised: unchanged
    assert urls[toot.post_id] == ""  # no public form without the handle
    assert not any(UID in u or "alice" in u for u in urls.values())


def _world_before_the_setting(db: Database) -> repos.WatchInfo:
    """An account stored with its real id (setting off), with a post, a mention and counters, a
    follower snapshot, a KOL score and an ignore mark."""

    watch = setup_workspace(db)
    first = weibo_post("5012345678901234", "Pq3xYzAbC", followers=50, minutes_ago=2)
    with db.write() as s:
        stored = repos.upsert_posts(s, posts=[first], analyses=[analysis()], now=NOW - timedelta(hours=2))
        touched = repos.add_mentions(
            s, mentions=[repos.MentionSpec(watch.id, stored[0].pk, first.created_at)]
        )
        repos.recompute_counters(s, touched=touched)
        pk = stored[0].author_pk
        for at in (NOW - timedelta(hours=1), NOW):
            s.add(KolScoreRow(watch_id=watch.id, author_pk=pk, computed_at=at, score=1.0, tier="尾部"))
        s.add(IgnoredAuthorRow(workspace_id=watch.workspace_id, author_pk=stored[0].author_pk))
    return watch


def test_db_pseudonymise_merges_into_the_pseudonym_the_service_stored_since(any_db: Database) -> None:
    watch = _world_before_the_setting(any_db)
    # The setting is switched on and the service stores a second post of the same account.
    second = weibo_post("5012345678905678", "Pq3xYzXyZ", followers=60, minutes_ago=1)
    with any_db.write() as s:
        stored = repos.upsert_posts(s, posts=[second], analyses=[analysis()], now=NOW, privacy=PRIVACY)
        mention = repos.MentionSpec(watch.id, stored[0].pk, second.created_at)
        touched = repos.add_mentions(s, mentions=[mention])
        repos.recompute_counters(s, touched=touched)
        anon_pk = stored[0].author_pk
        s.add(IgnoredAuthorRow(workspace_id=watch.workspace_id, author_pk=anon_pk))
        # Both rows have a KOL score of the same computation and a snapshot of the same hour.
        s.add(KolScoreRow(watch_id=watch.id, author_pk=anon_pk, computed_at=NOW, score=2.0, tier="尾部"))
        s.add(
            FollowerSnapshotRow(
                author_pk=anon_pk, taken_at=repos.bucket_start(NOW - timedelta(hours=2), 3600), followers=55
            )
        )
    with any_db.read() as s:
        before = repos.counter_series(
            s, watch_id=watch.id, bucket_s=3600, start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1)
        )
    assert before[0].unique_authors == 2  # the same person counted twice under two ids

    with any_db.write() as s:
        result = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert (result.authors, result.merged, result.urls) == (1, 1, 1)

    with any_db.read() as s:
        authors = s.exec(select(AuthorRow)).all()
        posts = s.exec(select(PostRow)).all()
        snapshots = s.exec(select(FollowerSnapshotRow)).all()
        scores = s.exec(select(KolScoreRow)).all()
        ignored = s.exec(select(IgnoredAuthorRow)).all()
        mentions = s.exec(select(MentionRow)).all()
        after = repos.counter_series(
            s, watch_id=watch.id, bucket_s=3600, start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1)
        )
    assert len(authors) == 1
    anon = authors[0]
    assert anon.pseudonymised and anon.author_id == PRIVACY.author_id(second.author) and anon.name == ""
    assert {p.author_pk for p in posts} == {anon.id}
    assert {sn.author_pk for sn in snapshots} == {anon.id}
    assert sorted(sn.followers for sn in snapshots) == [55, 60]  # one per hour, the pseudonym's kept
    assert sorted((repos.as_utc(sc.computed_at), sc.score, sc.author_pk) for sc in scores) == [
        (NOW - timedelta(hours=1), 1.0, anon.id),  # moved over
        (NOW, 2.0, anon.id),  # the pseudonym's own score of that computation is kept
    ]
    assert [ig.author_pk for ig in ignored] == [anon.id]  # one mark per workspace, not two
    assert len(mentions) == 2
    assert {m.author_pk for m in mentions} == {anon.id}  # the mention's copy follows the post
    assert after[0].unique_authors == 1 and after[0].raw_volume == 2
    assert sorted(p.url for p in posts) == [
        "https://m.weibo.cn/status/Pq3xYzAbC",
        "https://m.weibo.cn/status/Pq3xYzXyZ",
    ]
    with any_db.write() as s:
        again = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert (again.authors, again.merged, again.urls) == (0, 0, 0)


def test_db_pseudonymise_renames_in_place_and_cleans_urls_of_earlier_pseudonyms(any_db: Database) -> None:
    _world_before_the_setting(any_db)
    toot = mastodon_post(followers=12)
    with any_db.write() as s:
        # A pseudonymised author whose post was stored with its handle in the URL (older code).
        repos.upsert_posts(s, posts=[toot], analyses=[analysis()], now=NOW, privacy=PRIVACY)
        s.exec(update(PostRow).where(col(PostRow.post_id) == toot.post_id).values(url=toot.url))
    with any_db.write() as s:
        result = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert (result.authors, result.merged, result.urls) == (1, 0, 2)
    with any_db.read() as s:
        rows = s.exec(select(AuthorRow)).all()
        urls = sorted(r.url for r in s.exec(select(PostRow)))
    assert all(r.pseudonymised and r.name == "" and UID not in r.author_id for r in rows)
    assert urls == ["", "https://m.weibo.cn/status/Pq3xYzAbC"]


def test_db_pseudonymise_uses_each_authors_own_identity_for_their_urls(any_db: Database) -> None:
    """Several accounts in one pass: each post URL is checked against its own author's id, one
    account merges into its pseudonym while the others are renamed, a large account is left."""

    def note(uid: str, n: int, followers: int) -> Post:
        profile = f"https://rsshub.example/user/{uid}"
        who = Author("xiaohongshu", uid, f"名{uid}", url=profile, followers=followers)
        return Post(
            platform="xiaohongshu",
            post_id=f"{uid}-{n}",
            url=f"https://rsshub.example/xiaohongshu/user/{uid}/notes/{n}",
            author=who,
            text="鹿角咖啡",
            created_at=NOW - timedelta(minutes=n),
        )

    # Two posts of the first account, so that post and author primary keys differ.
    early = [note("5a1b2c", 1, 10), note("5a1b2c", 5, 10), note("6d7e8f", 2, 10), note("9a0b1c", 3, 50_000)]
    with any_db.write() as s:
        repos.upsert_posts(s, posts=early, analyses=[analysis()] * 4, now=NOW - timedelta(hours=1))
    with any_db.write() as s:  # the setting is on: 6d7e8f is stored again under its pseudonym
        repos.upsert_posts(s, posts=[note("6d7e8f", 4, 12)], analyses=[analysis()], now=NOW, privacy=PRIVACY)
    with any_db.write() as s:
        result = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert (result.authors, result.merged, result.urls) == (2, 1, 3)
    with any_db.read() as s:
        urls = {r.post_id: r.url for r in s.exec(select(PostRow))}
        authors = sorted((r.author_id, r.pseudonymised) for r in s.exec(select(AuthorRow)))
    assert urls == {
        "5a1b2c-1": "",
        "5a1b2c-5": "",
        "6d7e8f-2": "",
        "9a0b1c-3": "https://rsshub.example/xiaohongshu/user/9a0b1c/notes/3",
        "6d7e8f-4": "",
    }
    assert authors == sorted(
        [
            (PRIVACY.author_id(early[0].author), True),
            (PRIVACY.author_id(early[2].author), True),
            ("9a0b1c", False),
        ]
    )


def test_db_pseudonymise_removes_the_account_from_stored_alerts(any_db: Database) -> None:
    watch = _world_before_the_setting(any_db)
    with any_db.read() as s:
        post = s.exec(select(PostRow)).one()
    old_url = post.url
    assert UID in old_url

    def alert(key: str, post_ids: tuple[int, ...], post_urls: tuple[str, ...], body: str) -> repos.AlertSpec:
        return repos.AlertSpec(
            workspace_id=watch.workspace_id,
            watch_id=watch.id,
            kind="kol",
            level=2,
            key=key,
            title=f"鹿角 KOL 提及「小鹿本鹿」 · {key}",
            body=body,
            post_ids=post_ids,
            post_urls=post_urls,
            details={"kols": [{"platform": "weibo", "author_id": UID, "name": "小鹿本鹿", "followers": 50}]},
        )

    with any_db.write() as s:
        shows_post = alert(
            "a", (post.id or 0,), (old_url,), f"代表帖子：\n1. 小鹿本鹿，粉丝 50：鹿角咖啡（互动 1）{old_url}"
        )
        names_kol = alert("b", (), (), "涉及 KOL：小鹿本鹿（weibo，粉丝 50，尾部）")
        unrelated = repos.AlertSpec(
            workspace_id=watch.workspace_id,
            kind="spike",
            level=1,
            key="c",
            title="鹿角 提及量激增",
            body="42 条",
        )
        digest = repos.AlertSpec(
            workspace_id=watch.workspace_id,
            kind="digest",
            level=1,
            key="d",
            title="鹿角 周报",
            body="头部 KOL：小鹿本鹿 [1]",
            post_urls=(old_url,),
            details={"links": [["[1] 鹿角咖啡", old_url]], "feedback": [["[1]", post.id or 0]]},
        )
        later = repos.AlertSpec(  # a later alert of the story repeats the KOL's signal
            workspace_id=watch.workspace_id,
            kind="spike",
            level=2,
            key="e",
            title="鹿角 提及量激增",
            body="本事件此前的信号：KOL 参与「小鹿本鹿」 03-02 10:00",
            details={"story_signals": ["KOL 参与「小鹿本鹿」 03-02 10:00"]},
        )
        for spec in (shows_post, names_kol, unrelated, digest, later):
            repos.enqueue_alert(s, alert=spec, targets=[])
        repos.put_detector_state(
            s,
            watch_id=watch.id,
            detector="rules",
            key="",
            state={"signals": ["KOL 参与「小鹿本鹿」"]},
            now=NOW,
        )
    with any_db.write() as s:
        result = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert result.alerts == 4
    with any_db.read() as s:
        stored = {a.key: a for a in s.exec(select(AlertRow)).all()}
        rule_state = s.exec(select(DetectorStateRow)).one().state
    assert rule_state == {"signals": ["KOL 参与「匿名」"]}
    assert stored["e"].body.endswith("「匿名」 03-02 10:00") and "小鹿本鹿" not in str(stored["e"].details)
    assert stored["d"].body == "头部 KOL：匿名 [1]"
    assert stored["d"].post_urls == ["https://m.weibo.cn/status/Pq3xYzAbC"]
    assert stored["d"].details["links"] == [["[1] 鹿角咖啡", "https://m.weibo.cn/status/Pq3xYzAbC"]]
    for key in ("a", "b"):
        row = stored[key]
        text = json.dumps([row.title, row.body, row.post_urls, row.details], ensure_ascii=False)
        assert "小鹿本鹿" not in text and UID not in text and "匿名" in row.body
    assert stored["a"].post_urls == ["https://m.weibo.cn/status/Pq3xYzAbC"]
    assert stored["a"].body.endswith("https://m.weibo.cn/status/Pq3xYzAbC")
    assert stored["b"].details["kols"][0]["author_id"] == PRIVACY.author_id(
        weibo_post("1", "b", followers=50).author
    )
    assert (stored["c"].title, stored["c"].body) == ("鹿角 提及量激增", "42 条")


def test_db_pseudonymise_scrubs_a_digest_whose_posts_no_other_alert_shows(any_db: Database) -> None:
    """A digest names its posts only in its footnotes (details "feedback"), never in post_ids."""

    watch = _world_before_the_setting(any_db)
    with any_db.read() as s:
        post = s.exec(select(PostRow)).one()
    digest = repos.AlertSpec(
        workspace_id=watch.workspace_id,
        kind="digest",
        level=1,
        key="d",
        title="鹿角 周报",
        body="头部 KOL：小鹿本鹿 [1]",
        post_urls=(post.url,),
        details={"links": [["[1] 鹿角咖啡", post.url]], "feedback": [["[1]", post.id or 0]]},
    )
    with any_db.write() as s:
        repos.enqueue_alert(s, alert=digest, targets=[])
    with any_db.write() as s:
        result = repos.pseudonymise_existing(s, privacy=PRIVACY)
    assert result.alerts == 1
    with any_db.read() as s:
        stored = s.exec(select(AlertRow)).one()
    assert stored.body == "头部 KOL：匿名 [1]"
    assert stored.post_urls == ["https://m.weibo.cn/status/Pq3xYzAbC"]
    assert stored.details["links"] == [["[1] 鹿角咖啡", "https://m.weibo.cn/status/Pq3xYzAbC"]]
