"""The hourly KOL job: for every active watch, read the pool from the database, rank it with
`scoring.kol.rank_kols` under `[scoring]`, and store the ranking as `kol_score` rows.

Plain synchronous functions: the service calls `run_kol_scoring` through `await db.run(...)` (a
worker thread), because reading the pool and ranking it are CPU work that must not stall the bot's
event loop. Per watch, the read is one session, the ranking happens outside any transaction, and
the claim of the period plus every row of the ranking are one write transaction: a crash stores
nothing (and the next tick recomputes); two processes ticking in the same period store it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from collectors.base import is_organisation
from kolwatch.settings import Settings, scoring_settings
from scoring.kol import Ranking, rank_kols
from scoring.settings import ScoringSettings
from storage import kol_queries, repos
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchScoring:
    """What one watch's computation did: `ranking` is None when the period was already stored
    before any work; `stored` is False when another run had the period."""

    watch_id: int
    ranking: Ranking | None
    stored: bool
    rows: int


def period_key(now: datetime, every_s: float) -> str:
    """The job period `now` falls in: whole multiples of the job interval since the epoch (UTC)."""

    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    step = max(int(every_s), 1)
    start = int(now.timestamp()) // step * step
    return f"{start}/{step}"


def score_watch(
    db: Database,
    watch_id: int,
    cfg: ScoringSettings,
    *,
    now: datetime,
    period: str | None = None,
) -> WatchScoring:
    """Rank one watch's pool at `now` and store it.

    With `period`, the computation is stored only if no other run stored that period (the job);
    without it, it is always stored as a new computation (`kolwatch kol rank --compute`).
    """

    with db.read() as session:
        if period is not None and kol_queries.has_run(session, watch_id=watch_id, period_key=period):
            return WatchScoring(watch_id, None, False, 0)
        inputs = kol_queries.kol_inputs(
            session,
            watch_id=watch_id,
            now=now,
            window_days=cfg.window_days,
            max_comments=cfg.authenticity.max_comments,
        )
    # An empty edge list means no repost or @mention of the watch's posts was collected: the
    # graph is unknown, not a graph where nobody amplifies anybody (rank_kols then says so).
    windows = inputs.windows
    if not cfg.include_organisations:
        windows = [w for w in windows if not is_organisation(w.author.platform, w.author.verified_type)]
    ranking = rank_kols(windows, now=now, settings=cfg, edges=inputs.edges or None)
    with db.write() as session:
        if period is not None and not kol_queries.claim_run(
            session, watch_id=watch_id, period_key=period, now=now
        ):
            return WatchScoring(watch_id, ranking, False, 0)
        rows = kol_queries.store_scores(
            session,
            watch_id=watch_id,
            computed_at=now,
            window_days=ranking.window_days,
            scores=ranking.scores,
            author_pks=inputs.author_pks,
        )
    log.info("KOL scores for watch %s: %d authors ranked", watch_id, rows)
    return WatchScoring(watch_id, ranking, True, rows)


def run_kol_scoring(db: Database, settings: Settings, *, now: datetime) -> int:
    """Score every active watch for the period of `now`; returns the number of rows written.

    Raises SettingsError (one line naming the key) when `[scoring]` is invalid.
    """

    cfg = scoring_settings(settings)
    period = period_key(now, settings.service.kol_every_s)
    with db.read() as session:
        watch_ids = [w.id for w in repos.active_watches(session)]
    return sum(score_watch(db, watch_id, cfg, now=now, period=period).rows for watch_id in watch_ids)
