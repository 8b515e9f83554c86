"""Tests for the watch query language: grammar, canonical printing, errors, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.query import (
    MAX_DEPTH,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    And,
    Field,
    Near,
    Not,
    Or,
    Query,
    QuerySyntaxError,
    Term,
    anchored,
    parse,
    positive_terms,
    terms,
    to_string,
)

# --- grammar ---------------------------------------------------------------------------------


def test_design_example() -> None:
    assert parse('瑞幸 OR luckin OR "瑞幸咖啡"') == Or((Term("瑞幸"), Term("luckin"), Term("瑞幸咖啡")))


def test_implicit_and_equals_explicit_and() -> None:
    assert parse("瑞幸 咖啡") == parse("瑞幸 AND 咖啡") == And((Term("瑞幸"), Term("咖啡")))


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    q = parse("a OR b c NOT d")
    assert q == Or((Term("a"), And((Term("b"), Term("c"), Not(Term("d"))))))


def test_parentheses_group() -> None:
    assert parse("(a OR b) c") == And((Or((Term("a"), Term("b"))), Term("c")))


def test_nested_same_operator_is_flattened() -> None:
    assert parse("a AND (b AND c)") == And((Term("a"), Term("b"), Term("c")))
    assert parse("(a OR b) OR c") == Or((Term("a"), Term("b"), Term("c")))


def test_lowercase_operators_are_terms() -> None:
    assert parse("rock and roll") == And((Term("rock"), Term("and"), Term("roll")))


def test_quoted_phrase_keeps_spaces_and_collapses_runs() -> None:
    assert parse('"luckin   coffee"') == Term("luckin coffee")


def test_quoted_keyword_is_a_term() -> None:
    assert parse('"AND" OR "NOT"') == Or((Term("AND"), Term("NOT")))


def test_escapes_inside_quotes() -> None:
    assert parse(r'"say \"hi\" \\o/"') == Term('say "hi" \\o/')


def test_fullwidth_parentheses_and_quotes_from_ime() -> None:
    assert parse("（瑞幸 OR 库迪） AND “生椰 拿铁”") == And(
        (Or((Term("瑞幸"), Term("库迪"))), Term("生椰 拿铁"))
    )
    assert parse("「瑞幸咖啡」") == Term("瑞幸咖啡")


def test_near() -> None:
    assert parse("雷军 NEAR/5 发布会") == Near(Term("雷军"), Term("发布会"), 5)
    assert parse('a NEAR/0 "b c" OR d') == Or((Near(Term("a"), Term("b c"), 0), Term("d")))


def test_fields() -> None:
    q = parse('小米 platform:weibo author:@雷军 lang:zh author:"Lei Jun"')
    assert q == And(
        (
            Term("小米"),
            Field("platform", "weibo"),
            Field("author", "雷军"),
            Field("lang", "zh"),
            Field("author", "Lei Jun"),
        )
    )


def test_field_name_is_case_insensitive() -> None:
    assert parse("x Platform:weibo") == And((Term("x"), Field("platform", "weibo")))


def test_colon_after_non_ascii_is_text() -> None:
    assert parse("回应:道歉") == Term("回应:道歉")
    assert parse("12:30") == Term("12:30")


def test_term_helpers() -> None:
    q = parse("(a OR b) NOT c x NEAR/2 y")
    assert [t.text for t in terms(q)] == ["a", "b", "c", "x", "y"]
    assert [t.text for t in positive_terms(q)] == ["a", "b", "x", "y"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("瑞幸", True),
        ("瑞幸 NOT 招聘", True),
        ("a OR platform:weibo", False),
        ("NOT 瑞幸", False),
        ("platform:weibo", False),
        ("platform:weibo (a OR b)", True),
        ("NOT NOT a", False),  # documented: anchoring does not see through double negation
        ("a NEAR/3 b", True),
    ],
)
def test_anchored(text: str, expected: bool) -> None:
    assert anchored(parse(text)) is expected


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(a OR b", 0, "missing closing parenthesis"),
        ("a OR b)", 6, "closing parenthesis without"),
        ("a OR", 4, "query ends"),
        ("OR a", 0, "OR needs a term"),
        ("a AND AND b", 6, "AND needs a term"),
        ("a ()", 3, "empty parentheses"),
        ('a "b', 2, "unterminated quote"),
        ('a ""', 2, "empty quoted phrase"),
        ("platfrom:weibo x", 0, "unknown field 'platfrom'"),
        ("x platform:", 2, "needs a value"),
        ("x author:@", 2, "needs a value"),
        ("NEAR/3 a", 0, "NEAR needs a term"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/x b", 2, "NEAR needs a distance"),
        ("a NEAR/3", 8, "put a term after"),
        ("(a) NEAR/3 b", 0, "put a term before"),
        ("platform:weibo NEAR/3 b", 0, "put a term before"),
        ("a NEAR/3 b NEAR/3 c", 11, "exactly two terms"),
        ("a NEAR/99999 b", 2, "too large"),
        ("a」", 1, "closing quote"),
        ("a\x00b", 1, "control character"),
        ("小米 AND （华为 OR ", 14, "query ends"),
    ],
)
def test_syntax_errors_point_at_the_mistake(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert fragment in info.value.message
    assert info.value.position == position


def test_caret_line_accounts_for_wide_characters() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("小米 AND )")
    rendered = str(info.value).splitlines()
    assert rendered[1] == "  小米 AND )"
    # 小米 takes 4 columns, " AND " 5: the caret sits under ")" at column 9.
    assert rendered[2] == "  " + " " * 9 + "^"
    assert "\n" not in info.value.one_line()


def test_ten_kilobyte_query_is_refused_clearly() -> None:
    hostile = " OR ".join(["瑞幸"] * 2600)  # about 15 KB
    with pytest.raises(QuerySyntaxError) as info:
        parse(hostile)
    assert f"at most {MAX_QUERY_CHARS}" in info.value.message
    assert len(str(info.value)) < 400  # the caret excerpt is a window, not the whole query


def test_deep_nesting_is_refused_before_recursion_trouble() -> None:
    for hostile in ("(" * 900 + "a" + ")" * 900, "NOT " * 400 + "a"):
        with pytest.raises(QuerySyntaxError) as info:
            parse(hostile)
        assert f"deeper than {MAX_DEPTH}" in info.value.message


def test_nesting_at_the_limit_is_accepted() -> None:
    q = parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    assert q == Term("a")


def test_too_many_terms() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(" OR ".join(f"t{i}" for i in range(MAX_TERMS + 1)))
    assert f"more than {MAX_TERMS} terms" in info.value.message


def test_overlong_term() -> None:
    with pytest.raises(QuerySyntaxError, match="longer than"):
        parse("瑞" * 101)


def test_invisible_term() -> None:
    with pytest.raises(QuerySyntaxError, match="no visible"):
        parse("a \u200b\u200d")


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse(b"abc")  # type: ignore[arg-type]


# --- round trip ------------------------------------------------------------------------------

_SYMBOLS = 'ab瑞幸咖啡小米XyZ019_-.@#:()（）"“”「」\\/&|+ '
_CHARS = st.sampled_from([*_SYMBOLS, "NEAR", "AND", "OR", "NOT"])


def _term_text() -> st.SearchStrategy[str]:
    return (
        st.lists(_CHARS, min_size=1, max_size=6)
        .map(lambda parts: " ".join("".join(parts).split()))
        .filter(lambda s: bool(s) and any(c.isalnum() for c in s))
    )


_TERM = _term_text().map(Term)
_FIELD = st.builds(
    Field,
    st.sampled_from(["platform", "author", "lang"]),
    _term_text().map(lambda s: s.lstrip("@").strip()).filter(bool),
)
_NEAR = st.builds(Near, _TERM, _TERM, st.integers(0, 500))


def _combine(children: st.SearchStrategy[Query]) -> st.SearchStrategy[Query]:
    def flat(kind: type[And] | type[Or], parts: list[Query]) -> Query:
        out: list[Query] = []
        for p in parts:
            out.extend(p.children if isinstance(p, kind) else (p,))
        return kind(tuple(out))

    lists = st.lists(children, min_size=2, max_size=4)
    return st.one_of(
        children.map(Not),
        lists.map(lambda ps: flat(And, ps)),
        lists.map(lambda ps: flat(Or, ps)),
    )


QUERIES: st.SearchStrategy[Query] = st.recursive(st.one_of(_TERM, _FIELD, _NEAR), _combine, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_print_then_parse_round_trips(q: Query) -> None:
    text = to_string(q)
    assert parse(text) == q
    assert to_string(parse(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab瑞幸 ()"“”:NOTRAD/1\\@')), max_size=30))
def test_any_input_parses_or_fails_with_a_position(text: str) -> None:
    try:
        q = parse(text)
    except QuerySyntaxError as e:
        assert 0 <= e.position <= len(text)
        assert e.message
    else:
        assert parse(to_string(q)) == q


def test_field_value_examples_fit_the_field() -> None:
    with pytest.raises(QuerySyntaxError, match=r"e\.g\. author:雷军"):
        parse("x author: y")
    with pytest.raises(QuerySyntaxError, match=r"e\.g\. lang:zh"):
        parse("x lang: y")
    with pytest.raises(QuerySyntaxError, match=r"e\.g\. platform:weibo"):
        parse("x platform: y")


def test_platform_values_are_checked_against_known_platforms() -> None:
    known = ("weibo", "bilibili", "xiaohongshu")
    assert parse("x platform:Weibo", platforms=known) == And((Term("x"), Field("platform", "Weibo")))
    with pytest.raises(QuerySyntaxError) as info:
        parse("x NOT platform:weibp", platforms=known)
    assert info.value.position == 6
    assert info.value.message == "unknown platform 'weibp' (known: bilibili, weibo, xiaohongshu)"
    assert parse("x platform:weibp") == And((Term("x"), Field("platform", "weibp")))  # no list: not checked


def test_phrase_builds_a_literal_term() -> None:
    from nlp.query import phrase

    assert phrase(' “a OR b” ') == Term("a OR b")
    assert phrase('x"y\\') == Term('x"y\\')
    with pytest.raises(QuerySyntaxError, match="empty name"):
        phrase("「」")
