"""The scoring package's domain values: what one ranking reads (inputs) and what it returns (KolScore).

Inputs are plain frozen dataclasses that the composition root fills from the database with a few
queries; nothing here knows about tables. Counts are None when the platform did not tell us, never
a silent 0: the indicators treat "unknown" and "zero" differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from collectors.base import Author

# The component names a ranking can weigh. `sentiment` is reported but never weighed: a critic can
# be as influential as a fan, and the bot's "turned negative" view reads it separately.
REACH = "reach"
ENGAGEMENT = "engagement"
AMPLIFICATION = "amplification"
CONVERSATION = "conversation"
ACTIVITY = "activity"
RELEVANCE = "relevance"
GROWTH = "growth"
SENTIMENT = "sentiment"
WEIGHTABLE: tuple[str, ...] = (REACH, ENGAGEMENT, AMPLIFICATION, CONVERSATION, ACTIVITY, RELEVANCE, GROWTH)

UNKNOWN_TIER = "未知"


@dataclass(frozen=True, slots=True)
class PostFacts:
    """One post of the author inside the window, reduced to what scoring reads.

    `mentions_watch` is None when the caller does not know (e.g. only matched posts were loaded);
    `sentiment` runs 0 (negative) .. 1 (positive), None when unscored.
    """

    post_id: str
    created_at: datetime
    likes: int | None = None
    reposts: int | None = None
    comments: int | None = None
    views: int | None = None
    is_repost: bool = False
    mentions_watch: bool | None = None
    sentiment: float | None = None


@dataclass(frozen=True, slots=True)
class CommentFacts:
    """One comment from the sample collected under the author's posts.

    `commenter_posts` / `commenter_has_avatar` are None when the platform did not say.
    """

    commenter_name: str
    text: str
    commenter_posts: int | None = None
    commenter_has_avatar: bool | None = None


@dataclass(frozen=True, slots=True)
class FollowerSnapshot:
    """Followers of the author as seen at one moment (one row of the snapshot table)."""

    at: datetime
    followers: int


@dataclass(frozen=True, slots=True)
class TimelineSpan:
    """The author's whole timeline was collected over `(since, until]` (a user source that ran)."""

    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class AuthorWindow:
    """Everything known about one author for one watch over the rolling window.

    `posts` are the author's posts in the window (any order). `timeline` is set when every post
    of the author was collected over a span (a user/account source follows them); relevance, the
    share of their posts that mention the watch, is then computed over that span. Without it we
    hold only the posts other sources found (search hits for the brand, mostly), the author's
    total output is unknown and so is relevance. `comments` is the comment sample used by the
    authenticity checks.
    """

    author: Author
    posts: tuple[PostFacts, ...] = ()
    follower_history: tuple[FollowerSnapshot, ...] = ()
    comments: tuple[CommentFacts, ...] = ()
    timeline: TimelineSpan | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.author.platform, self.author.author_id)


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """`source` reposted or @mentioned content of `target` `weight` times in the window.

    Keys are (platform, author_id); either end may be outside the ranked pool.
    """

    source: tuple[str, str]
    target: tuple[str, str]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class KolScore:
    """One ranked author.

    `score` is 0..100 = 100 × authenticity × Σ weight·percentile over the components that could be
    computed (weights renormalised over those; `reasons` names the missing ones). `components`
    holds percentiles in [0, 1]; `raw` the unnormalised indicator values; `weights` the blended
    weights actually used for this author's platform; `flags` machine codes of triggered
    authenticity signals (the human-readable text is in `reasons`).
    """

    platform: str
    author_id: str
    name: str
    followers: int | None
    tier: str
    tier_intl: str
    score: float
    authenticity: float
    reasons: tuple[str, ...]
    components: dict[str, float]
    weights: dict[str, float]
    method_version: str
    raw: dict[str, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    index_name: str | None = None
    index_value: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.author_id)
