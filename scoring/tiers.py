"""Follower tiers: the Chinese tier of an author per platform, and the international label.

Chinese tiers (头部/腰部/尾部/KOC/素人, or the platform's own names) come from `ScoringSettings.tiers`;
the international label follows HypeAuditor's former bands (research note §1.5), for global brands.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from scoring.settings import ScoringSettings, TierBand
from scoring.types import UNKNOWN_TIER

# HypeAuditor bands before its 150-tier revision: lower bounds, largest first.
INTL_BANDS: tuple[tuple[str, int], ...] = (
    ("mega", 1_000_001),
    ("macro", 100_000),
    ("mid", 20_000),
    ("micro", 5_000),
    ("nano", 1_000),
    ("below-nano", 0),
)
UNKNOWN_INTL = "unknown"


def bands_for(platform: str, settings: ScoringSettings) -> tuple[TierBand, ...]:
    """The platform's bands (largest first), or the default bands."""

    return settings.tiers.get(platform, settings.tiers["default"])


def tier_of(followers: int | None, bands: Sequence[TierBand]) -> str:
    """The band `followers` falls in; `UNKNOWN_TIER` when followers is unknown or negative."""

    if followers is None or followers < 0:
        return UNKNOWN_TIER
    for band in bands:
        if followers >= band.min_followers:
            return band.name
    return UNKNOWN_TIER  # unreachable with validated settings (a band starts at 0)


def tier_for(followers: int | None, platform: str, settings: ScoringSettings) -> str:
    return tier_of(followers, bands_for(platform, settings))


def intl_tier(followers: int | None) -> str:
    if followers is None or followers < 0:
        return UNKNOWN_INTL
    for name, low in INTL_BANDS:
        if followers >= low:
            return name
    return UNKNOWN_INTL


# Typical engagement rate by account size (research note §1.5: about 18% for 1k-10k followers,
# 5.2% for 10k-100k, 1-2% for head accounts), taken at each band's geometric middle (1.5% for
# head accounts at ~3.2M) and interpolated log-linearly in followers; flat beyond the ends.
_TYPICAL_ER: tuple[tuple[float, float], ...] = (
    (math.log10(3_162), math.log(0.18)),
    (math.log10(31_623), math.log(0.052)),
    (math.log10(3_162_278), math.log(0.015)),
)


def typical_engagement_rate(followers: float) -> float:
    """The engagement rate (interactions per post / followers) usual for an account this size.

    Used to rank engagement fairly when an author's tier has too few peers in the pool to rank
    within: a 头部 account at 3% engages twice as well as usual, a KOC at 18% only as usual.
    """

    x = math.log10(max(float(followers), 1.0))
    points = _TYPICAL_ER
    if x <= points[0][0]:
        return math.exp(points[0][1])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return math.exp(points[-1][1])
