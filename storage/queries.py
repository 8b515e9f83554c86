"""Read models for the bot and the digest: every SELECT behind /mentions, /sentiment, /trending,
/kol, /sov, /alerts and the daily/weekly digest.

Every function takes a `Session` first and keyword arguments after, never writes, and returns
frozen dataclasses (no ORM rows escape). Periods are half-open `[start, end)` in aware datetimes.

Where the numbers come from (so a chart and a list never disagree without a reason):
- Lists of posts (`mentions`, `top_posts`, `iter_mentions`, `term_posts`) read `mention` joined
  with `post` and `author`, newest or most engaging first, and hide authors the workspace ignores.
- Totals, sentiment shares and series (`volume_summary`, `sentiment_summary`, `trending_terms`)
  read the per-watch `counter` buckets, which count the brand's own mentions (competitor mentions
  excluded, authors not hidden). Hour buckets are used when both bounds fall on whole hours, else
  5-minute buckets; bounds that are not on 5 minutes are floored to 5 minutes and the result
  carries the window actually counted.
- Share of voice counts mentions grouped by `mention.competitor` ("" = the brand itself).
- KOL views read `kol_score` rows; one KOL computation stores all its rows with one `computed_at`.
  What changed over a period (rising, new, turned negative) comes from `kol_queries.kol_changes`,
  the same query `kolwatch kol rank` uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, UNSCORED
from scoring.report import DEFAULT_PERIOD as KOL_PERIOD
from storage import kol_queries, repos
from storage.models import (
    AlertRow,
    AuthorRow,
    DeliveryRow,
    IgnoredAuthorRow,
    KolScoreRow,
    MentionRow,
    PostRow,
    WatchRow,
    WorkspaceRow,
)
from storage.repos import as_utc

Step = Literal["hour", "day"]
BRAND = ""  # mention.competitor of the brand's own mentions

# Rankings read the mention's copy of its post's engagement (repos.POST_ENGAGEMENT_SQL, the same
# weights as repos.engagement()): no join to the post table to rank a period's mentions.
_BY_ENGAGEMENT = (
    col(MentionRow.engagement).desc(),
    col(MentionRow.created_at).desc(),
    col(MentionRow.id).desc(),
)


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _check_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise ValueError(f"empty period: end {end.isoformat()} is not after start {start.isoformat()}")
    return start, end


def _check_limit(limit: int, name: str = "limit", most: int = 1000) -> None:
    if not 0 < limit <= most:
        raise ValueError(f"{name} must be in 1..{most}, not {limit}")


# --------------------------------------------------------------------------- watches


@dataclass(frozen=True)
class WatchRef:
    id: int
    workspace_id: int
    workspace: str
    timezone: str
    name: str
    query: str
    competitors: tuple[str, ...]
    enabled: bool


def _watch_ref(watch: WatchRow, ws: WorkspaceRow) -> WatchRef:
    return WatchRef(
        id=watch.id or 0,
        workspace_id=watch.workspace_id,
        workspace=ws.name,
        timezone=ws.timezone,
        name=watch.name,
        query=watch.query,
        competitors=tuple(watch.competitors),
        enabled=watch.enabled,
    )


def watches_of(session: Session, *, workspace_id: int, include_disabled: bool = False) -> list[WatchRef]:
    """The watches of one workspace, oldest first (the first is the default of bot commands)."""

    stmt = (
        select(WatchRow, WorkspaceRow)
        .join(WorkspaceRow, col(WorkspaceRow.id) == col(WatchRow.workspace_id))
        .where(WatchRow.workspace_id == workspace_id)
    )
    if not include_disabled:
        stmt = stmt.where(col(WatchRow.enabled).is_(True))
    return [_watch_ref(w, ws) for w, ws in session.exec(stmt.order_by(WatchRow.id)).all()]


def find_watch(session: Session, *, workspace_id: int, name: str) -> WatchRef | None:
    """One watch of a workspace by exact name (enabled or not), or None."""

    row = session.exec(
        select(WatchRow, WorkspaceRow)
        .join(WorkspaceRow, col(WorkspaceRow.id) == col(WatchRow.workspace_id))
        .where(WatchRow.workspace_id == workspace_id, WatchRow.name == name)
    ).first()
    return _watch_ref(row[0], row[1]) if row else None


# --------------------------------------------------------------------------- mentions (lists of posts)


@dataclass(frozen=True)
class MentionItem:
    """One mention with its post and author, as the bot, the digest and the CSV show it."""

    mention_id: int
    post_pk: int
    platform: str
    post_id: str
    url: str
    title: str
    text: str
    created_at: datetime
    author_pk: int
    author_id: str
    author_name: str
    author_url: str
    author_followers: int | None
    likes: int | None
    reposts: int | None
    comments: int | None
    views: int | None
    sentiment: float | None
    label: str
    competitor: str  # "" for the brand's own mention
    matched_terms: tuple[str, ...]

    @property
    def engagement(self) -> float:
        return float((self.likes or 0) + 2 * (self.comments or 0) + 3 * (self.reposts or 0))


@dataclass(frozen=True)
class MentionCursor:
    """Keyset position in a newest-first mention list: the last (created_at, mention id) shown.

    `encode()` is short ASCII (under 30 bytes) so it fits Telegram's 64-byte callback_data.
    """

    created_at: datetime
    mention_id: int

    def encode(self) -> str:
        micros = round(as_utc(self.created_at).timestamp() * 1_000_000)
        return f"{_b36(micros)}.{_b36(self.mention_id)}"

    @classmethod
    def decode(cls, text: str) -> MentionCursor:
        """Parse `encode()`'s output; ValueError for anything else (callback data is user input)."""

        stamp, sep, ident = text.strip().partition(".")
        if not sep or not stamp or not ident or len(text) > 40:
            raise ValueError(f"not a mention cursor: {text[:40]!r}")
        try:
            micros, mention_id = int(stamp, 36), int(ident, 36)
        except ValueError:
            raise ValueError(f"not a mention cursor: {text[:40]!r}") from None
        if micros < 0 or mention_id < 0 or micros > 253_402_300_799_000_000:  # year 9999
            raise ValueError(f"mention cursor out of range: {text[:40]!r}")
        return cls(datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros), mention_id)


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number < 0:
        raise ValueError("negative")
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if number == 0:
            return out


@dataclass(frozen=True)
class MentionPage:
    items: tuple[MentionItem, ...]
    next_cursor: MentionCursor | None  # None on the last page
    total: int | None  # mentions matching the filters in the period (None unless asked for)
    offset: int  # offset of the first item (0 when paging by cursor)


def _mention_columns() -> tuple[Any, ...]:
    return (
        MentionRow.id,
        MentionRow.post_pk,
        PostRow.platform,
        PostRow.post_id,
        PostRow.url,
        PostRow.title,
        PostRow.text,
        MentionRow.created_at,
        PostRow.author_pk,
        AuthorRow.author_id,
        AuthorRow.name,
        AuthorRow.url,
        AuthorRow.followers,
        PostRow.likes,
        PostRow.reposts,
        PostRow.comments,
        PostRow.views,
        PostRow.sentiment,
        PostRow.label,
        MentionRow.competitor,
        MentionRow.matched_terms,
    )


def _mention_item(row: Sequence[Any]) -> MentionItem:
    return MentionItem(
        mention_id=row[0],
        post_pk=row[1],
        platform=row[2],
        post_id=row[3],
        url=row[4],
        title=row[5],
        text=row[6],
        created_at=as_utc(row[7]),
        author_pk=row[8],
        author_id=row[9],
        author_name=row[10],
        author_url=row[11],
        author_followers=row[12],
        likes=row[13],
        reposts=row[14],
        comments=row[15],
        views=row[16],
        sentiment=row[17],
        label=row[18],
        competitor=row[19],
        matched_terms=tuple(row[20] or ()),
    )


def _not_ignored(watch_id: int) -> ColumnElement[bool]:
    workspace = select(WatchRow.workspace_id).where(WatchRow.id == watch_id).scalar_subquery()
    return ~exists().where(
        IgnoredAuthorRow.workspace_id == workspace, IgnoredAuthorRow.author_pk == MentionRow.author_pk
    )


def _mention_filters(
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    label: str | None,
    competitor: str | None,
    hide_ignored: bool,
) -> list[ColumnElement[bool]]:
    if label is not None and label not in (POSITIVE, NEUTRAL, NEGATIVE, UNSCORED):
        raise ValueError(f"unknown sentiment label {label!r}")
    where: list[ColumnElement[bool]] = [
        MentionRow.watch_id == watch_id,
        MentionRow.created_at >= start,
        MentionRow.created_at < end,
    ]
    if competitor is not None:
        where.append(MentionRow.competitor == competitor)
    if label is not None:
        where.append(MentionRow.label == label)
    if hide_ignored:
        where.append(_not_ignored(watch_id))
    return where


def _mention_select(where: Sequence[ColumnElement[bool]]) -> Any:
    return (
        select(*_mention_columns())
        .join(PostRow, col(PostRow.id) == col(MentionRow.post_pk))
        .join(AuthorRow, col(AuthorRow.id) == col(PostRow.author_pk))
        .where(*where)
    )


def mentions(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    limit: int = 10,
    after: MentionCursor | None = None,
    offset: int = 0,
    label: str | None = None,
    competitor: str | None = BRAND,
    hide_ignored: bool = True,
    with_total: bool = False,
    total_cap: int | None = None,
) -> MentionPage:
    """Mentions of a watch in `[start, end)`, newest first, one page at a time.

    Page with `after=page.next_cursor` (keyset: stable while new posts arrive, cheap at any depth)
    or with `offset` (for "page 3 of 12" views). `competitor`: "" (default) = the brand's own
    mentions, a name = that competitor's, None = all. `label` filters by sentiment label.
    `hide_ignored` drops authors the watch's workspace marked "ignore". `with_total` adds a count
    of everything the filters match (one more query); with `total_cap` the count stops there
    (total = min(matches, total_cap)), so its cost is bounded however long the period is.
    """

    start, end = _check_period(start, end)
    _check_limit(limit, most=200)
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if after is not None and offset:
        raise ValueError("page by cursor or by offset, not both")
    where = _mention_filters(
        watch_id=watch_id, start=start, end=end, label=label, competitor=competitor, hide_ignored=hide_ignored
    )
    page_where = list(where)
    if after is not None:
        at = as_utc(after.created_at)
        page_where.append(
            or_(
                MentionRow.created_at < at,
                and_(MentionRow.created_at == at, col(MentionRow.id) < after.mention_id),
            )
        )
    stmt = (
        _mention_select(page_where)
        .order_by(col(MentionRow.created_at).desc(), col(MentionRow.id).desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = session.exec(stmt).all()
    items = tuple(_mention_item(r) for r in rows[:limit])
    next_cursor = (
        MentionCursor(items[-1].created_at, items[-1].mention_id) if len(rows) > limit and items else None
    )
    total = None
    if with_total:
        if total_cap is not None and total_cap < 1:
            raise ValueError("total_cap must be >= 1")
        matching = select(MentionRow.id).where(*where)
        if total_cap is not None:
            matching = matching.limit(total_cap)
        total = int(session.exec(select(func.count()).select_from(matching.subquery())).one()[0])
    return MentionPage(items=items, next_cursor=next_cursor, total=total, offset=offset)


def iter_mentions(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    competitor: str | None = None,
    hide_ignored: bool = False,
    batch: int = 1000,
) -> Iterator[MentionItem]:
    """Every mention of a period, oldest first, streamed in keyset batches (CSV export, digest).

    Defaults to all mentions (brand and competitors, ignored authors included): an export is a record.
    """

    start, end = _check_period(start, end)
    _check_limit(batch, "batch", 10_000)
    where = _mention_filters(
        watch_id=watch_id, start=start, end=end, label=None, competitor=competitor, hide_ignored=hide_ignored
    )
    last: tuple[datetime, int] | None = None
    while True:
        page_where = list(where)
        if last is not None:
            page_where.append(
                or_(
                    MentionRow.created_at > last[0],
                    and_(MentionRow.created_at == last[0], col(MentionRow.id) > last[1]),
                )
            )
        rows = session.exec(
            _mention_select(page_where).order_by(MentionRow.created_at, MentionRow.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _mention_item(row)
        last = (rows[-1][7], rows[-1][0])


def top_posts(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    limit: int = 10,
    label: str | None = None,
    competitor: str | None = BRAND,
    hide_ignored: bool = True,
) -> tuple[MentionItem, ...]:
    """The most engaging mentions of the period (likes + 2*comments + 3*reposts), ties newest first.

    `label=NEGATIVE` gives the top negative posts of /sentiment and the digest.
    """

    start, end = _check_period(start, end)
    _check_limit(limit, most=200)
    where = _mention_filters(
        watch_id=watch_id, start=start, end=end, label=label, competitor=competitor, hide_ignored=hide_ignored
    )
    # Rank on the mention rows alone (ix_mention_subject_created covers the filters and the
    # engagement), then read the winners' full rows: joining every mention of a 90-day period to
    # its post to rank it cost ~480 ms at 1M posts.
    winners = select(MentionRow.id).where(*where).order_by(*_BY_ENGAGEMENT).limit(limit)
    stmt = _mention_select([col(MentionRow.id).in_(winners)]).order_by(*_BY_ENGAGEMENT)
    return tuple(_mention_item(r) for r in session.exec(stmt).all())


def author_top_posts(
    session: Session,
    *,
    watch_id: int,
    author_pks: Sequence[int],
    start: datetime,
    end: datetime,
    per_author: int = 3,
) -> dict[int, tuple[MentionItem, ...]]:
    """Each author's most engaging mentions of the watch in the period (brand or competitor; ties
    newest first), up to `per_author`, by author pk; authors without one are absent. The posts
    behind a KOL line."""

    start, end = _check_period(start, end)
    wanted = sorted({int(pk) for pk in author_pks})
    if not wanted:
        return {}
    where = _mention_filters(
        watch_id=watch_id, start=start, end=end, label=None, competitor=None, hide_ignored=False
    )
    where.append(col(MentionRow.author_pk).in_(wanted))
    stmt = _mention_select(where).order_by(MentionRow.author_pk, *_BY_ENGAGEMENT)
    _check_limit(per_author, "per_author", 50)
    out: dict[int, list[MentionItem]] = {}
    for row in session.exec(stmt).all():
        item = _mention_item(row)
        found = out.setdefault(item.author_pk, [])
        if len(found) < per_author:
            found.append(item)
    return {pk: tuple(items) for pk, items in out.items()}


def posts_by_pk(session: Session, *, watch_id: int, post_pks: Sequence[int]) -> dict[int, MentionItem]:
    """The watch's mention of each of these posts (any time), by post pk; posts the watch never
    mentioned are absent. For posts an alert names by id."""

    wanted = sorted({int(pk) for pk in post_pks})
    if not wanted:
        return {}
    stmt = _mention_select([MentionRow.watch_id == watch_id, col(MentionRow.post_pk).in_(wanted)]).order_by(
        MentionRow.post_pk, MentionRow.competitor, MentionRow.id
    )
    out: dict[int, MentionItem] = {}
    for row in session.exec(stmt).all():
        item = _mention_item(row)
        out.setdefault(item.post_pk, item)  # the brand's own mention ("" sorts first) if there is one
    return out


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def term_posts(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    term: str,
    limit: int = 3,
    hide_ignored: bool = True,
) -> tuple[MentionItem, ...]:
    """The most engaging brand mentions of the period whose post keywords contain `term` exactly.

    The evidence behind a trending term. Keywords are a JSON list; the database pre-filters on
    the term's JSON spelling, then each candidate's list is checked for the exact term.
    """

    start, end = _check_period(start, end)
    _check_limit(limit, most=50)
    if not term.strip():
        raise ValueError("term must not be empty")
    where = _mention_filters(
        watch_id=watch_id, start=start, end=end, label=None, competitor=BRAND, hide_ignored=hide_ignored
    )
    # SQLAlchemy's JSON type writes json.dumps() text (ASCII-escaped) on both SQLite and PostgreSQL.
    pattern = "%" + _like_escape(json.dumps(term)) + "%"
    where.append(cast(PostRow.keywords, Text).like(pattern, escape="\\"))
    stmt = (
        select(*_mention_columns(), PostRow.keywords)
        .join(PostRow, col(PostRow.id) == col(MentionRow.post_pk))
        .join(AuthorRow, col(AuthorRow.id) == col(PostRow.author_pk))
        .where(*where)
        .order_by(*_BY_ENGAGEMENT)
    )
    out: list[MentionItem] = []
    for row in session.exec(stmt.limit(limit * 4 + 20)).all():
        if term in (row[-1] or ()):
            out.append(_mention_item(row))
            if len(out) == limit:
                break
    return tuple(out)


# --------------------------------------------------------------------------- counters


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime, int]:
    """Counted window and bucket size: hours when aligned, else 5 minutes (bounds floored)."""

    def floor(moment: datetime, size: int) -> datetime:
        epoch = int(moment.timestamp())
        return datetime.fromtimestamp(epoch - epoch % size, UTC)

    if start == floor(start, 3600) and end == floor(end, 3600):
        return start, end, 3600
    lo, hi = floor(start, 300), floor(end, 300)
    if hi <= lo:
        hi = lo + timedelta(seconds=300)
    return lo, hi, 300


def _buckets(
    session: Session, *, watch_id: int, start: datetime, end: datetime, size: int
) -> list[repos.CounterPoint]:
    return repos.counter_series(session, watch_id=watch_id, bucket_s=size, start=start, end=end)


def _series_keys(start: datetime, end: datetime, step: Step, tz: ZoneInfo) -> list[datetime]:
    """Bucket starts (UTC) of a chart: local hours or local midnights covering [start, end)."""

    if step not in ("hour", "day"):
        raise ValueError(f"step must be 'hour' or 'day', not {step!r}")
    keys = [_series_key(start, step, tz)]
    local = keys[0].astimezone(tz)
    while True:
        if step == "hour":
            nxt = keys[-1] + timedelta(hours=1)
        else:
            # Calendar days in local time (DST-safe): step the local date, then back to UTC.
            local = (local + timedelta(days=1, hours=3)).replace(hour=0, minute=0, second=0, microsecond=0)
            nxt = local.replace(tzinfo=tz).astimezone(UTC)
        if nxt >= end:
            return keys
        keys.append(nxt)


def _series_key(moment: datetime, step: Step, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if step == "hour":
        # Local hour: for half-hour zones (India) the bucket starts on the local hour, not UTC's.
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"unknown timezone {tz!r}") from exc
    except Exception as exc:  # ZoneInfoNotFoundError subclasses KeyError, but path errors differ by OS
        raise ValueError(f"unknown timezone {tz!r}: {exc}") from exc


@dataclass(frozen=True)
class VolumePoint:
    start: datetime  # UTC instant of the local hour/midnight the point covers
    volume: int  # mentions after collapsing near-duplicates
    raw_volume: int
    engagement: float


@dataclass(frozen=True)
class VolumeSummary:
    start: datetime  # the window actually counted (see module docstring)
    end: datetime
    total: int
    raw_total: int
    engagement: float
    previous_total: int  # the same-length window just before
    previous_raw_total: int
    change: float | None  # (total - previous) / previous; None when previous is 0
    series: tuple[VolumePoint, ...]


def volume_summary(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    step: Step = "day",
    tz: str = "Asia/Shanghai",
) -> VolumeSummary:
    """Brand mention volume of the period, its change against the previous period of equal
    length, and a series per local hour or day (every bucket present, zeros included)."""

    start, end = _check_period(start, end)
    zone = _zone(tz)
    lo, hi, size = _window(start, end)
    prev = repos.counter_totals(session, watch_id=watch_id, bucket_s=size, start=lo - (hi - lo), end=lo)
    now = _buckets(session, watch_id=watch_id, start=lo, end=hi, size=size)
    keys = _series_keys(lo, hi, step, zone)
    acc: dict[datetime, list[float]] = {k: [0, 0, 0.0] for k in keys}
    for b in now:
        slot = acc.setdefault(_series_key(b.bucket_start, step, zone), [0, 0, 0.0])
        slot[0] += b.volume
        slot[1] += b.raw_volume
        slot[2] += b.engagement
    total = sum(b.volume for b in now)
    previous = prev.volume
    return VolumeSummary(
        start=lo,
        end=hi,
        total=total,
        raw_total=sum(b.raw_volume for b in now),
        engagement=sum(b.engagement for b in now),
        previous_total=previous,
        previous_raw_total=prev.raw_volume,
        change=(total - previous) / previous if previous else None,
        series=tuple(
            VolumePoint(start=k, volume=int(v[0]), raw_volume=int(v[1]), engagement=float(v[2]))
            for k, v in sorted(acc.items())
        ),
    )


@dataclass(frozen=True)
class SentimentPoint:
    start: datetime
    positive: int
    neutral: int
    negative: int
    unscored: int

    @property
    def scored(self) -> int:
        return self.positive + self.neutral + self.negative

    def share(self, label: str) -> float | None:
        """Share of `label` among scored mentions of the bucket; None when nothing was scored."""

        if not self.scored:
            return None
        return {POSITIVE: self.positive, NEUTRAL: self.neutral, NEGATIVE: self.negative}[label] / self.scored


@dataclass(frozen=True)
class SentimentSummary:
    start: datetime
    end: datetime
    positive: int  # brand mentions by label (every mention, near-duplicates included)
    neutral: int
    negative: int
    unscored: int
    previous_negative_share: float | None  # negative share in the previous period of equal length
    trend: tuple[SentimentPoint, ...]
    top_negative: tuple[MentionItem, ...]

    @property
    def scored(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def total(self) -> int:
        return self.scored + self.unscored

    def share(self, label: str) -> float | None:
        """Share of `label` among scored mentions; None when nothing was scored."""

        if not self.scored:
            return None
        return {POSITIVE: self.positive, NEUTRAL: self.neutral, NEGATIVE: self.negative}[label] / self.scored


def sentiment_summary(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    step: Step = "day",
    tz: str = "Asia/Shanghai",
    top_negative: int = 5,
) -> SentimentSummary:
    """Sentiment of the brand's mentions in the period: counts by label (shares via `.share()`),
    a trend per local hour/day, the previous period's negative share, and the most engaging
    negative posts (`top_negative=0` skips that query)."""

    start, end = _check_period(start, end)
    zone = _zone(tz)
    lo, hi, size = _window(start, end)
    now = _buckets(session, watch_id=watch_id, start=lo, end=hi, size=size)
    prev = repos.counter_totals(session, watch_id=watch_id, bucket_s=size, start=lo - (hi - lo), end=lo)
    acc: dict[datetime, list[int]] = {k: [0, 0, 0, 0] for k in _series_keys(lo, hi, step, zone)}
    for b in now:
        slot = acc.setdefault(_series_key(b.bucket_start, step, zone), [0, 0, 0, 0])
        slot[0] += b.positive
        slot[1] += b.neutral
        slot[2] += b.negative
        slot[3] += b.raw_volume - b.scored
    prev_scored = prev.scored
    negatives = (
        top_posts(session, watch_id=watch_id, start=start, end=end, limit=top_negative, label=NEGATIVE)
        if top_negative > 0
        else ()
    )
    return SentimentSummary(
        start=lo,
        end=hi,
        positive=sum(b.positive for b in now),
        neutral=sum(b.neutral for b in now),
        negative=sum(b.negative for b in now),
        unscored=sum(b.raw_volume - b.scored for b in now),
        previous_negative_share=(prev.negative / prev_scored) if prev_scored else None,
        trend=tuple(SentimentPoint(k, v[0], v[1], v[2], v[3]) for k, v in sorted(acc.items())),
        top_negative=negatives,
    )


@dataclass(frozen=True)
class TermTrend:
    term: str
    count: int  # brand mentions whose post keywords hold the term, this period
    previous: int  # the same in the previous period of equal length
    lift: float  # (count + 1) / (previous + 1)

    @property
    def is_new(self) -> bool:
        return self.previous == 0


def trending_terms(
    session: Session,
    *,
    watch_id: int,
    start: datetime,
    end: datetime,
    limit: int = 10,
    min_count: int = 2,
    exclude: Sequence[str] = (),
) -> tuple[TermTrend, ...]:
    """Terms of this period ranked by growth over the previous period (count - previous, then lift).

    Counts come from the counters' per-bucket top terms, so a term too rare to be in a bucket's
    top list is undercounted; fine for ranking what is trending, not an exact census. `exclude`
    drops terms such as the watch's own brand words, which are always "frequent".
    """

    start, end = _check_period(start, end)
    _check_limit(limit, most=100)
    lo, hi, size = _window(start, end)
    now = repos.counter_term_totals(session, watch_id=watch_id, bucket_s=size, start=lo, end=hi)
    prev = repos.counter_term_totals(session, watch_id=watch_id, bucket_s=size, start=lo - (hi - lo), end=lo)
    skip = {t.casefold() for t in exclude}
    rows = [
        TermTrend(term=t, count=c, previous=prev.get(t, 0), lift=(c + 1) / (prev.get(t, 0) + 1))
        for t, c in now.items()
        if c >= min_count and t.casefold() not in skip and t.strip()
    ]
    rows.sort(key=lambda r: (-(r.count - r.previous), -r.lift, -r.count, r.term))
    return tuple(rows[:limit])


# --------------------------------------------------------------------------- share of voice


@dataclass(frozen=True)
class SovEntry:
    name: str  # the watch name for the brand, else the competitor
    is_brand: bool
    mentions: int
    negative: int
    engagement: float
    share: float  # of all mentions in the table (0 when there are none)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.mentions if self.mentions else None


@dataclass(frozen=True)
class ShareOfVoice:
    start: datetime
    end: datetime
    total: int
    entries: tuple[SovEntry, ...]  # the brand first, then competitors by mentions


def _mention_subjects(session: Session, *, watch_id: int) -> list[str]:
    """Every `competitor` value among the watch's mentions ("" = the brand), ascending.

    Walks ix_mention_subject_created one distinct value at a time (an index probe each), because
    a DISTINCT over the period would read every mention of it."""

    names: list[str] = []
    while True:
        stmt = select(func.min(MentionRow.competitor)).where(MentionRow.watch_id == watch_id)
        if names:
            stmt = stmt.where(MentionRow.competitor > names[-1])
        name = session.exec(stmt).one()[0]
        if name is None:
            return names
        names.append(name)


def share_of_voice(session: Session, *, watch_id: int, start: datetime, end: datetime) -> ShareOfVoice:
    """Mentions of the brand against each configured competitor in the period (every competitor
    of the watch appears, with 0 when unmentioned), with their negative counts and engagement."""

    start, end = _check_period(start, end)
    watch = session.get(WatchRow, watch_id)
    if watch is None:
        raise LookupError(f"no watch with id {watch_id}")
    # One range over ix_mention_subject_created per subject: a GROUP BY over the period reads the
    # whole time range of the watch and sorts it (~560 ms for 90 days at 1M posts).
    found: dict[str, tuple[int, int, float]] = {}
    for name in _mention_subjects(session, watch_id=watch_id):
        n, neg, eng = session.exec(
            select(
                func.count(),
                func.sum(case((MentionRow.label == NEGATIVE, 1), else_=0)),
                func.sum(MentionRow.engagement),
            ).where(
                MentionRow.watch_id == watch_id,
                MentionRow.competitor == name,
                MentionRow.created_at >= start,
                MentionRow.created_at < end,
            )
        ).one()
        if n:
            found[name] = (int(n), int(neg or 0), float(eng or 0))
    total = sum(v[0] for v in found.values())
    names = [BRAND, *dict.fromkeys(c for c in watch.competitors if c.strip())]
    names += sorted(n for n in found if n not in names)  # competitors removed from settings since
    entries = []
    for name in names:
        n, neg, eng = found.get(name, (0, 0, 0.0))
        entries.append(
            SovEntry(
                name=name or watch.name,
                is_brand=name == BRAND,
                mentions=n,
                negative=neg,
                engagement=eng,
                share=n / total if total else 0.0,
            )
        )
    brand, others = entries[0], sorted(entries[1:], key=lambda e: (-e.mentions, e.name))
    return ShareOfVoice(start=start, end=end, total=total, entries=(brand, *others))


# --------------------------------------------------------------------------- near-duplicates


def distinct_mentions(
    session: Session, *, watch_id: int, start: datetime, end: datetime, competitor: str | None = BRAND
) -> int:
    """Mentions of the period with near-duplicates counted once over the whole period (a post and
    every post marked `dup_of` it are one), brand only by default. Unlike the counters' `volume`,
    which collapses copies per bucket, this does not depend on the bucket size."""

    start, end = _check_period(start, end)
    where = [MentionRow.watch_id == watch_id, MentionRow.created_at >= start, MentionRow.created_at < end]
    if competitor is not None:
        where.append(MentionRow.competitor == competitor)
    stmt = (
        select(func.count(func.distinct(func.coalesce(PostRow.dup_of, PostRow.id))))
        .select_from(MentionRow)
        .join(PostRow, col(PostRow.id) == col(MentionRow.post_pk))
        .where(*where)
    )
    return int(session.exec(stmt).one()[0])


def duplicate_origins(session: Session, *, watch_id: int, start: datetime, end: datetime) -> dict[int, str]:
    """Post pk -> "platform:post_id" of the post it is a near-duplicate of, for the mentions of the
    period that are near-duplicates (exports show it so copies can be counted once)."""

    start, end = _check_period(start, end)
    origin = aliased(PostRow)
    rows = session.exec(
        select(PostRow.id, origin.platform, origin.post_id)
        .select_from(MentionRow)
        .join(PostRow, col(PostRow.id) == col(MentionRow.post_pk))
        .join(origin, col(origin.id) == col(PostRow.dup_of))
        .where(MentionRow.watch_id == watch_id, MentionRow.created_at >= start, MentionRow.created_at < end)
    ).all()
    return {int(pk): f"{platform}:{post_id}" for pk, platform, post_id in rows}


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class AlertItem:
    id: int
    watch_id: int | None
    kind: str
    level: int
    key: str
    title: str
    body: str
    post_urls: tuple[str, ...]
    post_ids: tuple[int, ...]
    created_at: datetime
    deliveries_sent: int
    deliveries_pending: int
    deliveries_failed: int


def alerts_between(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    watch_id: int | None = None,
    min_level: int = 1,
    exclude_kinds: Sequence[str] = ("digest",),
    limit: int = 100,
) -> tuple[AlertItem, ...]:
    """Alerts of a workspace in the period, newest first, with delivery counts per status.

    `watch_id` keeps that watch's alerts plus workspace-wide ones (watch_id NULL, e.g. source health).
    """

    start, end = _check_period(start, end)
    _check_limit(limit)
    stmt = select(AlertRow).where(
        AlertRow.workspace_id == workspace_id,
        AlertRow.created_at >= start,
        AlertRow.created_at < end,
        AlertRow.level >= min_level,
    )
    if watch_id is not None:
        stmt = stmt.where(or_(AlertRow.watch_id == watch_id, col(AlertRow.watch_id).is_(None)))
    if exclude_kinds:
        stmt = stmt.where(col(AlertRow.kind).not_in(list(exclude_kinds)))
    alerts = list(
        session.exec(stmt.order_by(col(AlertRow.created_at).desc(), col(AlertRow.id).desc()).limit(limit))
        .scalars()
        .all()
    )
    counts: dict[tuple[int, str], int] = {}
    if alerts:
        for alert_id, status, n in session.exec(
            select(DeliveryRow.alert_id, DeliveryRow.status, func.count())
            .where(col(DeliveryRow.alert_id).in_([a.id for a in alerts]))
            .group_by(DeliveryRow.alert_id, DeliveryRow.status)
        ).all():
            counts[(alert_id, status)] = int(n)
    return tuple(
        AlertItem(
            id=a.id or 0,
            watch_id=a.watch_id,
            kind=a.kind,
            level=a.level,
            key=a.key,
            title=a.title,
            body=a.body,
            post_urls=tuple(a.post_urls),
            post_ids=tuple(a.post_ids),
            created_at=as_utc(a.created_at),
            deliveries_sent=counts.get((a.id or 0, "sent"), 0),
            deliveries_pending=counts.get((a.id or 0, "pending"), 0),
            deliveries_failed=counts.get((a.id or 0, "failed"), 0),
        )
        for a in alerts
    )


# --------------------------------------------------------------------------- KOL scores


@dataclass(frozen=True)
class KolEntry:
    author_pk: int
    platform: str
    author_id: str
    name: str
    url: str
    followers: int | None
    verified: bool
    score: float
    tier: str
    authenticity: float
    computed_at: datetime
    previous_score: float | None  # in the ranking compared with; None for a newcomer
    delta: float | None  # score - previous_score (None for a newcomer)
    reasons: tuple[str, ...]
    components: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    method_version: str = ""


@dataclass(frozen=True)
class SentimentTurn:
    """An influential author whose posts about the brand turned negative."""

    kol: KolEntry
    recent_sentiment: float  # mean post sentiment (0 negative .. 1 positive) in the recent window
    recent_posts: int
    earlier_sentiment: float
    earlier_posts: int


@dataclass(frozen=True)
class KolBoard:
    """A watch's KOL ranking as of a moment and what changed over the period before it (the rules
    are `scoring.report`'s, computed by `kol_queries.kol_changes`)."""

    watch_id: int
    computed_at: datetime | None  # the ranking shown; None: none stored (by `now`) for the watch
    previous_computed_at: datetime | None  # the ranking compared with; None: none a period old
    top: tuple[KolEntry, ...]
    rising: tuple[KolEntry, ...]  # ranked in both, biggest score gains first (no newcomers)
    turned_negative: tuple[SentimentTurn, ...]  # most influential first
    new: tuple[KolEntry, ...] = ()  # ranked now, not in the ranking compared with, best first
    period: timedelta = KOL_PERIOD


@dataclass(frozen=True)
class _Light:
    author_pk: int
    score: float
    platform: str
    author_id: str
    name: str


def _light_scores(session: Session, watch_id: int, at: datetime) -> list[_Light]:
    """(author, score) of one computation as plain tuples: thousands of rows without ORM objects."""

    rows = session.exec(
        select(
            KolScoreRow.author_pk, KolScoreRow.score, AuthorRow.platform, AuthorRow.author_id, AuthorRow.name
        )
        .join(AuthorRow, col(AuthorRow.id) == col(KolScoreRow.author_pk))
        .where(KolScoreRow.watch_id == watch_id, KolScoreRow.computed_at == at)
    ).all()
    return [
        _Light(int(pk), float(score), platform, author_id, name)
        for pk, score, platform, author_id, name in rows
    ]


def _prev_scores(session: Session, watch_id: int, at: datetime | None) -> dict[int, float]:
    if at is None:
        return {}
    rows = session.exec(
        select(KolScoreRow.author_pk, KolScoreRow.score).where(
            KolScoreRow.watch_id == watch_id, KolScoreRow.computed_at == at
        )
    ).all()
    return {int(pk): float(score) for pk, score in rows}


def _entries(
    session: Session, watch_id: int, at: datetime, author_pks: Sequence[int], previous: dict[int, float]
) -> dict[int, KolEntry]:
    """Full entries (components, reasons, author details) for the few authors a view shows."""

    if not author_pks:
        return {}
    rows = session.exec(
        select(KolScoreRow, AuthorRow)
        .join(AuthorRow, col(AuthorRow.id) == col(KolScoreRow.author_pk))
        .where(
            KolScoreRow.watch_id == watch_id,
            KolScoreRow.computed_at == at,
            col(KolScoreRow.author_pk).in_(list(dict.fromkeys(author_pks))),
        )
    ).all()
    return {a.id or 0: _kol_entry(sc, a, previous.get(a.id or 0)) for sc, a in rows}


def _kol_entry(s: KolScoreRow, a: AuthorRow, previous: float | None) -> KolEntry:
    return KolEntry(
        author_pk=a.id or 0,
        platform=a.platform,
        author_id=a.author_id,
        name=a.name,
        url=a.url,
        followers=a.followers,
        verified=a.verified,
        score=s.score,
        tier=s.tier,
        authenticity=s.authenticity,
        computed_at=as_utc(s.computed_at),
        previous_score=previous,
        delta=None if previous is None else round(s.score - previous, 4),
        reasons=tuple(s.reasons),
        components=dict(s.components),
        weights=dict(s.weights),
        method_version=s.method_version,
    )


def kol_board(
    session: Session,
    *,
    watch_id: int,
    top: int = 10,
    platform: str | None = None,
    now: datetime | None = None,
    period: timedelta = KOL_PERIOD,
) -> KolBoard:
    """The KOL ranking of a watch as of `now` (default: its newest computation): the top N by
    score, then over `period` before `now` the biggest risers, the newcomers and the ranked
    authors whose brand posts turned negative (definitions: `scoring.report`)."""

    _check_limit(top, "top", 200)
    changes = kol_queries.kol_changes(
        session,
        watch_id=watch_id,
        end=_aware(now, "now") if now is not None else None,
        period=period,
        platform=platform,
    )
    at = changes.current_at
    if at is None:
        return KolBoard(watch_id, None, None, (), (), (), period=period)
    rising = [pk for pk, _ in changes.rising[:top]]
    new = list(changes.new[:top])
    turns = changes.turned_negative[:top]
    shown = [*changes.ranked[:top], *rising, *new, *(t.author_pk for t in turns)]
    detail = _entries(session, watch_id, at, shown, changes.previous)
    return KolBoard(
        watch_id=watch_id,
        computed_at=at,
        previous_computed_at=changes.baseline_at,
        top=tuple(detail[pk] for pk in changes.ranked[:top]),
        rising=tuple(detail[pk] for pk in rising),
        turned_negative=tuple(
            SentimentTurn(detail[t.author_pk], t.recent.mean, t.recent.posts, t.earlier.mean, t.earlier.posts)
            for t in turns
        ),
        new=tuple(detail[pk] for pk in new),
        period=period,
    )


@dataclass(frozen=True)
class AuthorScore:
    latest: KolEntry
    rank: int  # 1-based rank within the latest computation of the watch (all platforms)
    ranked: int  # how many authors that computation ranked
    history: tuple[tuple[datetime, float], ...]  # (computed_at, score), oldest first, up to 30


def author_score(
    session: Session, *, watch_id: int, author: str, platform: str | None = None
) -> AuthorScore | None:
    """One author's latest score for `/kol explain <author>`: matched on author id, then exact name,
    then a name containing `author` (the best-scored match wins); None when nobody matches."""

    query = author.strip().lstrip("@")
    if not query or len(query) > 200:
        return None
    times = kol_queries.computations(session, watch_id=watch_id, limit=2)
    if not times:
        return None
    latest = times[0]
    everyone = _light_scores(session, watch_id, latest)
    current = everyone if platform is None else [c for c in everyone if c.platform == platform]
    folded = query.casefold()
    found = None
    for test in (
        lambda c: c.author_id == query,
        lambda c: c.name.casefold() == folded,
        lambda c: bool(c.name) and folded in c.name.casefold(),
    ):
        hits = [c for c in current if test(c)]
        if hits:
            found = max(hits, key=lambda c: (c.score, -c.author_pk))
            break
    if found is None:
        return None
    # `delta` here is against the computation just before (the bot labels it "vs previous"),
    # not a period's baseline as in kol_board.
    previous = _prev_scores(session, watch_id, times[1] if len(times) > 1 else None)
    entry = _entries(session, watch_id, latest, [found.author_pk], previous)[found.author_pk]
    history = session.exec(
        select(KolScoreRow.computed_at, KolScoreRow.score)
        .where(KolScoreRow.watch_id == watch_id, KolScoreRow.author_pk == found.author_pk)
        .order_by(col(KolScoreRow.computed_at).desc())
        .limit(30)
    ).all()
    return AuthorScore(
        latest=entry,
        rank=1 + sum(1 for c in everyone if c.score > found.score),
        ranked=len(everyone),
        history=tuple((as_utc(at), float(v)) for at, v in reversed(history)),
    )
