"""Telegram HTML rendering: escaping, validation, splitting at 4096, captions, callback data."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import render
from tests.bot.fake_telegram import parse_html


def _no_space(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_escape_neutralises_markup_and_entities() -> None:
    assert render.escape("<script>alert(1)</script> AT&T") == "&lt;script&gt;alert(1)&lt;/script&gt; AT&amp;T"
    assert render.escape("&amp;") == "&amp;amp;"
    assert render.bold("<b>") == "<b>&lt;b&gt;</b>"
    text, error = parse_html(render.bold("<script> & co"))
    assert error is None and text == "<script> & co"


def test_escape_removes_controls_and_lone_surrogates() -> None:
    out = render.escape("a\x00b\x1b[31mc\r\nd\ud800e")
    assert out == "ab[31mc\nd\ufffde"
    out.encode("utf-8")  # would raise on a surrogate


def test_link_only_for_safe_urls_and_attribute_is_quoted() -> None:
    assert render.link("看 <帖子>", 'https://e.com/?a=1&b="2"') == (
        '<a href="https://e.com/?a=1&amp;b=&quot;2&quot;">看 &lt;帖子&gt;</a>'
    )
    assert render.link("x", "javascript:alert(1)") == "x (javascript:alert(1))"
    assert "<a" not in render.link("x", "https://e.com/a b")
    assert parse_html(render.link("x", 'https://e.com/"><script>'))[1] is None


@pytest.mark.parametrize(
    "bad",
    [
        "a < b",
        "AT&T",
        "<br>",
        "<b>x",
        "x</b>",
        "<b><i>x</b></i>",
        "&nbsp;",
        "&#xD800;",
        "<script>x</script>",
        "</b x>",
    ],
)
def test_validate_rejects_what_telegram_rejects(bad: str) -> None:
    with pytest.raises(render.HtmlError):
        render.validate_html(bad)


def test_visible_length_counts_after_entity_parsing_in_utf16_units() -> None:
    assert render.visible_length("<b>a&amp;b</b>") == 3
    assert render.visible_length("😀") == 2
    assert render.visible_length('<a href="https://e.com">中文</a>') == 2


def test_short_text_is_one_part_unchanged() -> None:
    markup = "<b>标题</b>\n正文 &amp; 更多"
    assert render.split_html(markup) == [markup]


def test_long_text_splits_at_line_boundaries_under_4096() -> None:
    lines = [f"第{i}行 " + "数据" * 40 for i in range(200)]  # ~17,000 characters
    markup = "\n".join(render.escape(line) for line in lines)
    parts = render.split_html(markup)
    assert len(parts) >= 4
    for part in parts:
        text, error = parse_html(part)
        assert error is None
        assert len(text) <= 4096
        assert render.visible_length(part) <= 4096
        # every part starts at a line start and ends at a line end
        assert text.lstrip("\n").startswith("第")
        assert text.rstrip("\n").endswith("数据")
    rejoined = "".join(parse_html(p)[0] for p in parts)
    assert rejoined.replace("\n", "") == "".join(lines)


def test_split_keeps_tags_balanced_and_reopens_with_attributes() -> None:
    inner = "\n".join(f"行{i} <x> & y" for i in range(600))
    markup = f'<b>头</b>\n<blockquote><a href="https://e.com/p?a=1&amp;b=2">{render.escape(inner)}</a></blockquote>'
    parts = render.split_html(markup, 500)
    assert len(parts) > 10
    for part in parts[1:]:
        assert part.startswith('<blockquote><a href="https://e.com/p?a=1&amp;b=2">')
        assert part.endswith("</a></blockquote>")
    for part in parts:
        text, error = parse_html(part)
        assert error is None, part[:80]
        assert len(text) <= 500
    assert _no_space("".join(parse_html(p)[0] for p in parts)) == _no_space("头" + inner)


def test_split_never_cuts_entities_or_surrogate_pairs() -> None:
    markup = "&amp;😀" * 3000  # no spaces or newlines: hard splits
    parts = render.split_html(markup, 101)
    for part in parts:
        assert parse_html(part)[1] is None
        assert render.visible_length(part) <= 101
    assert "".join(parts) == markup


def test_split_one_overlong_line_breaks_at_spaces() -> None:
    words = " ".join(f"word{i}" for i in range(2000))
    parts = render.split_html(words, 1000)
    assert all(render.visible_length(p) <= 1000 for p in parts)
    assert all(re.fullmatch(r"(word\d+ ?)+", p) for p in parts)  # no word cut in two


def test_whitespace_only_parts_are_dropped() -> None:
    parts = render.split_html("a" + "\n" * 5000 + "b", 100)
    assert parts and all(p.strip() for p in parts)
    assert _no_space("".join(parts)) == "ab"


def test_split_rejects_bad_markup() -> None:
    with pytest.raises(render.HtmlError):
        render.split_html("<b>unclosed")


def test_truncate_html_for_captions() -> None:
    caption = render.truncate_html(render.bold("图" * 3000), render.CAPTION_LIMIT)
    text, error = parse_html(caption)
    assert error is None and len(text) <= 1024 and text.endswith("…")
    assert render.truncate_html("<i>short</i>") == "<i>short</i>"


_SEGMENT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["\n", " ", "😀", "中文", "<", "&", '"']),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "b", "i", "code", "a"]), st.lists(_SEGMENT, max_size=8)), max_size=12
    ),
    st.integers(min_value=2, max_value=200),
)
def test_split_property_parts_valid_bounded_and_lossless(
    blocks: list[tuple[str, list[str]]], limit: int
) -> None:
    pieces = []
    plain = []
    for tag, segments in blocks:
        text = "".join(segments)
        plain.append(render.clean_text(text))
        if tag == "a":
            pieces.append(render.link(text, "https://example.com/x"))
        elif tag:
            pieces.append(f"<{tag}>{render.escape(text)}</{tag}>")
        else:
            pieces.append(render.escape(text))
    markup = "".join(pieces)
    parts = render.split_html(markup, limit)
    for part in parts:
        render.validate_html(part)
        assert parse_html(part)[1] is None
        assert render.visible_length(part) <= limit
        assert part.strip()
    assert _no_space("".join(render.visible_text(p) for p in parts)) == _no_space(render.visible_text(markup))


def test_callback_data_pack_unpack_and_limits() -> None:
    data = render.pack_callback("fb", "neg", 12345)
    assert data == "fb:neg:12345"
    assert render.unpack_callback(data, "fb", 2) == ("neg", "12345")
    with pytest.raises(ValueError, match="64"):
        render.pack_callback("fb", "微博" * 11)  # 66 bytes
    with pytest.raises(ValueError):
        render.pack_callback("fb", "a:b")
    with pytest.raises(ValueError):
        render.pack_callback("Bad-Prefix", "x")
    token = render.short_token("weibo:" + "9" * 200)
    assert re.fullmatch(r"[a-z2-7]{10}", token)
    assert len(render.pack_callback("kol", token, "weibo").encode()) <= 64


@pytest.mark.parametrize("forged", ["", "fb", "xx:neg:1", "fb:neg", "fb:neg:1:2", "fb:" + "x" * 80])
def test_unpack_rejects_forged_callback_data(forged: str) -> None:
    with pytest.raises(ValueError):
        render.unpack_callback(forged, "fb", 2)
