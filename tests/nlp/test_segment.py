"""Segmentation: user dictionary, emoticon tokens, hostile input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.segment import Segmenter, get_segmenter, is_stopword, stopwords, tokenize


def test_user_terms_are_not_split() -> None:
    seg = Segmenter()
    before = seg.tokenize("我爱喝瑞幸咖啡和蜜雪冰城")
    assert "瑞幸咖啡" not in before
    assert seg.add_user_terms(["瑞幸咖啡", "蜜雪冰城", "蜜雪冰城", "", "a b", "瑞幸" * 30]) == 2
    after = seg.tokenize("我爱喝瑞幸咖啡和蜜雪冰城")
    assert "瑞幸咖啡" in after and "蜜雪冰城" in after


def test_traditional_user_term_matches_simplified_text() -> None:
    seg = Segmenter()
    seg.add_user_terms(["庫迪咖啡"])
    assert "库迪咖啡" in seg.tokenize("今天喝了库迪咖啡")


def test_emoticons_are_tokens_and_punctuation_dropped() -> None:
    tokens = tokenize("太好笑了[允悲]，真的[笑cry]!!! 😂")
    assert "[允悲]" in tokens and "[笑cry]" in tokens and "😂" in tokens
    assert "," not in tokens and "!" not in tokens and "，" not in tokens


def test_lowercases_latin_and_keeps_other_scripts() -> None:
    assert tokenize("Luckin 안녕하세요") == ["luckin", "안녕하세요"]


def test_shared_segmenter_is_one_instance() -> None:
    assert get_segmenter() is get_segmenter()


def test_stopwords_are_ours_and_keep_negators() -> None:
    assert is_stopword("的") and is_stopword("我们")
    assert not is_stopword("不") and not is_stopword("没有")
    assert len(stopwords()) > 200


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_tokenize_never_raises_and_tokens_are_clean(text: str) -> None:
    tokens = tokenize(text)
    assert all(t and t == t.strip() for t in tokens)
    assert all(not t.isspace() for t in tokens)
