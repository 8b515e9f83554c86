"""KOL scoring's SQL: one watch's ranking inputs (AuthorWindow per author, graph edges), the
stored rankings (`kol_score` rows) and the per-period claim of the hourly KOL job.

Inputs are read with a fixed number of set-based statements whatever the pool size (no query per
author): the pool is every author with a brand mention of the watch in the window
`(now - window_days, now]` (the same half-open window `scoring.indicators` uses), minus authors
the workspace ignores; then their posts in the window, the last follower snapshot of each UTC
day, a sample of comments under their posts, reposts between posts of the watch, and @mentions
in the watch's posts.

What a post says about the watch (`PostFacts.mentions_watch`): True when it has a brand mention
(mention.competitor == ""), False when it was collected after the watch existed and did not
match (posts are matched once, at ingestion), None when it predates the watch (never matched).
Comments (post.kind == "comment") are not the author's posts: they are the comment sample of the
post they answer.

An author's timeline (`AuthorWindow.timeline`, which relevance needs) is known when an enabled
source of the watch's workspace (or a shared one) follows them: a Weibo or Bilibili `user` source
or a Mastodon `account` source whose target is the author id and that has collected at least
once. It spans from the source's creation to its last successful run; posts from before were
found by other sources (searches) and say nothing about the share of the author's output that
is about the brand.

Changes over a period (`kol_changes`, the one implementation behind the bot's /kol, the digests
and `kolwatch kol rank`; the rules are `scoring.report`'s): the stored ranking as of the period
end against the stored ranking nearest to (end - period) within half a period of it; brand
sentiment per author in [end - period, end) against [end - 2·period, end - period), read from
the posts (mention.created_at is the post's time).

Stored rankings: one computation writes all its rows with one `computed_at`. `kol_score` has
columns for the score, tier, authenticity, components, weights and reasons only, so the rest of a
`KolScore` (raw indicator values, flags, international tier, index, followers at scoring time)
rides in `components[DETAIL_KEY]` as a JSON object; readers of `components` that look values up
by weight name (the bot) never see it. Names are not copied there: they come from the author
row, so pseudonymising an author also hides them in old rankings.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, exists, func, insert, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from collectors.base import Author
from scoring import report
from scoring.report import PeriodSentiment
from scoring.types import (
    AuthorWindow,
    CommentFacts,
    FollowerSnapshot,
    GraphEdge,
    KolScore,
    PostFacts,
    TimelineSpan,
)
from storage.models import (
    AuthorRow,
    FollowerSnapshotRow,
    IgnoredAuthorRow,
    JobRunRow,
    KolScoreRow,
    MentionRow,
    PostRow,
    SourceRow,
    WatchRow,
)
from storage.repos import as_utc, claim_job_period

BRAND = ""  # mention.competitor of the brand's own mentions
COMMENT = "comment"
DETAIL_KEY = "_detail"
JOB_PREFIX = "kol:"
_BATCH = 400  # rows per multi-row insert / names per IN list (SQLite's bound-parameter limit)
# Weibo/Bilibili nicknames: letters, digits, CJK, "_" and "-", up to 30 characters; "@name" ends at
# the first other character (space, colon of "//@name:", punctuation).
_AT_NAME = re.compile(r"@([\w\-]{2,30})")
# Source kinds that collect one author's whole timeline, per platform (target = the author id).
TIMELINE_KINDS: dict[str, str] = {"weibo": "user", "bilibili": "user", "mastodon": "account"}

Key = tuple[str, str]


@dataclass(frozen=True)
class KolInputs:
    """Everything `scoring.kol.rank_kols` needs for one watch, plus the author primary keys."""

    watch_id: int
    start: datetime  # exclusive
    end: datetime  # inclusive
    windows: tuple[AuthorWindow, ...]  # ordered by author primary key
    author_pks: dict[Key, int]
    edges: tuple[GraphEdge, ...]  # reposts + @mentions among the watch's posts, weight = count


def _require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return as_utc(moment)


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a stored UTC datetime, on either database."""

    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text


def _brand_mention(watch_id: int, post: Any) -> Any:
    return exists().where(
        MentionRow.post_pk == post.id, MentionRow.watch_id == watch_id, MentionRow.competitor == BRAND
    )


def kol_inputs(
    session: Session,
    *,
    watch_id: int,
    now: datetime,
    window_days: int,
    max_comments: int = 100,
) -> KolInputs:
    """Read one watch's KOL pool over `(now - window_days, now]`; raises LookupError for an
    unknown watch and ValueError for a naive `now` or a non-positive window."""

    end = _require_aware(now, "now")
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    if max_comments < 0:
        raise ValueError(f"max_comments must be >= 0, got {max_comments}")
    start = end - timedelta(days=window_days)
    watch = session.exec(
        select(WatchRow.workspace_id, WatchRow.created_at).where(WatchRow.id == watch_id)
    ).first()
    if watch is None:
        raise LookupError(f"no watch with id {watch_id}")
    workspace_id, watch_created = watch[0], as_utc(watch[1])

    ignored = select(IgnoredAuthorRow.author_pk).where(IgnoredAuthorRow.workspace_id == workspace_id)
    pool = (
        select(PostRow.author_pk)
        .join(MentionRow, col(MentionRow.post_pk) == col(PostRow.id))
        .where(
            MentionRow.watch_id == watch_id,
            MentionRow.competitor == BRAND,
            MentionRow.created_at > start,
            MentionRow.created_at <= end,
            PostRow.kind != COMMENT,
            col(PostRow.author_pk).not_in(ignored),
        )
        .distinct()
    )

    authors: dict[int, Author] = {}
    for r in session.exec(
        select(
            AuthorRow.id,
            AuthorRow.platform,
            AuthorRow.author_id,
            AuthorRow.name,
            AuthorRow.url,
            AuthorRow.followers,
            AuthorRow.verified,
            AuthorRow.verified_type,
            AuthorRow.description,
            AuthorRow.following,
            AuthorRow.posts_count,
        )
        .where(col(AuthorRow.id).in_(pool))
        .order_by(AuthorRow.id)
    ).all():
        authors[r.id] = Author(
            platform=r.platform,
            author_id=r.author_id,
            name=r.name,
            url=r.url,
            followers=r.followers,
            verified=bool(r.verified),
            verified_type=r.verified_type,
            description=r.description,
            following=r.following,
            posts_count=r.posts_count,
        )
    if not authors:
        return KolInputs(watch_id, start, end, (), {}, ())

    posts = _posts(session, watch_id, pool, start, end, watch_created)
    snapshots = _snapshots(session, pool, start, end)
    owners = {(authors[pk].platform, p.post_id): pk for pk, facts in posts.items() for p in facts}
    comments = _comments(session, pool, start, end, max_comments, owners)
    edges = _edges(session, watch_id, start, end)
    timelines = _timelines(session, workspace_id)

    windows = tuple(
        AuthorWindow(
            author=author,
            posts=tuple(posts.get(pk, ())),
            follower_history=tuple(snapshots.get(pk, ())),
            comments=tuple(comments.get(pk, ())),
            timeline=timelines.get(_timeline_key(author.platform, author.author_id)),
        )
        for pk, author in authors.items()
    )
    pks = {(a.platform, a.author_id): pk for pk, a in authors.items()}
    return KolInputs(watch_id, start, end, windows, pks, edges)


def _timeline_key(platform: str, author_id: str) -> Key:
    # Mastodon handles are case-insensitive and often written "@user@host".
    ident = author_id.strip().lstrip("@")
    return (platform, ident.casefold() if platform == "mastodon" else ident)


def _timelines(session: Session, workspace_id: int) -> dict[Key, TimelineSpan]:
    """(platform, author id) -> the span over which a timeline source of the workspace (or a
    shared one) collected that author; a handful of configured sources, matched here."""

    kinds = [and_(SourceRow.platform == p, SourceRow.kind == k) for p, k in TIMELINE_KINDS.items()]
    out: dict[Key, TimelineSpan] = {}
    for platform, target, created_at, last_ok_at in session.exec(
        select(SourceRow.platform, SourceRow.target, SourceRow.created_at, SourceRow.last_ok_at).where(
            col(SourceRow.enabled).is_(True),
            col(SourceRow.last_ok_at).is_not(None),
            or_(SourceRow.workspace_id == workspace_id, col(SourceRow.workspace_id).is_(None)),
            or_(*kinds),
        )
    ).all():
        key = _timeline_key(platform, target)
        span = TimelineSpan(since=as_utc(created_at), until=as_utc(last_ok_at))
        known = out.get(key)
        if known is not None:  # two sources follow the author: the union of what they cover
            span = TimelineSpan(min(known.since, span.since), max(known.until, span.until))
        out[key] = span
    return out


def _posts(
    session: Session, watch_id: int, pool: Any, start: datetime, end: datetime, watch_created: datetime
) -> dict[int, list[PostFacts]]:
    # mention is unique per (watch, post), so the outer join adds at most one row per post.
    mention = aliased(MentionRow)
    rows = session.exec(
        select(
            PostRow.author_pk,
            PostRow.post_id,
            PostRow.created_at,
            PostRow.collected_at,
            PostRow.likes,
            PostRow.reposts,
            PostRow.comments,
            PostRow.views,
            PostRow.is_repost,
            PostRow.sentiment,
            mention.competitor,
        )
        .outerjoin(mention, and_(mention.post_pk == PostRow.id, mention.watch_id == watch_id))
        .where(
            col(PostRow.author_pk).in_(pool),
            PostRow.created_at > start,
            PostRow.created_at <= end,
            PostRow.kind != COMMENT,
        )
    ).all()
    out: dict[int, list[PostFacts]] = defaultdict(list)
    for r in rows:
        if r.competitor == BRAND:
            about: bool | None = True
        elif r.competitor is not None or as_utc(r.collected_at) >= watch_created:
            about = False
        else:
            about = None
        out[r.author_pk].append(
            PostFacts(
                post_id=r.post_id,
                created_at=as_utc(r.created_at),
                likes=r.likes,
                reposts=r.reposts,
                comments=r.comments,
                views=r.views,
                is_repost=bool(r.is_repost),
                mentions_watch=about,
                sentiment=r.sentiment,
            )
        )
    return out


def _snapshots(
    session: Session, pool: Any, start: datetime, end: datetime
) -> dict[int, list[FollowerSnapshot]]:
    # Snapshots are hourly; the authenticity checks read daily deltas, so only the last snapshot
    # of each UTC day is loaded (30 rows per author for 30 days instead of up to 720).
    snap = FollowerSnapshotRow
    day = _utc_day(session, snap.taken_at)
    ranked = (
        select(
            snap.author_pk,
            snap.taken_at,
            snap.followers,
            func.row_number()
            .over(partition_by=(snap.author_pk, day), order_by=col(snap.taken_at).desc())
            .label("rn"),
        )
        .where(col(snap.author_pk).in_(pool), snap.taken_at > start, snap.taken_at <= end)
        .subquery()
    )
    out: dict[int, list[FollowerSnapshot]] = defaultdict(list)
    for author_pk, taken_at, followers in session.exec(
        select(ranked.c.author_pk, ranked.c.taken_at, ranked.c.followers)
        .where(ranked.c.rn == 1)
        .order_by(ranked.c.author_pk, ranked.c.taken_at)
    ).all():
        out[author_pk].append(FollowerSnapshot(at=as_utc(taken_at), followers=followers))
    return out


def _comments(
    session: Session, pool: Any, start: datetime, end: datetime, limit: int, owners: Mapping[Key, int]
) -> dict[int, list[CommentFacts]]:
    """The newest `limit` comments under each author's window posts (`owners`: post key -> author).

    The replies are found by `parent_id IN (the pool's window posts)` and mapped to their owner
    here, not by joining the parent row: without an index on post.parent_id, SQLite's planner
    otherwise loops over every post of the platform once per parent post.
    """

    if limit == 0 or not owners:
        return {}
    parents = select(PostRow.post_id).where(
        col(PostRow.author_pk).in_(pool),
        PostRow.created_at > start,
        PostRow.created_at <= end,
        PostRow.kind != COMMENT,
    )
    reply = aliased(PostRow)
    who = aliased(AuthorRow)
    ranked = (
        select(
            reply.platform.label("platform"),
            reply.parent_id.label("parent_id"),
            reply.created_at.label("created_at"),
            reply.id.label("id"),
            reply.author_pk.label("commenter"),
            who.name.label("name"),
            reply.text.label("text"),
            who.posts_count.label("posts"),
            func.row_number()
            .over(
                partition_by=(reply.platform, reply.parent_id),
                order_by=(reply.created_at.desc(), reply.id.desc()),
            )
            .label("rn"),
        )
        .join(who, who.id == reply.author_pk)
        .where(
            reply.kind == COMMENT,
            reply.parent_id.in_(parents),
            # A pseudonymised commenter's nickname is blank: it cannot be judged default or not.
            who.pseudonymised.is_(False),
        )
        .subquery()
    )
    per_owner: dict[int, list[Any]] = defaultdict(list)
    for r in session.exec(select(ranked).where(ranked.c.rn <= limit)).all():
        owner = owners.get((r.platform, r.parent_id))
        # The author answering under their own post is not audience.
        if owner is not None and owner != r.commenter:
            per_owner[owner].append(r)
    out: dict[int, list[CommentFacts]] = {}
    for owner, rows in per_owner.items():
        rows.sort(key=lambda r: (as_utc(r.created_at), r.id), reverse=True)
        out[owner] = [
            CommentFacts(commenter_name=r.name or "", text=r.text or "", commenter_posts=r.posts)
            for r in rows[:limit]
        ]
    return out


def _edges(session: Session, watch_id: int, start: datetime, end: datetime) -> tuple[GraphEdge, ...]:
    weights: dict[tuple[Key, Key], float] = defaultdict(float)

    # Reposts in the window where the repost or its original is a brand mention of the watch.
    repost = aliased(PostRow)
    original = aliased(PostRow)
    src = aliased(AuthorRow)
    dst = aliased(AuthorRow)
    for sp, sid, dp, did, n in session.exec(
        select(src.platform, src.author_id, dst.platform, dst.author_id, func.count())
        .select_from(repost)
        .join(original, and_(original.platform == repost.platform, original.post_id == repost.parent_id))
        .join(src, src.id == repost.author_pk)
        .join(dst, dst.id == original.author_pk)
        .where(
            repost.is_repost.is_(True),
            repost.created_at > start,
            repost.created_at <= end,
            or_(_brand_mention(watch_id, repost), _brand_mention(watch_id, original)),
        )
        .group_by(src.platform, src.author_id, dst.platform, dst.author_id)
    ).all():
        weights[((sp, sid), (dp, did))] += float(n)

    # @mentions in the watch's brand posts, resolved to stored authors by exact nickname.
    said: dict[tuple[Key, str, str], int] = defaultdict(int)
    for platform, author_id, text in session.exec(
        select(AuthorRow.platform, AuthorRow.author_id, PostRow.text)
        .join(PostRow, col(PostRow.author_pk) == col(AuthorRow.id))
        .join(MentionRow, col(MentionRow.post_pk) == col(PostRow.id))
        .where(
            MentionRow.watch_id == watch_id,
            MentionRow.competitor == BRAND,
            MentionRow.created_at > start,
            MentionRow.created_at <= end,
            col(PostRow.text).contains("@"),
        )
    ).all():
        for name in _AT_NAME.findall(text or ""):
            said[((platform, author_id), platform, name)] += 1
    if said:
        resolved = resolve_names(session, {(platform, name) for _, platform, name in said})
        for (source, platform, name), n in said.items():
            target = resolved.get((platform, name))
            if target is not None:
                weights[(source, target)] += float(n)
    return tuple(GraphEdge(source=s, target=t, weight=w) for (s, t), w in sorted(weights.items()) if s != t)


def resolve_names(session: Session, names: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Key]:
    """(platform, nickname) -> (platform, author_id) for nicknames held by exactly one stored
    author; ambiguous or unknown nicknames are left out rather than guessed."""

    wanted = sorted({(p, n) for p, n in names if n})
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in range(0, len(wanted), _BATCH):
        chunk = wanted[i : i + _BATCH]
        for platform, name, author_id in session.exec(
            select(AuthorRow.platform, AuthorRow.name, AuthorRow.author_id).where(
                tuple_(col(AuthorRow.platform), col(AuthorRow.name)).in_(chunk)
            )
        ).all():
            found[(platform, name)].append(author_id)
    return {key: (key[0], ids[0]) for key, ids in found.items() if len(ids) == 1}


# --------------------------------------------------------------------------- stored rankings


def _finite(value: Any) -> Any:
    """JSON-safe copy: PostgreSQL's JSON rejects NaN and Infinity, so non-finite floats become None."""

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def store_scores(
    session: Session,
    *,
    watch_id: int,
    computed_at: datetime,
    window_days: int,
    scores: Sequence[KolScore],
    author_pks: Mapping[Key, int],
) -> int:
    """Insert one computation's rows (all with `computed_at`); returns the number written.

    Raises ValueError for a score whose author has no primary key in `author_pks` (a caller bug).
    """

    at = _require_aware(computed_at, "computed_at")
    rows: list[dict[str, Any]] = []
    for s in scores:
        pk = author_pks.get(s.key)
        if pk is None:
            raise ValueError(f"no author row for {s.platform}:{s.author_id}")
        detail = {
            "raw": dict(s.raw),
            "flags": list(s.flags),
            "tier_intl": s.tier_intl,
            "followers": s.followers,
            "index": None if s.index_name is None else {"name": s.index_name, "value": s.index_value},
        }
        rows.append(
            {
                "watch_id": watch_id,
                "author_pk": pk,
                "computed_at": at,
                "window_days": window_days,
                "score": float(s.score),
                "tier": s.tier,
                "authenticity": float(s.authenticity),
                "components": _finite({**s.components, DETAIL_KEY: detail}),
                "weights": _finite(dict(s.weights)),
                "reasons": list(s.reasons),
                "method_version": s.method_version,
            }
        )
    for i in range(0, len(rows), _BATCH):
        session.execute(insert(KolScoreRow), rows[i : i + _BATCH])
    return len(rows)


@dataclass(frozen=True)
class StoredRanking:
    """One stored computation of a watch, rebuilt as `KolScore`s (best first)."""

    watch_id: int
    computed_at: datetime
    window_days: int
    scores: tuple[KolScore, ...]
    author_pks: dict[Key, int]


def computations(session: Session, *, watch_id: int, limit: int = 2) -> list[datetime]:
    """The newest `limit` computation times of the watch, newest first."""

    if limit < 1:
        raise ValueError("limit must be >= 1")
    rows = session.exec(
        select(KolScoreRow.computed_at)
        .where(KolScoreRow.watch_id == watch_id)
        .group_by(KolScoreRow.computed_at)
        .order_by(col(KolScoreRow.computed_at).desc())
        .limit(limit)
    ).all()
    return [as_utc(row[0]) for row in rows]


def _as_float_map(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): float(v) for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def ranking_at(session: Session, *, watch_id: int, computed_at: datetime) -> StoredRanking:
    """The computation of the watch at `computed_at` (empty when there is none)."""

    at = _require_aware(computed_at, "computed_at")
    rows = session.exec(
        select(KolScoreRow, AuthorRow)
        .join(AuthorRow, col(AuthorRow.id) == col(KolScoreRow.author_pk))
        .where(KolScoreRow.watch_id == watch_id, KolScoreRow.computed_at == at)
    ).all()
    scores: list[KolScore] = []
    pks: dict[Key, int] = {}
    window_days = 0
    for row, author in rows:
        window_days = row.window_days
        components = dict(row.components or {})
        detail = components.pop(DETAIL_KEY, None)
        detail = detail if isinstance(detail, Mapping) else {}
        index = detail.get("index") if isinstance(detail.get("index"), Mapping) else None
        followers = detail.get("followers", author.followers)
        scores.append(
            KolScore(
                platform=author.platform,
                author_id=author.author_id,
                name=author.name,
                followers=followers if isinstance(followers, int) else None,
                tier=row.tier,
                tier_intl=str(detail.get("tier_intl", "")),
                score=float(row.score),
                authenticity=float(row.authenticity),
                reasons=tuple(str(r) for r in row.reasons or ()),
                components=_as_float_map(components),
                weights=_as_float_map(row.weights),
                method_version=row.method_version,
                raw=_as_float_map(detail.get("raw")),
                flags=tuple(str(f) for f in detail.get("flags") or ()),
                index_name=None if index is None else str(index.get("name")),
                index_value=None if index is None or index.get("value") is None else float(index["value"]),
            )
        )
        pks[(author.platform, author.author_id)] = author.id or 0
    scores.sort(key=lambda s: (-s.score, -(s.followers or 0), s.platform, s.author_id))
    return StoredRanking(watch_id, at, window_days, tuple(scores), pks)


def latest_rankings(session: Session, *, watch_id: int, count: int = 2) -> list[StoredRanking]:
    """The newest `count` computations of the watch, newest first (fewer when fewer exist)."""

    return [
        ranking_at(session, watch_id=watch_id, computed_at=at)
        for at in computations(session, watch_id=watch_id, limit=count)
    ]


# --------------------------------------------------------------------------- changes over a period


@dataclass(frozen=True)
class SentimentShift:
    """A ranked author's brand sentiment in the period and in the period before."""

    author_pk: int
    recent: PeriodSentiment
    earlier: PeriodSentiment


@dataclass(frozen=True)
class KolChanges:
    """What changed in one watch's KOL ranking over a period (rules: `scoring.report`).

    `current_at` is the stored ranking as of `end` (None: nothing stored by then, and every
    other field is empty); `baseline_at` the one compared with (None: none within half a
    period of `end - period`, so nobody is rising or new). Author primary keys throughout.
    """

    watch_id: int
    end: datetime | None  # None only when nothing is stored and no end was asked for
    period: timedelta
    current_at: datetime | None
    baseline_at: datetime | None
    ranked: tuple[int, ...]  # the current ranking (platform-filtered), best first
    scores: dict[int, float]  # current score per author
    previous: dict[int, float]  # baseline score per author (all platforms)
    rising: tuple[tuple[int, float], ...]  # (author, score gain), biggest first
    new: tuple[int, ...]  # ranked now, not in the baseline, best first
    turned_negative: tuple[SentimentShift, ...]  # most influential (current score) first


def computation_as_of(session: Session, *, watch_id: int, at: datetime | None = None) -> datetime | None:
    """The newest computation of the watch at or before `at` (the newest of all without `at`)."""

    stmt = select(func.max(KolScoreRow.computed_at)).where(KolScoreRow.watch_id == watch_id)
    if at is not None:
        stmt = stmt.where(KolScoreRow.computed_at <= _require_aware(at, "at"))
    value = session.exec(stmt).one()[0]
    return as_utc(value) if value is not None else None


def baseline_computation(
    session: Session, *, watch_id: int, end: datetime, period: timedelta, before: datetime
) -> datetime | None:
    """The computation nearest to `end - period` within half a period of it and earlier than
    `before` (the current one); the earlier one on a tie."""

    target, earliest, latest = report.baseline_bounds(_require_aware(end, "end"), period)
    limit = min(latest, _require_aware(before, "before") - timedelta(microseconds=1))
    older = session.exec(
        select(func.max(KolScoreRow.computed_at)).where(
            KolScoreRow.watch_id == watch_id,
            KolScoreRow.computed_at >= earliest,
            KolScoreRow.computed_at <= min(target, limit),
        )
    ).one()[0]
    newer = None
    if limit > target:
        newer = session.exec(
            select(func.min(KolScoreRow.computed_at)).where(
                KolScoreRow.watch_id == watch_id,
                KolScoreRow.computed_at > target,
                KolScoreRow.computed_at <= limit,
            )
        ).one()[0]
    found = [as_utc(t) for t in (older, newer) if t is not None]
    if not found:
        return None
    return min(found, key=lambda t: (abs((t - target).total_seconds()), t))


def _scores_at(
    session: Session, watch_id: int, at: datetime, platform: str | None = None
) -> list[tuple[int, float, str, str]]:
    """(author pk, score, platform, author id) of one computation, as plain tuples."""

    stmt = (
        select(KolScoreRow.author_pk, KolScoreRow.score, AuthorRow.platform, AuthorRow.author_id)
        .join(AuthorRow, col(AuthorRow.id) == col(KolScoreRow.author_pk))
        .where(KolScoreRow.watch_id == watch_id, KolScoreRow.computed_at == at)
    )
    if platform is not None:
        stmt = stmt.where(AuthorRow.platform == platform)
    return [(int(pk), float(score), p, a) for pk, score, p, a in session.exec(stmt).all()]


def brand_sentiment(
    session: Session, *, watch_id: int, computed_at: datetime, end: datetime, period: timedelta
) -> dict[int, tuple[PeriodSentiment | None, PeriodSentiment | None]]:
    """Per author ranked at `computed_at`: the mean sentiment of their brand posts in
    [end - period, end) and in [end - 2·period, end - period); None where they had none.

    Comments are not the author's posts (as in the pool) and impossible sentiments (outside
    0..1, a collector bug) are left out.
    """

    end = _require_aware(end, "end")
    mid, first = end - period, end - 2 * period
    recent = case((MentionRow.created_at >= mid, 1), else_=0)
    at = _require_aware(computed_at, "computed_at")
    ranked = select(KolScoreRow.author_pk).where(
        KolScoreRow.watch_id == watch_id, KolScoreRow.computed_at == at
    )
    rows = session.exec(
        select(PostRow.author_pk, recent, func.avg(PostRow.sentiment), func.count())
        .join(MentionRow, col(MentionRow.post_pk) == col(PostRow.id))
        .where(
            MentionRow.watch_id == watch_id,
            MentionRow.competitor == BRAND,
            MentionRow.created_at >= first,
            MentionRow.created_at < end,
            # A mention copies its post's time (a day of slack: relative times such as "5分钟前"
            # parse a little differently when a post is seen again). Bounding the post too lets
            # the planner read each ranked author's posts of these periods, not all of them.
            PostRow.created_at >= first - timedelta(days=1),
            PostRow.created_at < end + timedelta(days=1),
            PostRow.kind != COMMENT,
            col(PostRow.sentiment) >= 0.0,
            col(PostRow.sentiment) <= 1.0,
            col(PostRow.author_pk).in_(ranked),
        )
        .group_by(PostRow.author_pk, recent)
    ).all()
    out: dict[int, tuple[PeriodSentiment | None, PeriodSentiment | None]] = {}
    for pk, is_recent, mean, n in rows:
        now_s, then_s = out.get(int(pk), (None, None))
        value = PeriodSentiment(float(mean), int(n))
        out[int(pk)] = (value, then_s) if int(is_recent) else (now_s, value)
    return out


def kol_changes(
    session: Session,
    *,
    watch_id: int,
    end: datetime | None = None,
    period: timedelta = report.DEFAULT_PERIOD,
    platform: str | None = None,
    min_delta: float = report.RISING_MIN_DELTA,
    below: float = report.NEGATIVE_BELOW,
    min_drop: float = report.NEGATIVE_MIN_DROP,
    min_posts: int = report.MIN_SENTIMENT_POSTS,
) -> KolChanges:
    """The watch's ranking as of `end` (default: its newest computation, and `end` is then that
    computation's time) and what changed over `period` before it; see the module docstring."""

    if period <= timedelta(0):
        raise ValueError("period must be positive")
    current_at = computation_as_of(session, watch_id=watch_id, at=end)
    when = _require_aware(end, "end") if end is not None else current_at
    if current_at is None or when is None:
        return KolChanges(watch_id, when, period, None, None, (), {}, {}, (), (), ())
    rows = sorted(_scores_at(session, watch_id, current_at, platform), key=lambda r: (-r[1], r[2], r[3]))
    ranked = tuple(pk for pk, _, _, _ in rows)
    scores = {pk: score for pk, score, _, _ in rows}
    baseline_at = baseline_computation(session, watch_id=watch_id, end=when, period=period, before=current_at)
    previous: dict[int, float] = {}
    rising: list[tuple[int, float]] = []
    new: list[int] = []
    if baseline_at is not None:
        previous = {pk: score for pk, score, _, _ in _scores_at(session, watch_id, baseline_at)}
        # Keys in (platform, author id) order so that ties come out the same on every database.
        in_order = {pk: score for pk, score, _, _ in sorted(rows, key=lambda r: (r[2], r[3]))}
        rising, new = report.score_changes(previous, in_order, min_delta=min_delta)
    shifts = brand_sentiment(session, watch_id=watch_id, computed_at=current_at, end=when, period=period)
    turned = tuple(
        SentimentShift(pk, recent, earlier)
        for pk in ranked
        for recent, earlier in [shifts.get(pk, (None, None))]
        if recent is not None
        and earlier is not None
        and report.is_turned_negative(recent, earlier, below=below, min_drop=min_drop, min_posts=min_posts)
    )
    return KolChanges(
        watch_id, when, period, current_at, baseline_at, ranked, scores, previous,
        tuple(rising), tuple(new), turned,
    )  # fmt: skip


# --------------------------------------------------------------------------- the job's period claim


def claim_run(session: Session, *, watch_id: int, period_key: str, now: datetime) -> bool:
    """Claim this watch's KOL computation for `period_key`; False when another run has it.

    Call inside the transaction that stores the scores: a crash before commit releases the claim,
    and of two processes racing for one period only one insert succeeds.
    """

    at = _require_aware(now, "now")
    return claim_job_period(session, job=f"{JOB_PREFIX}{watch_id}", period_key=period_key, now=at)


def has_run(session: Session, *, watch_id: int, period_key: str) -> bool:
    """Whether the watch's KOL computation for `period_key` is already stored (a cheap pre-check)."""

    job = f"{JOB_PREFIX}{watch_id}"
    return (
        session.exec(
            select(JobRunRow.id).where(JobRunRow.job == job, JobRunRow.period_key == period_key)
        ).first()
        is not None
    )
