"""Sentiment models: stock model behaviour, training, persistence, evaluation, hostile input."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.sentiment import (
    ModelFileError,
    Prepared,
    SentimentModel,
    TrainOptions,
    calibrate_band,
    canonical_label,
    evaluate,
    features,
    load_lexicon,
    metrics,
    stock_model,
    train_model,
)

# Our own small training set: clearly positive and negative product posts.
POSITIVE_POSTS = [
    "这家咖啡真好喝，下次还来",
    "新品奶茶太好喝了，强烈推荐",
    "服务很热情，环境也很舒服",
    "物流很快，包装完好，非常满意",
    "味道超赞，性价比很高",
    "店员态度好，出餐快，好评",
    "口感顺滑，甜度刚好，喜欢",
    "价格实惠，分量足，值得",
    "第二次买了，依然很满意",
    "这个联名款太可爱了，爱了爱了",
]
NEGATIVE_POSTS = [
    "太难喝了，再也不买了",
    "服务态度很差，等了一个小时",
    "包装破了，洒了一地，差评",
    "价格贵还难吃，失望",
    "客服不回消息，退款也不给",
    "送来的时候已经凉了，很难吃",
    "质量太差，用了一天就坏了",
    "排队两小时，结果卖完了，气死了",
    "味道很怪，不推荐",
    "店里很脏，再也不去了",
]
SAMPLES = [(t, "positive") for t in POSITIVE_POSTS] + [(t, "negative") for t in NEGATIVE_POSTS]


def test_canonical_labels() -> None:
    assert canonical_label("1") == "positive" and canonical_label(" 正面 ") == "positive"
    assert canonical_label("NEG") == "negative" and canonical_label("中性") == "neutral"
    with pytest.raises(ValueError, match="unknown sentiment label"):
        canonical_label("maybe")


def test_negation_features() -> None:
    doc = Prepared(body="不好吃", tokens=("不", "好吃"), emoticons=(), lang="zh")
    assert "n:好吃" in features(doc, "bayes")
    assert "n:好吃" not in features(Prepared("好吃", ("好吃",), (), "zh"), "bayes")


def test_stock_model_reads_obvious_posts() -> None:
    model = stock_model()
    assert model.score_text("这家店太好吃了，服务也超级好，强烈推荐[哈哈]").label == "positive"
    assert model.score_text("太难吃了，服务差，再也不来了[怒]").label == "negative"


def test_stock_model_emoticons_move_the_score() -> None:
    model = stock_model()
    plain = model.score_text("今天去了新开的店").sentiment
    happy = model.score_text("今天去了新开的店[哈哈][爱你]").sentiment
    angry = model.score_text("今天去了新开的店[怒][失望]").sentiment
    assert plain is not None and happy is not None and angry is not None
    assert angry < plain < happy


def test_non_chinese_and_empty_are_unscored() -> None:
    model = stock_model()
    for text in ("I love this coffee", "", "   ", "😂😂", "[doge]", "今日は良い天気ですね"):
        score = model.score_text(text)
        assert score.sentiment is None and score.label == "unscored", text


def test_unknown_features_give_neutral_not_prior() -> None:
    model = train_model(SAMPLES, options=TrainOptions(min_df=1, calibrate=False), lexicon={})
    score = model.score_text("龘靐齉")
    assert score.label == "neutral" and score.sentiment == 0.5


@pytest.mark.parametrize("kind", ["linear", "bayes"])
def test_train_save_load_roundtrip(kind: str, tmp_path: Path) -> None:
    model = train_model(SAMPLES, options=TrainOptions(kind=kind, min_df=1, calibrate=False))
    assert model.score_text("很好喝，推荐").label == "positive"
    assert model.score_text("难喝，差评").label == "negative"
    path = tmp_path / "m.json.gz"
    model.save(path)
    loaded = SentimentModel.load(path)
    for text in ("很好喝，推荐", "难喝，差评", "一般般吧"):
        assert loaded.score_text(text) == model.score_text(text)
    assert loaded.meta["samples"] == len(SAMPLES)
    first = path.read_bytes()
    model.save(path)
    assert path.read_bytes() == first  # deterministic files for version control


def test_three_class_training() -> None:
    neutral = [(t, "neutral") for t in ("今天周三", "明天开会", "门店地址在人民路", "营业时间九点到十点")]
    model = train_model(SAMPLES + neutral * 2, options=TrainOptions(min_df=1, calibrate=False))
    assert model.classes == ("negative", "neutral", "positive")
    assert model.score_text("营业时间九点").label == "neutral"


def test_train_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        train_model([("好喝", "positive")] * 3)
    with pytest.raises(ValueError, match="unknown sentiment label"):
        train_model([("好喝", "great")])
    with pytest.raises(ValueError, match="both positive and negative"):
        train_model([("good", "positive"), ("bad", "negative")])  # English rows are skipped
    with pytest.raises(ValueError, match="unknown model kind"):
        train_model(SAMPLES, options=TrainOptions(kind="svm"))


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        SentimentModel.load(tmp_path / "missing.json.gz")
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(ModelFileError, match="cannot read"):
        SentimentModel.load(junk)
    wrong = tmp_path / "wrong.gz"
    wrong.write_bytes(gzip.compress(json.dumps({"format": "other"}).encode()))
    with pytest.raises(ModelFileError, match="not a kolwatch"):
        SentimentModel.load(wrong)
    data = train_model(SAMPLES, options=TrainOptions(min_df=1, calibrate=False)).to_dict()
    for change in ({"version": 99}, {"weights": "AAAA"}, {"neutral_band": [0.9, 0.1]}, {"kind": "svm"}):
        bad = tmp_path / "bad.gz"
        bad.write_bytes(gzip.compress(json.dumps({**data, **change}).encode()))
        with pytest.raises(ModelFileError):
            SentimentModel.load(bad)


def test_calibrate_band() -> None:
    import numpy as np

    probs = np.array([0.45, 0.55, 0.48, 0.52, 0.46, 0.54, 0.47, 0.53, 0.49, 0.51, 0.9, 0.1, 0.95, 0.05] * 3)
    truth = np.array(
        [True, False, True, False, False, True, True, False, False, True, True, False, True, False] * 3
    )
    lo, hi = calibrate_band(probs, truth, max_share=1.0)
    assert 0.44 <= lo < 0.5 < hi <= 0.56
    # 30 of 42 samples sit in the coin-flip zone; a band may hold at most max_share of them.
    lo, hi = calibrate_band(probs, truth, max_share=0.5)
    assert 0.45 < lo < 0.5 < hi < 0.55  # narrower than the uncapped (0.45, 0.55)
    assert calibrate_band(probs, truth, max_share=0.2) == (0.5, 0.5)  # 8 samples: too few to judge
    assert calibrate_band(np.array([0.9, 0.1] * 10), np.array([True, False] * 10)) == (0.5, 0.5)


def test_metrics_and_evaluate() -> None:
    acc, f1 = metrics(
        ["positive", "negative", "negative"], ["positive", "positive", "negative"], ("positive", "negative")
    )
    assert acc == pytest.approx(2 / 3) and f1 == pytest.approx(2 / 3)
    model = train_model(SAMPLES, options=TrainOptions(min_df=1, calibrate=False))
    result = evaluate(model, [*SAMPLES, ("english only", "positive")])
    assert result.samples == len(SAMPLES) + 1 and result.unscored == 1
    assert result.predicted_labels[-1] == "unscored"
    assert result.accuracy > 0.9
    assert "macro-F1" in result.format()


def test_lexicon_file_is_valid(tmp_path: Path) -> None:
    lexicon = load_lexicon()
    assert lexicon["[心]"] > 0.5 and lexicon["[怒]"] < -0.5
    bad = tmp_path / "lex.tsv"
    bad.write_text("[哈哈]\t7\n", encoding="utf-8")
    with pytest.raises(ModelFileError):
        load_lexicon(bad)


def test_model_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        stock_model().emoticon_weight = 0.0  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_score_never_raises(text: str) -> None:
    score = stock_model().score_text(text)
    assert score.label in ("positive", "neutral", "negative", "unscored")
    assert score.sentiment is None or 0.0 <= score.sentiment <= 1.0


def test_long_text_is_scored() -> None:
    score = stock_model().score_text("服务很好，味道不错。" * 10_000)
    assert score.label == "positive"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_fast_feature_set_equals_feature_list(text: str) -> None:
    from nlp.sentiment import feature_set, prepare

    doc = prepare(text)
    assert feature_set(doc) == set(features(doc, "linear"))


def test_two_class_fast_path_equals_softmax() -> None:
    from nlp.sentiment import prepare

    for kind in ("linear", "bayes"):
        model = train_model(SAMPLES, options=TrainOptions(kind=kind, min_df=1, calibrate=False))
        for text in [*POSITIVE_POSTS[:3], *NEGATIVE_POSTS[:3], "不好[哈哈]", "完全没见过的词"]:
            doc = prepare(text)
            p = model.proba(doc)
            fast = model.positive_probability(doc)
            assert (p is None) == (fast is None)
            if p is not None and fast is not None:
                assert abs(float(p[model.classes.index("positive")]) - fast) < 1e-9


def test_pruned_model_keeps_strongest_features() -> None:
    model = train_model(SAMPLES, options=TrainOptions(min_df=1, calibrate=False))
    small = model.pruned(50)
    assert len(small.vocabulary) == 50 and small.weights.shape == (50, 2)
    spread = model.weights.max(axis=1) - model.weights.min(axis=1)
    weakest_kept = min(spread[model.vocabulary[name]] for name in small.vocabulary)
    assert (spread > weakest_kept).sum() < 50  # nothing stronger was dropped
    assert model.pruned(0) is model and model.pruned(10**9) is model
    assert small.score_text("太好喝了，强烈推荐").label in ("positive", "neutral", "negative")
    trained = train_model(SAMPLES, options=TrainOptions(min_df=1, calibrate=False, max_features=40))
    assert len(trained.vocabulary) == 40


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=120), st.text(alphabet="好不差w:n[哈]😀𠀀 ", max_size=40)))
def test_c_ngram_scoring_is_the_python_reference(text: str) -> None:
    # Astral characters (😀, 𠀀), emoticon codes, and text containing "w:好", a string that is both a
    # character trigram and a token feature name: the C table and the Python sets agree.
    from nlp.sentiment import prepare

    model = stock_model()
    doc = prepare(text)
    fast, reference = model.positive_probability(doc), model.positive_probability_python(doc)
    assert (fast is None) == (reference is None)
    if fast is not None and reference is not None:
        assert abs(fast - reference) < 1e-9


def test_ngram_table_counts_distinct_grams_and_keeps_short_keys_only() -> None:
    from nlp._speedups import NgramTable

    table = NgramTable({"好": 1.0, "好吃": 2.0, "不好吃": -4.0, "w:好": 0.5, "four": 9.0})
    assert len(table) == 4  # "four" is not a 1-3-character n-gram
    # 不好吃好: 不 好 吃 | 不好 好吃 吃好 | 不好吃 好吃好 -> 8 distinct; 好 counted once.
    total, distinct, known = table.score("不好吃好")
    assert (distinct, known) == (8, 3) and total == pytest.approx(1.0 + 2.0 - 4.0)
    assert table.score("") == (0.0, 0, 0)
    with pytest.raises(TypeError):
        NgramTable({1: 1.0})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        table.score(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        NgramTable.__new__(NgramTable).score("好")  # never initialised: an error, not a crash
