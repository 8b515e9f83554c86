"""Tiers by followers per platform (defaults from research/scoring.md §7a.1) and settings validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scoring.settings import ScoringSettings, TierBand
from scoring.tiers import intl_tier, tier_for

S = ScoringSettings()


@pytest.mark.parametrize(
    ("platform", "followers", "tier"),
    [
        # generic: 头部 ≥ 1M, 腰部 100k–1M, 尾部 10k–100k, KOC 1k–10k, 素人 < 1k
        ("weibo", 0, "素人"),
        ("weibo", 999, "素人"),
        ("weibo", 1_000, "KOC"),
        ("weibo", 9_999, "KOC"),
        ("weibo", 10_000, "尾部"),
        ("weibo", 99_999, "尾部"),
        ("weibo", 100_000, "腰部"),
        ("weibo", 999_999, "腰部"),
        ("weibo", 1_000_000, "头部"),
        ("bilibili", 250_000_000, "头部"),
        ("mastodon", 5, "素人"),  # unknown platforms use the default bands
        # Douyin (卡思数据): 头部 ≥ 10M, 肩部 5M–10M, 腰部 1M–5M, 尾部 100k–1M
        ("douyin", 10_000_000, "头部"),
        ("douyin", 9_999_999, "肩部"),
        ("douyin", 5_000_000, "肩部"),
        ("douyin", 1_000_000, "腰部"),
        ("douyin", 999_999, "尾部"),
        ("douyin", 100_000, "尾部"),
        ("douyin", 99_999, "KOC"),
        # 小红书: 头部 ≥ 300k, 腰部 100k–300k, 初级 50k–100k, KOC 1k–50k
        ("xiaohongshu", 300_000, "头部"),
        ("xiaohongshu", 299_999, "腰部"),
        ("xiaohongshu", 50_000, "初级"),
        ("xiaohongshu", 49_999, "KOC"),
        ("xiaohongshu", 999, "素人"),
        # missing or impossible follower counts are a tier of their own, not 素人
        ("weibo", None, "未知"),
        ("weibo", -1, "未知"),
    ],
)
def test_tier_table(platform: str, followers: int | None, tier: str) -> None:
    assert tier_for(followers, platform, S) == tier


@pytest.mark.parametrize(
    ("followers", "label"),
    [(None, "unknown"), (999, "below-nano"), (1_000, "nano"), (5_000, "micro"), (20_000, "mid"),
     (100_000, "macro"), (1_000_000, "macro"), (1_000_001, "mega")],
)  # fmt: skip
def test_international_labels(followers: int | None, label: str) -> None:
    assert intl_tier(followers) == label


def test_tiers_are_configurable_per_platform_in_any_order() -> None:
    s = ScoringSettings(
        tiers={
            "default": (TierBand(name="小", min_followers=0), TierBand(name="大", min_followers=500)),
            "weibo": (TierBand(name="全部", min_followers=0),),
        }
    )
    assert tier_for(600, "bilibili", s) == "大"
    assert tier_for(499, "bilibili", s) == "小"
    assert tier_for(10**9, "weibo", s) == "全部"


def test_overriding_one_platform_keeps_the_other_defaults() -> None:
    s = ScoringSettings(tiers={"weibo": (TierBand(name="全部", min_followers=0),)})
    assert tier_for(10**9, "weibo", s) == "全部"
    assert tier_for(2_000_000, "bilibili", s) == "头部"  # the default bands, not restated
    assert tier_for(2_000_000, "douyin", s) == "腰部"  # Douyin's own bands are kept
    assert tier_for(400_000, "xiaohongshu", s) == "头部"


@pytest.mark.parametrize(
    "tiers",
    [
        {"weibo": ({"name": "all", "min_followers": 10},)},  # a platform's bands must start at 0
        {"default": ({"name": "big", "min_followers": 10},)},  # nothing from 0
        {"default": ({"name": "a", "min_followers": 0}, {"name": "b", "min_followers": 0})},
        {"default": ()},
        {"default": ({"name": "", "min_followers": 0},)},
        {"default": ({"name": "neg", "min_followers": -5},)},
    ],
)
def test_bad_tier_settings_name_the_problem(tiers: dict) -> None:
    with pytest.raises(ValidationError, match="tiers"):
        ScoringSettings(tiers=tiers)


def test_prior_weights_are_validated_and_normalised() -> None:
    s = ScoringSettings(prior_weights={"reach": 2, "engagement": 2})
    assert s.prior_weights == {"reach": 0.5, "engagement": 0.5}
    with pytest.raises(ValidationError, match="unknown indicator"):
        ScoringSettings(prior_weights={"followers": 1})
    with pytest.raises(ValidationError, match=">= 0"):
        ScoringSettings(prior_weights={"reach": -1, "engagement": 2})
    with pytest.raises(ValidationError, match="all be 0"):
        ScoringSettings(prior_weights={"reach": 0})
    with pytest.raises(ValidationError, match="extra"):
        ScoringSettings(window=30)  # type: ignore[call-arg]


def test_default_priors_are_the_notes() -> None:
    assert S.prior_weights == pytest.approx(
        {"engagement": 0.25, "amplification": 0.25, "reach": 0.20, "conversation": 0.15, "relevance": 0.10,
         "activity": 0.05}
    )  # fmt: skip


def test_typical_engagement_rate_follows_the_published_tier_figures() -> None:
    from scoring.tiers import typical_engagement_rate

    # research note §1.5 at each band's geometric middle; flat beyond the ends.
    assert typical_engagement_rate(3_162) == pytest.approx(0.18, rel=1e-3)
    assert typical_engagement_rate(31_623) == pytest.approx(0.052, rel=1e-3)
    assert typical_engagement_rate(3_162_278) == pytest.approx(0.015, rel=1e-3)
    assert typical_engagement_rate(0) == typical_engagement_rate(500) == pytest.approx(0.18, rel=1e-3)
    assert typical_engagement_rate(1e9) == pytest.approx(0.015, rel=1e-3)
    # Log-linear between anchors: 10k followers sit halfway (in log) between 3.2k and 32k.
    assert typical_engagement_rate(10_000) == pytest.approx((0.18 * 0.052) ** 0.5, rel=1e-3)
    rates = [typical_engagement_rate(f) for f in (1_000, 10_000, 100_000, 1_000_000, 10_000_000)]
    assert rates == sorted(rates, reverse=True)
