"""A watch's own words, which trending-term lists (/trending and the digests) leave out: they are
in nearly every mention, so they are the subject, not a trend.

Own words are the watch's name, its positive query terms and its competitors' names, each also cut
into pieces by the project's segmenter (nlp.segment), because post keywords are segmenter tokens:
鹿角咖啡 becomes 鹿角 + 咖啡, 远山手机 becomes 远山 + 手机. The cut depends on the dictionary at the
time a post was analysed (brand names are added to it as user terms, after which 鹿角咖啡 stays
whole, and a process without them cuts it), so a Chinese term that is part of an own word is left
out too, whatever the cut was then: posts matched through 鹿角拿铁 all contain 拿铁, which is
"frequent" because of the query. Latin terms must be an own word or a piece of one ("app" is not
part of "apple" in that sense).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from nlp.query import parse, positive_terms
from nlp.segment import tokenize
from nlp.text import fold
from storage import queries

# Own words removed from a list are made up by asking the database for this many more terms.
_SPARE = 30
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_RUN = re.compile(r"[0-9a-z]+")


def own_words(watch: queries.WatchRef) -> frozenset[str]:
    """The watch's own words and their segmenter pieces, folded and lower-cased like keywords."""

    query_terms = [t.text for t in positive_terms(parse(watch.query))]  # validated when stored
    out: set[str] = set()
    for word in (watch.name, *watch.competitors, *query_terms):
        folded = fold(word).lower()
        if not folded.strip():
            continue
        out.add(folded)
        out.update(token for token in tokenize(folded) if token.strip())
        # Its Latin/digit runs too: a segmenter without the brand in its dictionary cuts where the
        # script changes (青禾x5 -> 青禾 + x5) and posts analysed then carry those pieces, while one
        # that has it (brand names become user terms) keeps 青禾x5 whole and would miss them.
        out.update(_LATIN_RUN.findall(folded))
    return frozenset(out)


def is_own(term: str, words: frozenset[str]) -> bool:
    """True for an own word, a piece of one, or any other part of one."""

    folded = fold(term).lower()
    if folded in words:
        return True
    return bool(_HAN.search(folded)) and any(folded in word for word in words)


def trending_terms(
    session: Session, *, watch: queries.WatchRef, start: datetime, end: datetime, limit: int
) -> tuple[queries.TermTrend, ...]:
    """queries.trending_terms without the watch's own words (see the module docstring)."""

    words = own_words(watch)
    exclude: Sequence[str] = sorted(words)
    found = queries.trending_terms(
        session, watch_id=watch.id, start=start, end=end, limit=min(100, limit + _SPARE), exclude=exclude
    )
    return tuple(t for t in found if not is_own(t.term, words))[:limit]
