"""TF-IDF and TextRank keyword extraction."""

from __future__ import annotations

import pytest

from nlp.keywords import Idf, is_candidate, jieba_idf, textrank, tfidf


def test_candidates_exclude_stopwords_numbers_emoticons() -> None:
    assert is_candidate("咖啡")
    assert not is_candidate("我们")
    assert not is_candidate("2024")
    assert not is_candidate("[哈哈]")
    assert not is_candidate("好")


def test_tfidf_prefers_rare_repeated_words() -> None:
    tokens = ["今天", "瑞幸", "咖啡", "瑞幸", "新品", "我们", "今天", "的"]
    top = tfidf(tokens, 2)
    assert top[0] == "瑞幸"
    assert "我们" not in tfidf(tokens, 10)


def test_tfidf_with_own_idf_and_edge_cases() -> None:
    idf = Idf.fit([["咖啡", "奶茶"], ["咖啡"], ["咖啡", "蛋糕"]])
    assert idf.table["咖啡"] == pytest.approx(0.0)
    assert tfidf(["咖啡", "蛋糕"], 1, idf=idf) == ["蛋糕"]
    assert tfidf([], 3) == [] and tfidf(["咖啡"], 0) == []
    with pytest.raises(ValueError):
        Idf.fit([])


def test_jieba_idf_loaded_once() -> None:
    assert jieba_idf() is jieba_idf()
    assert len(jieba_idf().table) > 100_000


def test_textrank_ranks_connected_words() -> None:
    tokens = ["咖啡", "新品", "好喝", "咖啡", "价格", "便宜", "咖啡", "新品", "门店", "排队"]
    top = textrank(tokens, 3)
    assert top[0] == "咖啡"
    assert len(top) == 3 and len(set(top)) == 3
    assert textrank(["咖啡"], 3) == ["咖啡"]
    assert textrank(["的", "了"], 3) == []
