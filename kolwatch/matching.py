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
from nlp.matcher import WatchMatcher, check_query
from nlp.query import Query, QuerySyntaxError, parse, phrase
from nlp.types import Analysis
from storage.repos import WatchInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hit:
    watch_id: int
    terms: tuple[str, ...]
    competitor: str  # "" for the brand itself


def competitor_query(name: str) -> Query:
    """The competitor's name as one literal phrase node (nlp.query.phrase), never re-parsed as
    query text: a name holding a quote of either script or a backslash is text, not syntax.
    Raises QuerySyntaxError for a name that cannot be a phrase (empty, invisible, too long)."""

    return phrase(name)


class CompiledWatches:
    """The automaton of every usable watch. A watch whose query (or one competitor name) cannot
    be compiled is set aside and named in `problems` (watch id -> message, also logged), so one
    bad watch never stops matching for the others; a bad competitor name drops only that name."""

    def __init__(self, watches: Sequence[WatchInfo]) -> None:
        entries: list[tuple[tuple[int, str], Query]] = []
        self.problems: dict[int, list[str]] = {}

        def problem(watch: WatchInfo, message: str) -> None:
            # Settings and /watch validate queries; one stored earlier (or a competitor name an
            # older version accepted) must not stop the others.
            log.error("watch %s (%s): %s", watch.id, watch.name, message)
            self.problems.setdefault(watch.id, []).append(message)

        for watch in watches:
            try:
                query = parse(watch.query)
                check_query(query)
            except (QuerySyntaxError, ValueError) as exc:
                text = exc.one_line() if isinstance(exc, QuerySyntaxError) else str(exc)
                problem(watch, f"query unusable, watch skipped: {text}")
                continue
            entries.append(((watch.id, ""), query))
            for competitor in dict.fromkeys(watch.competitors):
                if not competitor.strip():
                    continue
                try:
                    term = competitor_query(competitor)
                    check_query(term)
                except (QuerySyntaxError, ValueError) as exc:
                    text = exc.one_line() if isinstance(exc, QuerySyntaxError) else str(exc)
                    problem(watch, f"competitor {competitor!r} unusable, skipped: {text}")
                    continue
                entries.append(((watch.id, competitor), term))
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
