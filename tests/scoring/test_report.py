"""Views for the bot and the digest: top, the period-change rules, explain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scoring.report import (
    PeriodSentiment,
    baseline_bounds,
    explain,
    is_turned_negative,
    score_changes,
    top_kols,
)
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


def test_score_changes_list_risers_and_newcomers_apart() -> None:
    before = {"a": 40.0, "b": 60.0, "c": 70.0, "z": 0.0, "t1": 10.0, "t2": 10.0}
    after = {"a": 55.0, "b": 62.0, "c": 50.0, "new": 30.0, "z": 9.0, "new2": 45.0, "t2": 19.0, "t1": 19.0}
    rising, new = score_changes(before, after, min_delta=5)
    # A real earlier 0 is a rise; a newcomer is not a rise from 0; ties keep the callers' order.
    assert rising == [("a", 15.0), ("z", 9.0), ("t2", 9.0), ("t1", 9.0)]
    assert new == ["new2", "new"]
    assert score_changes(before, after, min_delta=10)[0] == [("a", 15.0)]
    assert [k for k, _ in score_changes(before, {"b": 64.9, "c": 75.0})[0]] == ["c"]  # default: 5 points
    assert score_changes({}, {"x": 1.0}) == ([], ["x"])


def test_turned_negative_rule() -> None:
    def ps(mean: float, posts: int = 3) -> PeriodSentiment:
        return PeriodSentiment(mean, posts)

    assert is_turned_negative(ps(0.2), ps(0.7))  # below 0.4 and 0.5 below the period before
    assert is_turned_negative(ps(0.1), ps(0.35))  # already sour, but clearly sourer: 0.25 lower
    assert not is_turned_negative(ps(0.3), ps(0.45))  # below 0.4 but only 0.15 lower
    assert not is_turned_negative(ps(0.45), ps(0.9))  # far lower but not negative
    assert not is_turned_negative(ps(0.1, posts=1), ps(0.9))  # one sour post is not a turn
    assert not is_turned_negative(ps(0.1), ps(0.9, posts=1))
    assert not is_turned_negative(ps(0.1), None)  # nothing said before: not a turn
    assert not is_turned_negative(None, ps(0.9))


def test_baseline_is_looked_for_within_half_a_period_of_a_period_ago() -> None:
    end = datetime(2025, 3, 8, tzinfo=UTC)
    target, earliest, latest = baseline_bounds(end, timedelta(days=7))
    assert target == end - timedelta(days=7)
    assert (earliest, latest) == (end - timedelta(days=10.5), end - timedelta(days=3.5))
    with pytest.raises(ValueError):
        baseline_bounds(end, timedelta(0))


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
