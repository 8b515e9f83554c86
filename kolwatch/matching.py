"""Watch matching for the pipeline: each watch's query plus its competitors, in one automaton.

A watch contributes its own query (brand mentions) and one phrase query per competitor (share of
voice). The compiled matcher is cached and rebuilt only when a watch's query or competitors change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.base import Post
from nlp.matcher import WatchMatcher
from nlp.query import Query, QuerySyntaxError, anchored, parse
from nlp.types import Analysis
from storage.repos import WatchInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hit:
    watch_id: int
    terms: tuple[str, ...]
    competitor: str  # "" for the brand itself


def competitor_query(name: str) -> Query:
    return parse('"' + name.replace('"', " ").strip() + '"')


class CompiledWatches:
    def __init__(self, watches: Sequence[WatchInfo]) -> None:
        entries: list[tuple[tuple[int, str], Query]] = []
        for watch in watches:
            try:
                query = parse(watch.query)
            except QuerySyntaxError as exc:
                # Settings and /watch validate queries; a bad one stored earlier must not stop the others.
                log.error("watch %s (%s) has an invalid query and is skipped: %s", watch.id, watch.name, exc)
                continue
            if not anchored(query):
                log.error("watch %s (%s) has no term that must appear and is skipped", watch.id, watch.name)
                continue
            entries.append(((watch.id, ""), query))
            for competitor in dict.fromkeys(watch.competitors):
                if competitor.strip():
                    entries.append(((watch.id, competitor), competitor_query(competitor)))
        self.matcher: WatchMatcher[tuple[int, str]] = WatchMatcher.build(entries)

    def match(self, post: Post, analysis: Analysis) -> list[Hit]:
        text = analysis.text or post.text
        if post.title:
            text = f"{post.title}\n{text}"
        found = self.matcher.match_details(
            text,
            platform=post.platform,
            author_id=post.author.author_id,
            author_name=post.author.name,
            lang=analysis.lang,
        )
        return [Hit(watch_id=m.watch_id[0], terms=m.terms, competitor=m.watch_id[1]) for m in found]


class MatcherCache:
    """Keeps the compiled matcher for the current set of watches (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._compiled: CompiledWatches | None = None

    def get(self, watches: Sequence[WatchInfo]) -> CompiledWatches:
        key = tuple((w.id, w.query, w.competitors) for w in watches)
        with self._lock:
            if self._compiled is None or key != self._key:
                self._compiled = CompiledWatches(watches)
                self._key = key
            return self._compiled
