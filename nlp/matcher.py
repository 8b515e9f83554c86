"""Multi-watch matching: every term of every watch in one Aho-Corasick automaton, one pass per post.

`WatchMatcher.build` compiles the terms of all watches into a single pyahocorasick automaton. For a
post, one scan of the folded text finds every term occurrence; only watches with at least one
positive term found are evaluated (their AST against the set of found terms and positions), so
1,000 watches cost about one scan plus the few watches a post actually concerns.

Folding (`fold`) is applied identically to terms and texts: NFKC (full-width -> half-width, ① -> 1),
case folding, zero-width and bidi control characters removed (a common trick to dodge keyword
filters: 瑞\u200b幸), runs of whitespace collapsed to one space. Traditional -> simplified is NOT done
here: the pipeline passes text already normalised by nlp.text; this module does not depend on it.

Chinese terms match as substrings (segmentation splits brand names: 瑞幸咖啡 -> 瑞幸 / 咖啡). Terms
whose first or last character is a word character of a space-separated script (Latin, Greek,
Cyrillic, digits, "_") need a word boundary on that side, so "luckin" does not match inside
"pluckin" but does match in "买了luckin的咖啡". CJK edges never need a boundary.

Field filters compare folded values: `platform:` the post's platform, `author:` the author id or
the author name, `lang:` the primary language subtag ("zh" matches "zh-Hant"). A filter whose
post attribute is unknown (None) is false, so `NOT platform:weibo` is true for an unknown platform.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Generic, TypeVar

import ahocorasick

from nlp.query import And, Field, Near, Not, Or, Query, Term, anchored, positive_terms, terms

W = TypeVar("W", bound=Hashable)

# Zero-width characters, soft hyphen, bidi controls and the BOM: invisible, used to split keywords.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The normal form both terms and texts are matched in (see the module docstring)."""

    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    text = unicodedata.normalize("NFKC", text.casefold())
    return _SPACES.sub(" ", text).strip()


def is_word_char(ch: str) -> bool:
    """A character of a space-separated script: word boundaries apply around it."""

    # Below U+0E00: Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Indic scripts. From Thai on
    # (and all of CJK) scripts are written without spaces, so no boundary is required.
    return (ch.isalnum() or ch == "_") and ord(ch) < 0x0E00


@dataclass(frozen=True, slots=True)
class WatchMatch(Generic[W]):
    """One watch that matched a text, with the positive terms found (as written in the query)."""

    watch_id: W
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _TermInfo:
    folded: str
    left_boundary: bool
    right_boundary: bool


@dataclass(frozen=True, slots=True)
class _Watch(Generic[W]):
    watch_id: W
    program: _Node
    triggers: frozenset[int]  # term ids of positive terms
    explain: tuple[tuple[int, str], ...]  # (term id, text as written) of positive terms, in order
    # The program as a Python closure (no interpreter loop per node), or None when the query is
    # a term or an OR of terms: then being a candidate (one of its terms found) is matching.
    test: Callable[[Mapping[int, list[int]], _Meta], bool] | None = None


# A watch's query compiled against the term table: ("T", tid) | ("A", nodes) | ("O", nodes) |
# ("N", node) | ("F", field name, folded value) | ("R", left tid, right tid, distance).
_Node = tuple


def _compile(node: Query, term_ids: Mapping[str, int]) -> _Node:
    if isinstance(node, Term):
        return ("T", term_ids[fold(node.text)])
    if isinstance(node, And):
        return ("A", tuple(_compile(c, term_ids) for c in node.children))
    if isinstance(node, Or):
        return ("O", tuple(_compile(c, term_ids) for c in node.children))
    if isinstance(node, Not):
        return ("N", _compile(node.child, term_ids))
    if isinstance(node, Field):
        value = fold(node.value)
        if node.name == "lang":
            value = _primary_lang(value) or ""
        return ("F", node.name, value)
    if isinstance(node, Near):
        return ("R", term_ids[fold(node.left.text)], term_ids[fold(node.right.text)], node.distance)
    raise TypeError(f"not a query node: {node!r}")


_Test = Callable[[Mapping[int, list[int]], "_Meta"], bool]


def _closure(node: _Node, lengths: Sequence[int]) -> _Test:
    """The compiled program as nested closures: no interpreter loop over node tuples per post (the
    property tests hold the matcher to an independent reference evaluator)."""

    op = node[0]
    if op == "T":
        tid = node[1]
        return lambda found, meta: tid in found
    if op in ("A", "O"):
        parts = tuple(_closure(c, lengths) for c in node[1])
        if op == "A":

            def all_of(found: Mapping[int, list[int]], meta: _Meta) -> bool:
                # Loops, not all()/any() over generators: this runs for every candidate watch.
                for part in parts:  # noqa: SIM110
                    if not part(found, meta):
                        return False
                return True

            return all_of

        def any_of(found: Mapping[int, list[int]], meta: _Meta) -> bool:
            for part in parts:  # noqa: SIM110
                if part(found, meta):
                    return True
            return False

        return any_of
    if op == "N":
        inner = _closure(node[1], lengths)
        return lambda found, meta: not inner(found, meta)
    if op == "F":
        name, value = node[1], node[2]
        return lambda found, meta: _field_matches(name, value, meta)
    left, right, distance = node[1], node[2], node[3]
    left_len, right_len = lengths[left], lengths[right]

    def near(found: Mapping[int, list[int]], meta: _Meta) -> bool:
        a, b = found.get(left), found.get(right)
        return bool(a and b) and _near(a, left_len, b, right_len, distance)  # type: ignore[arg-type]

    return near


def _trivial(node: _Node) -> bool:
    return node[0] == "T" or (node[0] == "O" and all(c[0] == "T" for c in node[1]))


def _near(left: Sequence[int], left_len: int, right: Sequence[int], right_len: int, distance: int) -> bool:
    """Whether some occurrence of the left term and some of the right one have at most `distance`
    characters between them (either order, overlap counts as 0). Both lists hold start offsets in
    increasing order; one linear merge, whatever the number of occurrences.

    For a left span [s, s + left_len), a right start r qualifies when
    s - distance - right_len <= r <= s + left_len + distance. The lower bound only grows with s,
    so the right pointer never moves back."""

    j, n = 0, len(right)
    for s in left:
        low = s - distance - right_len
        while j < n and right[j] < low:
            j += 1
        if j == n:
            return False
        if right[j] <= s + left_len + distance:
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Meta:
    platform: str | None
    author_id: str | None
    author_name: str | None
    lang: str | None


class WatchMatcher(Generic[W]):
    """Immutable after `build`; safe to share between threads (pyahocorasick iteration is read-only)."""

    def __init__(
        self,
        automaton: ahocorasick.Automaton | None,
        term_info: tuple[_TermInfo, ...],
        watches: tuple[_Watch[W], ...],
        by_term: Mapping[int, tuple[int, ...]],
    ) -> None:
        self._automaton = automaton
        self._terms = term_info
        self._by_term = dict(by_term)
        lengths = tuple(len(t.folded) for t in term_info)  # folded length per term id (NEAR)
        self._watches = tuple(
            replace(w, test=None if _trivial(w.program) else _closure(w.program, lengths)) for w in watches
        )

    @classmethod
    def build(cls, watches: Iterable[tuple[W, Query]]) -> WatchMatcher[W]:
        """Compile watches. Raises ValueError for a duplicate id or an unanchored query."""

        term_ids: dict[str, int] = {}
        infos: list[_TermInfo] = []
        compiled: list[_Watch[W]] = []
        by_term: dict[int, list[int]] = {}
        seen: set[W] = set()

        def term_id(term: Term) -> int:
            folded = fold(term.text)
            if folded not in term_ids:
                term_ids[folded] = len(infos)
                infos.append(_TermInfo(folded, is_word_char(folded[0]), is_word_char(folded[-1])))
            return term_ids[folded]

        for watch_id, query in watches:
            if watch_id in seen:
                raise ValueError(f"two watches have the id {watch_id!r}")
            seen.add(watch_id)
            try:
                check_query(query)
            except ValueError as exc:
                raise ValueError(f"watch {watch_id!r}: {exc}") from None
            for t in terms(query):
                term_id(t)
            explain: list[tuple[int, str]] = []
            for t in positive_terms(query):
                tid = term_ids[fold(t.text)]
                if all(tid != e[0] for e in explain):
                    explain.append((tid, t.text))
            triggers = frozenset(tid for tid, _ in explain)
            index = len(compiled)
            program = _compile(query, term_ids)
            compiled.append(_Watch(watch_id, program, triggers, tuple(explain)))
            for tid in triggers:
                by_term.setdefault(tid, []).append(index)

        near_terms = {tid for w in compiled for tid in _near_operands(w.program)}
        automaton: ahocorasick.Automaton | None = None
        if term_ids:
            automaton = ahocorasick.Automaton()
            for folded, tid in term_ids.items():
                info = infos[tid]
                # Everything a hit needs, in the automaton's value: no lookups per occurrence.
                automaton.add_word(
                    folded, (tid, len(folded), info.left_boundary, info.right_boundary, tid in near_terms)
                )
            automaton.make_automaton()
        frozen_by_term = {k: tuple(v) for k, v in by_term.items()}
        return cls(automaton, tuple(infos), tuple(compiled), frozen_by_term)

    def __len__(self) -> int:
        return len(self._watches)

    @property
    def term_count(self) -> int:
        return len(self._terms)

    def match(
        self,
        text: str,
        *,
        platform: str | None = None,
        author_id: str | None = None,
        author_name: str | None = None,
        lang: str | None = None,
    ) -> list[W]:
        """Ids of the watches whose query matches, in build order."""

        return [
            m.watch_id
            for m in self.match_details(
                text, platform=platform, author_id=author_id, author_name=author_name, lang=lang
            )
        ]

    def match_details(
        self,
        text: str,
        *,
        platform: str | None = None,
        author_id: str | None = None,
        author_name: str | None = None,
        lang: str | None = None,
    ) -> list[WatchMatch[W]]:
        """Matching watches with the positive terms that were found, in build order."""

        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if self._automaton is None:
            return []
        folded = fold(text)
        found = self._occurrences(folded)
        if not found:
            return []
        by_term = self._by_term
        candidates: set[int] = set()
        for tid in found:
            candidates.update(by_term.get(tid, ()))
        meta = _Meta(
            _fold_meta(platform),
            _fold_meta(author_id),
            _fold_meta(author_name),
            _primary_lang(lang),
        )
        out: list[WatchMatch[W]] = []
        watches = self._watches
        for index in sorted(candidates):
            watch = watches[index]
            if watch.test is None or watch.test(found, meta):
                explain = watch.explain
                terms = (
                    (explain[0][1],) if len(explain) == 1 else tuple(t for tid, t in explain if tid in found)
                )
                out.append(WatchMatch(watch.watch_id, terms))
        return out

    def _occurrences(self, folded: str) -> dict[int, list[int]]:
        """Term id -> start offsets of its occurrences (only for NEAR operands, whose positions
        matter; other terms get an empty list: present)."""

        assert self._automaton is not None
        found: dict[int, list[int]] = {}
        n = len(folded)
        for end, (tid, length, left, right, near) in self._automaton.iter(folded):
            start = end - length + 1
            if left and start > 0 and is_word_char(folded[start - 1]):
                continue
            if right and end + 1 < n and is_word_char(folded[end + 1]):
                continue
            starts = found.get(tid)
            if starts is None:
                starts = found[tid] = []
            if near:
                starts.append(start)
        return found


def _near_operands(node: _Node) -> list[int]:
    op = node[0]
    if op == "R":
        return [node[1], node[2]]
    if op in ("A", "O"):
        return [tid for child in node[1] for tid in _near_operands(child)]
    if op == "N":
        return _near_operands(node[1])
    return []


def check_query(query: Query) -> None:
    """Raise ValueError when `build` would refuse this query (unanchored, or a term that folds to
    nothing), so a caller can set one bad watch aside and build the others."""

    if not anchored(query):
        raise ValueError(
            "can match without any of its terms in the text; add a term that must appear "
            "(filters and NOT alone would match almost every post)"
        )
    for t in terms(query):
        if not fold(t.text):
            raise ValueError(f"term {t.text!r} is empty after normalisation")


@lru_cache(maxsize=4096)
def _fold_meta(value: str | None) -> str | None:
    # Post metadata repeats (a few platforms and languages, recurring authors): fold each once.
    return None if value is None else fold(value)


@lru_cache(maxsize=256)
def _primary_lang(lang: str | None) -> str | None:
    if lang is None:
        return None
    return fold(lang).replace("_", "-").split("-", 1)[0]


def _field_matches(name: str, value: str, meta: _Meta) -> bool:
    if name == "platform":
        return meta.platform == value
    if name == "author":
        return value in (meta.author_id, meta.author_name)
    if name == "lang":
        return meta.lang == value
    raise ValueError(f"unknown field {name!r}")
