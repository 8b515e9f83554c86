"""Backtesting: replay exported posts through the real path in simulated time, delivering nothing.

Posts in the `kolwatch export --format jsonl` shape are validated (a bad line is an error naming
the line), ordered by created_at and fed hour by hour, as a collector would have delivered them:
analyze (a stored sentiment/label is reused when present), store like collected posts
(repos.upsert_posts), match against the watches, recompute counters; at every simulated hour the
alert job (kolwatch.jobs.run_alert_rules) runs with `now` = that hour and no delivery targets.
Each alert is reported with its simulated created_at (the end of the bucket that fired it).

Posts arrive exactly at their created_at in a replay, so the job's settle delay is set to zero,
and its max_age (which keeps a service catching up after downtime from sending stale alerts) is
lifted: a replay reports every alert at its own simulated time, so how often the job runs in
simulated time (`job_every_s`) changes the speed of a replay, not its output. The database is a
temporary in-memory SQLite unless the caller passes one, which must be empty: a replay makes the
database's watches and sources its own and fills it with simulated posts and alerts, so it refuses
a database holding anything (`check_replay_target`); `open_replay_database` creates and migrates
a new one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from collectors.base import Author, Post
from kolwatch.errors import UserError
from kolwatch.matching import MatcherCache
from kolwatch.progress import Progress
from kolwatch.settings import Secrets, Settings, WatchSettings, WorkspaceSettings
from kolwatch.user_terms import UserTerms
from nlp.types import LABELS, UNSCORED, Analysis
from storage import alert_queries, repos
from storage.db import Database, DatabaseError, safe_url

Analyzer = Callable[[Sequence[str]], list[Analysis]]

HOUR = 3600
REPLAY_MAX_AGE_HOURS = 24 * 3660  # ten years: nothing in a replay is "stale"
MAX_TEXT = 100_000  # characters; a longer "post" is a broken export, not a post
REPLAY_WORKSPACE = "replay"


class ReplayInputError(UserError):
    """A line of the posts file is not a post in the export shape; the message names the line."""


class ReplayTargetError(UserError):
    """The database given to replay into already holds data (a replay would change it)."""


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    line: int
    post: Post
    sentiment: float | None
    label: str | None  # None: let the analyzer decide


@dataclass(frozen=True, slots=True)
class ReplayAlert:
    created_at: datetime
    watch: str
    kind: str
    level: int
    key: str
    title: str
    post_ids: tuple[str, ...]
    incident: str
    bucket_s: int | None = None  # the bucket that fired: 300 or 3600 (None: a hot-list capture)

    def to_json(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at.isoformat(),
            "watch": self.watch,
            "kind": self.kind,
            "level": self.level,
            "level_name": _level_name(self.level),
            "key": self.key,
            "title": self.title,
            "post_ids": list(self.post_ids),
            "incident": self.incident,
            "bucket_s": self.bucket_s,
        }


def _level_name(level: int) -> str:
    """ "橙色预警 II" for level 3: `level` counts up with severity (1 = 蓝 IV .. 4 = 红 I), the
    reverse of the Roman numerals, so the JSONL carries the name people read too."""

    from nlp.trends import Level

    return Level(level).label if level in tuple(Level) else str(level)


@dataclass
class ReplaySummary:
    posts: int = 0
    stored: int = 0
    mentions: int = 0
    job_runs: int = 0
    alerts: list[ReplayAlert] = field(default_factory=list)


# --- input -----------------------------------------------------------------------------------


def parse_record(line: str, number: int) -> ReplayRecord:
    """One JSONL line -> a post; raises ReplayInputError("line N: ...") for anything malformed."""

    def fail(message: str) -> ReplayInputError:
        return ReplayInputError(f"line {number}: {message}")

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise fail(f"expected a JSON object, got {type(data).__name__}")

    def text_field(name: str, *, required: bool = False, limit: int = 1000) -> str:
        value = data.get(name)
        if value is None:
            if required:
                raise fail(f"missing {name!r}")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise fail(f"{name!r} must be a string")
        value = str(value)
        if required and not value.strip():
            raise fail(f"{name!r} is empty")
        if len(value) > limit:
            raise fail(f"{name!r} is longer than {limit} characters")
        return value

    def count_field(name: str) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail(f"{name!r} must be a non-negative integer or null, got {value!r:.40}")
        return value

    platform = text_field("platform", required=True, limit=40)
    post_id = text_field("post_id", required=True, limit=200)
    text = text_field("text", limit=MAX_TEXT)
    raw_time = text_field("created_at", required=True, limit=64)
    try:
        created = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"created_at {raw_time!r} is not an ISO 8601 time") from None
    if created.tzinfo is None or created.utcoffset() is None:
        raise fail(f"created_at {raw_time!r} has no timezone (write e.g. +08:00 or Z)")
    author_id = text_field("author_id", limit=200) or f"unknown:{post_id}"
    sentiment = data.get("sentiment")
    if sentiment is not None and (
        isinstance(sentiment, bool)
        or not isinstance(sentiment, int | float)
        or not math.isfinite(sentiment)
        or not 0.0 <= sentiment <= 1.0
    ):
        raise fail(f"'sentiment' must be a number within 0..1 or null, got {sentiment!r:.40}")
    label = data.get("label")
    if label is not None and label not in LABELS:
        raise fail(f"'label' must be one of {', '.join(LABELS)} or null, got {label!r:.40}")
    watches = data.get("watches")
    if watches is not None and (
        not isinstance(watches, list) or not all(isinstance(w, str) for w in watches)
    ):
        raise fail("'watches' must be a list of strings")
    author = Author(
        platform=platform,
        author_id=author_id,
        name=text_field("author_name", limit=200),
        followers=count_field("author_followers"),
    )
    post = Post(
        platform=platform,
        post_id=post_id,
        url=text_field("url", limit=2000),
        author=author,
        text=text,
        created_at=created.astimezone(UTC),
        likes=count_field("likes"),
        reposts=count_field("reposts"),
        comments=count_field("comments"),
        views=count_field("views"),
    )
    return ReplayRecord(
        line=number,
        post=post,
        sentiment=float(sentiment) if sentiment is not None else None,
        label=label,
    )


def read_records(lines: Iterable[str]) -> list[ReplayRecord]:
    """Parse every non-blank line (1-based numbers in errors), ordered by created_at (stable); a
    byte-order mark before the first line is skipped."""

    records = []
    for number, line in enumerate(lines, 1):
        if number == 1:
            line = line.removeprefix("\ufeff")  # a UTF-8 BOM (Excel, Notepad) is not part of the JSON
        if line.strip():
            records.append(parse_record(line, number))
    records.sort(key=lambda r: r.post.created_at)
    return records


# --- the replay ------------------------------------------------------------------------------


def replay_settings(settings: Settings, *, watch: str | None = None, query: str | None = None) -> Settings:
    """The settings a replay runs with: the chosen watches, no sources, a zero settle delay."""

    if query is not None:
        if not watch:
            raise UserError("--query needs --watch NAME to name the ad-hoc watch")
        workspaces: tuple[WorkspaceSettings, ...] = (
            WorkspaceSettings(name=REPLAY_WORKSPACE, watches=(WatchSettings(name=watch, query=query),)),
        )
    elif watch is not None:
        workspaces = tuple(
            ws.model_copy(update={"watches": tuple(w for w in ws.watches if w.name == watch)})
            for ws in settings.workspaces
            if any(w.name == watch for w in ws.watches)
        )
        if not workspaces:
            known = sorted({w.name for ws in settings.workspaces for w in ws.watches})
            raise UserError(
                f"--watch: no watch named {watch!r} in settings (known: {', '.join(known) or 'none'})"
            )
    else:
        workspaces = settings.workspaces
    if not any(ws.watches for ws in workspaces):
        raise UserError("no watches to replay: add watches to settings or pass --watch NAME --query Q")
    alerts = dict(settings.alerts)
    alerts["rules"] = {
        **dict(alerts.get("rules", {})),
        "settle_minutes": 0,
        "max_age_hours": REPLAY_MAX_AGE_HOURS,
    }
    return settings.model_copy(update={"workspaces": workspaces, "sources": (), "alerts": alerts})


def check_replay_target(db: Database) -> None:
    """Refuse a database that holds anything: a replay stores simulated posts, mentions, counters
    and alerts, and makes the database's workspaces, watches and sources those of the replay (it
    would disable every configured source and the workspace's other watches). Replay into a new
    file (`--db sqlite:///replay.db`) or the default in-memory database."""

    with db.read() as session:
        posts = repos.post_count(session)
        workspaces = sorted(repos.workspace_ids(session))
        sources = repos.source_health(session)
    if posts or workspaces or sources:
        held = ", ".join(
            part
            for part in (
                f"{posts} posts" if posts else "",
                f"workspaces {', '.join(workspaces)}" if workspaces else "",
                f"{len(sources)} sources" if sources else "",
            )
            if part
        )
        raise ReplayTargetError(
            f"--db {safe_url(db.url)} already holds data ({held}); a replay would store simulated posts "
            "and alerts in it and replace its watches and sources. Replay into a new file instead, "
            "e.g. --db sqlite:///replay.db (or leave out --db for a temporary in-memory database)"
        )


def open_replay_database(url: str) -> Database:
    """The database `kolwatch replay --db URL` writes to: a new file is created and migrated to the
    current schema (storage.migrate, so `kolwatch export` and the other commands can open it
    later); an existing database must be an empty, migrated kolwatch database (see
    check_replay_target). Raises UserError with one line otherwise."""

    from sqlalchemy import inspect

    from storage.migrate import current_revision, upgrade

    try:
        db = Database(url)
        db.check()
        if db.dialect == "sqlite" and not make_url(url).database:
            db.create_all()  # in-memory: this process's own scratch database, gone on exit
            return db
        tables = inspect(db.reader).get_table_names()
        if tables and current_revision(url) is None:
            db.dispose()
            raise ReplayTargetError(
                f"--db {safe_url(url)} holds tables but no kolwatch schema version (not a kolwatch "
                "database, or one an older `kolwatch replay --db` created without migrations); "
                "replay into a new file instead, e.g. --db sqlite:///replay.db"
            )
        if tables:
            try:
                check_replay_target(db)
            except ReplayTargetError:
                db.dispose()
                raise
        upgrade(url)
    except DatabaseError as exc:
        raise UserError(str(exc)) from None
    return db


def _sync(db: Database, settings: Settings) -> dict[int, str]:
    workspaces = [
        repos.WorkspaceSpec(
            name=ws.name,
            timezone=ws.timezone,
            watches=tuple(
                repos.WatchSpec(w.name, w.query, w.competitors, dict(w.detectors)) for w in ws.watches
            ),
        )
        for ws in settings.workspaces
    ]
    with db.write() as session:
        repos.sync_config(session, workspaces=workspaces, sources=[])
        return {w.id: w.name for w in repos.active_watches(session)}


def _analyses(records: Sequence[ReplayRecord], analyzer: Analyzer) -> list[Analysis]:
    found = analyzer([r.post.text for r in records])
    if len(found) != len(records):
        raise RuntimeError(f"analyzer returned {len(found)} analyses for {len(records)} texts")
    out = []
    for record, analysis in zip(records, found, strict=True):
        if record.label is not None:
            # The export's label is what the analyst saw; keep it (and its score when present).
            sentiment = None if record.label == UNSCORED else record.sentiment
            analysis = replace(analysis, label=record.label, sentiment=sentiment)
        elif record.sentiment is not None:
            analysis = replace(analysis, sentiment=record.sentiment)
        out.append(analysis)
    return out


def replay(
    records: Sequence[ReplayRecord],
    *,
    settings: Settings,
    analyzer: Analyzer,
    db: Database | None = None,
    on_alert: Callable[[ReplayAlert], None] | None = None,
    job_every_s: int = 6 * HOUR,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Feed `records` (ordered by created_at) through store -> match -> counters -> alert job.

    `settings` should come from `replay_settings`. Posts are stored in batches of `job_every_s`
    of simulated time, each followed by a run of the alert job; a last run closes the last hour.
    """

    from kolwatch.jobs import run_alert_rules
    from kolwatch.pipeline import DuplicateWindow, store_new_posts

    if job_every_s <= 0 or job_every_s % 300:
        raise ValueError("job_every_s must be a positive multiple of 300")
    own_db = db is None
    database = db or Database("sqlite://")
    if own_db:
        database.create_all()
    else:
        check_replay_target(database)
    summary = ReplaySummary(posts=len(records))
    try:
        names = _sync(database, settings)
        # The watches are fixed for a replay: their names join the segmenter's dictionary once.
        UserTerms().ensure(database, datetime.now(UTC))
        matchers = MatcherCache()
        duplicates = DuplicateWindow(settings.nlp.near_duplicate_threshold)
        secrets = Secrets({})
        last_alert = 0  # the database was empty (check_replay_target): every alert is the replay's

        def run_job(at: datetime) -> None:
            nonlocal last_alert
            run_alert_rules(database, settings, secrets, now=at, deliver=False)
            summary.job_runs += 1
            with database.read() as session:
                for alert, watch_name in alert_queries.alerts_after(session, after_id=last_alert):
                    last_alert = max(last_alert, alert.id or 0)
                    out = ReplayAlert(
                        created_at=repos.as_utc(alert.created_at),
                        watch=watch_name or names.get(alert.watch_id or 0, ""),
                        kind=alert.kind,
                        level=alert.level,
                        key=alert.key,
                        title=alert.title,
                        post_ids=tuple(str(p.get("post_id", "")) for p in alert.details.get("posts", [])),
                        incident=alert.incident,
                        bucket_s=alert.details.get("bucket_s"),
                    )
                    summary.alerts.append(out)
                    if on_alert is not None:
                        on_alert(out)

        def flush(batch: list[ReplayRecord]) -> None:
            if not batch:
                return
            analyses = _analyses(batch, analyzer)
            with database.write() as session:
                new, mentions = store_new_posts(
                    session,
                    posts=[r.post for r in batch],
                    analyses=analyses,
                    now=batch[-1].post.created_at,
                    privacy=repos.Privacy(),
                    matchers=matchers,
                    duplicates=duplicates,
                    workspace_id=None,
                )
                summary.stored += len(new)
                summary.mentions += mentions
            if progress is not None:
                progress.advance(len(batch))

        if not records:
            return summary
        first = int(records[0].post.created_at.timestamp())
        next_job = first - first % job_every_s + job_every_s
        batch: list[ReplayRecord] = []
        for record in records:
            t = record.post.created_at.timestamp()
            while t >= next_job:
                flush(batch)
                batch = []
                run_job(datetime.fromtimestamp(next_job, UTC))
                next_job += job_every_s
            batch.append(record)
        flush(batch)
        last = int(records[-1].post.created_at.timestamp())
        run_job(datetime.fromtimestamp(last - last % HOUR + HOUR, UTC))
        return summary
    finally:
        if own_db:
            database.dispose()
