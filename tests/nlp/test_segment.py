"""Segmentation: user dictionary, emoticon tokens, hostile input."""

from __future__ import annotations

import pytest
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


# Han characters that form many overlapping dictionary words, ASCII that jieba glues, separators.
_MIXED = "研究生命起源的结婚和尚未结婚的人北京大学生前来应聘瑞幸咖啡蜜雪冰城不好吃abc12X+#&._%-"


def _jieba_reference(seg: Segmenter, clause: str) -> list[str]:
    tokenizer = seg._load()
    return list(tokenizer.cut(clause, HMM=False))


def test_cut_matches_jieba_on_known_ambiguities() -> None:
    seg = get_segmenter()
    for clause in ["研究生命起源", "结婚的和尚未结婚的", "北京大学生前来应聘", "iphone15promax真香", "a1b2"]:
        assert seg.cut(clause) == _jieba_reference(seg, clause)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_MIXED, max_size=40))
def test_cut_is_jiebas_no_hmm_cut(clause: str) -> None:
    seg = get_segmenter()
    assert seg.cut(clause) == _jieba_reference(seg, clause)


def test_cut_follows_user_terms_and_bumps_version() -> None:
    seg = Segmenter()
    before = seg.version
    seg.add_user_terms(["和尚未", "生命起"])
    assert seg.version == before + 1
    for clause in ["结婚的和尚未结婚的", "研究生命起源"]:
        assert seg.cut(clause) == _jieba_reference(seg, clause)
    assert seg.add_user_terms(["和尚未"]) == 0 and seg.version == before + 1


def test_hmm_mode_uses_jieba() -> None:
    seg = Segmenter(hmm=True)
    assert seg.tokenize("他来到了网易杭研大厦") == [
        t for t in seg._load().cut("他来到了网易杭研大厦", HMM=True) if t.strip()
    ]


def test_emoticon_after_bracket_and_other_scripts() -> None:
    assert tokenize("[[哈哈]好") == ["[哈哈]", "好"]
    assert tokenize("안녕abc") == ["안녕", "abc"]
    assert tokenize("♥_♥ ok") == ["♥", "♥", "ok"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=_MIXED, max_size=60), st.text(max_size=60)))
def test_c_cut_is_the_python_reference(clause: str) -> None:
    # Any str, also astral characters and ones no dictionary word starts with: the C loop and the
    # Python reference take the same route.
    seg = get_segmenter()
    assert seg.cut(clause) == seg.cut_python(clause)


def test_word_table_rejects_what_it_cannot_read() -> None:
    from nlp._speedups import WordTable

    with pytest.raises(TypeError):
        WordTable({"咖": "not a float"}, -10.0)  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        WordTable({"": -1.0}, -10.0)
    with pytest.raises(TypeError):
        WordTable(["not a dict"], -10.0)  # type: ignore[arg-type]
    table = WordTable({"咖": None, "咖啡": -1.0, "啡": -2.0}, -10.0)
    assert len(table) == 3
    assert table.cut("咖啡咖") == ["咖啡", "咖"]
    with pytest.raises(TypeError):
        table.cut(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        WordTable.__new__(WordTable).cut("咖啡")  # never initialised: an error, not a crash


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_MIXED + "+#&._%-", max_size=40))
def test_words_only_drops_exactly_the_separator_tokens(clause: str) -> None:
    from nlp.segment import _WORDLIKE_RE

    seg = get_segmenter()
    seg._load()
    words = seg._words.cut(clause, words_only=True)  # type: ignore[union-attr]
    assert words == [t for t in seg.cut(clause) if _WORDLIKE_RE.search(t)]
