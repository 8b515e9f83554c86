"""The collection pipeline: claim due sources -> collect -> analyze off the loop -> store -> match.

Per collected page, one database transaction stores the posts (only new ones come back), hot-list
entries, the cursor, the mentions of new posts (and, for a workspace's source, of stored posts that
workspace has not matched yet) and their recomputed counters. A crash before the
commit repeats the page; after it, nothing is repeated. Source health is recorded at the end of
each run; a source turning unhealthy, and recovering, each become one admin alert (through the
outbox), not one per run and not one per change between failure classes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from collectors import COLLECTORS
from collectors.base import (
    HEALTH_CLASSES,
    Collector,
    CollectorError,
    Page,
    ParseError,
    RateLimited,
    SourceSpec,
    unique_posts,
)
from collectors.http import make_client
from kolwatch.context import privacy_from
from kolwatch.errors import SettingsError
from kolwatch.matching import MatcherCache
from kolwatch.settings import Secrets, Settings, collector_settings
from kolwatch.user_terms import UserTerms
from nlp.dedup import NearDuplicateIndex
from nlp.types import Analysis
from storage import repos
from storage.db import Database

log = logging.getLogger(__name__)

Analyzer = Callable[[Sequence[str]], list[Analysis]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def process_owner() -> str:
    """A name for this process in lease columns: host, pid and a random part (pids get reused)."""

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def default_analyzer(settings: Settings) -> Analyzer:
    from nlp.analyze import analyze, resolve_model
    from nlp.sentiment import ModelFileError

    try:
        model = resolve_model(settings.nlp.sentiment_model or None)
    except (OSError, ModelFileError) as exc:
        raise SettingsError(
            f"nlp.sentiment_model: cannot load {settings.nlp.sentiment_model!r}: {exc}"
        ) from None

    def run(texts: Sequence[str]) -> list[Analysis]:
        return analyze(texts, model=model)

    return run


class DuplicateWindow:
    """Near-duplicate lookup for new posts against the last two days (MinHash LSH, in memory).

    Seeded from the database on first use and rebuilt every few hours so memory stays bounded;
    each process has its own, so a copy-paste wave split across two worker processes is collapsed
    per process (the counters then over-count copies, never lose originals).
    """

    horizon = timedelta(hours=48)
    rebuild_every = timedelta(hours=6)

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        self._index: NearDuplicateIndex | None = None
        self._built_at: datetime | None = None

    def assign(self, session: Any, new: Sequence[repos.StoredPost], now: datetime) -> dict[int, int]:
        """post pk -> pk of the earlier post it copies, for the new posts that are copies."""

        with self._lock:
            if self._index is None or self._built_at is None or now - self._built_at > self.rebuild_every:
                self._index = NearDuplicateIndex(self.threshold)
                self._built_at = now
                known = {s.pk for s in new}
                for pk, sig in reversed(repos.recent_signatures(session, since=now - self.horizon)):
                    if pk not in known:
                        self._index.add(pk, sig)
            copies: dict[int, int] = {}
            for stored in new:
                cluster = self._index.add(stored.pk, stored.analysis.signature)
                if cluster != stored.pk:
                    copies[stored.pk] = int(cluster)  # type: ignore[call-overload]
            return copies


@dataclass
class Pipeline:
    """Everything one process needs to collect: database, settings, injected I/O and clock."""

    db: Database
    settings: Settings
    secrets: Secrets = field(default_factory=Secrets)
    analyzer: Analyzer | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests and the demo inject a local server
    base_urls: dict[str, str] = field(default_factory=dict)  # per-platform override (demo)
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=process_owner)
    matchers: MatcherCache = field(default_factory=MatcherCache)
    duplicates: DuplicateWindow | None = None
    user_terms: UserTerms = field(default_factory=UserTerms)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    _collectors: dict[str, Collector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.analyzer is None:
            self.analyzer = default_analyzer(self.settings)
        if self.duplicates is None:
            self.duplicates = DuplicateWindow(self.settings.nlp.near_duplicate_threshold)

    # ------------------------------------------------------------------ collectors

    def collector(self, platform: str) -> Collector:
        """One collector (and one HTTP client) per platform for the life of the pipeline."""

        collector = self._collectors.get(platform)
        if collector is None:
            cls = COLLECTORS[platform]
            settings = collector_settings(self.settings, platform)
            if platform in self.base_urls:
                settings = settings.model_copy(update={"base_url": self.base_urls[platform]})
            client = make_client(settings, transport=self.transport)
            self._clients[platform] = client
            collector = cls(client, settings)
            self._collectors[platform] = collector
        return collector

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._collectors.clear()

    # ------------------------------------------------------------------ one tick

    async def collect_due(
        self,
        *,
        limit: int | None = None,
        only_ids: Sequence[int] | None = None,
        ignore_schedule: bool = False,
        exclude: Sequence[int] = (),
    ) -> list[RunSummary]:
        """Claim due sources (leased to this process) and collect them concurrently."""

        now = self.clock()
        claimed = await self.db.run(
            _claim,
            self.db,
            owner=self.owner,
            now=now,
            lease_s=self.settings.service.lease_s,
            limit=limit or self.settings.service.sources_per_tick,
            only_ids=only_ids,
            ignore_schedule=ignore_schedule,
            exclude_ids=exclude,
        )
        if not claimed:
            return []
        return list(await asyncio.gather(*(self.run_source(c) for c in claimed)))

    async def run_source(self, source: repos.ClaimedSource) -> RunSummary:
        started = self.clock()
        run_id = await self.db.run(_start_run, self.db, source_id=source.id, now=started)
        summary = RunSummary(
            source_id=source.id, platform=source.platform, kind=source.kind, target=source.target
        )
        health, message, retry_after = "ok", "", None
        storing = False  # an exception while storing is ours (analysis, database), not the collector's
        try:
            collector = self.collector(source.platform)
            spec = SourceSpec(source.platform, source.kind, source.target, source.options)
            async for page in collector.collect(spec, source.cursor):
                storing = True
                stored = await self.store_page(source, page)
                storing = False
                if stored is None:
                    message = "lease lost to another worker; stopped"
                    log.warning("source %s: %s", source.id, message)
                    break
                summary.pages += 1
                summary.seen += stored.seen
                summary.new += stored.new
        except CollectorError as exc:
            health, message = exc.health, str(exc)
            if health not in HEALTH_CLASSES:
                # A bare CollectorError (a source the collector cannot read as configured, e.g. a
                # non-numeric uid): the documented classes only, so it shows as a parse error.
                health = ParseError.health
            retry_after = (
                exc.retry_after if isinstance(exc, RateLimited) else getattr(exc, "retry_after", None)
            )
        except Exception as exc:  # a bug in a collector (or in storing) must not stop the service
            log.exception(
                "source %s (%s %s %s) failed", source.id, source.platform, source.kind, source.target
            )
            # Recorded as a parse error (one of the documented classes), and the message says it
            # was an internal one, and where, so an admin knows to report it rather than wait.
            health = ParseError.health
            where = f"storing a {source.platform} page" if storing else f"in the {source.platform} collector"
            message = f"internal error {where}: {type(exc).__name__}: {exc}"
        summary.health, summary.message = health, message
        backoff = _failure_backoff(source.every_s, source.consecutive_failures) if health != "ok" else None
        await self.db.run(
            _finish_run,
            self.db,
            self.settings,
            self.secrets,
            source=source,
            run_id=run_id,
            now=self.clock(),
            summary=summary,
            retry_after_s=retry_after,
            backoff_s=backoff,
        )
        return summary

    async def store_page(self, source: repos.ClaimedSource, page: Page) -> StoredPage | None:
        posts = unique_posts(page.posts)
        assert self.analyzer is not None
        if posts:
            # Brand, competitor and KOL names segment whole, so their pieces never become keywords.
            await self.db.run(self.user_terms.ensure, self.db, self.clock())
        # jieba and snownlp are CPU-bound: keep them off the event loop (the bot polls on it).
        analyses = await asyncio.to_thread(self.analyzer, [p.text for p in posts]) if posts else []
        assert self.duplicates is not None
        return await self.db.run(
            _store_page,
            self.db,
            self.settings,
            self.matchers,
            self.duplicates,
            source=source,
            page=page,
            posts=posts,
            analyses=analyses,
            now=self.clock(),
        )


@dataclass
class RunSummary:
    source_id: int
    platform: str
    kind: str
    target: str
    pages: int = 0
    seen: int = 0
    new: int = 0
    health: str = "ok"
    message: str = ""


@dataclass(frozen=True)
class StoredPage:
    seen: int
    new: int
    mentions: int


def _failure_backoff(every_s: int, failures: int) -> float:
    """Failing sources wait longer each time (x2 per failure, at most 6 hours) to stay polite."""

    return float(min(6 * 3600, every_s * 2 ** min(failures, 10)))


def _claim(db: Database, **kwargs: Any) -> list[repos.ClaimedSource]:
    with db.write() as session:
        return repos.claim_due_sources(session, **kwargs)


def _start_run(db: Database, *, source_id: int, now: datetime) -> int:
    with db.write() as session:
        return repos.start_source_run(session, source_id=source_id, now=now)


def _store_page(
    db: Database,
    settings: Settings,
    matchers: MatcherCache,
    duplicates: DuplicateWindow,
    *,
    source: repos.ClaimedSource,
    page: Page,
    posts: Sequence[Any],
    analyses: Sequence[Analysis],
    now: datetime,
) -> StoredPage | None:
    privacy = privacy_from(settings)
    with db.write() as session:
        if page.authors:
            repos.upsert_authors(session, authors=page.authors, now=now, privacy=privacy)
        if page.hot_entries:
            repos.store_hot_entries(session, entries=page.hot_entries)
        new, mentions = store_new_posts(
            session,
            posts=posts,
            analyses=analyses,
            now=now,
            privacy=privacy,
            matchers=matchers,
            duplicates=duplicates,
            workspace_id=source.workspace_id,
        )
        if not repos.advance_cursor(
            session, source_id=source.id, owner=source.lease_owner, cursor=page.cursor, new_posts=len(new)
        ):
            # Another worker owns the source now: roll back so its run is the only one counted.
            session.rollback()
            return None
        repos.extend_lease(
            session,
            source_id=source.id,
            owner=source.lease_owner,
            until=now + timedelta(seconds=settings.service.lease_s),
        )
    return StoredPage(seen=len(posts), new=len(new), mentions=mentions)


def store_new_posts(
    session: Any,
    *,
    posts: Sequence[Any],
    analyses: Sequence[Analysis],
    now: datetime,
    privacy: repos.Privacy,
    matchers: MatcherCache,
    duplicates: DuplicateWindow,
    workspace_id: int | None,
) -> tuple[list[repos.StoredPost], int]:
    """The one way posts enter the database (collection and replay alike): store idempotently,
    mark near-duplicate copies, match posts to watches and recompute the counters they touch.

    Returns the new posts and the number of mentions added. A workspace's source also matches the
    page's already stored posts: another workspace's source may have stored them first, and they
    were matched only against that workspace's watches then. Mentions are unique per (watch, post,
    subject), so a post this workspace has matched before adds nothing and changes no counter.
    Sources of all workspaces (hot lists, workspace_id None) match all watches, new posts only.
    """

    batch = repos.store_posts(session, posts=posts, analyses=analyses, now=now, privacy=privacy)
    new = batch.new
    copies = duplicates.assign(session, new, now)
    if copies:
        repos.mark_duplicates(session, copies=copies)
    seen = batch.seen if workspace_id is not None else []
    return new, match_and_count(session, matchers, new, workspace_id=workspace_id, seen=seen)


def match_and_count(
    session: Any,
    matchers: MatcherCache,
    new: Sequence[repos.StoredPost],
    *,
    workspace_id: int | None,
    seen: Sequence[repos.StoredPost] = (),
) -> int:
    """Match posts against the workspace's watches (all watches for shared sources); `seen` are
    stored posts matched before, perhaps for another workspace, whose existing mentions are kept
    as they are. Returns the number of mentions added."""

    if not new and not seen:
        return 0
    watches = repos.active_watches(session, workspace_id=workspace_id)
    if not watches:
        return 0
    matcher = matchers.get(watches)
    known = repos.mention_keys(session, post_pks=[s.pk for s in seen]) if seen else set()
    specs: list[repos.MentionSpec] = []
    for stored in (*new, *seen):
        for hit in matcher.match(stored.post, stored.analysis):
            if (hit.watch_id, stored.pk, hit.competitor) in known:
                continue
            specs.append(
                repos.MentionSpec(
                    watch_id=hit.watch_id,
                    post_pk=stored.pk,
                    created_at=stored.post.created_at,
                    matched_terms=hit.terms,
                    competitor=hit.competitor,
                )
            )
    touched = repos.add_mentions(session, mentions=specs)
    repos.recompute_counters(session, touched=touched)
    return len(specs)


def _finish_run(
    db: Database,
    settings: Settings,
    secrets: Secrets,
    *,
    source: repos.ClaimedSource,
    run_id: int,
    now: datetime,
    summary: RunSummary,
    retry_after_s: float | None,
    backoff_s: float | None,
) -> None:
    from kolwatch.outbox import source_health_alert

    with db.write() as session:
        repos.finish_source_run(
            session,
            run_id=run_id,
            now=now,
            pages=summary.pages,
            seen=summary.seen,
            new=summary.new,
            outcome=summary.health,
            message=summary.message,
        )
        change = repos.finish_source(
            session,
            source_id=source.id,
            owner=source.lease_owner,
            now=now,
            health=summary.health,
            message=summary.message,
            retry_after_s=retry_after_s,
            backoff_s=backoff_s,
        )
        if change is not None:
            source_health_alert(session, settings, secrets, change=change, now=now)
