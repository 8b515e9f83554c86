"""Tests for the multi-watch matcher, including agreement with a naive reference evaluator."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.matcher import WatchMatch, WatchMatcher, fold
from nlp.query import And, Field, Near, Not, Or, Query, Term, anchored, parse


def build(**watches: str) -> WatchMatcher[str]:
    return WatchMatcher.build((name, parse(q)) for name, q in watches.items())


# --- behaviour -------------------------------------------------------------------------------


def test_design_example_matches_aliases() -> None:
    m = build(luckin='瑞幸 OR luckin OR "瑞幸咖啡"')
    assert m.match("今天喝了瑞幸的生椰拿铁") == ["luckin"]
    assert m.match("Luckin Coffee opens in NYC") == ["luckin"]
    assert m.match("星巴克新品") == []


def test_chinese_terms_match_as_substrings_not_tokens() -> None:
    # jieba would cut 瑞幸咖啡门店 differently; substring matching does not care.
    m = build(w="幸咖")
    assert m.match("瑞幸咖啡门店") == ["w"]


def test_ascii_terms_respect_word_boundaries_cjk_terms_do_not() -> None:
    m = build(w="luckin")
    assert m.match("pluckin chickens") == []
    assert m.match("luckiness") == []
    assert m.match("买了luckin的咖啡") == ["w"]
    assert m.match("#luckin# (luckin)") == ["w"]
    assert m.match("luckin_coffee") == []  # "_" is a word character, as in identifiers and tags


def test_digits_count_as_word_characters() -> None:
    m = build(w='"iphone 15"')
    assert m.match("new iphone 15 pro") == ["w"]
    assert m.match("new iphone 150") == []


def test_case_and_width_are_folded_on_both_sides() -> None:
    m = build(a="ＬＵＣＫＩＮ", b="Xiaomi")
    assert m.match("luckin") == ["a"]
    assert m.match("ＸＩＡＯＭＩ １４") == ["b"]


def test_zero_width_characters_do_not_dodge_the_match() -> None:
    m = build(w="瑞幸")
    assert m.match("瑞\u200b幸 又出事了") == ["w"]
    assert m.match("瑞\ufeff幸") == ["w"]


def test_phrase_whitespace_is_normalised() -> None:
    m = build(w='"luckin coffee"')
    assert m.match("LUCKIN \n\t COFFEE") == ["w"]
    assert m.match("luckin and coffee") == []


def test_not_excludes() -> None:
    m = build(w="小米 NOT 招聘")
    assert m.match("小米汽车发布") == ["w"]
    assert m.match("小米招聘工程师") == []


def test_near_counts_characters_in_either_order() -> None:
    m = build(w="雷军 NEAR/3 发布会")
    assert m.match("雷军在发布会上说") == ["w"]  # gap 1
    assert m.match("发布会上雷军说") == ["w"]  # reversed, gap 1
    assert m.match("雷军今天在北京的发布会") == []  # gap 6
    assert m.match("雷军") == []


def test_near_overlapping_terms_have_gap_zero() -> None:
    m = build(w="瑞幸 NEAR/0 幸运")
    assert m.match("瑞幸运") == ["w"]


def test_near_finds_the_close_pair_among_many_occurrences() -> None:
    m = build(w="a NEAR/2 b")
    text = "a " + "x " * 50 + "a " * 30 + "x " * 10 + "b  a"
    assert m.match(text) == ["w"]
    assert m.match("a " * 40 + "x " * 10 + "b") == []


def test_field_filters() -> None:
    m = build(
        weibo="小米 platform:weibo",
        lei="小米 author:雷军",
        zh="xiaomi lang:zh",
        not_bili="小米 NOT platform:bilibili",
    )
    assert m.match("小米", platform="Weibo") == ["weibo", "not_bili"]
    assert m.match("小米", platform="bilibili", author_name="雷军") == ["lei"]
    assert m.match("小米", platform="bilibili", author_id="雷军") == ["lei"]
    assert m.match("xiaomi", lang="zh-Hans") == ["zh"]
    assert m.match("xiaomi", lang="en") == []
    # Unknown metadata never satisfies a positive filter, and satisfies a negated one.
    assert m.match("小米") == ["not_bili"]


def test_match_details_lists_positive_terms_found_as_written() -> None:
    m = build(w='瑞幸 OR Luckin OR "瑞幸咖啡" NOT 招聘', v="咖啡")
    details = m.match_details("瑞幸咖啡 LUCKIN")
    assert details == [WatchMatch("w", ("瑞幸", "Luckin", "瑞幸咖啡")), WatchMatch("v", ("咖啡",))]


def test_shared_terms_across_watches() -> None:
    m = WatchMatcher.build([(i, parse(f"瑞幸 t{i}")) for i in range(50)])
    assert m.term_count == 51
    assert m.match("瑞幸 t7 t9") == [7, 9]


def test_unanchored_watch_is_rejected() -> None:
    with pytest.raises(ValueError, match="can match without any of its terms"):
        WatchMatcher.build([("w", parse("NOT 招聘"))])
    with pytest.raises(ValueError, match="can match without"):
        WatchMatcher.build([("w", parse("a OR platform:weibo"))])


def test_duplicate_watch_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="two watches"):
        WatchMatcher.build([("w", parse("a")), ("w", parse("b"))])


def test_term_empty_after_folding_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty after normalisation"):
        WatchMatcher.build([("w", Term("\u200b"))])


def test_no_watches_matches_nothing() -> None:
    m: WatchMatcher[str] = WatchMatcher.build([])
    assert len(m) == 0
    assert m.match("anything") == []


def test_hostile_texts() -> None:
    m = build(w="a NEAR/1 b", v="瑞幸")
    assert m.match("") == []
    assert m.match("\x00\x01\ud800") == []  # lone surrogate and control characters do not crash
    assert m.match("a" * 200_000) == []
    assert m.match("瑞" * 100_000 + "幸") == ["v"]
    with pytest.raises(TypeError):
        m.match(None)  # type: ignore[arg-type]


def test_fold() -> None:
    assert fold("  ＡＢＣ　１２３\u200b ") == "abc 123"
    assert fold("Straße") == "strasse"


# --- agreement with a naive reference evaluator ------------------------------------------------
#
# Written from the rules in nlp.matcher's docstring, sharing none of its code: its own folding
# (str and unicodedata), word-character test, span search and gap.


def _ref_fold(text: str) -> str:
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")  # zero-width, bidi, BOM
    once = unicodedata.normalize("NFKC", visible)
    return " ".join(unicodedata.normalize("NFKC", once.casefold()).split())


def _word(ch: str) -> bool:
    # A letter/digit/underscore of a script written with spaces (everything before Thai).
    return ord(ch) < 0x0E00 and (ch == "_" or unicodedata.category(ch)[0] in "LN")


def _naive_spans(text: str, term: str) -> list[tuple[int, int]]:
    t = _ref_fold(term)
    spans = []
    i = text.find(t)
    while i != -1:
        j = i + len(t)
        before = text[i - 1] if i > 0 else ""
        after = text[j] if j < len(text) else ""
        if not ((_word(t[0]) and before and _word(before)) or (_word(t[-1]) and after and _word(after))):
            spans.append((i, j))
        i = text.find(t, i + 1)
    return spans


def _between(text: str, a: tuple[int, int], b: tuple[int, int]) -> int:
    """Characters strictly between two spans: the slice from the earlier end to the later start."""

    first, second = sorted((a, b))
    return len(text[min(first[1], second[1]) : second[0]])


def _naive(q: Query, text: str, meta: dict[str, str | None]) -> bool:
    folded = _ref_fold(text)
    if isinstance(q, Term):
        return bool(_naive_spans(folded, q.text))
    if isinstance(q, And):
        return all(_naive(c, text, meta) for c in q.children)
    if isinstance(q, Or):
        return any(_naive(c, text, meta) for c in q.children)
    if isinstance(q, Not):
        return not _naive(q.child, text, meta)
    if isinstance(q, Near):
        left, right = _naive_spans(folded, q.left.text), _naive_spans(folded, q.right.text)
        return any(_between(folded, a, b) <= q.distance for a in left for b in right)
    assert isinstance(q, Field)
    value = _ref_fold(q.value)
    if q.name == "platform":
        return meta["platform"] is not None and _ref_fold(meta["platform"]) == value
    if q.name == "author":
        return any(meta[k] is not None and _ref_fold(meta[k]) == value for k in ("author_id", "author_name"))
    lang = meta["lang"]
    return lang is not None and _ref_fold(lang).split("-")[0] == value.split("-")[0]


def test_reference_evaluator_on_known_cases() -> None:
    # The reference itself must be right before it can judge the matcher.
    assert _ref_fold("  ＡＢＣ　１２３\u200b ") == "abc 123"
    assert _naive_spans("pluckin luckin", "Luckin") == [(8, 14)]
    assert _naive_spans("买了luckin的", "luckin") == [(2, 8)]
    assert _between("ab..cd", (0, 2), (4, 6)) == 2 == _between("ab..cd", (4, 6), (0, 2))
    assert _between("abcd", (0, 3), (1, 4)) == 0
    assert _naive(
        parse("瑞幸 NEAR/1 降价"),
        "瑞幸又降价",
        dict.fromkeys(("platform", "author_id", "author_name", "lang")),
    )


_VOCAB = ["瑞幸", "咖啡", "luckin", "Luck", "小米", "ab", "b", "ＡＢ", "a b", "雷军"]
_TEXT_PIECES = [*_VOCAB, "p", "x", " ", "  ", "的", "\u200b", "_", "1", "AB", "LUCKIN", "ing"]
_TERMS = st.sampled_from(_VOCAB).map(Term)
_FIELDS = st.one_of(
    st.builds(Field, st.just("platform"), st.sampled_from(["weibo", "Bilibili"])),
    st.builds(Field, st.just("author"), st.sampled_from(["雷军", "42"])),
    st.builds(Field, st.just("lang"), st.sampled_from(["zh", "en"])),
)
_LEAVES = st.one_of(_TERMS, _TERMS, _FIELDS, st.builds(Near, _TERMS, _TERMS, st.integers(0, 6)))
_QUERIES: st.SearchStrategy[Query] = st.recursive(
    _LEAVES,
    lambda kids: st.one_of(
        kids.map(Not),
        st.lists(kids, min_size=2, max_size=3).map(lambda ps: And(tuple(ps))),
        st.lists(kids, min_size=2, max_size=3).map(lambda ps: Or(tuple(ps))),
    ),
    max_leaves=8,
)
_TEXTS = st.lists(st.sampled_from(_TEXT_PIECES), max_size=14).map("".join)
_META = st.fixed_dictionaries(
    {
        "platform": st.sampled_from([None, "weibo", "bilibili"]),
        "author_id": st.sampled_from([None, "42", "7"]),
        "author_name": st.sampled_from([None, "雷军", "someone"]),
        "lang": st.sampled_from([None, "zh", "zh-Hans", "en"]),
    }
)


def _anchor(q: Query) -> Query:
    return q if anchored(q) else And((Term("瑞幸"), q))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_QUERIES.map(_anchor), min_size=1, max_size=6),
    st.lists(_TEXTS, min_size=1, max_size=5),
    _META,
)
def test_matching_agrees_with_naive_evaluator(queries: list[Query], texts: list[str], meta: dict) -> None:
    m = WatchMatcher.build(enumerate(queries))
    for text in texts:
        expected = [i for i, q in enumerate(queries) if _naive(q, text, meta)]
        assert m.match(text, **meta) == expected, (text, meta)


@settings(max_examples=100, deadline=None)
@given(_QUERIES.map(_anchor), _TEXTS)
def test_matching_through_printed_query_is_the_same(q: Query, text: str) -> None:
    from nlp.query import to_string

    direct = WatchMatcher.build([("w", q)]).match(text)
    printed = WatchMatcher.build([("w", parse(to_string(q)))]).match(text)
    assert direct == printed


# Texts with long runs of one piece: a term repeated hundreds of times before the pair that
# decides a NEAR (the matcher once kept only the first 256 occurrences of a term).
_RUNS = st.lists(
    st.tuples(
        st.sampled_from(["瑞幸，", "降价", "ab ", "b", "x", "很多字", " ", "ＡＢ"]), st.integers(1, 400)
    ),
    min_size=1,
    max_size=4,
).map(lambda runs: "".join(piece * n for piece, n in runs))
_NEAR_PAIRS = st.builds(
    Near,
    st.sampled_from(["瑞幸", "降价", "ab", "b"]).map(Term),
    st.sampled_from(["瑞幸", "降价", "ab", "b"]).map(Term),
    st.integers(0, 8),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_NEAR_PAIRS, min_size=1, max_size=3), _RUNS, _RUNS)
def test_near_agrees_with_naive_evaluator_at_large_repeat_counts(
    queries: list[Query], head: str, tail: str
) -> None:
    m = WatchMatcher.build(enumerate(queries))
    meta: dict[str, str | None] = dict.fromkeys(("platform", "author_id", "author_name", "lang"))
    for text in (head + tail, head + "瑞幸又降价了" + tail, tail + "降价的瑞幸" + head):
        expected = [i for i, q in enumerate(queries) if _naive(q, text, meta)]
        assert m.match(text) == expected


def test_near_finds_a_close_pair_after_hundreds_of_occurrences() -> None:
    m = build(a="瑞幸 NEAR/3 降价", b="降价 NEAR/3 瑞幸")
    text = "瑞幸，" * 300 + "很多字" * 50 + "瑞幸又降价了"
    assert m.match(text) == ["a", "b"]
    assert m.match("降价！" * 1000 + "很多字" * 50 + "瑞幸") == []
