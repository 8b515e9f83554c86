"""Views for the bot and the digest: top, rising, turned negative, explain."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scoring.report import explain, rising_kols, top_kols, turned_negative
from scoring.types import KolScore

W = {"engagement": 0.5, "reach": 0.5}


def ks(aid: str, score: float, *, platform: str = "weibo", tier: str = "腰部", auth: float = 1.0,
       sentiment: float | None = None, sentiment_posts: int = 3, reasons: tuple[str, ...] = (),
       components: dict[str, float] | None = None, followers: int | None = 200_000) -> KolScore:  # fmt: skip
    raw = {"coverage": 1.0}
    if sentiment is not None:
        raw |= {"sentiment": sentiment, "sentiment_posts": float(sentiment_posts)}
    return KolScore(platform, aid, f"名{aid}", followers, tier, "macro", score, auth, reasons,
                    components if components is not None else {"engagement": 0.9, "reach": 0.4}, W,
                    "kolwatch-kol/1", raw)  # fmt: skip


def test_top_kols_filters_and_orders() -> None:
    pool = [ks("a", 50), ks("b", 90, auth=0.5), ks("c", 70, platform="bilibili"), ks("d", 80, tier="头部")]
    assert [s.author_id for s in top_kols(pool, 2)] == ["b", "d"]
    assert [s.author_id for s in top_kols(pool, 10, min_authenticity=0.8)] == ["d", "c", "a"]
    assert [s.author_id for s in top_kols(pool, 10, platform="bilibili")] == ["c"]
    assert [s.author_id for s in top_kols(pool, 10, tier="头部")] == ["d"]
    assert top_kols(pool, 0) == []
    with pytest.raises(ValueError):
        top_kols(pool, -1)


def test_rising_kols_compare_two_windows() -> None:
    before = [ks("a", 40), ks("b", 60), ks("c", 70)]
    after = [ks("a", 55), ks("b", 62), ks("c", 50), ks("new", 30)]
    rising = rising_kols(before, after, min_delta=5)
    assert [(c.current.author_id, c.score_delta) for c in rising] == [("new", 30.0), ("a", 15.0)]
    assert rising[0].previous is None  # a newcomer, not a former zero
    assert [c.current.author_id for c in rising_kols(before, after, include_new=False)] == ["a"]


def test_turned_negative_needs_both_windows_and_enough_posts() -> None:
    before = [ks("a", 40, sentiment=0.7), ks("b", 60, sentiment=0.3), ks("c", 70, sentiment=0.8),
              ks("d", 80, sentiment=0.9, sentiment_posts=1), ks("e", 10, sentiment=0.6)]  # fmt: skip
    after = [ks("a", 45, sentiment=0.2), ks("b", 60, sentiment=0.1), ks("c", 75, sentiment=0.35),
             ks("d", 80, sentiment=0.1), ks("e", 10), ks("f", 99, sentiment=0.0)]  # fmt: skip
    turned = turned_negative(before, after, below=0.4)
    # a and c crossed 0.4 downwards; b was already negative; d had one post; e has no sentiment now;
    # f is new. Sorted by current score (influence first).
    assert [c.current.author_id for c in turned] == ["c", "a"]


def test_explain_shows_components_weights_tier_and_reasons() -> None:
    reasons = ("互动率异常偏高：中位 12.00%", "平台未提供播放/阅读数")
    s = ks("a", 42.5, auth=0.8, sentiment=0.35, reasons=reasons, components={"engagement": 0.9})
    text = explain(s)
    assert "名a（weibo:a）粉丝 20.0万，层级 腰部 / macro" in text
    assert "得分 42.5 / 100" in text and "真实度 0.80" in text
    assert "互动 engagement: 百分位 90 × 权重 0.500" in text
    assert "覆盖 reach: 缺失 × 权重 0.500" in text
    assert "品牌情感 0.35" in text
    assert "  - 互动率异常偏高：中位 12.00%" in text
    assert "kolwatch-kol/1" in text


def test_explain_says_a_missing_component_is_scored_at_the_median() -> None:
    s = replace(ks("a", 45.0, components={"engagement": 0.4}), method_version="kolwatch-kol/2")
    s.raw["coverage"] = 0.5
    text = explain(s)
    assert "覆盖 reach: 缺失，按中位数 50 × 权重 0.500" in text
    assert "缺失指标按池中位数，即百分位 50 计" in text and "归一" not in text


def test_explain_copes_with_unknown_followers_and_hostile_names() -> None:
    s = ks("<b>x</b>", 1.0, followers=None, components={})
    text = explain(s)
    assert "粉丝数未知" in text and "<b>x</b>" in text  # rendering/escaping is the bot's job
