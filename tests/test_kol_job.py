"""KOL scoring wired to the database: pool reads, stored rankings, the hourly job and `kolwatch kol`.

Every test runs on SQLite and (with TEST_DATABASE_URL) PostgreSQL through the `any_db` fixture.
The small world below is written through the same repository functions the pipeline uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import update
from sqlmodel import select

from collectors.base import Author, Post
from kolwatch.cli import main
from kolwatch.errors import SettingsError
from kolwatch.kol_job import period_key, run_kol_scoring, score_watch
from kolwatch.settings import Settings, load_settings, scoring_settings
from nlp.types import Analysis
from scoring import report
from scoring.settings import ScoringSettings
from scoring.types import UNKNOWN_TIER, AuthorWindow, KolScore
from storage import kol_queries, queries, repos
from storage.db import Database
from storage.migrate import alembic_config
from storage.models import AuthorRow, IgnoredAuthorRow, KolScoreRow, PostRow, SourceRow, WatchRow

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)
# The hourly job: a week-old ranking, then the last hours' rankings (what a real history holds).
HOURLY = (WEEK_AGO, NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW)
WB = "weibo"


def _author(author_id: str, name: str, followers: int | None, posts_count: int | None = 500) -> Author:
    return Author(WB, author_id, name, f"https://weibo.com/u/{author_id}", followers, posts_count=posts_count)


BIG = _author("9100000001", "大V咖啡评测", 2_000_000)
MID = _author("9100000002", "城市探店小王", 220_000)
NOFOLLOW = _author("9100000003", "匿名爆料号", None)
NEWBIE = _author("9100000004", "新来的咖啡控", 3_000)
FAKE = _author("9100000005", "刷量营销号", 150_000)
TURNCOAT = _author("9100000006", "老顾客阿杰", 40_000)
QUIET = _author("9100000007", "路人甲的日常", 800)
IGNORED = _author("9100000008", "品牌自己的号", 900_000)
RIVAL_FAN = _author("9100000009", "只聊星巴克", 60_000)
POOL = (BIG, MID, NOFOLLOW, FAKE, TURNCOAT, QUIET)  # ranked at NOW besides NEWBIE


def _analysis(text: str, sentiment: float | None) -> Analysis:
    return Analysis(
        text=text,
        lang="zh",
        tokens=(),
        keywords=(),
        hashtags=(),
        emoticons=(),
        mentions=(),
        urls=(),
        sentiment=sentiment,
        label="unscored" if sentiment is None else ("negative" if sentiment < 0.4 else "positive"),
    )


def _post(
    author: Author,
    post_id: str,
    at: datetime,
    text: str = "瑞幸新品拿铁真不错",
    *,
    likes: int | None = 100,
    reposts: int | None = 10,
    comments: int | None = 20,
    kind: str = "post",
    is_repost: bool = False,
    parent_id: str | None = None,
) -> Post:
    return Post(
        platform=WB,
        post_id=post_id,
        url=f"https://weibo.com/{author.author_id}/{post_id}",
        author=author,
        text=text,
        created_at=at,
        likes=likes,
        reposts=reposts,
        comments=comments,
        is_repost=is_repost,
        parent_id=parent_id,
        kind=kind,
    )


@dataclass(frozen=True)
class World:
    db: Database
    watch_id: int
    empty_watch_id: int
    ids: dict[str, int]  # post_id -> post pk


def _store(
    db: Database, watch_id: int, items: list[tuple[Post, float | None, str | None]], now: datetime
) -> None:
    """Store posts and their mentions ("" = brand, a name = competitor, None = no match)."""

    with db.write() as session:
        stored = repos.upsert_posts(
            session,
            posts=[p for p, _, _ in items],
            analyses=[_analysis(p.text, s) for p, s, _ in items],
            now=now,
        )
        by_id = {sp.post.post_id: sp for sp in stored}
        mentions = [
            repos.MentionSpec(watch_id, by_id[p.post_id].pk, p.created_at, ("瑞幸",), competitor=m)
            for p, _, m in items
            if m is not None and p.post_id in by_id
        ]
        repos.add_mentions(session, mentions=mentions)


def _snapshots(db: Database, series: list[tuple[Author, datetime, int]]) -> None:
    """Profile refreshes seen at the given times (each leaves that hour's follower snapshot)."""

    with db.write() as session:
        for author, at, followers in series:
            repos.upsert_authors(session, authors=[replace(author, followers=followers)], now=at)


def build_world(db: Database) -> World:
    with db.write() as session:
        repos.sync_config(
            session,
            workspaces=[
                repos.WorkspaceSpec(
                    "acme",
                    watches=(
                        repos.WatchSpec("瑞幸", "瑞幸 OR luckin", ("星巴克",)),
                        repos.WatchSpec("空监测", "不存在的词"),
                    ),
                )
            ],
            sources=[],
        )
        watches = {w.name: w for w in repos.active_watches(session)}
        for row in session.exec(select(WatchRow)):
            row.created_at = NOW - timedelta(days=90)  # matched every stored post at ingestion
    wid = watches["瑞幸"].id
    day = timedelta(days=1)

    # Ten days of daily follower snapshots for the established accounts; the fake one jumps
    # from ~50k to 150k in one day with no content anywhere near the jump.
    series = [
        (a, NOW - (10 - i) * day, (a.followers or 0) - (10 - i) * 10)
        for a in (BIG, MID, TURNCOAT, QUIET)
        for i in range(10)
    ]
    series.append((BIG, NOW - day - timedelta(hours=5), 1_000))  # earlier the same UTC day: not used
    series += [(FAKE, NOW - (10 - i) * day, 50_000 + 20 * i) for i in range(8)]
    series.append((FAKE, NOW - 2 * day, 150_000))
    _snapshots(db, series)

    items: list[tuple[Post, float | None, str | None]] = []
    for i in range(4):
        items.append(
            (
                _post(BIG, f"big{i}", NOW - (i * 3 + 1) * day, likes=30_000, reposts=5_000, comments=4_000),
                0.8,
                "",
            )
        )
    items.append((_post(BIG, "big_off", NOW - 2 * day, "今天的午餐"), 0.6, None))  # not about the brand
    for i in range(3):
        items.append(
            (_post(MID, f"mid{i}", NOW - (i + 2) * day, likes=2_000, reposts=150, comments=300), 0.7, "")
        )
    # MID reposts BIG's brand post and @-mentions BIG in the repost text: two graph edges' worth.
    items.append(
        (
            _post(
                MID,
                "mid_rt",
                NOW - 1 * day,
                "//@大V咖啡评测: 瑞幸新品拿铁真不错",
                is_repost=True,
                parent_id="big0",
            ),
            0.7,
            "",
        )
    )
    for i in range(3):
        items.append(
            (
                _post(NOFOLLOW, f"nof{i}", NOW - (i + 1) * day, likes=9_000, reposts=3_000, comments=2_500),
                0.5,
                "",
            )
        )
    for i in range(3):
        items.append(
            (_post(FAKE, f"fake{i}", NOW - (20 + i) * day, likes=5_000, reposts=20, comments=40), 0.9, "")
        )
    # TURNCOAT: positive about the brand the week before last, sour in the last days.
    for i in range(3):
        items.append(
            (_post(TURNCOAT, f"tc_old{i}", NOW - (13 - i) * day, likes=800, reposts=40, comments=90), 0.9, "")
        )
    for i in range(6):
        items.append(
            (
                _post(TURNCOAT, f"tc_new{i}", NOW - (i + 1) * day + timedelta(hours=3), "瑞幸越来越难喝了"),
                0.1,
                "",
            )
        )
    items.append((_post(QUIET, "quiet0", NOW - 3 * day, likes=1, reposts=0, comments=0), 0.5, ""))
    items.append(
        (_post(IGNORED, "ign0", NOW - 2 * day, likes=90_000, reposts=9_000, comments=9_000), 0.9, "")
    )
    items.append((_post(RIVAL_FAN, "rival0", NOW - 2 * day, "星巴克永远的神"), 0.9, "星巴克"))
    items.append((_post(QUIET, "too_old", NOW - 45 * day), 0.5, ""))
    _store(db, wid, items, NOW)
    # The newcomer appears after the first computation.
    _store(
        db,
        wid,
        [(_post(NEWBIE, "new0", NOW - timedelta(hours=20), likes=900, reposts=60, comments=80), 0.8, "")],
        NOW,
    )

    # Twenty default-nickname, zero-post accounts leave the same comment under the fake's posts.
    comments = [
        (
            _post(
                _author(f"88000000{i:02d}", f"用户58000000{i:02d}", 3, posts_count=0),
                f"cmt{i}",
                NOW - (19 + i % 3) * day,
                "支持支持！瑞幸yyds，太棒了[赞]",
                likes=0,
                reposts=0,
                comments=0,
                kind="comment",
                parent_id=f"fake{i % 3}",
            ),
            0.9,
            None,
        )
        for i in range(20)
    ]
    _store(db, wid, comments, NOW)

    with db.write() as session:
        pks = {pid: pk for pid, pk in session.exec(select(PostRow.post_id, PostRow.id)).all()}
        ignored_pk = session.exec(select(AuthorRow.id).where(AuthorRow.author_id == IGNORED.author_id)).one()
        session.add(IgnoredAuthorRow(workspace_id=watches["瑞幸"].workspace_id, author_pk=ignored_pk))
    return World(db, wid, watches["空监测"].id, pks)


@pytest.fixture
def world(any_db: Database) -> Iterator[World]:
    yield build_world(any_db)


CFG = ScoringSettings()


def _by_id(scores: tuple[KolScore, ...]) -> dict[str, KolScore]:
    return {s.author_id: s for s in scores}


# --------------------------------------------------------------------------- pool reads


def test_inputs_pool_posts_relevance_comments_and_snapshots(world: World) -> None:
    with world.db.read() as session:
        inputs = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30)
    windows = {w.author.author_id: w for w in inputs.windows}
    # Ignored, competitor-only, out-of-window and comment-only authors are not in the pool.
    assert set(windows) == {a.author_id for a in (*POOL, NEWBIE)}
    assert set(inputs.author_pks) == {(WB, a) for a in windows}

    big = windows[BIG.author_id]
    about = {p.post_id: p.mentions_watch for p in big.posts}
    assert about == {"big0": True, "big1": True, "big2": True, "big3": True, "big_off": False}
    assert big.author.followers == 2_000_000 and big.timeline is None  # no source follows BIG
    # One snapshot per UTC day (the last of the day), oldest first: ten daily ones and today's.
    days = [s.at.date() for s in big.follower_history]
    assert days == sorted(set(days)) and len(days) == 11
    yesterday = big.follower_history[-2]
    assert (yesterday.at, yesterday.followers) == (NOW - timedelta(days=1), 2_000_000 - 10)
    assert big.follower_history[-1].followers == 2_000_000

    assert all(p.post_id != "too_old" for p in windows[QUIET.author_id].posts)
    fake = windows[FAKE.author_id]
    assert len(fake.comments) == 20
    assert {c.commenter_name[:2] for c in fake.comments} == {"用户"}
    assert all(c.commenter_posts == 0 for c in fake.comments)
    assert windows[NOFOLLOW.author_id].author.followers is None
    assert windows[NOFOLLOW.author_id].follower_history == ()


def test_relevance_is_computed_only_for_authors_a_user_source_follows(world: World) -> None:
    with world.db.read() as session:
        workspace_id = session.exec(select(WatchRow.workspace_id).where(WatchRow.id == world.watch_id)).one()
    with world.db.write() as session:
        # BIG is followed (a user source that ran); MID's source never succeeded; QUIET's is disabled.
        session.add(
            SourceRow(
                workspace_id=workspace_id, platform=WB, kind="user", target=BIG.author_id,
                created_at=NOW - timedelta(days=60), last_ok_at=NOW - timedelta(minutes=5),
            )
        )  # fmt: skip
        session.add(SourceRow(workspace_id=workspace_id, platform=WB, kind="user", target=MID.author_id))
        session.add(
            SourceRow(
                workspace_id=workspace_id, platform=WB, kind="user", target=QUIET.author_id,
                enabled=False, created_at=NOW - timedelta(days=60), last_ok_at=NOW,
            )
        )  # fmt: skip
        session.add(  # a keyword search is no timeline, whatever its target
            SourceRow(
                workspace_id=workspace_id, platform=WB, kind="search", target=TURNCOAT.author_id,
                created_at=NOW - timedelta(days=60), last_ok_at=NOW,
            )
        )  # fmt: skip
    with world.db.read() as session:
        inputs = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30)
    windows = _windows(inputs)
    assert windows[BIG.author_id].timeline is not None
    assert [a for a, w in windows.items() if w.timeline is not None] == [BIG.author_id]
    result = score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert result.ranking is not None
    scores = _by_id(result.ranking.scores)
    assert scores[BIG.author_id].raw["relevance"] == pytest.approx(4 / 5)  # big_off is not about it
    mid = scores[MID.author_id]
    assert "relevance" not in mid.raw and "relevance" not in mid.components
    assert any("作者总发帖数未知" in r and "相关按池中位数计" in r for r in mid.reasons)


def test_graph_edges_from_reposts_and_at_mentions(world: World) -> None:
    with world.db.read() as session:
        inputs = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30)
    edges = {(e.source, e.target): e.weight for e in inputs.edges}
    # One repost of big0 plus the "//@大V咖啡评测" in its text.
    assert edges == {((WB, MID.author_id), (WB, BIG.author_id)): 2.0}


def test_comment_sample_is_capped_newest_first(world: World) -> None:
    with world.db.read() as session:
        inputs = kol_queries.kol_inputs(
            session, watch_id=world.watch_id, now=NOW, window_days=30, max_comments=5
        )
        none = kol_queries.kol_inputs(
            session, watch_id=world.watch_id, now=NOW, window_days=30, max_comments=0
        )
    assert len(_windows(inputs)[FAKE.author_id].comments) == 5
    assert _windows(none)[FAKE.author_id].comments == ()


def _windows(inputs: kol_queries.KolInputs) -> dict[str, AuthorWindow]:
    return {w.author.author_id: w for w in inputs.windows}


def test_posts_older_than_the_watch_have_unknown_relevance(world: World) -> None:
    with world.db.write() as session:
        row = session.get(WatchRow, world.watch_id)
        assert row is not None
        row.created_at = NOW + timedelta(days=1)  # a watch added after every post was collected
    with world.db.read() as session:
        inputs = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30)
    about = {p.post_id: p.mentions_watch for p in _windows(inputs)[BIG.author_id].posts}
    assert about["big_off"] is None and about["big0"] is True


def test_inputs_reject_bad_arguments(world: World) -> None:
    with world.db.read() as session:
        with pytest.raises(LookupError):
            kol_queries.kol_inputs(session, watch_id=10_000, now=NOW, window_days=30)
        with pytest.raises(ValueError, match="timezone-aware"):
            kol_queries.kol_inputs(
                session, watch_id=world.watch_id, now=NOW.replace(tzinfo=None), window_days=30
            )
        with pytest.raises(ValueError, match="window_days"):
            kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=0)
        empty = kol_queries.kol_inputs(session, watch_id=world.empty_watch_id, now=NOW, window_days=30)
    assert empty.windows == () and empty.edges == ()


def test_hostile_texts_and_impossible_counts_are_handled(world: World) -> None:
    nasty = _author("9100000010", "\x1b[2J\x1b[31m红字\nDROP TABLE author;--", 5_000)
    _store(
        world.db,
        world.watch_id,
        [
            (
                _post(
                    nasty,
                    "nasty0",
                    NOW - timedelta(days=1),
                    "瑞幸 @" + "@" * 50 + " @' OR 1=1 -- @" + "长" * 200,
                ),
                0.5,
                "",
            ),
            (
                _post(nasty, "nasty1", NOW - timedelta(days=2), "瑞幸", likes=-5, reposts=-1, comments=3),
                0.5,
                "",
            ),
        ],
        NOW,
    )
    with world.db.write() as session:
        session.exec(  # a collector bug stored a sentiment outside 0..1
            update(PostRow).where(PostRow.post_id == "nasty1").values(sentiment=1.7)
        )
    result = score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert result.stored and result.ranking is not None
    nasty_score = _by_id(result.ranking.scores)[nasty.author_id]
    assert any("异常计数" in r for r in nasty_score.reasons)
    assert 0 <= nasty_score.score <= 100


# --------------------------------------------------------------------------- ranking and storage


def test_ranking_handles_missing_data_and_flags_the_fake(world: World) -> None:
    result = score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert result.ranking is not None
    scores = _by_id(result.ranking.scores)
    assert set(scores) == {a.author_id for a in (*POOL, NEWBIE)}

    nofollow = scores[NOFOLLOW.author_id]
    assert nofollow.followers is None and nofollow.tier == UNKNOWN_TIER
    assert any("粉丝数未知" in r for r in nofollow.reasons)
    assert "engagement" not in nofollow.components and "amplification" in nofollow.components
    assert result.ranking.scores[-1].author_id != NOFOLLOW.author_id  # no silent zero
    assert nofollow.score > scores[QUIET.author_id].score

    newbie = scores[NEWBIE.author_id]
    assert any("粉丝快照不足" in r for r in newbie.reasons)
    assert newbie.score > 0

    fake = scores[FAKE.author_id]
    assert fake.authenticity < 1.0
    assert {"follower_jump", "default_commenters", "near_dup_comments"} <= set(fake.flags)
    assert all(scores[a.author_id].authenticity == 1.0 for a in (BIG, MID, TURNCOAT))
    assert scores[BIG.author_id].index_name is not None  # the Weibo BCI travels with the score


def test_stored_ranking_round_trips(world: World) -> None:
    result = score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert result.ranking is not None and result.rows == len(result.ranking.scores) == 7
    with world.db.read() as session:
        [stored] = kol_queries.latest_rankings(session, watch_id=world.watch_id, count=2)
    assert stored.computed_at == NOW and stored.window_days == CFG.window_days
    assert [s.key for s in stored.scores] == [s.key for s in result.ranking.scores]
    for original, back in zip(result.ranking.scores, stored.scores, strict=True):
        assert back.score == original.score
        assert back.tier == original.tier and back.tier_intl == original.tier_intl
        assert back.authenticity == original.authenticity
        assert back.components == pytest.approx(original.components)
        assert back.weights == pytest.approx(original.weights)
        assert back.raw == pytest.approx(original.raw)
        assert back.flags == original.flags and back.reasons == original.reasons
        assert back.followers == original.followers
        assert (back.index_name, back.index_value) == (original.index_name, original.index_value)


def test_the_bot_board_reads_the_stored_rows(world: World) -> None:
    score_watch(world.db, world.watch_id, CFG, now=NOW)
    with world.db.read() as session:
        board = queries.kol_board(session, watch_id=world.watch_id, top=3)
        [stored] = kol_queries.latest_rankings(session, watch_id=world.watch_id)
    assert board.computed_at == NOW
    assert [e.author_id for e in board.top] == [s.author_id for s in stored.scores[:3]]
    # The bot looks components up by weight name; the detail object never shows up there.
    assert all(kol_queries.DETAIL_KEY not in e.weights for e in board.top)


def _hourly(world: World, times: tuple[datetime, ...] = HOURLY) -> None:
    for at in times:
        assert score_watch(world.db, world.watch_id, CFG, now=at).rows > 0


def test_changes_over_a_week_compare_with_the_week_old_ranking_not_the_last_hour(world: World) -> None:
    _hourly(world)
    with world.db.read() as session:
        week = kol_queries.kol_changes(session, watch_id=world.watch_id)
        hours = kol_queries.kol_changes(session, watch_id=world.watch_id, period=timedelta(hours=1))
        pks = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30).author_pks
    name = {pk: author_id for (_, author_id), pk in pks.items()}
    assert (week.current_at, week.baseline_at) == (NOW, WEEK_AGO)
    # A week ago only BIG, FAKE and TURNCOAT had brand posts in the window: the others are new,
    # listed as new (best first), never as risers from 0.
    assert {name[pk] for pk in week.new} == {a.author_id for a in (MID, NOFOLLOW, QUIET, NEWBIE)}
    assert [week.scores[pk] for pk in week.new] == sorted((week.scores[pk] for pk in week.new), reverse=True)
    # The three ranked both times moved by less than RISING_MIN_DELTA (BIG 76.7 -> 81.0, FAKE
    # 35.8 -> 39.6, TURNCOAT down): no risers here; test_cli_rank_json_shape covers one.
    assert {name[pk] for pk in week.previous} == {a.author_id for a in (BIG, FAKE, TURNCOAT)}
    assert all(abs(week.scores[pk] - week.previous[pk]) < report.RISING_MIN_DELTA for pk in week.previous)
    assert week.rising == ()
    # TURNCOAT's brand posts: 0.9 the week before (3 posts), 0.1 this week (6 posts).
    [turn] = week.turned_negative
    assert name[turn.author_pk] == TURNCOAT.author_id
    assert (turn.earlier.mean, turn.earlier.posts) == (pytest.approx(0.9), 3)
    assert (turn.recent.mean, turn.recent.posts) == (pytest.approx(0.1), 6)
    # Over the last hour nothing changed: the ranking an hour before is the same pool.
    assert hours.baseline_at == NOW - timedelta(hours=1) and hours.new == () and hours.turned_negative == ()


def test_the_board_as_of_a_moment_shows_the_ranking_stored_by_then(world: World) -> None:
    _hourly(world)
    with world.db.read() as session:
        then = queries.kol_board(session, watch_id=world.watch_id, now=NOW - timedelta(minutes=90))
        [at_then] = [
            r for r in kol_queries.latest_rankings(session, watch_id=world.watch_id, count=4)
            if r.computed_at == NOW - timedelta(hours=2)
        ]  # fmt: skip
    assert then.computed_at == NOW - timedelta(hours=2)
    assert [e.author_id for e in then.top] == [s.author_id for s in at_then.scores[:10]]
    # The week-old ranking is still the nearest to a week before that moment.
    assert then.previous_computed_at == WEEK_AGO


def test_store_scores_rejects_unknown_authors_and_non_finite_values(world: World) -> None:
    ghost = KolScore(WB, "nobody", "x", None, UNKNOWN_TIER, "unknown", 1.0, 1.0, (), {}, {}, "t")
    with world.db.write() as session, pytest.raises(ValueError, match="no author row"):
        kol_queries.store_scores(
            session, watch_id=world.watch_id, computed_at=NOW, window_days=30, scores=[ghost], author_pks={}
        )
    with world.db.read() as session:
        pk = kol_queries.kol_inputs(session, watch_id=world.watch_id, now=NOW, window_days=30).author_pks[
            (WB, BIG.author_id)
        ]
    odd = replace(
        ghost, author_id=BIG.author_id, raw={"growth_per_week": float("nan"), "coverage": float("inf")}
    )
    with world.db.write() as session:
        kol_queries.store_scores(
            session,
            watch_id=world.watch_id,
            computed_at=NOW,
            window_days=30,
            scores=[odd],
            author_pks={(WB, BIG.author_id): pk},
        )
    with world.db.read() as session:
        [back] = kol_queries.ranking_at(session, watch_id=world.watch_id, computed_at=NOW).scores
    assert back.raw == {}


# --------------------------------------------------------------------------- the job


def _settings(db: Database, tmp_path: Path, scoring: str = "") -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "{db.url}"\n{scoring}', encoding="utf-8")
    return path


def test_job_scores_every_active_watch_once_per_period(world: World, tmp_path: Path) -> None:
    settings = load_settings(_settings(world.db, tmp_path), environ={})
    written = run_kol_scoring(world.db, settings, now=NOW)
    assert written == 7  # the empty watch has nobody to rank
    assert run_kol_scoring(world.db, settings, now=NOW + timedelta(minutes=30)) == 0  # same hour
    assert run_kol_scoring(world.db, settings, now=NOW + timedelta(hours=1)) == 7
    with world.db.read() as session:
        rows = session.exec(
            select(KolScoreRow.computed_at).where(KolScoreRow.watch_id == world.watch_id)
        ).all()
    assert len(rows) == 14
    assert period_key(NOW, 3600) == period_key(NOW + timedelta(minutes=59), 3600)
    with pytest.raises(ValueError):
        period_key(NOW.replace(tzinfo=None), 3600)


def test_a_lost_race_stores_nothing(world: World) -> None:
    with world.db.write() as session:
        assert kol_queries.claim_run(session, watch_id=world.watch_id, period_key="p1", now=NOW)
    result = score_watch(world.db, world.watch_id, CFG, now=NOW, period="p1")
    assert (result.stored, result.rows, result.ranking) == (False, 0, None)
    with world.db.write() as session:
        assert not kol_queries.claim_run(session, watch_id=world.watch_id, period_key="p1", now=NOW)
        assert kol_queries.claim_run(session, watch_id=world.watch_id, period_key="p2", now=NOW)


def test_scoring_settings_are_validated_with_the_key_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scoring]\nwindow_days = 0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"scoring\.window_days"):
        load_settings(bad, environ={})
    bad.write_text("[scoring.prior_weights]\nfame = 1.0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"scoring\.prior_weights: unknown indicator"):
        load_settings(bad, environ={})
    good = tmp_path / "good.toml"
    good.write_text("[scoring]\nwindow_days = 14\n", encoding="utf-8")
    assert scoring_settings(load_settings(good, environ={})).window_days == 14
    assert load_settings(good, environ={"KOLWATCH__SCORING__WINDOW_DAYS": "7"}).scoring["window_days"] == 7
    with pytest.raises(SettingsError, match=r"scoring\.tiers"):
        scoring_settings(Settings(scoring={"tiers": {"weibo": []}}))
    with pytest.raises(SettingsError, match=r"scoring\.negative_below: .*no longer a setting"):
        scoring_settings(Settings(scoring={"negative_below": 0.3}))


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli_world(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, Path]]:
    command.stamp(alembic_config(world.db.url), "head")  # tables came from create_all
    for name in list(os.environ):
        if name.startswith("KOLWATCH"):
            monkeypatch.delenv(name)
    yield world, _settings(world.db, tmp_path)


REQUIRED = {
    "platform",
    "author_id",
    "name",
    "followers",
    "tier",
    "score",
    "authenticity",
    "reasons",
    "components",
}


def test_cli_rank_json_shape(cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]) -> None:
    world, path = cli_world
    _hourly(world)
    # BIG 20 points lower a week ago: a riser, shown with the week-old score.
    with world.db.write() as s:
        big_pk = s.exec(select(AuthorRow.id).where(AuthorRow.author_id == BIG.author_id)).one()
        week_old = (KolScoreRow.author_pk == big_pk, KolScoreRow.computed_at == WEEK_AGO)
        s.exec(update(KolScoreRow).where(*week_old).values(score=KolScoreRow.score - 20))
        big_then = s.exec(select(KolScoreRow.score).where(*week_old)).one()
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸", "--top", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [watch] = doc["watches"]
    [riser] = watch["rising"]
    assert riser["author_id"] == BIG.author_id and riser["previous_score"] == pytest.approx(big_then)
    assert riser["score_delta"] == pytest.approx(riser["score"] - big_then, abs=1e-3)
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸"]) == 0
    assert f"↑ {BIG.name}: {big_then:.1f} → {riser['score']:.1f}" in capsys.readouterr().out
    assert watch["watch"] == "瑞幸" and watch["workspace"] == "acme" and watch["ranked"] == 7
    # Compared with the week-old ranking (default --period 7d), not with the run an hour before.
    assert watch["computed_at"] == NOW.isoformat() and watch["previous_computed_at"] == WEEK_AGO.isoformat()
    assert watch["period_hours"] == 168
    assert len(watch["authors"]) == 3 and [a["rank"] for a in watch["authors"]] == [1, 2, 3]
    for author in watch["authors"]:
        assert set(author) >= REQUIRED
        assert isinstance(author["reasons"], list) and isinstance(author["components"], dict)
        assert all(isinstance(v, float) for v in author["components"].values())
    scores = [a["score"] for a in watch["authors"]]
    assert scores == sorted(scores, reverse=True)
    [turn] = watch["turned_negative"]
    assert turn["author_id"] == TURNCOAT.author_id
    assert (turn["previous_sentiment"], turn["previous_posts"]) == (pytest.approx(0.9), 3)
    assert (turn["sentiment"], turn["posts"]) == (pytest.approx(0.1), 6)
    new = {c["author_id"]: c for c in watch["new"]}
    assert NEWBIE.author_id in new and new[NEWBIE.author_id]["previous_score"] is None
    assert not {c["author_id"] for c in watch["rising"]} & set(new)


def test_cli_changes_need_a_ranking_a_period_old_but_turns_do_not(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world, path = cli_world
    _hourly(world, HOURLY[1:])  # only the last hours: nothing to say who rose over a week
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸"]) == 0
    out = capsys.readouterr().out
    assert "over 7d: no stored ranking from about 7d before to compare with" in out
    assert "+ new" not in out and "↑" not in out
    assert "turned negative about the brand (brand posts, last 7d vs the 7d before)" in out
    assert f"↓ {TURNCOAT.name}: sentiment 0.90 (3 posts) → 0.10 (6 posts)" in out
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸", "--period", "2h", "--json"]) == 0
    [watch] = json.loads(capsys.readouterr().out)["watches"]
    # Over 2 hours: the ranking 2 hours before, the same pool: nobody new.
    assert watch["previous_computed_at"] == (NOW - timedelta(hours=2)).isoformat() and watch["new"] == []


def test_cli_rank_table_and_platform_filter(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world, path = cli_world
    score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸"]) == 0
    out = capsys.readouterr().out
    assert "acme/瑞幸" in out and "score" in out and "auth" in out
    assert BIG.name in out and "粉丝数未知" in out and "头部" in out
    # Every component with its weight; NOFOLLOW's unknown reach is shown at the pool median.
    weights = {c: f"{w:.2f}" for c, w in CFG.prior_weights.items()}
    assert "percentile×weight: " in out and f"×{weights['engagement']}" in out
    assert "reach 50(missing)×" in out
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸", "--platform", "bilibili"]) == 0
    assert "no scored authors on this platform" in capsys.readouterr().out


def test_cli_rank_computes_when_nothing_is_stored(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = cli_world
    assert main(["--settings", str(path), "kol", "rank", "--watch", "空监测"]) == 0
    captured = capsys.readouterr()
    assert "no stored KOL ranking yet" in captured.err
    assert "no authors with brand mentions" in captured.out


def test_cli_hostile_names_do_not_reach_the_terminal(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world, path = cli_world
    nasty = _author("9100000011", "\x1b[2J坏\x07名字\r\n伪造一行", 2_000)
    _store(world.db, world.watch_id, [(_post(nasty, "evil0", NOW - timedelta(days=1)), 0.5, "")], NOW)
    score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert main(["--settings", str(path), "kol", "rank", "--watch", "瑞幸", "--top", "50"]) == 0
    assert main(["--settings", str(path), "kol", "explain", nasty.author_id]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "坏" in out


def test_cli_explain(cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]) -> None:
    world, path = cli_world
    score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert main(["--settings", str(path), "kol", "explain", FAKE.author_id, "--watch", "瑞幸"]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "真实度" in out and "默认昵称" in out
    assert "BCI-full formula over collected posts, not 清博-comparable" in out
    assert "不可与清博榜单直接比较" in out
    assert main(["--settings", str(path), "kol", "explain", "@城市探店", "--json"]) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert found["author_id"] == MID.author_id and set(found) >= REQUIRED and found["rank"] >= 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["kol", "explain", "没有这个人"], "no ranked author matches"),
        (["kol", "explain", "   "], "give an author id or name"),
        (["kol", "rank", "--watch", "不存在"], "--watch: no active watch named"),
        (["kol", "rank", "--workspace", "nope"], "--workspace: no workspace named"),
        (["kol", "rank", "--platform", "myspace"], "--platform: unknown platform"),
        (["kol", "rank", "--top", "0"], "--top"),
        (["kol", "rank", "--top", "many"], "--top"),
        (["kol", "rank", "--period", "soon"], "--period"),
        (["kol", "rank", "--period", "400d"], "--period"),
        (["kol"], "required"),
    ],
)
def test_cli_user_errors_are_one_line(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    world, path = cli_world
    score_watch(world.db, world.watch_id, CFG, now=NOW)
    assert main(["--settings", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "Traceback" not in err


def test_cli_bad_scoring_settings_exit_2(
    cli_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = cli_world
    path.write_text(path.read_text(encoding="utf-8") + "[scoring]\nentropy_blend = 2\n", encoding="utf-8")
    assert main(["--settings", str(path), "kol", "rank"]) == 2
    err = capsys.readouterr().err.strip()
    assert "scoring.entropy_blend" in err and "\n" not in err


def test_institution_accounts_are_not_ranked_unless_asked(world: World) -> None:
    # A blue-V (Weibo verified_type 1-7) account: the brand's own, a competitor's, a media outlet.
    with world.db.write() as s:
        s.exec(update(AuthorRow).where(AuthorRow.author_id == MID.author_id).values(verified_type="2"))
    ranked = _by_id(score_watch(world.db, world.watch_id, CFG, now=NOW).ranking.scores)  # type: ignore[union-attr]
    assert MID.author_id not in ranked and BIG.author_id in ranked
    with_orgs = CFG.model_copy(update={"include_organisations": True})
    later = NOW + timedelta(minutes=1)
    ranked = _by_id(score_watch(world.db, world.watch_id, with_orgs, now=later).ranking.scores)  # type: ignore[union-attr]
    assert MID.author_id in ranked
