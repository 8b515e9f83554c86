"""Per-author raw indicators over the rolling window, with an explicit note for every missing one.

Reads one `AuthorWindow` and returns `Indicators`: counts and rates before any pool normalisation.
Definitions (research note §2.1, §7a.3):
- engagement rate = median over the last N posts of (reposts + comments + likes) / followers; the
  median resists one viral post. Counts a platform never reports (None) are left out of the sum,
  consistently for the whole platform, and percentiles are taken within platform.
- reposts / comments / views per post = means over the posts where the count is known.
- comment:like ratio = Σ comments / Σ likes over posts where both are known and likes > 0.
- activity = posts per week in the window, capped.
- relevance = posts mentioning the watch / posts with a known flag, over the part of the window
  where the author's whole timeline was collected (`AuthorWindow.timeline`); unknown without a
  timeline, because posts found by a brand search are all about the brand (relevance ≈ 1 would
  only restate how they were found).
- sentiment = mean sentiment (0..1) of the author's posts about the watch.
- growth = relative follower change per week between the first and last snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from scoring.types import AuthorWindow, FollowerSnapshot, PostFacts

_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Indicators:
    """Raw indicator values; None means unknown (the reason is in `missing`)."""

    followers: int | None
    posts_used: tuple[PostFacts, ...]  # the last N posts in the window, newest first
    window_posts: tuple[PostFacts, ...]  # every post in the window (cleaned), newest first
    posts_in_window: int
    views_per_post: float | None
    engagement_rate: float | None
    reposts_per_post: float | None
    comments_per_post: float | None
    comment_like_ratio: float | None
    likes_total: int | None
    comments_total: int | None
    posts_per_week: float
    relevance: float | None
    relevance_note: str | None  # why relevance is None
    sentiment: float | None
    sentiment_posts: int
    growth_per_week: float | None
    missing: tuple[str, ...]
    malformed: int  # counts or sentiments we had to discard as impossible (negative, NaN)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}")


def _count(value: int | None) -> tuple[int | None, bool]:
    """A usable count, and whether the raw value was impossible (negative or not an int)."""

    if value is None:
        return None, False
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None, True
    return value, False


def _clean(post: PostFacts) -> tuple[PostFacts, int]:
    bad = 0
    fields: dict[str, int | None] = {}
    for name in ("likes", "reposts", "comments", "views"):
        value, impossible = _count(getattr(post, name))
        fields[name] = value
        bad += impossible
    sentiment = post.sentiment
    if sentiment is not None and not (isinstance(sentiment, int | float) and 0.0 <= sentiment <= 1.0):
        sentiment, bad = None, bad + 1
    if bad == 0:
        return post, 0
    return (
        PostFacts(
            post_id=post.post_id,
            created_at=post.created_at,
            likes=fields["likes"],
            reposts=fields["reposts"],
            comments=fields["comments"],
            views=fields["views"],
            is_repost=post.is_repost,
            mentions_watch=post.mentions_watch,
            sentiment=sentiment,
        ),
        bad,
    )


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def follower_count(window: AuthorWindow) -> tuple[int | None, str | None]:
    """Followers from the profile, else from the latest snapshot (with a note), else None."""

    followers, impossible = _count(window.author.followers)
    if followers is not None:
        return followers, None
    snapshots = valid_snapshots(window.follower_history)
    if snapshots:
        latest = snapshots[-1]
        return latest.followers, f"资料无粉丝数，取最近快照 {latest.followers}"
    return None, "粉丝数异常" if impossible else None


def valid_snapshots(history: tuple[FollowerSnapshot, ...]) -> list[FollowerSnapshot]:
    """Snapshots with a possible follower count, oldest first."""

    return sorted((s for s in history if _count(s.followers)[0] is not None), key=lambda s: s.at)


def growth_per_week(history: tuple[FollowerSnapshot, ...]) -> float | None:
    """Relative follower change per 7 days between first and last snapshot; None if < 1 day apart."""

    usable = valid_snapshots(history)
    if len(usable) < 2:
        return None
    first, last = usable[0], usable[-1]
    days = (last.at - first.at).total_seconds() / _DAY_S
    if days < 1.0:
        return None
    return (last.followers - first.followers) / max(first.followers, 1) * 7.0 / days


def _relevance(
    window: AuthorWindow, in_window: list[PostFacts], start: datetime, now: datetime
) -> tuple[float | None, str | None]:
    """Share of the author's posts that mention the watch, over the span where their timeline was
    collected; or None and why."""

    span = window.timeline
    if span is None:
        return None, "仅有搜索等来源采到的帖子，作者总发帖数未知"
    _require_aware(span.since, "timeline.since")
    _require_aware(span.until, "timeline.until")
    low, high = max(start, span.since), min(now, span.until)
    covered = [p for p in in_window if low < p.created_at <= high]
    if not covered:
        return None, "时间线采集期内无帖子"
    flagged = [p for p in covered if p.mentions_watch is not None]
    if not flagged:
        return None, "帖子未标注是否提及品牌"
    return sum(1 for p in flagged if p.mentions_watch) / len(flagged), None


def compute(
    window: AuthorWindow,
    *,
    now: datetime,
    window_days: int,
    max_posts: int,
    activity_cap_per_week: float,
) -> Indicators:
    """All raw indicators of one author; never raises on missing or impossible counts."""

    _require_aware(now, "now")
    start = now - timedelta(days=window_days)
    missing: list[str] = []
    malformed = 0
    in_window: list[PostFacts] = []
    seen: set[str] = set()
    for raw in window.posts:
        _require_aware(raw.created_at, f"post {raw.post_id!r} created_at")
        if raw.post_id in seen or not start < raw.created_at <= now:
            continue
        seen.add(raw.post_id)
        post, bad = _clean(raw)
        malformed += bad
        in_window.append(post)
    in_window.sort(key=lambda p: p.created_at, reverse=True)
    used = tuple(in_window[:max_posts])

    followers, follower_note = follower_count(window)
    if follower_note:
        missing.append(follower_note)
    views = [p.views for p in used if p.views is not None]
    views_per_post = _mean(views)
    # Reach rests on followers and views per post: say which of the two it uses, and say nothing
    # about reach when both are unknown (the ranking then notes how the missing reach is scored).
    if followers is None:
        if views_per_post is not None:
            missing.append("粉丝数未知：覆盖只看播放量，互动率与层级缺失")
        else:
            missing.append("粉丝数未知：互动率与层级缺失")
    elif used and views_per_post is None:
        missing.append("平台未提供播放/阅读数：覆盖只看粉丝数")

    engagement_rate: float | None = None
    engaged = [p for p in used if (p.likes, p.reposts, p.comments) != (None, None, None)]
    if not used:
        missing.append("窗口内无帖子：互动、传播、讨论、相关度缺失")
    elif not engaged:
        missing.append("帖子无互动计数：互动率、传播、讨论缺失")
    elif followers is not None and followers > 0:
        engagement_rate = median(
            ((p.likes or 0) + (p.reposts or 0) + (p.comments or 0)) / followers for p in engaged
        )
    elif followers == 0:
        missing.append("粉丝数为 0：互动率无法按粉丝计算")

    reposts_per_post = _mean([p.reposts for p in used if p.reposts is not None])
    comments_per_post = _mean([p.comments for p in used if p.comments is not None])
    both = [p for p in used if p.likes is not None and p.comments is not None]
    likes_total = sum(p.likes or 0 for p in both) if both else None
    comments_total = sum(p.comments or 0 for p in both) if both else None
    comment_like_ratio = comments_total / likes_total if likes_total and comments_total is not None else None

    total_posts = len(in_window)
    posts_per_week = min(total_posts / (window_days / 7.0), activity_cap_per_week)

    relevance, relevance_note = _relevance(window, in_window, start, now)

    about_brand = [
        p.sentiment for p in in_window if p.mentions_watch is not False and p.sentiment is not None
    ]
    sentiment = sum(about_brand) / len(about_brand) if about_brand else None
    if in_window and sentiment is None:
        missing.append("无品牌相关帖子的情感分")

    growth = growth_per_week(window.follower_history)
    if growth is None:
        missing.append("粉丝快照不足（跨度 < 1 天，如新作者）：增长缺失，未检验粉丝跳涨")
    if malformed:
        missing.append(f"丢弃 {malformed} 个异常计数/情感值（负数或越界）")
    return Indicators(
        followers=followers,
        posts_used=used,
        window_posts=tuple(in_window),
        posts_in_window=total_posts,
        views_per_post=views_per_post,
        engagement_rate=engagement_rate,
        reposts_per_post=reposts_per_post,
        comments_per_post=comments_per_post,
        comment_like_ratio=comment_like_ratio,
        likes_total=likes_total,
        comments_total=comments_total,
        posts_per_week=posts_per_week,
        relevance=relevance,
        relevance_note=relevance_note,
        sentiment=sentiment,
        sentiment_posts=len(about_brand),
        growth_per_week=growth,
        missing=tuple(missing),
        malformed=malformed,
    )
