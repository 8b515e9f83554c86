"""Pure views over rankings for the bot and the digest: top, rising, turned negative, explain, JSON.

Everything here reads `KolScore` values only (no settings, no database), so a stored ranking
can be re-rendered without recomputing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scoring.types import GROWTH, SENTIMENT, KolScore

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
    """One author compared across two windows; `previous` is None for a newcomer."""

    current: KolScore
    previous: KolScore | None
    score_delta: float
    growth_per_week: float | None


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


def rising_kols(
    previous: Sequence[KolScore],
    current: Sequence[KolScore],
    n: int = 10,
    *,
    min_delta: float = 5.0,
    include_new: bool = True,
) -> list[KolChange]:
    """Authors whose score rose by at least `min_delta` points since the previous window.

    Newcomers (absent before) count as rising from 0 when `include_new`; they are marked by
    `previous is None`, never confused with a real earlier score of 0.
    """

    before = {s.key: s for s in previous}
    changes: list[KolChange] = []
    for s in current:
        old = before.get(s.key)
        if old is None and not include_new:
            continue
        delta = s.score - (old.score if old else 0.0)
        if delta >= min_delta:
            changes.append(KolChange(s, old, round(delta, 2), s.raw.get("growth_per_week")))
    changes.sort(key=lambda c: (-c.score_delta, c.current.platform, c.current.author_id))
    return changes[:n]


def turned_negative(
    previous: Sequence[KolScore],
    current: Sequence[KolScore],
    *,
    below: float = 0.4,
    min_posts: int = 2,
) -> list[KolChange]:
    """Authors whose brand sentiment fell below `below` after being at or above it.

    Both windows need a sentiment from at least `min_posts` posts: one sour post is not a turn.
    Sorted by influence (current score), since a negative 头部 matters more than a negative 素人.
    """

    before = {s.key: s for s in previous}
    out: list[KolChange] = []
    for s in current:
        old = before.get(s.key)
        if old is None:
            continue
        now_s, then_s = s.raw.get(SENTIMENT), old.raw.get(SENTIMENT)
        if now_s is None or then_s is None:
            continue
        if s.raw.get("sentiment_posts", 0) < min_posts or old.raw.get("sentiment_posts", 0) < min_posts:
            continue
        if now_s < below <= then_s:
            out.append(KolChange(s, old, round(s.score - old.score, 2), s.raw.get("growth_per_week")))
    out.sort(key=lambda c: (-c.current.score, c.current.platform, c.current.author_id))
    return out


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
