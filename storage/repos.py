"""Repository functions: every SQL statement of the collection, matching, counter and outbox path.

Functions take a `Session` first and keyword arguments after; they never commit (the caller's
`Database.write()` block is the transaction). Bulk writes are idempotent: posts are inserted with
ON CONFLICT DO NOTHING and only new rows are returned, re-seen posts get fresh counts, mentions and
alerts are unique by natural key. The same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from collectors.base import Author, HotEntry, Post
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, UNSCORED, Analysis
from storage.models import (
    AlertRow,
    AuthorRow,
    CounterRow,
    DeliveryRow,
    DetectorStateRow,
    FollowerSnapshotRow,
    HotEntryRow,
    IgnoredAuthorRow,
    JobRunRow,
    KolScoreRow,
    MentionRow,
    PostRow,
    SentimentFeedbackRow,
    SourceRow,
    SourceRunRow,
    WatchRow,
    WorkspaceAdminRow,
    WorkspaceChatRow,
    WorkspaceRow,
)

BATCH = 400  # SQLite's bound-parameter limit makes larger multi-row inserts fail
BUCKETS_S = (300, 3600)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for UTC-stored values; make them aware again."""

    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bucket_start(moment: datetime, bucket_s: int) -> datetime:
    epoch = int(as_utc(moment).timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)


def engagement(likes: int | None, comments: int | None, reposts: int | None) -> float:
    """Engagement weight of one post: a repost spreads further than a comment, a comment more than a like."""

    return float((likes or 0) + 2 * (comments or 0) + 3 * (reposts or 0))


# The same weight in SQL, over a post's stored counts; mention rows keep a copy (MentionRow.engagement).
POST_ENGAGEMENT_SQL: ColumnElement[Any] = (
    func.coalesce(col(PostRow.likes), 0)
    + 2 * func.coalesce(col(PostRow.comments), 0)
    + 3 * func.coalesce(col(PostRow.reposts), 0)
)


# --------------------------------------------------------------------------- configuration sync


@dataclass(frozen=True)
class WatchSpec:
    name: str
    query: str
    competitors: tuple[str, ...] = ()
    detector_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceSpec:
    name: str
    timezone: str = "Asia/Shanghai"
    chats: tuple[int, ...] = ()
    admins: tuple[int, ...] = ()
    watches: tuple[WatchSpec, ...] = ()


@dataclass(frozen=True)
class SourceSpecRow:
    workspace: str | None
    platform: str
    kind: str
    target: str
    every_s: int
    options: dict[str, Any] = field(default_factory=dict)


def sync_config(
    session: Session, *, workspaces: Sequence[WorkspaceSpec], sources: Sequence[SourceSpecRow]
) -> None:
    """Make the database's workspaces, chats, admins, watches and sources match settings.toml.

    Settings are the truth for what they name; watches and sources that settings no longer name
    are disabled, not deleted, so their history stays. Chats and admins named in settings are
    added; ones added through the bot are kept.
    """

    ws_ids: dict[str, int] = {}
    for spec in workspaces:
        ws = session.exec(select(WorkspaceRow).where(WorkspaceRow.name == spec.name)).scalars().first()
        if ws is None:
            ws = WorkspaceRow(name=spec.name, timezone=spec.timezone)
            session.add(ws)
            session.flush()
        else:
            ws.timezone = spec.timezone
        assert ws.id is not None
        ws_ids[spec.name] = ws.id
        for chat_id in spec.chats:
            owner = (
                session.exec(select(WorkspaceChatRow).where(WorkspaceChatRow.chat_id == chat_id))
                .scalars()
                .first()
            )
            if owner is None:
                session.add(WorkspaceChatRow(workspace_id=ws.id, chat_id=chat_id))
            else:
                owner.workspace_id = ws.id
        known_admins = set(
            session.exec(
                select(WorkspaceAdminRow.user_id).where(WorkspaceAdminRow.workspace_id == ws.id)
            ).scalars()
        )
        for user_id in spec.admins:
            if user_id not in known_admins:
                session.add(WorkspaceAdminRow(workspace_id=ws.id, user_id=user_id))
        existing = {
            w.name: w for w in session.exec(select(WatchRow).where(WatchRow.workspace_id == ws.id)).scalars()
        }
        named = set()
        for watch in spec.watches:
            named.add(watch.name)
            row = existing.get(watch.name)
            if row is None:
                session.add(
                    WatchRow(
                        workspace_id=ws.id,
                        name=watch.name,
                        query=watch.query,
                        competitors=list(watch.competitors),
                        detector_settings=dict(watch.detector_settings),
                    )
                )
            elif (row.query, row.competitors, row.detector_settings, row.enabled) != (
                watch.query,
                list(watch.competitors),
                dict(watch.detector_settings),
                True,
            ):
                row.query = watch.query
                row.competitors = list(watch.competitors)
                row.detector_settings = dict(watch.detector_settings)
                row.enabled = True
                row.updated_at = datetime.now(UTC)
        for name, row in existing.items():
            if name not in named and row.enabled:
                row.enabled = False
    session.flush()

    wanted: set[tuple[int | None, str, str, str]] = set()
    for src in sources:
        ws_id = ws_ids.get(src.workspace) if src.workspace else None
        key = (ws_id, src.platform, src.kind, src.target)
        wanted.add(key)
        row = (
            session.exec(
                select(SourceRow).where(
                    SourceRow.workspace_id == ws_id
                    if ws_id is not None
                    else col(SourceRow.workspace_id).is_(None),
                    SourceRow.platform == src.platform,
                    SourceRow.kind == src.kind,
                    SourceRow.target == src.target,
                )
            )
            .scalars()
            .first()
        )
        if row is None:
            session.add(
                SourceRow(
                    workspace_id=ws_id,
                    platform=src.platform,
                    kind=src.kind,
                    target=src.target,
                    every_s=src.every_s,
                    options=dict(src.options),
                )
            )
        else:
            row.every_s = src.every_s
            row.options = dict(src.options)
            row.enabled = True
    for row in session.exec(select(SourceRow)).scalars():
        if (row.workspace_id, row.platform, row.kind, row.target) not in wanted and row.enabled:
            row.enabled = False
    session.flush()


# --------------------------------------------------------------------------- sources and leases


def _lease(session: Session, table: Any, due: Any, *, owner: str, until: datetime) -> list[int]:
    """Lease the rows whose ids `due` selects to `owner` until `until`; returns their ids.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent workers take
    different rows; on SQLite the caller's BEGIN IMMEDIATE transaction already serialises writers.
    """

    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.exec(due).scalars())
    if ids:
        session.exec(update(table).where(col(table.id).in_(ids)).values(lease_owner=owner, lease_until=until))
    return ids


@dataclass(frozen=True)
class ClaimedSource:
    id: int
    workspace_id: int | None
    platform: str
    kind: str
    target: str
    options: dict[str, Any]
    cursor: dict[str, Any]
    every_s: int
    health: str
    consecutive_failures: int
    lease_owner: str


def claim_due_sources(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int = 10,
    only_ids: Iterable[int] | None = None,
    ignore_schedule: bool = False,
    exclude_ids: Iterable[int] = (),
) -> list[ClaimedSource]:
    """Lease up to `limit` due, enabled sources to `owner`; no other process gets them meanwhile."""

    due = (
        select(SourceRow.id)
        .where(
            SourceRow.enabled,
            or_(col(SourceRow.lease_until).is_(None), col(SourceRow.lease_until) < now),
        )
        .order_by(SourceRow.next_run_at)
        .limit(limit)
    )
    if not ignore_schedule:
        due = due.where(SourceRow.next_run_at <= now)
    if only_ids is not None:
        due = due.where(col(SourceRow.id).in_(list(only_ids)))
    excluded = list(exclude_ids)
    if excluded:
        due = due.where(col(SourceRow.id).not_in(excluded))
    ids = _lease(session, SourceRow, due, owner=owner, until=now + timedelta(seconds=lease_s))
    if not ids:
        return []
    rows = session.exec(
        select(SourceRow).where(col(SourceRow.id).in_(ids)).order_by(SourceRow.next_run_at)
    ).scalars()
    return [
        ClaimedSource(
            id=r.id or 0,
            workspace_id=r.workspace_id,
            platform=r.platform,
            kind=r.kind,
            target=r.target,
            options=dict(r.options),
            cursor=dict(r.cursor),
            every_s=r.every_s,
            health=r.health,
            consecutive_failures=r.consecutive_failures,
            lease_owner=owner,
        )
        for r in rows
    ]


def _owned_source(session: Session, source_id: int, owner: str) -> SourceRow | None:
    row = session.get(SourceRow, source_id)
    if row is None or row.lease_owner != owner:
        return None
    return row


def extend_lease(session: Session, *, source_id: int, owner: str, until: datetime) -> bool:
    row = _owned_source(session, source_id, owner)
    if row is None:
        return False
    row.lease_until = until
    return True


@dataclass(frozen=True)
class HealthChange:
    source_id: int
    workspace_id: int | None
    platform: str
    kind: str
    target: str
    old: str
    new: str
    message: str


def finish_source(
    session: Session,
    *,
    source_id: int,
    owner: str,
    now: datetime,
    health: str,
    message: str = "",
    retry_after_s: float | None = None,
    backoff_s: float | None = None,
) -> HealthChange | None:
    """Release the lease, schedule the next run and record health.

    Returns the change when health moved from healthy ("ok", or "new" before the first run) to a
    failure class or back to "ok", so the caller raises one admin alert per incident, not one per
    run. A move between failure classes (network -> blocked) updates the stored class and message
    but returns None: a source flapping between two failures alerts once. A lost lease (another
    worker took over after expiry) changes nothing and returns None.
    """

    row = _owned_source(session, source_id, owner)
    if row is None:
        return None
    old = row.health
    row.lease_owner = None
    row.lease_until = None
    row.last_run_at = now
    if health == "ok":
        row.consecutive_failures = 0
        row.last_ok_at = now
        row.health_message = ""
        delay = float(row.every_s)
    else:
        row.consecutive_failures += 1
        row.last_error_at = now
        row.health_message = message[:1000]
        delay = max(float(row.every_s), retry_after_s or 0.0, backoff_s or 0.0)
    row.next_run_at = now + timedelta(seconds=delay)
    if old == health:
        return None
    row.health = health
    row.health_changed_at = now
    if (old in ("ok", "new")) == (health == "ok"):  # new -> ok, or one failure class to another
        return None
    return HealthChange(
        source_id=source_id,
        workspace_id=row.workspace_id,
        platform=row.platform,
        kind=row.kind,
        target=row.target,
        old=old,
        new=health,
        message=message,
    )


def start_source_run(session: Session, *, source_id: int, now: datetime) -> int:
    run = SourceRunRow(source_id=source_id, started_at=now)
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def finish_source_run(
    session: Session,
    *,
    run_id: int,
    now: datetime,
    pages: int,
    seen: int,
    new: int,
    outcome: str,
    message: str = "",
) -> None:
    session.exec(
        update(SourceRunRow)
        .where(SourceRunRow.id == run_id)
        .values(
            finished_at=now,
            pages=pages,
            posts_seen=seen,
            posts_new=new,
            outcome=outcome,
            message=message[:1000],
        )
    )


@dataclass(frozen=True)
class SourceHealthRow:
    id: int
    workspace: str | None
    platform: str
    kind: str
    target: str
    enabled: bool
    health: str
    message: str
    consecutive_failures: int
    last_ok_at: datetime | None
    last_error_at: datetime | None
    next_run_at: datetime
    posts_total: int


def source_health(session: Session, *, workspace_id: int | None = None) -> list[SourceHealthRow]:
    stmt = select(SourceRow, WorkspaceRow.name).join(
        WorkspaceRow, col(SourceRow.workspace_id) == col(WorkspaceRow.id), isouter=True
    )
    if workspace_id is not None:
        stmt = stmt.where(SourceRow.workspace_id == workspace_id)
    out = []
    for row, ws_name in session.exec(
        stmt.order_by(SourceRow.platform, SourceRow.kind, SourceRow.target)
    ).all():
        out.append(
            SourceHealthRow(
                id=row.id or 0,
                workspace=ws_name,
                platform=row.platform,
                kind=row.kind,
                target=row.target,
                enabled=row.enabled,
                health=row.health,
                message=row.health_message,
                consecutive_failures=row.consecutive_failures,
                last_ok_at=as_utc(row.last_ok_at) if row.last_ok_at else None,
                last_error_at=as_utc(row.last_error_at) if row.last_error_at else None,
                next_run_at=as_utc(row.next_run_at),
                posts_total=row.posts_total,
            )
        )
    return out


# --------------------------------------------------------------------------- authors and posts


@dataclass(frozen=True)
class Privacy:
    """Pseudonymise accounts below a follower threshold (PIPL/GDPR): hashed id, no name."""

    pseudonymise_below: int | None = None
    salt: str = ""

    def applies(self, author: Author) -> bool:
        if self.pseudonymise_below is None:
            return False
        return author.followers is None or author.followers < self.pseudonymise_below

    def author_id(self, author: Author) -> str:
        digest = hashlib.sha256(
            f"{self.salt}\x00{author.platform}\x00{author.author_id}".encode()
        ).hexdigest()
        return "anon-" + digest[:20]


# weibo.com/<uid>/<bid>: the uid names the account; m.weibo.cn/status/<bid or mid> opens the same post.
_WEIBO_POST_PATH = re.compile(r"/(\d+)/([0-9A-Za-z]+)/?")
# Fediverse (Mastodon and the like): /@alice/<id>, /users/alice/statuses/<id>. A status id alone is
# local to its instance and has no public URL without the account, so these URLs are dropped.
_FEDIVERSE_PATH = re.compile(r"(?:^|/)(?:@[^/]+|users/[^/]+/statuses)(?:/|$)")


def identity_tokens(author: Author) -> tuple[str, ...]:
    """What names an account inside a URL: its id (and the parts of "user@host" or "site:name"
    ids), its name and the last segment of its profile URL."""

    tokens = {author.author_id, author.name}
    for sep in ("@", ":"):
        if sep in author.author_id:
            tokens.update(author.author_id.split(sep))
    if author.url:
        tokens.add(unquote(urlsplit(author.url).path).rstrip("/").rsplit("/", 1)[-1].lstrip("@"))
    return tuple(sorted(t.strip() for t in tokens if len(t.strip()) >= 2))


def private_post_url(url: str, identities: Iterable[str] = ()) -> str:
    """The URL of a pseudonymised author's post without the author's identity, or "" when the
    platform has no such form (PIPL/GDPR: the stored row must not name the account).

    Weibo weibo.com/<uid>/<bid> becomes https://m.weibo.cn/status/<bid>; Bilibili video and comment
    URLs (/video/<bvid>#reply<rpid>) carry no uid and stay; Mastodon-style /@handle/<id> and
    /users/<handle>/statuses/<id> become ""; any other URL that contains one of `identities` (as a
    whole run of letters and digits) becomes "". Without identities (rows pseudonymised earlier,
    whose real id is gone) only the first three rules can apply.
    """

    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.netloc.lower().rsplit("@", 1)[-1]
    path = unquote(parts.path)
    if host == "weibo.com" or host.endswith(".weibo.com"):
        match = _WEIBO_POST_PATH.fullmatch(path)
        if match:
            return f"https://m.weibo.cn/status/{match.group(2)}"
    if _FEDIVERSE_PATH.search(path):
        return ""
    text = unquote(url).lower()
    for token in identities:
        if re.search(rf"(?<![0-9a-z]){re.escape(token.lower())}(?![0-9a-z])", text):
            return ""
    return url


def _author_values(author: Author, privacy: Privacy, now: datetime) -> dict[str, Any]:
    if privacy.applies(author):
        return {
            "platform": author.platform,
            "author_id": privacy.author_id(author),
            "name": "",
            "url": "",
            "followers": author.followers,
            "following": None,
            "posts_count": None,
            "verified": author.verified,
            "verified_type": author.verified_type,
            "description": "",
            "pseudonymised": True,
            "first_seen_at": now,
            "last_seen_at": now,
        }
    return {
        "platform": author.platform,
        "author_id": author.author_id,
        "name": author.name,
        "url": author.url,
        "followers": author.followers,
        "following": author.following,
        "posts_count": author.posts_count,
        "verified": author.verified,
        "verified_type": author.verified_type,
        "description": author.description[:2000],
        "pseudonymised": False,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _one_per_account(authors: Iterable[Author]) -> dict[tuple[str, str], Author]:
    """One Author per (platform, author_id), preferring one that knows the follower count (which
    decides pseudonymisation)."""

    by_key: dict[tuple[str, str], Author] = {}
    for author in authors:
        key = (author.platform, author.author_id)
        prev = by_key.get(key)
        by_key[key] = author if prev is None or author.followers is not None else prev
    return by_key


def upsert_authors(
    session: Session, *, authors: Iterable[Author], now: datetime, privacy: Privacy = Privacy()
) -> dict[tuple[str, str], int]:
    """Insert or refresh authors; returns (platform, original author_id) -> author primary key.

    Known fields are never overwritten with unknown ones: a post that embeds a user without a
    follower count keeps the count a profile fetch stored earlier. A follower snapshot is taken
    at most once an hour per author.
    """

    by_key = _one_per_account(authors)
    if not by_key:
        return {}
    values = [_author_values(a, privacy, now) for a in by_key.values()]
    stored_key = {k: (v["platform"], v["author_id"]) for k, v in zip(by_key, values, strict=True)}
    for chunk in _chunks(values):
        stmt = _insert(session, AuthorRow).values(list(chunk))
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "author_id"],
            set_={
                "name": func.coalesce(func.nullif(excluded.name, ""), AuthorRow.name),
                "url": func.coalesce(func.nullif(excluded.url, ""), AuthorRow.url),
                "followers": func.coalesce(excluded.followers, AuthorRow.followers),
                "following": func.coalesce(excluded.following, AuthorRow.following),
                "posts_count": func.coalesce(excluded.posts_count, AuthorRow.posts_count),
                "verified": excluded.verified,
                "verified_type": func.coalesce(excluded.verified_type, AuthorRow.verified_type),
                "description": func.coalesce(func.nullif(excluded.description, ""), AuthorRow.description),
                "last_seen_at": excluded.last_seen_at,
            },
        )
        session.exec(stmt)
    keys = list(set(stored_key.values()))
    pks: dict[tuple[str, str], int] = {}
    for chunk in _chunks(keys, 200):
        rows = session.exec(
            select(AuthorRow.id, AuthorRow.platform, AuthorRow.author_id).where(
                tuple_(col(AuthorRow.platform), col(AuthorRow.author_id)).in_(list(chunk))
            )
        ).all()
        for pk, platform, author_id in rows:
            pks[(platform, author_id)] = pk
    result = {orig: pks[stored] for orig, stored in stored_key.items()}

    hour = bucket_start(now, 3600)
    snapshots = [
        {"author_pk": result[key], "taken_at": hour, "followers": a.followers}
        for key, a in by_key.items()
        if a.followers is not None
    ]
    for chunk in _chunks(snapshots):
        session.exec(
            _insert(session, FollowerSnapshotRow)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["author_pk", "taken_at"])
        )
    return result


@dataclass(frozen=True)
class StoredPost:
    pk: int
    post: Post
    analysis: Analysis
    author_pk: int


@dataclass(frozen=True)
class StoredBatch:
    new: list[StoredPost]  # stored by this call
    seen: list[StoredPost]  # stored before (their counts refreshed), with their stored author


def upsert_posts(
    session: Session,
    *,
    posts: Sequence[Post],
    analyses: Sequence[Analysis],
    now: datetime,
    privacy: Privacy = Privacy(),
    dup_of: dict[tuple[str, str], int] | None = None,
) -> list[StoredPost]:
    """Store posts idempotently; return only the posts that were not stored before (`store_posts`
    also returns the re-seen ones)."""

    return store_posts(session, posts=posts, analyses=analyses, now=now, privacy=privacy, dup_of=dup_of).new


def store_posts(
    session: Session,
    *,
    posts: Sequence[Post],
    analyses: Sequence[Analysis],
    now: datetime,
    privacy: Privacy = Privacy(),
    dup_of: dict[tuple[str, str], int] | None = None,
) -> StoredBatch:
    """Store posts idempotently: the new ones, and the ones stored before.

    Re-seen posts get their counts refreshed (likes, reposts, comments, views grow over time), and
    with them their mentions' engagement and the counters of those mentions' buckets. Only `new`
    posts are to be counted and alerted on; `seen` lets a workspace match posts another
    workspace's source stored first (kolwatch.pipeline.store_new_posts).
    """

    if len(posts) != len(analyses):
        raise ValueError("posts and analyses differ in length")
    pairs: dict[tuple[str, str], tuple[Post, Analysis]] = {}
    for post, analysis in zip(posts, analyses, strict=True):
        pairs[(post.platform, post.post_id)] = (post, analysis)
    if not pairs:
        return StoredBatch([], [])
    accounts = _one_per_account(p.author for p, _ in pairs.values())
    author_pks = upsert_authors(session, authors=accounts.values(), now=now, privacy=privacy)
    # The same decision upsert_authors made: a pseudonymised author's posts get a URL without the uid.
    hidden = {key: identity_tokens(a) for key, a in accounts.items() if privacy.applies(a)}

    found = _stored_keys(session, list(pairs))
    existing = {key: pk for key, (pk, _) in found.items()}
    seen = [StoredPost(pk, *pairs[key], author_pk=author) for key, (pk, author) in found.items()]

    if existing:
        refresh = [
            {
                "b_pk": pk,
                "b_likes": pairs[key][0].likes,
                "b_reposts": pairs[key][0].reposts,
                "b_comments": pairs[key][0].comments,
                "b_views": pairs[key][0].views,
            }
            for key, pk in existing.items()
        ]
        stmt = (
            update(PostRow.__table__)  # type: ignore[arg-type]
            .where(PostRow.__table__.c.id == bindparam("b_pk"))  # type: ignore[attr-defined]
            .values(
                likes=func.coalesce(bindparam("b_likes"), PostRow.__table__.c.likes),  # type: ignore[attr-defined]
                reposts=func.coalesce(bindparam("b_reposts"), PostRow.__table__.c.reposts),  # type: ignore[attr-defined]
                comments=func.coalesce(bindparam("b_comments"), PostRow.__table__.c.comments),  # type: ignore[attr-defined]
                views=func.coalesce(bindparam("b_views"), PostRow.__table__.c.views),  # type: ignore[attr-defined]
            )
        )
        session.connection().execute(stmt, refresh)
        _refresh_engagement(session, post_pks=existing.values())

    fresh = [key for key in pairs if key not in existing]
    new: list[StoredPost] = []
    dup_of = dup_of or {}
    for chunk in _chunks(fresh):
        rows = []
        for key in chunk:
            post, analysis = pairs[key]
            identities = hidden.get((post.author.platform, post.author.author_id))
            rows.append(
                {
                    "platform": post.platform,
                    "post_id": post.post_id,
                    "url": post.url if identities is None else private_post_url(post.url, identities),
                    "author_pk": author_pks[(post.author.platform, post.author.author_id)],
                    "kind": post.kind,
                    "title": post.title[:500],
                    "text": post.text,
                    "created_at": as_utc(post.created_at),
                    "collected_at": now,
                    "likes": post.likes,
                    "reposts": post.reposts,
                    "comments": post.comments,
                    "views": post.views,
                    "is_repost": post.is_repost,
                    "parent_id": post.parent_id,
                    "lang": analysis.lang,
                    "sentiment": analysis.sentiment,
                    "label": analysis.label,
                    "keywords": list(analysis.keywords),
                    "hashtags": list(analysis.hashtags),
                    "signature": list(analysis.signature),
                    "dup_of": dup_of.get(key),
                }
            )
        inserted = session.exec(
            _insert(session, PostRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["platform", "post_id"])
            .returning(PostRow.__table__.c.id, PostRow.__table__.c.platform, PostRow.__table__.c.post_id)  # type: ignore[attr-defined]
        ).all()
        for pk, platform, post_id in inserted:
            post, analysis = pairs[(platform, post_id)]
            new.append(
                StoredPost(
                    pk=pk,
                    post=post,
                    analysis=analysis,
                    author_pk=author_pks[(post.author.platform, post.author.author_id)],
                )
            )
    # Stored by another process between the lookup and the insert: seen, not lost.
    raced = set(fresh) - {(sp.post.platform, sp.post.post_id) for sp in new}
    if raced:
        found = _stored_keys(session, sorted(raced))
        seen += [StoredPost(pk, *pairs[key], author_pk=author) for key, (pk, author) in found.items()]
    return StoredBatch(new, seen)


def _stored_keys(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(pk, author pk) of the stored posts among these (platform, post_id) keys."""

    out: dict[tuple[str, str], tuple[int, int]] = {}
    for chunk in _chunks(list(keys), 200):
        for pk, platform, post_id, author_pk in session.exec(
            select(PostRow.id, PostRow.platform, PostRow.post_id, PostRow.author_pk).where(
                tuple_(col(PostRow.platform), col(PostRow.post_id)).in_(list(chunk))
            )
        ).all():
            out[(platform, post_id)] = (pk, author_pk)
    return out


def post_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(PostRow)).one()[0])


def store_hot_entries(session: Session, *, entries: Sequence[HotEntry]) -> int:
    rows = [
        {
            "platform": e.platform,
            "board": e.board,
            "title": e.title,
            "rank": e.rank,
            "heat": e.heat,
            "url": e.url,
            "category": e.category,
            "is_ad": e.is_ad,
            "pinned": e.pinned,
            "captured_at": as_utc(e.captured_at),
        }
        for e in entries
    ]
    stored = 0
    for chunk in _chunks(rows):
        stored += len(
            session.exec(
                _insert(session, HotEntryRow)
                .values(list(chunk))
                .on_conflict_do_nothing(index_elements=["platform", "board", "title", "captured_at"])
                .returning(HotEntryRow.__table__.c.id)  # type: ignore[attr-defined]
            ).all()
        )
    return stored


def advance_cursor(
    session: Session, *, source_id: int, owner: str, cursor: dict[str, Any], new_posts: int
) -> bool:
    """Store the cursor after a page, in the page's transaction; False if the lease was lost."""

    row = _owned_source(session, source_id, owner)
    if row is None:
        return False
    row.cursor = dict(cursor)
    row.posts_total += new_posts
    return True


def mark_duplicates(session: Session, *, copies: dict[int, int]) -> None:
    """Record that each post (key) is a near-duplicate of an earlier one (value)."""

    if copies:
        table = PostRow.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_pk")).values(dup_of=bindparam("b_of")),
            [{"b_pk": pk, "b_of": of} for pk, of in copies.items()],
        )


def recent_signatures(
    session: Session, *, since: datetime, limit: int = 20000
) -> list[tuple[int, list[int]]]:
    """(post pk, MinHash signature) of recent posts, for near-duplicate lookup of new ones."""

    rows = session.exec(
        select(PostRow.id, PostRow.signature)
        .where(PostRow.created_at >= since, col(PostRow.dup_of).is_(None))
        .order_by(col(PostRow.created_at).desc())
        .limit(limit)
    ).all()
    return [(pk, list(sig)) for pk, sig in rows if sig]


# --------------------------------------------------------------------------- watches, mentions, counters


@dataclass(frozen=True)
class WatchInfo:
    id: int
    workspace_id: int
    workspace: str
    name: str
    query: str
    competitors: tuple[str, ...]
    detector_settings: dict[str, Any]


def active_watches(session: Session, *, workspace_id: int | None = None) -> list[WatchInfo]:
    stmt = select(WatchRow, WorkspaceRow.name).join(
        WorkspaceRow, col(WatchRow.workspace_id) == col(WorkspaceRow.id)
    )
    stmt = stmt.where(WatchRow.enabled)
    if workspace_id is not None:
        stmt = stmt.where(WatchRow.workspace_id == workspace_id)
    return [
        WatchInfo(
            id=w.id or 0,
            workspace_id=w.workspace_id,
            workspace=ws_name,
            name=w.name,
            query=w.query,
            competitors=tuple(w.competitors),
            detector_settings=dict(w.detector_settings),
        )
        for w, ws_name in session.exec(stmt.order_by(WatchRow.id)).all()
    ]


@dataclass(frozen=True)
class MentionSpec:
    watch_id: int
    post_pk: int
    created_at: datetime
    matched_terms: tuple[str, ...] = ()
    competitor: str = ""


def mention_keys(session: Session, *, post_pks: Iterable[int]) -> set[tuple[int, int, str]]:
    """(watch_id, post_pk, competitor) of the stored mentions of these posts."""

    keys: set[tuple[int, int, str]] = set()
    for chunk in _chunks(sorted(set(post_pks))):
        keys.update(
            (watch_id, post_pk, competitor)
            for watch_id, post_pk, competitor in session.exec(
                select(MentionRow.watch_id, MentionRow.post_pk, MentionRow.competitor).where(
                    col(MentionRow.post_pk).in_(list(chunk))
                )
            ).all()
        )
    return keys


def _refresh_engagement(session: Session, *, post_pks: Iterable[int]) -> None:
    """After re-seen posts' counts were refreshed: copy their new engagement onto their mentions
    and recompute the counters of the buckets they are in, so a period's engagement total, its
    top posts and its share of voice agree whenever a post is seen again."""

    table = MentionRow.__table__  # type: ignore[attr-defined]
    touched: set[tuple[int, datetime]] = set()
    for chunk in _chunks(sorted(set(post_pks))):
        stale = session.exec(
            select(
                MentionRow.id,
                MentionRow.watch_id,
                MentionRow.created_at,
                MentionRow.competitor,
                POST_ENGAGEMENT_SQL,
            )
            .join(PostRow, col(PostRow.id) == col(MentionRow.post_pk))
            .where(col(MentionRow.post_pk).in_(list(chunk)), MentionRow.engagement != POST_ENGAGEMENT_SQL)
        ).all()
        if not stale:
            continue
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id")).values(engagement=bindparam("b_eng")),
            [{"b_id": mention_id, "b_eng": int(eng)} for mention_id, _, _, _, eng in stale],
        )
        touched.update(
            (watch_id, bucket_start(created_at, BUCKETS_S[0]))
            for _, watch_id, created_at, competitor, _ in stale
            if competitor == ""  # counters count the brand's own mentions only
        )
    recompute_counters(session, touched=touched)


def _post_facts(session: Session, post_pks: Iterable[int]) -> dict[int, tuple[str, int, int]]:
    """(label, engagement, author_pk) of stored posts by pk: what a mention row copies."""

    facts: dict[int, tuple[str, int, int]] = {}
    for chunk in _chunks(sorted(set(post_pks))):
        for pk, label, eng, author_pk in session.exec(
            select(PostRow.id, PostRow.label, POST_ENGAGEMENT_SQL, PostRow.author_pk).where(
                col(PostRow.id).in_(list(chunk))
            )
        ).all():
            facts[pk] = (label, int(eng), author_pk)
    return facts


def add_mentions(session: Session, *, mentions: Sequence[MentionSpec]) -> set[tuple[int, datetime]]:
    """Insert mentions idempotently; return the (watch_id, 5-minute bucket) pairs that changed.

    Each row copies its post's label, engagement and author (see MentionRow); a mention of a post
    that is not stored is a programming error (LookupError), as the foreign key would say."""

    touched: set[tuple[int, datetime]] = set()
    facts = _post_facts(session, (m.post_pk for m in mentions))
    missing = sorted({m.post_pk for m in mentions} - facts.keys())
    if missing:
        raise LookupError(f"mentions of posts that are not stored: {missing[:10]}")
    rows = [
        {
            "watch_id": m.watch_id,
            "post_pk": m.post_pk,
            "created_at": as_utc(m.created_at),
            "matched_terms": list(m.matched_terms),
            "is_competitor": bool(m.competitor),
            "competitor": m.competitor,
            "label": facts[m.post_pk][0],
            "engagement": facts[m.post_pk][1],
            "author_pk": facts[m.post_pk][2],
        }
        for m in mentions
    ]
    for chunk in _chunks(rows):
        inserted = session.exec(
            _insert(session, MentionRow)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["watch_id", "post_pk", "competitor"])
            .returning(MentionRow.__table__.c.watch_id, MentionRow.__table__.c.created_at)  # type: ignore[attr-defined]
        ).all()
        for watch_id, created_at in inserted:
            touched.add((watch_id, bucket_start(created_at, BUCKETS_S[0])))
    return touched


def recompute_counters(
    session: Session, *, touched: Iterable[tuple[int, datetime]], top_terms: int = 30
) -> int:
    """Recompute every bucket (5 min and 1 h) that contains a touched 5-minute bucket.

    Recomputing from mentions, instead of incrementing, makes counters exact and idempotent: a
    batch repeated after a crash gives the same numbers. Competitor mentions are not counted in
    the brand's own volume. Neighbouring buckets of a watch are read with one range query.
    """

    wanted: dict[tuple[int, int], set[datetime]] = {}
    for watch_id, start in touched:
        for size in BUCKETS_S:
            wanted.setdefault((watch_id, size), set()).add(bucket_start(start, size))
    written = 0
    for (watch_id, size), starts in sorted(wanted.items()):
        for span in _spans(sorted(starts), size):
            written += _recompute_span(session, watch_id, size, span, top_terms)
    return written


def _spans(starts: list[datetime], size: int, max_gap: int = 12) -> list[list[datetime]]:
    """Group sorted bucket starts into runs whose gaps are at most `max_gap` buckets."""

    spans: list[list[datetime]] = []
    for start in starts:
        if spans and (start - spans[-1][-1]).total_seconds() <= size * max_gap:
            spans[-1].append(start)
        else:
            spans.append([start])
    return spans


def _recompute_span(
    session: Session, watch_id: int, size: int, starts: list[datetime], top_terms: int
) -> int:
    rows = session.exec(
        select(
            MentionRow.created_at,
            PostRow.id,
            PostRow.dup_of,
            PostRow.author_pk,
            PostRow.likes,
            PostRow.comments,
            PostRow.reposts,
            PostRow.label,
            PostRow.keywords,
        )
        .join(PostRow, col(MentionRow.post_pk) == col(PostRow.id))
        .where(
            MentionRow.watch_id == watch_id,
            MentionRow.created_at >= starts[0],
            MentionRow.created_at < starts[-1] + timedelta(seconds=size),
            MentionRow.competitor == "",
        )
    ).all()
    by_bucket: dict[datetime, list[Any]] = {start: [] for start in starts}
    for row in rows:
        key = bucket_start(row[0], size)
        if key in by_bucket:
            by_bucket[key].append(row[1:])
    for start, members in by_bucket.items():
        labels = Counter(r[6] for r in members)
        terms: Counter[str] = Counter()
        for r in members:
            terms.update(set(r[7] or ()))
        values = {
            "watch_id": watch_id,
            "bucket_s": size,
            "bucket_start": start,
            "volume": len({r[1] or r[0] for r in members}),
            "raw_volume": len(members),
            "unique_authors": len({r[2] for r in members}),
            "engagement": sum(engagement(r[3], r[4], r[5]) for r in members),
            "negative": labels.get(NEGATIVE, 0),
            "positive": labels.get(POSITIVE, 0),
            "neutral": labels.get(NEUTRAL, 0),
            "scored": len(members) - labels.get(UNSCORED, 0),
            "terms": dict(terms.most_common(top_terms)),
        }
        stmt = _insert(session, CounterRow).values(values)
        session.exec(
            stmt.on_conflict_do_update(
                index_elements=["watch_id", "bucket_s", "bucket_start"],
                set_={
                    k: stmt.excluded[k] for k in values if k not in ("watch_id", "bucket_s", "bucket_start")
                },
            )
        )
    return len(by_bucket)


@dataclass(frozen=True)
class CounterPoint:
    bucket_start: datetime
    volume: int
    raw_volume: int
    unique_authors: int
    engagement: float
    negative: int
    positive: int
    neutral: int
    scored: int
    terms: dict[str, int] | None  # the bucket's top terms; None unless counter_series(terms=True)


def counter_series(
    session: Session,
    *,
    watch_id: int,
    bucket_s: int,
    start: datetime,
    end: datetime,
    terms: bool = False,
) -> list[CounterPoint]:
    """Stored buckets in [start, end), oldest first; empty buckets are absent (zero volume).

    Reads plain columns, not ORM rows: a 90-day chart reads ~4,000 hour buckets twice (this
    period and the previous one), and building ORM objects and decoding every bucket's JSON top
    terms was most of /sentiment's time. The terms are read only when asked for.
    """

    columns = [
        CounterRow.bucket_start,
        CounterRow.volume,
        CounterRow.raw_volume,
        CounterRow.unique_authors,
        CounterRow.engagement,
        CounterRow.negative,
        CounterRow.positive,
        CounterRow.neutral,
        CounterRow.scored,
    ]
    if terms:
        columns.append(CounterRow.terms)
    rows = session.exec(
        select(*columns)
        .where(
            CounterRow.watch_id == watch_id,
            CounterRow.bucket_s == bucket_s,
            CounterRow.bucket_start >= start,
            CounterRow.bucket_start < end,
        )
        .order_by(CounterRow.bucket_start)
    ).all()
    return [
        CounterPoint(
            bucket_start=as_utc(r[0]),
            volume=r[1],
            raw_volume=r[2],
            unique_authors=r[3],
            engagement=r[4],
            negative=r[5],
            positive=r[6],
            neutral=r[7],
            scored=r[8],
            terms=dict(r[9] or {}) if terms else None,
        )
        for r in rows
    ]


def counter_totals(
    session: Session, *, watch_id: int, bucket_s: int, start: datetime, end: datetime
) -> CounterPoint:
    """The sums of the stored buckets in [start, end) as one point (`bucket_start` = start, no
    terms; unique_authors is a sum of per-bucket counts). One aggregate row instead of thousands
    of buckets when only a period's totals are needed (e.g. the previous period of a summary)."""

    row = session.exec(
        select(
            func.coalesce(func.sum(CounterRow.volume), 0),
            func.coalesce(func.sum(CounterRow.raw_volume), 0),
            func.coalesce(func.sum(CounterRow.unique_authors), 0),
            func.coalesce(func.sum(CounterRow.engagement), 0.0),
            func.coalesce(func.sum(CounterRow.negative), 0),
            func.coalesce(func.sum(CounterRow.positive), 0),
            func.coalesce(func.sum(CounterRow.neutral), 0),
            func.coalesce(func.sum(CounterRow.scored), 0),
        ).where(
            CounterRow.watch_id == watch_id,
            CounterRow.bucket_s == bucket_s,
            CounterRow.bucket_start >= start,
            CounterRow.bucket_start < end,
        )
    ).one()
    return CounterPoint(
        bucket_start=as_utc(start),
        volume=int(row[0]),
        raw_volume=int(row[1]),
        unique_authors=int(row[2]),
        engagement=float(row[3]),
        negative=int(row[4]),
        positive=int(row[5]),
        neutral=int(row[6]),
        scored=int(row[7]),
        terms=None,
    )


def counter_term_totals(
    session: Session, *, watch_id: int, bucket_s: int, start: datetime, end: datetime
) -> dict[str, int]:
    """Term -> summed count over the stored buckets' top terms in [start, end), added up by the
    database (json_each on SQLite, json_each_text on PostgreSQL) so a 90-day window does not
    decode thousands of JSON objects in Python."""

    if session.get_bind().dialect.name == "postgresql":
        each = func.json_each_text(CounterRow.terms).table_valued("key", "value").alias("term")
        value: Any = func.cast(each.c.value, Integer)
    else:
        each = func.json_each(CounterRow.terms).table_valued("key", "value").alias("term")
        value = each.c.value
    rows = session.exec(
        select(each.c.key, func.sum(value))
        .select_from(CounterRow)
        .join(each, true())
        .where(
            CounterRow.watch_id == watch_id,
            CounterRow.bucket_s == bucket_s,
            CounterRow.bucket_start >= start,
            CounterRow.bucket_start < end,
        )
        .group_by(each.c.key)
    ).all()
    return {str(term): int(total) for term, total in rows if total}


def get_detector_state(
    session: Session, *, watch_id: int, detector: str, key: str = ""
) -> dict[str, Any] | None:
    row = (
        session.exec(
            select(DetectorStateRow).where(
                DetectorStateRow.watch_id == watch_id,
                DetectorStateRow.detector == detector,
                DetectorStateRow.key == key,
            )
        )
        .scalars()
        .first()
    )
    return dict(row.state) if row else None


def put_detector_state(
    session: Session, *, watch_id: int, detector: str, key: str = "", state: dict[str, Any], now: datetime
) -> None:
    stmt = _insert(session, DetectorStateRow).values(
        watch_id=watch_id, detector=detector, key=key, state=state, updated_at=now
    )
    session.exec(
        stmt.on_conflict_do_update(
            index_elements=["watch_id", "detector", "key"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )


# --------------------------------------------------------------------------- outbox


@dataclass(frozen=True)
class AlertSpec:
    workspace_id: int
    kind: str
    level: int
    key: str
    title: str
    body: str = ""
    watch_id: int | None = None
    incident: str = ""
    post_urls: tuple[str, ...] = ()
    post_ids: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


def enqueue_alert(session: Session, *, alert: AlertSpec, targets: Sequence[tuple[str, str]]) -> int | None:
    """Store an alert and one pending delivery per (channel, target), in the caller's transaction.

    Returns the alert id, or None when an alert with the same key already exists in the
    workspace: a repeated detection (a batch replayed after a crash) never doubles an alert.
    """

    values = {
        "workspace_id": alert.workspace_id,
        "watch_id": alert.watch_id,
        "kind": alert.kind,
        "level": alert.level,
        "key": alert.key,
        "incident": alert.incident or alert.key,
        "title": alert.title,
        "body": alert.body,
        "post_urls": list(alert.post_urls),
        "post_ids": list(alert.post_ids),
        "details": dict(alert.details),
        "created_at": alert.created_at or datetime.now(UTC),
    }
    inserted = session.exec(
        _insert(session, AlertRow)
        .values(values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
        .returning(AlertRow.__table__.c.id)  # type: ignore[attr-defined]
    ).first()
    if inserted is None:
        return None
    alert_id = int(inserted[0])
    rows = [
        {"alert_id": alert_id, "channel": channel, "target": target, "next_attempt_at": values["created_at"]}
        for channel, target in dict.fromkeys(targets)
    ]
    if rows:
        session.exec(
            _insert(session, DeliveryRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["alert_id", "channel", "target"])
        )
    return alert_id


def alert_by_key(session: Session, *, workspace_id: int, key: str) -> AlertRow | None:
    """The workspace's alert stored under `key` (unique per workspace), if any."""

    return (
        session.exec(select(AlertRow).where(AlertRow.workspace_id == workspace_id, AlertRow.key == key))
        .scalars()
        .first()
    )


def last_alert_for_incident(session: Session, *, workspace_id: int, incident: str) -> AlertRow | None:
    return (
        session.exec(
            select(AlertRow)
            .where(AlertRow.workspace_id == workspace_id, AlertRow.incident == incident)
            .order_by(col(AlertRow.created_at).desc(), col(AlertRow.id).desc())
        )
        .scalars()
        .first()
    )


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    channel: str
    target: str
    attempts: int
    parts_sent: int
    alert: AlertRow


def claim_deliveries(
    session: Session, *, owner: str, now: datetime, lease_s: float, limit: int = 50
) -> list[ClaimedDelivery]:
    """Lease pending deliveries that are due; an expired lease (crashed sender) is claimable again."""

    due = (
        select(DeliveryRow.id)
        .where(
            DeliveryRow.status == "pending",
            DeliveryRow.next_attempt_at <= now,
            or_(col(DeliveryRow.lease_until).is_(None), col(DeliveryRow.lease_until) < now),
        )
        .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
        .limit(limit)
    )
    ids = _lease(session, DeliveryRow, due, owner=owner, until=now + timedelta(seconds=lease_s))
    if not ids:
        return []
    rows = session.exec(
        select(DeliveryRow, AlertRow)
        .join(AlertRow, col(AlertRow.id) == col(DeliveryRow.alert_id))
        .where(col(DeliveryRow.id).in_(ids))
        .order_by(DeliveryRow.id)
    ).all()
    return [
        ClaimedDelivery(
            id=d.id or 0,
            channel=d.channel,
            target=d.target,
            attempts=d.attempts,
            parts_sent=d.parts_sent,
            alert=a,
        )
        for d, a in rows
    ]


def finish_delivery(
    session: Session,
    *,
    delivery_id: int,
    owner: str,
    now: datetime,
    ok: bool,
    parts_sent: int = 0,
    error: str = "",
    retry_at: datetime | None = None,
) -> bool:
    """Record one attempt. ok -> sent; retry_at -> pending again later; neither -> failed for good."""

    row = session.get(DeliveryRow, delivery_id)
    if row is None or row.lease_owner != owner or row.status != "pending":
        return False
    row.attempts += 1
    row.parts_sent = max(row.parts_sent, parts_sent)
    row.lease_owner = None
    row.lease_until = None
    if ok:
        row.status = "sent"
        row.sent_at = now
        row.last_error = ""
    elif retry_at is not None:
        row.next_attempt_at = retry_at
        row.last_error = error[:1000]
    else:
        row.status = "failed"
        row.last_error = error[:1000]
    return True


def delivery_counts(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.exec(
            select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        ).all()
    }


def workspace_targets(session: Session, *, workspace_id: int, level: int) -> list[tuple[str, str]]:
    """Telegram chats of a workspace that want alerts of this level now (not muted, level high enough)."""

    now = datetime.now(UTC)
    chats = session.exec(
        select(WorkspaceChatRow).where(
            WorkspaceChatRow.workspace_id == workspace_id, WorkspaceChatRow.subscribed
        )
    ).scalars()
    targets = []
    for chat in chats:
        if chat.muted_until is not None and as_utc(chat.muted_until) > now:
            continue
        if level < chat.min_level:
            continue
        targets.append(("telegram", str(chat.chat_id)))
    return targets


def workspace_admin_targets(session: Session, *, workspace_id: int) -> list[tuple[str, str]]:
    """Private chats of a workspace's admins (a Telegram user id is also their private chat id)."""

    return [
        ("telegram", str(uid))
        for uid in session.exec(
            select(WorkspaceAdminRow.user_id).where(WorkspaceAdminRow.workspace_id == workspace_id)
        ).scalars()
    ]


def workspace_ids(session: Session) -> dict[str, int]:
    return {name: pk for pk, name in session.exec(select(WorkspaceRow.id, WorkspaceRow.name)).all()}


# --------------------------------------------------------------------------- export and retention


@dataclass(frozen=True)
class ExportedPost:
    platform: str
    post_id: str
    url: str
    author_id: str
    author_name: str
    author_followers: int | None
    text: str
    created_at: datetime
    likes: int | None
    reposts: int | None
    comments: int | None
    views: int | None
    sentiment: float | None
    label: str
    watches: tuple[str, ...]


def iter_posts(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    watch_id: int | None = None,
    batch: int = 1000,
) -> Iterator[ExportedPost]:
    """Posts in created_at order with their author and the names of the watches they matched.

    Streams in keyset-paginated batches so exporting millions of posts keeps memory flat.
    """

    last: tuple[datetime, int] | None = None
    while True:
        stmt = select(PostRow, AuthorRow).join(AuthorRow, col(AuthorRow.id) == col(PostRow.author_pk))
        if since is not None:
            stmt = stmt.where(PostRow.created_at >= since)
        if until is not None:
            stmt = stmt.where(PostRow.created_at < until)
        if watch_id is not None:
            stmt = stmt.where(
                col(PostRow.id).in_(select(MentionRow.post_pk).where(MentionRow.watch_id == watch_id))
            )
        if last is not None:
            stmt = stmt.where(
                or_(
                    PostRow.created_at > last[0],
                    and_(PostRow.created_at == last[0], col(PostRow.id) > last[1]),
                )
            )
        rows = session.exec(stmt.order_by(PostRow.created_at, PostRow.id).limit(batch)).all()
        if not rows:
            return
        pks = [p.id for p, _ in rows]
        names: dict[int, list[str]] = {}
        for post_pk, name in session.exec(
            select(MentionRow.post_pk, WatchRow.name)
            .join(WatchRow, col(WatchRow.id) == col(MentionRow.watch_id))
            .where(col(MentionRow.post_pk).in_(pks))
        ).all():
            names.setdefault(post_pk, []).append(name)
        for post, author in rows:
            yield ExportedPost(
                platform=post.platform,
                post_id=post.post_id,
                url=post.url,
                author_id=author.author_id,
                author_name=author.name,
                author_followers=author.followers,
                text=post.text,
                created_at=as_utc(post.created_at),
                likes=post.likes,
                reposts=post.reposts,
                comments=post.comments,
                views=post.views,
                sentiment=post.sentiment,
                label=post.label,
                watches=tuple(sorted(set(names.get(post.id or 0, [])))),
            )
        last_post = rows[-1][0]
        last = (last_post.created_at, last_post.id or 0)


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    posts: int
    mentions: int
    counters: int
    alerts: int
    authors: int

    def summary(self) -> str:
        """One line for the log and the `db purge` command."""

        return (
            f"purged before {self.cutoff:%Y-%m-%d %H:%M} UTC: {self.posts} posts, {self.mentions} mentions, "
            f"{self.counters} counter buckets, {self.alerts} alerts, {self.authors} authors"
        )


def purge_older_than(session: Session, *, cutoff: datetime) -> PurgeResult:
    """Delete posts (and what hangs off them) created before `cutoff`, and authors left without posts."""

    old_posts = select(PostRow.id).where(PostRow.created_at < cutoff)
    mentions = session.exec(delete(MentionRow).where(col(MentionRow.post_pk).in_(old_posts))).rowcount
    # Corrections are the team's labelled data and keep their own copy of the text: detach them.
    session.exec(
        update(SentimentFeedbackRow)
        .where(col(SentimentFeedbackRow.post_pk).in_(old_posts))
        .values(post_pk=None)
    )
    posts = session.exec(delete(PostRow).where(PostRow.created_at < cutoff)).rowcount
    counters = session.exec(delete(CounterRow).where(CounterRow.bucket_start < cutoff)).rowcount
    old_alerts = select(AlertRow.id).where(AlertRow.created_at < cutoff)
    session.exec(delete(DeliveryRow).where(col(DeliveryRow.alert_id).in_(old_alerts)))
    alerts = session.exec(delete(AlertRow).where(AlertRow.created_at < cutoff)).rowcount
    session.exec(delete(KolScoreRow).where(KolScoreRow.computed_at < cutoff))
    session.exec(delete(HotEntryRow).where(HotEntryRow.captured_at < cutoff))
    session.exec(delete(SourceRunRow).where(SourceRunRow.started_at < cutoff))
    session.exec(delete(JobRunRow).where(JobRunRow.started_at < cutoff))
    # NOT EXISTS, not NOT IN: PostgreSQL runs NOT IN (subquery) as a nested scan once the post ids
    # outgrow work_mem (100k authors, 1M posts: ~4 minutes, inside the daily purge's transaction),
    # NOT EXISTS as an anti-join (~0.4 s).
    orphan = select(AuthorRow.id).where(
        ~exists().where(PostRow.author_pk == AuthorRow.id),
        ~exists().where(KolScoreRow.author_pk == AuthorRow.id),
        ~exists().where(IgnoredAuthorRow.author_pk == AuthorRow.id),
    )
    orphan_ids = list(session.exec(orphan).scalars())
    for chunk in _chunks(orphan_ids):
        session.exec(delete(FollowerSnapshotRow).where(col(FollowerSnapshotRow.author_pk).in_(list(chunk))))
        session.exec(delete(AuthorRow).where(col(AuthorRow.id).in_(list(chunk))))
    return PurgeResult(
        cutoff=cutoff,
        posts=posts or 0,
        mentions=mentions or 0,
        counters=counters or 0,
        alerts=alerts or 0,
        authors=len(orphan_ids),
    )


@dataclass(frozen=True)
class PseudonymiseResult:
    authors: int  # accounts pseudonymised now
    merged: int  # of those, folded into a pseudonymised row the service had already stored
    urls: int  # post URLs rewritten or dropped because they named the account
    alerts: int = 0  # stored alerts whose text named a pseudonymised account


def claim_job_period(session: Session, *, job: str, period_key: str, now: datetime) -> bool:
    """Claim a singleton periodic job (e.g. the daily retention purge) for one period; False when
    another process or an earlier run has it. Call inside the transaction that does the work: a
    crash before commit releases the claim, and of two racing processes only one insert succeeds."""

    inserted = session.exec(
        _insert(session, JobRunRow)
        .values(job=job, period_key=period_key, started_at=now, finished_at=now, outcome="ok")
        .on_conflict_do_nothing(index_elements=["job", "period_key"])
        .returning(JobRunRow.__table__.c.id)  # type: ignore[attr-defined]
    ).first()
    return inserted is not None


def pseudonymise_existing(session: Session, *, privacy: Privacy) -> PseudonymiseResult:
    """Apply the pseudonymisation rule to authors stored before it was switched on.

    When the service has meanwhile stored the same account under its pseudonym (the setting was
    switched on, then this command run), the old row is merged into that one: its posts, follower
    snapshots, KOL scores and ignore marks move over and the row with the real id and name is
    deleted. Post URLs of pseudonymised authors that name the account are rewritten or dropped
    (see `private_post_url`), also for authors pseudonymised before URLs were handled. Stored
    alerts that show one of these authors' posts or name them as a KOL lose the account's name,
    id and URLs too (see `_scrub_alerts`).
    """

    if privacy.pseudonymise_below is None:
        return PseudonymiseResult(0, 0, 0)
    alerts = session.exec(select(AlertRow)).scalars().all()
    # Who wrote the posts alerts show (a digest's only in its footnotes), read before authors
    # are merged away.
    shown = sorted({pk for a in alerts for pk, _ in _shown_posts(a)})
    post_authors: dict[int, int] = {}
    for chunk in _chunks(shown):
        post_authors.update(
            session.exec(select(PostRow.id, PostRow.author_pk).where(col(PostRow.id).in_(list(chunk)))).all()
        )
    hidden: dict[int, tuple[Author, str]] = {}  # author pk -> (account as it was, its pseudonym id)
    # Authors pseudonymised before post URLs were handled: their real id is gone, so only the
    # platform rules that need no identity (weibo uid, fediverse handle) can apply. Done first,
    # while `pseudonymised` marks only them: the authors below get the full rules.
    hidden_authors = select(AuthorRow.id).where(col(AuthorRow.pseudonymised).is_(True))
    urls = _scrub_post_urls(session, col(PostRow.author_pk).in_(hidden_authors))
    rows = (
        session.exec(
            select(AuthorRow).where(
                col(AuthorRow.pseudonymised).is_(False),
                or_(
                    col(AuthorRow.followers).is_(None), col(AuthorRow.followers) < privacy.pseudonymise_below
                ),
            )
        )
        .scalars()
        .all()
    )
    changed = merged = 0
    for chunk in _chunks(rows):
        # A few queries per chunk of authors, not per author: this runs over every stored account.
        accounts = {
            row.id or 0: Author(row.platform, row.author_id, row.name, url=row.url, followers=row.followers)
            for row in chunk
        }
        urls += _scrub_post_urls(
            session,
            col(PostRow.author_pk).in_(list(accounts)),
            identities={pk: identity_tokens(a) for pk, a in accounts.items()},
        )
        new_ids = {pk: privacy.author_id(a) for pk, a in accounts.items()}
        hidden.update({pk: (a, new_ids[pk]) for pk, a in accounts.items()})
        targets = {
            (t.platform, t.author_id): t
            for t in session.exec(
                select(AuthorRow).where(
                    tuple_(col(AuthorRow.platform), col(AuthorRow.author_id)).in_(
                        [(a.platform, new_ids[pk]) for pk, a in accounts.items()]
                    )
                )
            ).scalars()
        }
        for row in chunk:
            new_id = new_ids[row.id or 0]
            target = targets.get((row.platform, new_id))
            if target is not None:
                _merge_author(session, source=row, target=target)
                merged += 1
            else:
                row.author_id = new_id
                row.name = ""
                row.url = ""
                row.description = ""
                row.following = None
                row.posts_count = None
                row.pseudonymised = True
            changed += 1
    scrubbed = _scrub_alerts(session, alerts=alerts, post_authors=post_authors, hidden=hidden)
    session.flush()
    return PseudonymiseResult(changed, merged, urls, scrubbed)


def _shown_posts(alert: AlertRow) -> list[tuple[int, str]]:
    """(post pk, url) of the posts an alert shows: its numbered posts, or a digest's footnotes
    (details "feedback" [("[n]", pk)] and "links" [("[n] snippet", url)], joined on "[n]")."""

    shown = [(int(pk), str(url)) for pk, url in zip(alert.post_ids, alert.post_urls, strict=False)]
    details = alert.details if isinstance(alert.details, dict) else {}
    urls: dict[str, str] = {}
    for pair in details.get("links") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            urls[str(pair[0]).split(" ", 1)[0]] = str(pair[1])
    for pair in details.get("feedback") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[1], int):
            shown.append((pair[1], urls.get(str(pair[0]), "")))
    return shown


_BRACKETED = re.compile(r"「([^「」]{1,100})」")


def _scrub_alerts(
    session: Session,
    *,
    alerts: Sequence[AlertRow],
    post_authors: Mapping[int, int],
    hidden: Mapping[int, tuple[Author, str]],
) -> int:
    """Remove pseudonymised accounts from the stored alerts that concern them, and their names
    from the story signals later alerts repeat; returns how many alerts changed.

    An alert concerns an account when it shows one of its posts (numbered posts or a digest's
    footnotes) or names it as a KOL (by id in its details). In such an alert every occurrence of
    the account's name becomes "匿名", its id the pseudonym id, and its profile and post URLs the
    private forms the posts now carry. The replacement is textual: a name that also occurs in the
    alert's other words (a post snippet, a watch name containing it) is replaced there too; privacy
    wins over the old wording. In every alert and in the alert job's story state, a hidden name in
    「」 (how signals name a KOL) becomes 「匿名」.
    """

    if not hidden:
        return 0
    by_account = {(a.platform, a.author_id): pk for pk, (a, _) in hidden.items()}
    names = {a.name for a, _ in hidden.values() if len(a.name) >= 2}

    def unbracket(value: Any) -> Any:
        def swap(m: re.Match[str]) -> str:
            return "「匿名」" if m.group(1) in names else m.group(0)

        if isinstance(value, str):
            return _BRACKETED.sub(swap, value) if "「" in value else value
        if isinstance(value, list):
            return [unbracket(v) for v in value]
        if isinstance(value, dict):
            return {k: unbracket(v) for k, v in value.items()}
        return value

    changed = 0
    for alert in alerts:
        shown = _shown_posts(alert)
        concerned = {post_authors.get(pk) for pk, _ in shown} & hidden.keys()
        for kol in alert.details.get("kols") or ():
            if isinstance(kol, dict):
                pk = by_account.get((str(kol.get("platform", "")), str(kol.get("author_id", ""))))
                if pk is not None:
                    concerned.add(pk)
        post_urls = {
            url: private_post_url(url, identity_tokens(hidden[author][0]))
            for pk, url in shown
            if (author := post_authors.get(pk)) in concerned and url
        }
        swaps: list[tuple[str, str]] = sorted(post_urls.items(), key=lambda kv: -len(kv[0]))
        for pk in sorted(concerned, key=lambda k: -len(hidden[k][0].name)):
            account, new_id = hidden[pk]
            if account.url:
                swaps.append((account.url, ""))
            if len(account.author_id) >= 4:  # shorter ids would hit counts in the text
                swaps.append((account.author_id, new_id))
            if len(account.name) >= 2:
                swaps.append((account.name, "匿名"))
        fields = (alert.title, alert.body, list(alert.post_urls), dict(alert.details))
        title, body, urls, details = (unbracket(_replace_all(f, swaps)) for f in fields)
        if (title, body, urls, details) != fields:
            alert.title, alert.body, alert.post_urls, alert.details = title, body, urls, details
            session.add(alert)
            changed += 1
    if names:
        for row in session.exec(
            select(DetectorStateRow).where(DetectorStateRow.detector == "rules")
        ).scalars():
            state = unbracket(dict(row.state))
            if state != row.state:
                row.state = state
                session.add(row)
    return changed


def _replace_all(value: Any, swaps: Sequence[tuple[str, str]]) -> Any:
    """`value` (a string or JSON-like lists and dicts of them) with each (old, new) replaced in order."""

    if isinstance(value, str):
        for old, new in swaps:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace_all(v, swaps) for v in value]
    if isinstance(value, dict):
        return {k: _replace_all(v, swaps) for k, v in value.items()}
    return value


def _scrub_post_urls(
    session: Session, which: Any, *, identities: dict[int, tuple[str, ...]] | None = None
) -> int:
    """Rewrite the URLs of the posts `which` selects with `private_post_url`, given the identity
    tokens of each post's author (by author pk; none when absent); returns how many changed."""

    table = PostRow.__table__  # type: ignore[attr-defined]
    known = identities or {}
    rows = session.exec(
        select(PostRow.id, PostRow.author_pk, PostRow.url).where(which, PostRow.url != "")
    ).all()
    changes = [
        {"b_pk": pk, "b_url": private}
        for pk, author_pk, url in rows
        if (private := private_post_url(url, known.get(author_pk, ()))) != url
    ]
    for chunk in _chunks(changes):
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_pk")).values(url=bindparam("b_url")), list(chunk)
        )
    return len(changes)


def _merge_author(session: Session, *, source: AuthorRow, target: AuthorRow) -> None:
    """Fold `source` (the real id) into `target` (the same account's pseudonym) and delete it.

    Rows unique per author (a follower snapshot per hour, a KOL score per watch and computation,
    an ignore mark per workspace) keep the target's where both have one. Counters that count
    distinct authors are recomputed for every bucket the moved posts are in.
    """

    src, dst = source.id, target.id
    touched = {
        (watch_id, bucket_start(created_at, BUCKETS_S[0]))
        for watch_id, created_at in session.exec(
            select(MentionRow.watch_id, MentionRow.created_at)
            .join(PostRow, col(MentionRow.post_pk) == col(PostRow.id))
            .where(PostRow.author_pk == src)
        ).all()
    }
    session.exec(update(PostRow).where(col(PostRow.author_pk) == src).values(author_pk=dst))
    session.exec(update(MentionRow).where(col(MentionRow.author_pk) == src).values(author_pk=dst))
    snap_taken = select(FollowerSnapshotRow.taken_at).where(FollowerSnapshotRow.author_pk == dst)
    session.exec(
        delete(FollowerSnapshotRow).where(
            FollowerSnapshotRow.author_pk == src, col(FollowerSnapshotRow.taken_at).in_(snap_taken)
        )
    )
    session.exec(
        update(FollowerSnapshotRow).where(col(FollowerSnapshotRow.author_pk) == src).values(author_pk=dst)
    )
    scored = select(KolScoreRow.watch_id, KolScoreRow.computed_at).where(KolScoreRow.author_pk == dst)
    session.exec(
        delete(KolScoreRow).where(
            KolScoreRow.author_pk == src,
            tuple_(col(KolScoreRow.watch_id), col(KolScoreRow.computed_at)).in_(scored),
        )
    )
    session.exec(update(KolScoreRow).where(col(KolScoreRow.author_pk) == src).values(author_pk=dst))
    ignoring = select(IgnoredAuthorRow.workspace_id).where(IgnoredAuthorRow.author_pk == dst)
    session.exec(
        delete(IgnoredAuthorRow).where(
            IgnoredAuthorRow.author_pk == src, col(IgnoredAuthorRow.workspace_id).in_(ignoring)
        )
    )
    session.exec(update(IgnoredAuthorRow).where(col(IgnoredAuthorRow.author_pk) == src).values(author_pk=dst))
    if target.followers is None:
        target.followers = source.followers
    target.verified = target.verified or source.verified
    target.verified_type = target.verified_type or source.verified_type
    target.first_seen_at = min(as_utc(target.first_seen_at), as_utc(source.first_seen_at))
    target.last_seen_at = max(as_utc(target.last_seen_at), as_utc(source.last_seen_at))
    session.flush()
    session.exec(delete(AuthorRow).where(col(AuthorRow.id) == src))
    session.expunge(source)
    recompute_counters(session, touched=touched)
