"""Pure views over rankings for the bot, the digest and the CLI: top, rising, new, turned
negative, explain, JSON.

Everything here reads `KolScore` values or plain numbers only (no settings, no database), so a
stored ranking can be re-rendered without recomputing it.

Changes over a period are defined once, here, and every view (bot /kol, daily and weekly
digest, `kolwatch kol rank`) uses these rules through `storage.kol_queries.kol_changes`:
- the ranking as of the period end is compared with the stored ranking nearest to
  (end − period), within half a period of it: a weekly digest compares with last week's
  ranking, never with the hourly run before; without such a ranking nobody is rising or new;
- rising: ranked in both, score up by at least `RISING_MIN_DELTA` points;
- new: ranked now, absent from the earlier ranking; listed as new, never as rising from 0;
- turned negative: the mean sentiment (0 negative .. 1 positive) of the author's brand posts in
  the period is below `NEGATIVE_BELOW` and at least `NEGATIVE_MIN_DROP` below their mean in the
  period before, with at least `MIN_SENTIMENT_POSTS` scored posts in each (one sour post is not
  a turn). It reads the posts, not the rankings' 30-day sentiment, so it says what changed in
  the period whatever the job interval.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from scoring.types import GROWTH, SENTIMENT, KolScore

DEFAULT_PERIOD = timedelta(days=7)
RISING_MIN_DELTA = 5.0  # score points (0..100); a point or two is hourly noise
NEGATIVE_BELOW = 0.4
NEGATIVE_MIN_DROP = 0.2  # a fifth of the sentiment scale: "clearly below" the period before
MIN_SENTIMENT_POSTS = 2

K = TypeVar("K", bound=Hashable)

COMPONENT_LABELS: dict[str, str] = {
    "reach": "覆盖 reach",
    "engagement": "互动 engagement",
    "amplification": "传播 amplification",
    "conversation": "讨论 conversation",
    "activity": "活跃 activity",
    "relevance": "相关 relevance",
    "growth": "增长 growth",
}


@dataclass(frozen=True, slots=True)
class KolChange:
    """One author compared across two rankings; `previous_score` is None for a newcomer."""

    current: KolScore
    previous_score: float | None

    @property
    def score_delta(self) -> float | None:
        return None if self.previous_score is None else round(self.current.score - self.previous_score, 4)


@dataclass(frozen=True, slots=True)
class PeriodSentiment:
    """Mean sentiment (0 negative .. 1 positive) of an author's brand posts in one period."""

    mean: float
    posts: int


def baseline_bounds(end: datetime, period: timedelta) -> tuple[datetime, datetime, datetime]:
    """(target, earliest, latest) for the earlier ranking: the one nearest to `end - period`
    within half a period of it (a ranking from an hour ago is no baseline for a week, nor is
    last week's for a day)."""

    if period <= timedelta(0):
        raise ValueError("period must be positive")
    return end - period, end - period * 1.5, end - period / 2


def score_changes(
    previous: Mapping[K, float], current: Mapping[K, float], *, min_delta: float = RISING_MIN_DELTA
) -> tuple[list[tuple[K, float]], list[K]]:
    """(risers with their gain, biggest first; newcomers, best first) between two rankings.

    Ties are left in the callers' key order (sorted() is stable), so callers pass keys in a
    deterministic order.
    """

    rising = [(k, round(v - previous[k], 4)) for k, v in current.items() if k in previous]
    rising = [kd for kd in rising if kd[1] >= min_delta]
    rising.sort(key=lambda kd: -kd[1])
    new = sorted((k for k in current if k not in previous), key=lambda k: -current[k])
    return rising, new


def is_turned_negative(
    recent: PeriodSentiment | None,
    earlier: PeriodSentiment | None,
    *,
    below: float = NEGATIVE_BELOW,
    min_drop: float = NEGATIVE_MIN_DROP,
    min_posts: int = MIN_SENTIMENT_POSTS,
) -> bool:
    """The turned-negative rule (module docstring) for one author."""

    if recent is None or earlier is None or min(recent.posts, earlier.posts) < min_posts:
        return False
    return recent.mean < below and earlier.mean - recent.mean >= min_drop


def top_kols(
    scores: Sequence[KolScore],
    n: int = 10,
    *,
    platform: str | None = None,
    tier: str | None = None,
    min_authenticity: float = 0.0,
) -> list[KolScore]:
    """The best `n` by score, optionally for one platform / tier, hiding doubtful accounts."""

    if n < 0:
        raise ValueError("n must be >= 0")
    chosen = [
        s
        for s in scores
        if (platform is None or s.platform == platform)
        and (tier is None or s.tier == tier)
        and s.authenticity >= min_authenticity
    ]
    chosen.sort(key=lambda s: (-s.score, s.platform, s.author_id))
    return chosen[:n]


def _fmt_followers(followers: int | None) -> str:
    if followers is None:
        return "粉丝数未知"
    if followers >= 10_000:
        return f"粉丝 {followers / 10_000:.1f}万"
    return f"粉丝 {followers:,}"


def explain(score: KolScore) -> str:
    """A readable, multi-line explanation of one score: tier, components × weights, reasons."""

    lines = [
        f"{score.name}（{score.platform}:{score.author_id}）{_fmt_followers(score.followers)}，"
        f"层级 {score.tier} / {score.tier_intl}",
        f"得分 {score.score:.1f} / 100 = 100 × 真实度 {score.authenticity:.2f} × 加权百分位",
    ]
    coverage = score.raw.get("coverage")
    # kolwatch-kol/1 renormalised the weights over the known components; later versions score a
    # missing component at the pool median. Stored rankings keep the version they were made with.
    renormalised = score.method_version == "kolwatch-kol/1"
    if coverage is not None and coverage < 0.999:
        if renormalised:
            lines.append(f"（仅 {coverage:.0%} 的权重有数据，已按此归一）")
        else:
            lines.append(f"（仅 {coverage:.0%} 的权重有本人数据；缺失指标按池中位数，即百分位 50 计）")
    lines.append("指标（同平台百分位 × 权重）：")
    for comp, weight in sorted(score.weights.items(), key=lambda kv: -kv[1]):
        label = COMPONENT_LABELS.get(comp, comp)
        if comp in score.components:
            pct = score.components[comp]
            lines.append(f"  {label}: 百分位 {pct * 100:.0f} × 权重 {weight:.3f}")
        elif renormalised:
            lines.append(f"  {label}: 缺失 × 权重 {weight:.3f}")
        else:
            lines.append(f"  {label}: 缺失，按中位数 50 × 权重 {weight:.3f}")
    for comp, pct in score.components.items():
        if comp not in score.weights:
            lines.append(f"  {COMPONENT_LABELS.get(comp, comp)}: 百分位 {pct * 100:.0f}（仅展示，不计分）")
    if SENTIMENT in score.raw:
        n_posts = score.raw.get("sentiment_posts", 0)
        lines.append(f"品牌情感 {score.raw[SENTIMENT]:.2f}（0 负面 .. 1 正面，{n_posts:.0f} 条）")
    growth = score.raw.get("growth_per_week")
    if growth is not None and GROWTH not in score.weights:
        lines.append(f"粉丝周增长 {growth:+.2%}")
    if score.index_name and score.index_value is not None:
        lines.append(f"{score.index_name}: {score.index_value:.1f}")
    if score.reasons:
        lines.append("说明：")
        lines.extend(f"  - {r}" for r in score.reasons)
    lines.append(f"方法 {score.method_version}")
    return "\n".join(lines)


def to_json_dict(score: KolScore) -> dict[str, Any]:
    """The `kolwatch kol rank --json` shape: plain JSON types only."""

    return {
        "platform": score.platform,
        "author_id": score.author_id,
        "name": score.name,
        "followers": score.followers,
        "tier": score.tier,
        "tier_intl": score.tier_intl,
        "score": score.score,
        "authenticity": score.authenticity,
        "reasons": list(score.reasons),
        "flags": list(score.flags),
        "components": dict(score.components),
        "weights": dict(score.weights),
        "raw": dict(score.raw),
        "index": None if score.index_name is None else {"name": score.index_name, "value": score.index_value},
        "method_version": score.method_version,
    }
