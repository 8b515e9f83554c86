"""Raw indicators of one author, by hand, including missing and impossible data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.base import Author
from scoring.indicators import compute, growth_per_week
from scoring.types import AuthorWindow, FollowerSnapshot, PostFacts

NOW = datetime(2025, 1, 31, tzinfo=UTC)


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
    ind = run(AuthorWindow(Author("weibo", "a", "a", followers=1000), posts))
    assert ind.engagement_rate == pytest.approx(0.03)  # median of 0.10, 0.01, 0.03
    assert ind.views_per_post == pytest.approx(2000)
    assert ind.reposts_per_post == pytest.approx(10 / 3)  # 3 posts with a known count
    assert ind.comments_per_post == pytest.approx(15 / 3)
    assert ind.comment_like_ratio == pytest.approx(15 / 115)
    assert ind.posts_per_week == pytest.approx(4 / 4)  # 4 posts in 28 days
    assert ind.relevance == pytest.approx(2 / 3)  # of the 3 posts with a known flag
    assert ind.sentiment == pytest.approx((0.9 + 0.3) / 2)  # post 2 is not about the brand
    assert ind.sentiment_posts == 2


def test_relevance_uses_the_timeline_count_when_known() -> None:
    posts = (p("1", 1, mentions_watch=True), p("2", 2, mentions_watch=True))
    ind = run(AuthorWindow(Author("weibo", "a", "a", followers=10), posts, posts_in_window=8))
    assert ind.relevance == pytest.approx(2 / 8)
    assert ind.posts_per_week == pytest.approx(8 / 4)


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
