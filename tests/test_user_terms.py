"""The segmenter's user dictionary follows the database: watch brands, competitors, KOL names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collectors.base import Author, Page, Post
from kolwatch.context import sync_settings
from kolwatch.pipeline import Pipeline
from kolwatch.settings import load_settings
from kolwatch.user_terms import UserTerms, watch_terms
from nlp.analyze import analyze
from nlp.segment import Segmenter
from nlp.types import Analysis
from storage import repos
from storage.db import Database
from storage.dictionary_queries import kol_names
from storage.models import AuthorRow, KolScoreRow

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_watch_terms_are_positive_terms_and_competitors() -> None:
    terms = watch_terms(
        ['鹿角咖啡 OR "Luja Coffee" OR (鹿角 NEAR/4 拿铁) NOT 鹿角菜', "((bad"],
        ["星巢咖啡", "  ", "酷豆"],
    )
    assert terms == {"鹿角咖啡", "Luja Coffee", "鹿角", "拿铁", "星巢咖啡", "酷豆"}


def _config(db: Database, watches: tuple[repos.WatchSpec, ...]) -> None:
    with db.write() as s:
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme", watches=watches)], sources=[])


def _kol(
    db: Database, name: str, followers: int, *, pseudonymised: bool = False, at: datetime = NOW
) -> None:
    with db.write() as s:
        watch_id = repos.active_watches(s)[0].id
        author = AuthorRow(
            platform="weibo", author_id=name, name=name, followers=followers, pseudonymised=pseudonymised
        )
        s.add(author)
        s.flush()
        s.add(
            KolScoreRow(watch_id=watch_id, author_pk=author.id or 0, score=50.0, tier="腰部", computed_at=at)
        )


def test_terms_come_from_the_database_and_refresh_after_a_while(sqlite_db: Database) -> None:
    _config(sqlite_db, (repos.WatchSpec("鹿角", "鹿角咖啡 NOT 鹿角菜", ("星巢咖啡",)),))
    _kol(sqlite_db, "咖啡研究所所长", 3_020_000)
    _kol(sqlite_db, "小号路人甲", 800)  # no real audience: a name, not a KOL
    _kol(sqlite_db, "anon-3f2a", 50_000, pseudonymised=True)
    seg = Segmenter()
    assert seg.cut("鹿角咖啡") != ["鹿角咖啡"]  # what jieba does without us
    terms = UserTerms(seg)

    assert terms.ensure(sqlite_db, NOW) == 3
    assert seg.user_terms == {"鹿角咖啡", "星巢咖啡", "咖啡研究所所长"}
    assert seg.cut("鹿角咖啡新品")[0] == "鹿角咖啡"

    _config(sqlite_db, (repos.WatchSpec("鹿角", "鹿角咖啡 OR 鹿角拿铁", ("星巢咖啡",)),))
    assert terms.ensure(sqlite_db, NOW + timedelta(minutes=1)) == 0  # not due yet: no read
    assert terms.ensure(sqlite_db, NOW + timedelta(minutes=6)) == 1
    assert "鹿角拿铁" in seg.user_terms


def test_later_refreshes_read_only_recent_kol_rankings(sqlite_db: Database) -> None:
    _config(sqlite_db, (repos.WatchSpec("鹿角", "鹿角咖啡"),))
    _kol(sqlite_db, "老牌咖啡博主", 500_000, at=NOW - timedelta(days=30))
    seg = Segmenter()
    terms = UserTerms(seg)
    assert terms.ensure(sqlite_db, NOW) == 2  # the first read takes every ranking
    _kol(sqlite_db, "新晋探店达人", 80_000, at=NOW + timedelta(minutes=30))
    _kol(sqlite_db, "补录的旧账号", 90_000, at=NOW - timedelta(days=3))  # stored late, long before
    assert terms.ensure(sqlite_db, NOW + timedelta(hours=1)) == 1
    assert "新晋探店达人" in seg.user_terms and "补录的旧账号" not in seg.user_terms
    with sqlite_db.read() as s:
        assert kol_names(s, min_followers=10_000) == ["老牌咖啡博主", "补录的旧账号", "新晋探店达人"]
        assert kol_names(s, min_followers=10_000, scored_after=NOW - timedelta(days=4)) == [
            "补录的旧账号",
            "新晋探店达人",
        ]


def test_the_pipeline_adds_them_before_it_analyses_a_page(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kw.db"}"\n'
        '[[workspaces]]\nname = "acme"\n'
        '[[workspaces.watches]]\nname = "鹿角"\nquery = "鹿角咖啡"\ncompetitors = ["星巢咖啡"]\n'
        '[[sources]]\nworkspace = "acme"\nplatform = "weibo"\nkind = "search"\ntarget = "鹿角咖啡"\n'
        'every = "10m"\n',
        encoding="utf-8",
    )
    settings = load_settings(settings_file, environ={})
    db = Database(settings.database.url)
    db.create_all()
    seg = Segmenter()
    seen_terms: list[set[str]] = []

    def analyzer(texts: list[str]) -> list[Analysis]:
        seen_terms.append(set(seg.user_terms))
        return analyze(texts)

    sync_settings(db, settings)
    pipeline = Pipeline(
        db=db, settings=settings, analyzer=analyzer, user_terms=UserTerms(seg), clock=lambda: NOW
    )
    with db.write() as s:
        (source,) = repos.claim_due_sources(
            s, owner=pipeline.owner, now=NOW, lease_s=60, ignore_schedule=True
        )
    author = Author(platform="weibo", author_id="1", name="路人")
    post = Post(platform="weibo", post_id="9", url="", author=author, text="鹿角咖啡新品不错", created_at=NOW)
    stored = asyncio.run(pipeline.store_page(source, Page(cursor={}, posts=(post,))))
    db.dispose()
    assert stored is not None and stored.new == 1 and stored.mentions == 1
    assert seen_terms == [{"鹿角咖啡", "星巢咖啡"}]
