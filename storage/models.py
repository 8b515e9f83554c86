"""SQLModel tables: the only place the database schema is written down (Alembic reads it).

Tables map the frozen domain types of `collectors.base` and `nlp.types`; nothing outside
`storage/` touches them except through `storage.repos`. Every datetime is timezone-aware UTC.
JSON columns hold small structured values (cursor, components, detector state).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
    factory = (lambda: dict(default)) if isinstance(default, dict) else (lambda: list(default or []))
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


class WorkspaceRow(SQLModel, table=True):
    __tablename__ = "workspace"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    timezone: str = "Asia/Shanghai"
    created_at: datetime = Field(default_factory=utcnow)


class WorkspaceChatRow(SQLModel, table=True):
    """A Telegram chat that belongs to a workspace, with its alert preferences."""

    __tablename__ = "workspace_chat"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    # Severity scale of nlp.trends.Level: 1 = 蓝 IV, 2 = 黄 III, 3 = 橙 II, 4 = 红 I (larger is worse).
    min_level: int = 1  # deliver alerts at least this severe
    muted_until: datetime | None = None
    subscribed: bool = True


class WorkspaceAdminRow(SQLModel, table=True):
    __tablename__ = "workspace_admin"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class WatchRow(SQLModel, table=True):
    __tablename__ = "watch"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str
    query: str
    competitors: list[str] = _json([])
    detector_settings: dict[str, Any] = _json({})
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SourceRow(SQLModel, table=True):
    """A thing to collect, its schedule, lease, cursor and health."""

    __tablename__ = "source"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "kind", "target"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    platform: str
    kind: str
    target: str
    options: dict[str, Any] = _json({})
    every_s: int = 600
    enabled: bool = True
    cursor: dict[str, Any] = _json({})
    next_run_at: datetime = Field(default_factory=utcnow, index=True)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    health: str = "new"  # new | ok | network | rate_limited | login_required | blocked | parse_error | gone
    health_message: str = ""
    health_changed_at: datetime | None = None
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error_at: datetime | None = None
    posts_total: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class SourceRunRow(SQLModel, table=True):
    """One collection attempt, for the health table and for debugging a flaky source."""

    __tablename__ = "source_run"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    pages: int = 0
    posts_seen: int = 0
    posts_new: int = 0
    outcome: str = "running"  # ok | <health class> | running
    message: str = ""


class AuthorRow(SQLModel, table=True):
    __tablename__ = "author"
    __table_args__ = (UniqueConstraint("platform", "author_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    author_id: str
    name: str = ""
    url: str = ""
    followers: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    following: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    posts_count: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    verified: bool = False
    verified_type: str | None = None
    description: str = ""
    pseudonymised: bool = False
    first_seen_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class FollowerSnapshotRow(SQLModel, table=True):
    """Follower count over time; at most one row per author per hour (see repos)."""

    __tablename__ = "follower_snapshot"
    __table_args__ = (UniqueConstraint("author_pk", "taken_at"),)

    id: int | None = Field(default=None, primary_key=True)
    author_pk: int = Field(foreign_key="author.id", index=True)
    taken_at: datetime
    followers: int = Field(sa_column=Column(BigInteger, nullable=False))


class PostRow(SQLModel, table=True):
    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("platform", "post_id"),
        Index("ix_post_created_at", "created_at"),
        Index("ix_post_author_created", "author_pk", "created_at"),
        Index("ix_post_parent", "platform", "parent_id"),  # comments and reposts of a post (KOL job)
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    post_id: str
    url: str = ""
    author_pk: int = Field(foreign_key="author.id")
    kind: str = "post"
    title: str = ""
    text: str = ""
    created_at: datetime
    collected_at: datetime = Field(default_factory=utcnow)
    likes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reposts: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    comments: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    views: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    is_repost: bool = False
    parent_id: str | None = None
    lang: str = "und"
    sentiment: float | None = None
    label: str = "unscored"
    keywords: list[str] = _json([])
    hashtags: list[str] = _json([])
    signature: list[int] = _json([])
    # Near-duplicate cluster: the id of the first post seen with this text shape (itself if new).
    dup_of: int | None = None


class MentionRow(SQLModel, table=True):
    """A post that matched a watch.

    `created_at`, `label`, `engagement` and `author_pk` copy the post's values (storage/repos.py
    keeps them in step: counts refreshed on a re-seen post, authors merged by pseudonymisation) so
    that ranking and share-of-voice queries read one index instead of joining every mention of a
    period to its post: at 1M posts that join cost ~480 ms for /sentiment over 90 days.
    """

    __tablename__ = "mention"
    # One row per watch, post and subject: a post naming the brand and a competitor counts for both
    # in share of voice ("" is the brand itself).
    __table_args__ = (
        UniqueConstraint("watch_id", "post_pk", "competitor"),
        Index("ix_mention_watch_created", "watch_id", "created_at"),
        # Covers top posts by label and share of voice per subject without reading the table.
        Index(
            "ix_mention_subject_created",
            "watch_id",
            "competitor",
            "created_at",
            "label",
            "engagement",
            "author_pk",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id")
    post_pk: int = Field(foreign_key="post.id", index=True)
    created_at: datetime
    matched_terms: list[str] = _json([])
    is_competitor: bool = False
    competitor: str = ""
    label: str = "unscored"
    # likes + 2*comments + 3*reposts of the post (missing counts as 0): repos.POST_ENGAGEMENT_SQL.
    engagement: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # Indexed for the foreign key: deleting or merging an author must not scan every mention.
    author_pk: int = Field(foreign_key="author.id", index=True)


class CounterRow(SQLModel, table=True):
    """Per-watch time bucket (5 min or 1 h), recomputed from mentions when a bucket changes."""

    __tablename__ = "counter"
    __table_args__ = (UniqueConstraint("watch_id", "bucket_s", "bucket_start"),)

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    bucket_s: int
    bucket_start: datetime
    volume: int = 0  # mentions after collapsing near-duplicates
    raw_volume: int = 0  # every mention
    unique_authors: int = 0
    engagement: float = 0.0  # likes + 2*comments + 3*reposts, summed
    negative: int = 0
    positive: int = 0
    neutral: int = 0
    scored: int = 0
    terms: dict[str, int] = _json({})


class DetectorStateRow(SQLModel, table=True):
    __tablename__ = "detector_state"
    __table_args__ = (UniqueConstraint("watch_id", "detector", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    detector: str
    key: str = ""
    state: dict[str, Any] = _json({})
    updated_at: datetime = Field(default_factory=utcnow)


class HotEntryRow(SQLModel, table=True):
    __tablename__ = "hot_entry"
    __table_args__ = (UniqueConstraint("platform", "board", "title", "captured_at"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    board: str
    title: str
    rank: int | None = None
    heat: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    url: str = ""
    category: str = ""
    is_ad: bool = False
    pinned: bool = False
    captured_at: datetime = Field(index=True)


class KolScoreRow(SQLModel, table=True):
    __tablename__ = "kol_score"
    __table_args__ = (Index("ix_kol_score_watch_computed", "watch_id", "computed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id")
    author_pk: int = Field(foreign_key="author.id", index=True)
    computed_at: datetime = Field(default_factory=utcnow)
    window_days: int = 30
    score: float
    tier: str
    authenticity: float = 1.0
    components: dict[str, Any] = _json({})
    weights: dict[str, Any] = _json({})
    reasons: list[str] = _json([])
    method_version: str = ""


class AlertRow(SQLModel, table=True):
    """The outbox: an alert is stored, with its deliveries, before anything is sent."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_alert_workspace_created", "workspace_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    watch_id: int | None = Field(default=None, foreign_key="watch.id")
    kind: str  # spike | negative_shift | kol | hotlist | emerging_term | source_health | digest
    level: int = 1  # severity: 1 = 蓝 IV, 2 = 黄 III, 3 = 橙 II, 4 = 红 I (nlp.trends.Level)
    key: str  # dedup key of this incident at this level
    incident: str = ""  # the incident the key belongs to (escalations share it)
    title: str
    body: str = ""
    post_urls: list[str] = _json([])
    post_ids: list[int] = _json([])
    details: dict[str, Any] = _json({})
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryRow(SQLModel, table=True):
    """One alert to one channel target; the outbox sender claims pending rows with a lease."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "target"),
        Index("ix_delivery_pending", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    channel: str
    target: str
    status: str = "pending"  # pending | sent | failed (gave up)
    attempts: int = 0
    parts_sent: int = 0  # a long alert is several messages; a retry resumes after the sent ones
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None


class SentimentFeedbackRow(SQLModel, table=True):
    """A user's correction of a post's sentiment: training data for the next retrain.

    The corrected text is kept on the row, so the team's labelled data outlives the post: retention
    purges posts (and their authors), and then `post_pk` becomes NULL while text and label stay.
    """

    __tablename__ = "sentiment_feedback"
    __table_args__ = (UniqueConstraint("post_pk", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    post_pk: int | None = Field(default=None, foreign_key="post.id", index=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    label: str
    text: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class IgnoredAuthorRow(SQLModel, table=True):
    __tablename__ = "ignored_author"
    __table_args__ = (UniqueConstraint("workspace_id", "author_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    author_pk: int = Field(foreign_key="author.id")
    created_at: datetime = Field(default_factory=utcnow)


class JobRunRow(SQLModel, table=True):
    """Singleton periodic jobs (digests, KOL scoring): one row per job and period, so two
    processes never send the same digest twice."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period_key"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str
    period_key: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    outcome: str = "running"
