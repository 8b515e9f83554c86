"""The segmenter's user dictionary, kept in step with the database.

jieba splits names it does not know (鹿角咖啡 -> 鹿角 / 咖啡, a KOL's nickname into pieces), and the
pieces then show up as keywords and trending terms of their own. Before analysing a batch, the
pipeline and replay call `UserTerms.ensure`: at most every few minutes (so a watch added in the bot
is picked up without a restart) it reads every enabled watch's positive query terms, its
competitor names and the names of scored KOLs with a real audience (all of them the first time,
then those of the rankings computed since the last refresh), and adds the new ones to the
process's segmenter (`nlp.segment.add_user_terms`, which bumps the dictionary version so cached
analyses are redone). Terms are never removed: a deleted watch's brand name staying whole is
harmless, and removing words would change every cached cut for nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from nlp import segment
from nlp.query import QuerySyntaxError, parse, positive_terms
from storage import repos
from storage.db import Database
from storage.dictionary_queries import kol_names

log = logging.getLogger(__name__)

# 尾部 and up in every default tier table: below that, a "name" is mostly an ordinary account's.
KOL_NAME_MIN_FOLLOWERS = 10_000
# After the first read, later refreshes read only the KOL rankings computed since the previous
# refresh minus this overlap (a ranking committed late by a slow KOL job, clock skew between
# processes): every hourly ranking is kept, so reading them all grew without bound.
KOL_NAMES_OVERLAP = timedelta(days=1)


def watch_terms(queries: Iterable[str], competitors: Iterable[str]) -> set[str]:
    """Positive terms of the queries (a NOT term is not a brand) and the competitor names."""

    found: set[str] = set()
    for query in queries:
        try:
            found.update(term.text for term in positive_terms(parse(query)))
        except QuerySyntaxError:
            continue  # matching sets such a watch aside and reports it; nothing to add here
    found.update(name.strip() for name in competitors if name.strip())
    return found


class UserTerms:
    """Refreshes the segmenter's user terms from the database at most every `refresh_every`."""

    refresh_every = timedelta(minutes=5)

    def __init__(self, segmenter: segment.Segmenter | None = None) -> None:
        self._segmenter = segmenter  # None: the process's (nlp.segment.get_segmenter())
        self._lock = threading.Lock()
        self._refreshed_at: datetime | None = None
        self._names_after: datetime | None = None  # None: KOL names not read yet, read them all

    def ensure(self, db: Database, now: datetime) -> int:
        """Add the database's terms to the segmenter if due; returns how many were new."""

        with self._lock:
            if self._refreshed_at is not None and now - self._refreshed_at < self.refresh_every:
                return 0
            self._refreshed_at = now
            after = self._names_after
        with db.read() as session:
            watches = repos.active_watches(session)
            names = kol_names(session, min_followers=KOL_NAME_MIN_FOLLOWERS, scored_after=after)
        with self._lock:
            # Terms are never removed, so a name read once need not be read again.
            self._names_after = now - KOL_NAMES_OVERLAP
        terms = watch_terms((w.query for w in watches), (c for w in watches for c in w.competitors))
        segmenter = self._segmenter or segment.get_segmenter()
        added = segmenter.add_user_terms(sorted(terms | set(names)))
        if added:
            log.info("segmenter: %d new user terms (watch brands, competitors, KOL names)", added)
        return added
