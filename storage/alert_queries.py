"""Read queries of the alert job (kolwatch.jobs.run_alert_rules) beyond storage.repos.

What the detectors and rules need from the database besides the counters: the per-post facts of
a watch's mentions in a time range (for emerging-term authors, KOL involvement, the top posts an
alert shows and the 水军 assessment), the first bucket a watch has counters for (where a new
watch's detectors start), and hot-list entries captured in a time range. Like repos, functions take
a Session first, never commit, and run the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from collectors.base import HotEntry
from storage.models import AlertRow, AuthorRow, CounterRow, HotEntryRow, MentionRow, PostRow, WatchRow
from storage.repos import as_utc, engagement


@dataclass(frozen=True, slots=True)
class MentionFact:
    """One brand (non-competitor) mention of a watch with its post and author facts."""

    post_pk: int
    created_at: datetime
    platform: str
    post_id: str
    url: str
    text: str
    label: str
    keywords: tuple[str, ...]
    engagement: float
    cluster: int  # near-duplicate cluster: the first post of the text shape (its own pk if new)
    author_pk: int
    author_id: str
    author_name: str
    followers: int | None
    posts_count: int | None
    verified_type: str | None = None  # the platform's verification type (organisation or person)


def _brand_mentions(watch_id: int, start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """A watch's brand mentions (competitors excluded, as in the counters) in [start, end).

    `competitor == ""` rather than `is_competitor` (the same rows): it is how the counters select
    them, and ix_mention_subject_created serves it."""

    return (
        MentionRow.watch_id == watch_id,
        MentionRow.competitor == "",
        MentionRow.created_at >= start,
        MentionRow.created_at < end,
    )


def mention_authors(
    session: Session, *, watch_id: int, start: datetime, end: datetime
) -> list[tuple[str, int | None, int | None]]:
    """(name, followers, posts count) of the author of each brand mention in [start, end): what
    the 水军 baseline needs, without the posts' text and keywords `mention_facts` reads."""

    # The mention's own copy of its post's author: no post row is read.
    rows = session.exec(
        select(AuthorRow.name, AuthorRow.followers, AuthorRow.posts_count)
        .join(MentionRow, col(MentionRow.author_pk) == col(AuthorRow.id))
        .where(*_brand_mentions(watch_id, start, end))
    ).all()
    return [(name or "", followers, posts_count) for name, followers, posts_count in rows]


def mention_facts(session: Session, *, watch_id: int, start: datetime, end: datetime) -> list[MentionFact]:
    """Brand mentions of a watch created in [start, end), oldest first (competitors excluded,
    as in the counters)."""

    rows = session.exec(
        select(
            PostRow.id,
            MentionRow.created_at,
            PostRow.platform,
            PostRow.post_id,
            PostRow.url,
            PostRow.text,
            PostRow.label,
            PostRow.keywords,
            PostRow.likes,
            PostRow.comments,
            PostRow.reposts,
            PostRow.dup_of,
            AuthorRow.id,
            AuthorRow.author_id,
            AuthorRow.name,
            AuthorRow.followers,
            AuthorRow.posts_count,
            AuthorRow.verified_type,
        )
        .join(MentionRow, col(MentionRow.post_pk) == col(PostRow.id))
        .join(AuthorRow, col(AuthorRow.id) == col(PostRow.author_pk))
        .where(*_brand_mentions(watch_id, start, end))
        .order_by(MentionRow.created_at, PostRow.id)
    ).all()
    return [
        MentionFact(
            post_pk=r[0],
            created_at=as_utc(r[1]),
            platform=r[2],
            post_id=r[3],
            url=r[4] or "",
            text=r[5] or "",
            label=r[6],
            keywords=tuple(str(k) for k in (r[7] or ())),
            engagement=engagement(r[8], r[9], r[10]),
            cluster=r[11] or r[0],
            author_pk=r[12],
            author_id=r[13],
            author_name=r[14] or "",
            followers=r[15],
            posts_count=r[16],
            verified_type=r[17],
        )
        for r in rows
    ]


def first_counter_bucket(session: Session, *, watch_id: int, bucket_s: int) -> datetime | None:
    """The oldest stored bucket of a watch at this size, or None when it has none yet."""

    start = (
        session.exec(
            select(func.min(CounterRow.bucket_start)).where(
                CounterRow.watch_id == watch_id, CounterRow.bucket_s == bucket_s
            )
        )
        .scalars()
        .first()
    )
    return as_utc(start) if start is not None else None


def hot_entries_between(
    session: Session, *, after: datetime, until: datetime, platforms: Sequence[str] | None = None
) -> list[HotEntry]:
    """Hot-list entries captured in (after, until], oldest capture first, by rank within one."""

    stmt = select(HotEntryRow).where(HotEntryRow.captured_at > after, HotEntryRow.captured_at <= until)
    if platforms is not None:
        stmt = stmt.where(col(HotEntryRow.platform).in_(list(platforms)))
    rows = session.exec(
        stmt.order_by(HotEntryRow.captured_at, HotEntryRow.platform, HotEntryRow.rank)
    ).scalars()
    return [
        HotEntry(
            platform=r.platform,
            board=r.board,
            rank=r.rank,
            title=r.title,
            heat=r.heat,
            url=r.url,
            captured_at=as_utc(r.captured_at),
            category=r.category,
            is_ad=r.is_ad,
            pinned=r.pinned,
        )
        for r in rows
    ]


def alerts_after(session: Session, *, after_id: int) -> list[tuple[AlertRow, str | None]]:
    """Alerts stored after id `after_id` with their watch's name, in id order (replay output)."""

    rows = session.exec(
        select(AlertRow, WatchRow.name)
        .join(WatchRow, col(WatchRow.id) == col(AlertRow.watch_id), isouter=True)
        .where(col(AlertRow.id) > after_id)
        .order_by(AlertRow.id)
    ).all()
    return [(a, name) for a, name in rows]
