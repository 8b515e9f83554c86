"""`ScoringSettings`: the `[scoring]` section of settings.toml (weights, tiers, window, fraud thresholds).

Defaults follow the research note scoring.md §7a (priors, penalties, thresholds) and §1.5 (tiers);
every number is configuration because no Chinese standard fixes any of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.types import WEIGHTABLE


class TierBand(BaseModel):
    """Authors with at least `min_followers` (and below the next band up) get tier `name`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    min_followers: int = Field(ge=0)


def _bands(*pairs: tuple[str, int]) -> tuple[TierBand, ...]:
    return tuple(TierBand(name=name, min_followers=low) for name, low in pairs)


# §7a.1 generic tiers; Douyin per 卡思数据 and 小红书 per industry practice (§1.5). Neither source
# sets a KOC floor for Douyin, so below 尾部 the generic 1k KOC boundary applies.
DEFAULT_TIERS: dict[str, tuple[TierBand, ...]] = {
    "default": _bands(("头部", 1_000_000), ("腰部", 100_000), ("尾部", 10_000), ("KOC", 1_000), ("素人", 0)),
    "douyin": _bands(
        ("头部", 10_000_000),
        ("肩部", 5_000_000),
        ("腰部", 1_000_000),
        ("尾部", 100_000),
        ("KOC", 1_000),
        ("素人", 0),
    ),
    "xiaohongshu": _bands(
        ("头部", 300_000), ("腰部", 100_000), ("初级", 50_000), ("KOC", 1_000), ("素人", 0)
    ),
}

# §7a.3 suggested priors (they sum to 1); growth is weighable but off by default.
DEFAULT_PRIOR_WEIGHTS: dict[str, float] = {
    "engagement": 0.25,
    "amplification": 0.25,
    "reach": 0.20,
    "conversation": 0.15,
    "relevance": 0.10,
    "activity": 0.05,
}


class AuthenticitySettings(BaseModel):
    """Fraud-signal thresholds and penalties; D = Π(1 − penalty) over triggered signals (§7a.3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    er_z: float = Field(default=3.0, gt=0)
    er_penalty: float = Field(default=0.2, ge=0, le=1)
    like_comment_z: float = Field(default=3.0, gt=0)
    like_comment_penalty: float = Field(default=0.15, ge=0, le=1)
    follower_jump_z: float = Field(default=4.0, gt=0)
    follower_jump_penalty: float = Field(default=0.25, ge=0, le=1)
    # EWMA of daily follower deltas (§4.3 streaming form); α = 0.1 is the note's hourly default,
    # here on days, i.e. about ten days of memory.
    follower_ewma_alpha: float = Field(default=0.1, gt=0, lt=1)
    follower_warmup_days: int = Field(default=4, ge=2)
    # Noise floor for the daily delta's σ, as a share of followers: without it a quiet account's
    # first +20 day would be a "jump" of z = ∞.
    follower_sigma_floor_share: float = Field(default=0.002, ge=0)
    # A jump is "matched by content" when posts in the 3 days up to it drew at least this many
    # interactions per new follower (a viral post brings followers with it).
    content_interactions_per_follower: float = Field(default=0.1, ge=0)
    # ... and when one of those posts drew this many times the author's median post: a surge
    # follows an unusually successful post, not the author's ordinary output.
    content_spike_multiple: float = Field(default=3.0, ge=1)
    near_dup_jaccard: float = Field(default=0.8, gt=0, le=1)
    near_dup_share: float = Field(default=0.3, gt=0, le=1)
    near_dup_penalty: float = Field(default=0.3, ge=0, le=1)
    default_nick_share: float = Field(default=0.4, gt=0, le=1)
    default_nick_penalty: float = Field(default=0.3, ge=0, le=1)
    min_comments: int = Field(default=10, ge=2)
    # Comment shares are judged on the one-sided Wilson lower bound at this confidence, so a
    # genuine account whose 30-comment sample happens to exceed 40% by chance is not flagged.
    comment_confidence: float = Field(default=0.95, gt=0.5, lt=1)
    # ER and like:comment outliers need this many posts with counts: one post is not a pattern.
    min_posts_for_rates: int = Field(default=3, ge=1)
    # Likes + comments before a like:comment ratio says anything: with ~10 comments the Poisson
    # counting error alone is ±30%.
    min_interactions_for_ratio: int = Field(default=100, ge=1)
    max_comments: int = Field(default=100, ge=2)
    # Within-tier z-scores need a peer group; smaller groups fall back to the whole platform.
    min_peer_group: int = Field(default=10, ge=3)


class ScoringSettings(BaseModel):
    """The `[scoring]` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(default=30, ge=1, le=365)
    max_posts: int = Field(default=30, ge=1)
    prior_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PRIOR_WEIGHTS))
    # w = α·w_entropy + (1 − α)·w_prior (§3 "common fixes").
    entropy_blend: float = Field(default=0.5, ge=0, le=1)
    # Below this many authors with a value, entropy weights are unstable (§3 caveats): priors only.
    min_pool_for_entropy: int = Field(default=30, ge=2)
    min_tier_group: int = Field(default=10, ge=2)
    # Accounts the platform verified as institutions (Weibo blue V, Bilibili 机构认证): the brand's
    # and competitors' official accounts and media outlets are not KOLs to brief or hire, and
    # ranked among people they took the top places. True ranks them too.
    include_organisations: bool = False
    activity_cap_per_week: float = Field(default=21.0, gt=0)
    pagerank_damping: float = Field(default=0.85, gt=0, lt=1)
    pagerank_iterations: int = Field(default=30, ge=1, le=1000)
    pagerank_tolerance: float = Field(default=1e-6, gt=0)
    # Retired: the turned-negative rule is one definition for the bot, the digests and the CLI
    # (`scoring.report`), and the bot and the digests never read this; a value is refused below
    # rather than silently ignored.
    negative_below: float | None = None
    tiers: dict[str, tuple[TierBand, ...]] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    authenticity: AuthenticitySettings = Field(default_factory=AuthenticitySettings)

    @field_validator("prior_weights")
    @classmethod
    def _check_priors(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(WEIGHTABLE))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; known: {list(WEIGHTABLE)}")
        if any(w < 0 for w in value.values()):
            raise ValueError("prior weights must be >= 0")
        total = sum(value.values())
        if total <= 0:
            raise ValueError("prior weights must not all be 0")
        return {name: w / total for name, w in value.items()}

    @field_validator("negative_below")
    @classmethod
    def _retired_negative_below(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError(
                "is no longer a setting: the bot, the digests and `kolwatch kol rank` share one "
                "turned-negative rule (sentiment below 0.4 and 0.2 below the period before, "
                "scoring/report.py); remove the key"
            )
        return value

    @field_validator("tiers")
    @classmethod
    def _check_tiers(cls, value: dict[str, tuple[TierBand, ...]]) -> dict[str, tuple[TierBand, ...]]:
        # Per platform over the defaults: overriding Weibo's bands keeps the default bands and the
        # Douyin / 小红书 ones.
        checked: dict[str, tuple[TierBand, ...]] = {}
        for platform, bands in {**DEFAULT_TIERS, **value}.items():
            if not bands:
                raise ValueError(f"tiers.{platform} is empty")
            ordered = tuple(sorted(bands, key=lambda b: b.min_followers, reverse=True))
            lows = [b.min_followers for b in ordered]
            if len(set(lows)) != len(lows):
                raise ValueError(f"tiers.{platform} has two bands with the same min_followers")
            if lows[-1] != 0:
                raise ValueError(f"tiers.{platform} must have a band starting at 0 followers")
            checked[platform] = ordered
        return checked

    @model_validator(mode="after")
    def _check_comment_bounds(self) -> ScoringSettings:
        if self.authenticity.max_comments < self.authenticity.min_comments:
            raise ValueError("authenticity.max_comments must be >= authenticity.min_comments")
        return self
