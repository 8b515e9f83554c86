"""Trending terms leave out the watch's own words and their pieces (鹿角咖啡 -> 咖啡, competitor
远山手机 -> 远山), in the digest and in /trending, whatever the segmenter's dictionary holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import brand_terms
from bot.digest import collect_digest, digest_window
from bot.routers import trending
from collectors.base import Author, Post
from nlp.types import NEUTRAL, Analysis
from storage import queries, repos
from storage.db import Database

# Relative to the wall clock: /trending reads the hours up to now.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def watch_ref(name: str, query: str, competitors: tuple[str, ...]) -> queries.WatchRef:
    return queries.WatchRef(1, 1, "acme", "Asia/Shanghai", name, query, competitors, True)


COFFEE = watch_ref("鹿角咖啡", '鹿角咖啡 OR 鹿角 OR LuJiao OR "鹿角拿铁"', ("星巢咖啡", "酷豆咖啡"))
PHONE = watch_ref("青禾手机", "青禾手机 OR 青禾X5 OR 青禾", ("远山手机",))
APPLE = watch_ref("Apple", "Apple OR iPhone", ())


@pytest.mark.parametrize(
    ("watch", "own", "not_own"),
    [
        (COFFEE, ["咖啡", "鹿角", "鹿角咖啡", "LuJiao", "lujiao", "星巢", "拿铁"], ["异物", "美式", "门店"]),
        (PHONE, ["远山", "手机", "x5", "X5", "青禾", "远山手机"], ["pro", "note", "续航", "参数"]),
        (APPLE, ["apple", "iphone", "Apple"], ["app", "phone", "电池"]),
    ],
)
def test_own_words_and_their_pieces(watch: queries.WatchRef, own: list[str], not_own: list[str]) -> None:
    words = brand_terms.own_words(watch)
    assert [t for t in own if not brand_terms.is_own(t, words)] == []
    assert [t for t in not_own if brand_terms.is_own(t, words)] == []


def test_pieces_are_found_when_the_dictionary_keeps_brand_names_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With brand names in the user dictionary the segmenter returns them whole; posts analysed
    # before that still carry the pieces.
    monkeypatch.setattr(brand_terms, "tokenize", lambda text: [text])
    words = brand_terms.own_words(PHONE)
    assert "远山" not in words and brand_terms.is_own("远山", words)
    assert brand_terms.is_own("手机", words) and not brand_terms.is_own("续航", words)
    # Latin pieces too (posts analysed before the brand was a user term carry x5 alone).
    assert brand_terms.is_own("x5", words) and brand_terms.is_own("X5", words)
    assert not brand_terms.is_own("x", words) and not brand_terms.is_own("pro", words)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'terms.db'}")
    database.create_all()
    with database.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec(
                    "acme",
                    watches=(repos.WatchSpec("青禾手机", "青禾手机 OR 青禾X5 OR 青禾", ("远山手机",)),),
                )
            ],
            sources=[],
        )
        watch = repos.active_watches(s)[0]
        author = Author("weibo", "a1", "博主", followers=100)
        words_per_post = [("远山", "手机", "续航")] * 6 + [("x5", "参数", "青禾")] * 4 + [("续航",)] * 3
        posts = [
            Post(
                platform="weibo",
                post_id=f"p{i}",
                url=f"https://m.weibo.cn/status/p{i}",
                author=author,
                text=f"青禾手机 第{i}条",
                created_at=NOW - timedelta(hours=2, minutes=i),
            )
            for i in range(len(words_per_post))
        ]
        analyses = [Analysis("t", "zh", (), kw, (), (), (), (), 0.5, NEUTRAL) for kw in words_per_post]
        stored = repos.upsert_posts(s, posts=posts, analyses=analyses, now=NOW)
        touched = repos.add_mentions(
            s, mentions=[repos.MentionSpec(watch.id, sp.pk, sp.post.created_at, ("青禾",)) for sp in stored]
        )
        repos.recompute_counters(s, touched=touched)
    return database


def test_digest_and_trending_command_drop_brand_pieces(db: Database) -> None:
    window = digest_window("day", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        workspace_id = repos.workspace_ids(s)["acme"]
        data = collect_digest(s, workspace_id=workspace_id, window=window)
        _, command_terms = trending._load(s, workspace_id=workspace_id, name=None, period=timedelta(days=1))
        raw = queries.trending_terms(s, watch_id=data.watches[0].watch.id, start=window.start, end=window.end)
    assert {"远山", "手机", "x5", "青禾", "续航", "参数"} <= {t.term for t in raw}  # they are in the data
    assert [t.term.term for t in data.watches[0].terms] == ["续航", "参数"]
    assert [t.term for t in command_terms] == ["续航", "参数"]
