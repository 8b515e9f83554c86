"""Raw indicators of one author, by hand, including missing and impossible data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.base import Author
from scoring.indicators import compute, growth_per_week
from scoring.types import AuthorWindow, FollowerSnapshot, PostFacts, TimelineSpan

NOW = datetime(2025, 1, 31, tzinfo=UTC)
FOLLOWED = TimelineSpan(NOW - timedelta(days=90), NOW)  # a user source collected everything


def p(pid: str, days: float, likes: int | None = 0, reposts: int | None = 0, comments: int | None = 0,
      **kw: object) -> PostFacts:  # fmt: skip
    return PostFacts(pid, NOW - timedelta(days=days), likes, reposts, comments, **kw)  # type: ignore[arg-type]


def run(window: AuthorWindow, **kw: int):
    args = {"window_days": 28, "max_posts": 30, "activity_cap_per_week": 21.0} | kw
    return compute(window, now=NOW, **args)  # type: ignore[arg-type]


def test_hand_computed_indicators() -> None:
    posts = (
        p("1", 1, 80, 10, 10, views=1000, mentions_watch=True, sentiment=0.9),  # ER 100/1000 = 0.10
        p("2", 2, 5, 0, 5, mentions_watch=False, sentiment=0.1),  # ER 0.01 (not about the brand)
        p("3", 3, 30, 0, 0, views=3000, mentions_watch=True, sentiment=0.3),  # ER 0.03
        p("4", 4, None, None, None, mentions_watch=None),  # no counts at all
    )
    ind = run(AuthorWindow(Author("weibo", "a", "a", followers=1000), posts, timeline=FOLLOWED))
    assert ind.engagement_rate == pytest.approx(0.03)  # median of 0.10, 0.01, 0.03
    assert ind.views_per_post == pytest.approx(2000)
    assert ind.reposts_per_post == pytest.approx(10 / 3)  # 3 posts with a known count
    assert ind.comments_per_post == pytest.approx(15 / 3)
    assert ind.comment_like_ratio == pytest.approx(15 / 115)
    assert ind.posts_per_week == pytest.approx(4 / 4)  # 4 posts in 28 days
    assert ind.relevance == pytest.approx(2 / 3)  # of the 3 posts with a known flag
    assert ind.sentiment == pytest.approx((0.9 + 0.3) / 2)  # post 2 is not about the brand
    assert ind.sentiment_posts == 2


def test_relevance_needs_the_timeline_and_counts_only_its_span() -> None:
    posts = (
        p("1", 1, mentions_watch=True),
        p("2", 2, mentions_watch=False),
        p("3", 3, mentions_watch=False),
        p("4", 10, mentions_watch=True),  # before the user source started: a search hit
        p("5", 12, mentions_watch=True),
    )
    author = Author("weibo", "a", "a", followers=10)
    # Only search hits: all about the brand by construction, the author's total output unknown.
    searched = run(AuthorWindow(author, (posts[3], posts[4])))
    assert searched.relevance is None and searched.relevance_note is not None
    assert "总发帖数未知" in searched.relevance_note
    # Timeline collected from 5 days ago: relevance over posts 1-3 only.
    followed = run(AuthorWindow(author, posts, timeline=TimelineSpan(NOW - timedelta(days=5), NOW)))
    assert followed.relevance == pytest.approx(1 / 3) and followed.relevance_note is None
    assert followed.posts_per_week == pytest.approx(5 / 4)  # activity still counts every post
    # A timeline that stopped (source failing) before the recent posts covers none of them.
    stale = run(
        AuthorWindow(
            author,
            posts[:3],
            timeline=TimelineSpan(NOW - timedelta(days=40), NOW - timedelta(days=20)),
        )
    )
    assert stale.relevance is None and stale.relevance_note == "时间线采集期内无帖子"


def test_activity_is_capped_and_posts_limited() -> None:
    posts = tuple(p(str(i), 0.1 + i * 0.01) for i in range(200))
    ind = run(
        AuthorWindow(Author("weibo", "a", "a", followers=10), posts), max_posts=30, activity_cap_per_week=21
    )
    assert ind.posts_per_week == 21.0
    assert len(ind.posts_used) == 30 and ind.posts_used[0].post_id == "0"  # newest first


def test_followers_fall_back_to_the_latest_snapshot() -> None:
    hist = (FollowerSnapshot(NOW - timedelta(days=3), 900), FollowerSnapshot(NOW - timedelta(days=1), 1000))
    ind = run(AuthorWindow(Author("weibo", "a", "a", followers=None), (p("1", 1, 50),), hist))
    assert ind.followers == 1000
    assert ind.engagement_rate == pytest.approx(0.05)
    assert any("最近快照 1000" in m for m in ind.missing)


def test_zero_followers_and_no_counts_are_explained() -> None:
    ind = run(AuthorWindow(Author("rss", "a", "a", followers=0), (p("1", 1, 5),)))
    assert ind.engagement_rate is None and any("粉丝数为 0" in m for m in ind.missing)
    ind = run(AuthorWindow(Author("rss", "a", "a", followers=50), (p("1", 1, None, None, None),)))
    assert ind.engagement_rate is None and any("无互动计数" in m for m in ind.missing)


def test_growth_per_week_by_hand() -> None:
    # 1000 → 1140 over 14 days: 14% in two weeks → 7% per week
    hist = (FollowerSnapshot(NOW - timedelta(days=14), 1000), FollowerSnapshot(NOW, 1140))
    assert growth_per_week(hist) == pytest.approx(0.07)
    assert growth_per_week(hist[:1]) is None
    assert growth_per_week((FollowerSnapshot(NOW, 5), FollowerSnapshot(NOW + timedelta(hours=3), 9))) is None
    assert growth_per_week((FollowerSnapshot(NOW - timedelta(days=7), 0), FollowerSnapshot(NOW, 10))) == 10.0
