"""The batch entry point `nlp.analyze.analyze`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.analyze import analyze, analyze_stream, resolve_model
from nlp.sentiment import ModelFileError, TrainOptions, stock_model, train_model
from nlp.types import Analysis


def test_batch_keeps_order_and_fills_every_field() -> None:
    texts = ["#瑞幸新品# 生椰拿铁真好喝[哈哈] @朋友 https://t.cn/x", "This coffee is great", ""]
    out = analyze(texts)
    assert [type(a) for a in out] == [Analysis] * 3
    first, english, empty = out
    assert first.lang == "zh" and first.label == "positive" and first.sentiment is not None
    assert (
        first.hashtags == ("瑞幸新品",) and first.mentions == ("朋友",) and first.urls == ("https://t.cn/x",)
    )
    assert first.emoticons == ("[哈哈]",) and "[哈哈]" in first.tokens
    assert first.keywords and len(first.signature) == 64
    assert english.lang == "en" and english.label == "unscored" and english.sentiment is None
    assert empty.tokens == () and empty.signature == () and empty.label == "unscored"


def test_model_argument_forms(tmp_path: Path) -> None:
    model = train_model(
        [("好喝推荐", "positive"), ("难喝差评", "negative")] * 5,
        options=TrainOptions(min_df=1, calibrate=False),
    )
    path = tmp_path / "m.json.gz"
    model.save(path)
    assert resolve_model(None) is stock_model()
    assert resolve_model(model) is model
    assert analyze(["好喝推荐"], model=path)[0].label == analyze(["好喝推荐"], model=model)[0].label
    with pytest.raises(ModelFileError):
        analyze(["x"], model=tmp_path / "nope.json.gz")


def test_stream_is_lazy() -> None:
    it = analyze_stream(iter(["好喝", "难喝"]))
    assert next(it).text == "好喝"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=5))
def test_analyze_hostile_text(texts: list[str]) -> None:
    out = analyze(texts)
    assert len(out) == len(texts)
    for a in out:
        assert (a.sentiment is None) == (a.label == "unscored")


def test_repeated_texts_are_analysed_once_and_cache_follows_dictionary() -> None:
    from nlp.analyze import cache
    from nlp.segment import add_user_terms

    text = "转发这条微博抽奖送咖啡券[哈哈]"
    first, again = analyze([text, text])
    assert first is again
    assert analyze([text])[0] is first
    hits = cache.hits
    assert analyze([text])[0] is first and cache.hits == hits + 1
    add_user_terms(["咖啡券抽奖测试词"])  # the dictionary changed: tokens may change, cache dropped
    assert analyze([text])[0] is not first
    other = train_model(
        [("好喝推荐", "positive"), ("难喝差评", "negative")] * 5,
        options=TrainOptions(min_df=1, calibrate=False),
    )
    # Another model never sees the stock model's cached results.
    assert analyze([text], model=other)[0].sentiment == other.score_text(text).sentiment


def test_stream_batches_match_batch_results() -> None:
    texts = [f"第{i}杯奶茶{'好喝' if i % 2 else '难喝'}" for i in range(7)]
    streamed = list(analyze_stream(iter(texts), batch=3))
    assert [a.label for a in streamed] == [a.label for a in analyze(texts)]
    assert [a.signature for a in streamed] == [a.signature for a in analyze(texts)]
