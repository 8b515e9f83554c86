"""The KOL ranking: indicators → percentiles → blended weights → authenticity → sorted KolScores.

`rank_kols` is the public entry point (research note §7a.3):

    score = 100 × D × Σ_j w_j·pct_j / Σ_j w_j    over the components j known for the author

- Each component is the mean of its sub-indicators' mid-rank percentiles: reach (followers, views
  per post), engagement (median ER), amplification (reposts per post, PageRank × N), conversation
  (comments per post, comment:like ratio), activity, relevance, growth. Rates that fall with
  follower count (ER, comment:like) are ranked within platform × tier, the rest within platform:
  ranking reach within tier would put a 999k 腰部 account above a 1M 头部 one. Authors whose tier
  has fewer than `min_tier_group` peers in the pool are ranked together, their ER first divided by
  the rate usual for their size (`tiers.typical_engagement_rate`, research §1.5; since
  kolwatch-kol/3, before which a lone 3M-follower account at 3.5% ranked below KOCs at 18%).
- Weights per platform: entropy weights of the log1p'd, min-max'd components blended with priors
  (`scoring.weights`), or reference weights the caller computed on a fixed pool (§3 caveat: pool
  weights drift with the pool).
- Missing data is neutral and explicit: a component that cannot be computed for an author (no
  follower or view count for reach, no interaction counts, unknown relevance, ...) is scored at
  the pool's median, percentile 0.5, with its full weight. `reasons` names each such component
  and why it is missing ("粉丝数与播放/阅读数均未知：覆盖按池中位数计"), and `raw["coverage"]` is
  the share of the weight that rests on the author's own data. Equivalently the score is shrunk
  towards 50 by the missing coverage: score = coverage·(score over known components) +
  (1 − coverage)·50. So an author is never ranked last because of a silent zero, and never
  ranked first on one or two strong components because the others were dropped and the weights
  renormalised over what was left (the behaviour before kolwatch-kol/2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from scoring import authenticity, indicators, indices
from scoring.graph import pagerank
from scoring.normalise import FloatArray, group_index, minmax, percentile
from scoring.settings import ScoringSettings
from scoring.tiers import intl_tier, tier_for, typical_engagement_rate
from scoring.types import (
    ACTIVITY,
    AMPLIFICATION,
    CONVERSATION,
    ENGAGEMENT,
    GROWTH,
    REACH,
    RELEVANCE,
    SENTIMENT,
    WEIGHTABLE,
    AuthorWindow,
    GraphEdge,
    KolScore,
)
from scoring.weights import WeightReport, blended_weights

# /2: missing components at the pool median instead of renormalising the weights over the rest.
METHOD_VERSION = "kolwatch-kol/3"
# The percentile a component gets when the author's data cannot compute it: the pool median.
NEUTRAL_PERCENTILE = 0.5
_ZH_LABEL: dict[str, str] = {
    REACH: "覆盖",
    ENGAGEMENT: "互动",
    AMPLIFICATION: "传播",
    CONVERSATION: "讨论",
    ACTIVITY: "活跃",
    RELEVANCE: "相关",
    GROWTH: "增长",
}

# component -> its sub-indicators; the label is what `explain` shows.
SUBINDICATORS: dict[str, tuple[str, ...]] = {
    REACH: ("followers", "views_per_post"),
    ENGAGEMENT: ("engagement_rate",),
    AMPLIFICATION: ("reposts_per_post", "pagerank"),
    CONVERSATION: ("comments_per_post", "comment_like_ratio"),
    ACTIVITY: ("posts_per_week",),
    RELEVANCE: ("relevance",),
    GROWTH: ("growth_per_week",),
}
# Sub-indicators whose normal level depends on follower count: ranked within platform × tier.
WITHIN_TIER = frozenset({"engagement_rate", "comment_like_ratio"})
# Heavy-tailed counts and rates are log1p'd before min-max for the entropy weights (§3 step 1);
# rates are first put in percent so log1p does not flatten them.
_LOG_SCALE = {
    "followers": 1.0,
    "views_per_post": 1.0,
    "reposts_per_post": 1.0,
    "comments_per_post": 1.0,
    "pagerank": 1.0,
    "engagement_rate": 100.0,
    "comment_like_ratio": 100.0,
}


@dataclass(frozen=True, slots=True)
class Ranking:
    """One ranking of a pool: scores best first, and how each platform's weights came about."""

    scores: tuple[KolScore, ...]
    weights: dict[str, WeightReport]
    method_version: str
    window_days: int
    computed_at: datetime


def _validate_reference(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(WEIGHTABLE))
    if unknown:
        raise ValueError(f"reference weights name unknown indicator(s) {unknown}")
    if any(not np.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("reference weights must be finite, >= 0 and not all 0")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


def _sub_values(ind: indicators.Indicators, pr: float | None) -> dict[str, float | None]:
    return {
        "followers": None if ind.followers is None else float(ind.followers),
        "views_per_post": ind.views_per_post,
        "engagement_rate": ind.engagement_rate,
        "reposts_per_post": ind.reposts_per_post,
        "pagerank": pr,
        "comments_per_post": ind.comments_per_post,
        "comment_like_ratio": ind.comment_like_ratio,
        "posts_per_week": ind.posts_per_week,
        "relevance": ind.relevance,
        "growth_per_week": ind.growth_per_week,
    }


def _grouped(
    column: FloatArray, groups: Mapping[object, np.ndarray], fn: Callable[[FloatArray], FloatArray]
) -> FloatArray:
    out = np.full(column.shape, np.nan)
    for rows in groups.values():
        out[rows] = fn(column[rows])
    return out


def _index_for(
    platform: str, window: AuthorWindow, ind: indicators.Indicators
) -> tuple[str | None, float | None, str | None]:
    """The platform's 清博 index formula over the collected posts of the window, and a note.

    The formula is exact, the inputs are not 清博's (they count all the account's posts): the
    label and the note say so.
    """

    posts = ind.window_posts
    if not posts:
        return None, None, None
    # An index over posts whose interactions are all unknown would be a number made of zeros.
    counted = [p for p in posts if None not in (p.likes, p.reposts, p.comments)]
    if platform in ("weibo", "douyin") and not counted:
        name = "BCI" if platform == "weibo" else "DCI"
        return None, None, f"{name} 未计算：帖子无完整互动计数"
    if platform == "weibo":
        inputs, unknown = indices.bci_inputs_from_posts(posts)
        note = (
            f"BCI 按本系统采集到的 {len(posts)} 条帖子计算（清博按账号窗口内全部发博计），"
            "不可与清博榜单直接比较"
        )
        if unknown:
            note += f"；其中 {unknown} 条计数不全，按已知计数计算"
        return indices.BCI_OVER_COLLECTED, round(indices.bci_full(inputs), 1), note
    if platform == "douyin" and ind.followers is not None:
        history = indicators.valid_snapshots(window.follower_history)
        new = history[-1].followers - history[0].followers if len(history) >= 2 else 0
        dci_in = indices.DciInputs(
            videos=len(posts),
            likes=sum(p.likes or 0 for p in posts),
            comments=sum(p.comments or 0 for p in posts),
            shares=sum(p.reposts or 0 for p in posts),
            new_followers=new,
            followers=ind.followers,
        )
        note = (
            f"DCI 按本系统采集到的 {len(posts)} 条视频计算（清博按账号窗口内全部视频计），"
            "不可与清博榜单直接比较"
        )
        return indices.DCI_OVER_COLLECTED, round(indices.dci(dci_in), 1), note
    return None, None, None


def rank_kols(
    windows: Sequence[AuthorWindow],
    *,
    now: datetime,
    settings: ScoringSettings | None = None,
    edges: Iterable[GraphEdge] | None = None,
    reference_weights: Mapping[str, Mapping[str, float]] | None = None,
) -> Ranking:
    """Score and sort every author of one watch's pool.

    `edges`: the watch's repost/@mention graph in the window; None when unknown (amplification
    then rests on reposts per post alone, and reasons say so). `reference_weights`: per-platform
    weights computed on a fixed reference pool; platforms not in it get pool weights.
    Raises ValueError for caller bugs (duplicate authors, naive datetimes, bad weights).
    """

    cfg = settings or ScoringSettings()
    keys = [w.key for w in windows]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise ValueError(f"duplicate authors in the pool: {dupes}")
    m = len(windows)
    if m == 0:
        return Ranking((), {}, METHOD_VERSION, cfg.window_days, now)
    refs = {p: _validate_reference(w) for p, w in (reference_weights or {}).items()}

    inds = [
        indicators.compute(
            w,
            now=now,
            window_days=cfg.window_days,
            max_posts=cfg.max_posts,
            activity_cap_per_week=cfg.activity_cap_per_week,
        )
        for w in windows
    ]
    platforms = [w.author.platform for w in windows]
    tiers = [tier_for(ind.followers, p, cfg) for ind, p in zip(inds, platforms, strict=True)]

    pr_norm: list[float | None] = [None] * m
    if edges is not None:
        ranks = pagerank(
            edges,
            keys,
            damping=cfg.pagerank_damping,
            iterations=cfg.pagerank_iterations,
            tolerance=cfg.pagerank_tolerance,
        )
        n_nodes = len(ranks)
        pr_norm = [ranks[k] * n_nodes for k in keys]  # 1.0 = an average node

    subs = [_sub_values(ind, pr) for ind, pr in zip(inds, pr_norm, strict=True)]
    sub_names = [s for names in SUBINDICATORS.values() for s in names]
    raw = {s: np.array([np.nan if v[s] is None else v[s] for v in subs], dtype=np.float64) for s in sub_names}

    f_arr = np.array([np.nan if ind.followers is None else float(ind.followers) for ind in inds])
    by_platform = group_index(platforms)
    tier_groups: dict[object, list[int]] = {}
    for i, (p, t) in enumerate(zip(platforms, tiers, strict=True)):
        tier_groups.setdefault((p, t), []).append(i)
    small_tier = np.zeros(m, dtype=bool)
    within_tier: dict[object, np.ndarray] = {}
    for (p, t), rows in tier_groups.items():
        if len(rows) >= cfg.min_tier_group:
            within_tier[(p, t)] = np.asarray(rows)
        else:
            small_tier[rows] = True
    # Authors in small tiers are ranked against their whole platform for the within-tier rates.
    for p, rows in by_platform.items():
        spill = rows[small_tier[rows]]
        if len(spill):
            within_tier[("spill", p)] = spill

    # Authors whose tier is too small to rank within are ranked on their engagement rate relative
    # to the rate usual for their size, not on the raw rate, which falls steeply with followers
    # (a 3M-follower account at 3.5% ranked below every KOC at 18%).
    ranked_by = dict(raw)
    er = raw["engagement_rate"].copy()
    for i in np.flatnonzero(small_tier & ~np.isnan(er) & ~np.isnan(f_arr)):
        er[i] = er[i] / typical_engagement_rate(f_arr[i])
    ranked_by["engagement_rate"] = er

    pct: dict[str, FloatArray] = {}
    scaled: dict[str, FloatArray] = {}
    for s in sub_names:
        column = raw[s]
        pct[s] = _grouped(ranked_by[s], within_tier if s in WITHIN_TIER else by_platform, percentile)
        transformed = np.log1p(np.maximum(column, 0.0) * _LOG_SCALE[s]) if s in _LOG_SCALE else column
        scaled[s] = _grouped(transformed, by_platform, minmax)

    comp_pct: dict[str, FloatArray] = {}
    comp_raw: dict[str, FloatArray] = {}
    with np.errstate(all="ignore"):
        for comp, names in SUBINDICATORS.items():
            comp_pct[comp] = _nanmean([pct[s] for s in names])
            comp_raw[comp] = _nanmean([scaled[s] for s in names])

    reports: dict[str, WeightReport] = {}
    for p, rows in by_platform.items():
        if p in refs:
            w = refs[p]
            reports[p] = WeightReport(dict(w), dict.fromkeys(w), dict(w), 0.0, "reference weights")
        else:
            reports[p] = blended_weights(
                {c: comp_raw[c][rows] for c in cfg.prior_weights},
                cfg.prior_weights,
                alpha=cfg.entropy_blend,
                min_pool=cfg.min_pool_for_entropy,
            )

    likes = np.array([np.nan if ind.likes_total is None else float(ind.likes_total) for ind in inds])
    comments = np.array([np.nan if ind.comments_total is None else float(ind.comments_total) for ind in inds])
    counted = np.array(
        [
            sum(1 for p in ind.posts_used if (p.likes, p.reposts, p.comments) != (None, None, None))
            for ind in inds
        ],
        dtype=np.int64,
    )
    pool_sig, pool_notes = authenticity.pool_signals(
        raw["engagement_rate"],
        f_arr,
        likes,
        comments,
        counted,
        list(zip(platforms, tiers, strict=True)),
        cfg.authenticity,
    )

    scores: list[KolScore] = []
    for i, (window, ind) in enumerate(zip(windows, inds, strict=True)):
        platform = platforms[i]
        signals = list(pool_sig[i])
        unchecked = list(pool_notes[i])
        c_sig, c_notes = authenticity.comment_signals(window.comments, cfg.authenticity)
        signals += c_sig
        unchecked += c_notes
        jump, jump_note = authenticity.follower_jump(
            window.follower_history, ind.window_posts, cfg.authenticity
        )
        if jump is not None:
            signals.append(jump)
        if jump_note:
            unchecked.append(jump_note)
        d = authenticity.multiplier(signals)

        weights = reports[platform].weights
        components = {c: float(comp_pct[c][i]) for c in SUBINDICATORS if not np.isnan(comp_pct[c][i])}
        total = sum(weights.values())
        coverage = sum(w for c, w in weights.items() if c in components) / total if total > 0 else 0.0
        base = (
            sum(w * components.get(c, NEUTRAL_PERCENTILE) for c, w in weights.items()) / total
            if total > 0
            else 0.0
        )
        notes: list[str] = []
        for c in sorted(weights, key=lambda c: -weights[c]):
            if c not in components and weights[c] > 0:
                notes.append(
                    f"{_missing_cause(c, ind, pr_norm[i])}：{_ZH_LABEL.get(c, c)}按池中位数计"
                    f"（百分位 50，权重 {weights[c] / total:.0%}）"
                )
        if edges is None:
            notes.append("无转发/提及关系图：传播力只看转发数")
        if small_tier[i] and ind.engagement_rate is not None:
            notes.append(
                f"同档（{tiers[i]}）作者不足 {cfg.min_tier_group} 位：互动率按同粉丝量的典型互动率折算后"
                "全平台排位"
            )
        raw_out = {k: float(v) for k, v in subs[i].items() if v is not None}
        raw_out["coverage"] = coverage
        raw_out["posts_in_window"] = float(ind.posts_in_window)
        if ind.sentiment is not None:
            raw_out[SENTIMENT] = ind.sentiment
            raw_out["sentiment_posts"] = float(ind.sentiment_posts)
        index_name, index_value, index_note = _index_for(platform, window, ind)
        if index_note:
            notes.append(index_note)
        scores.append(
            KolScore(
                platform=platform,
                author_id=window.author.author_id,
                name=window.author.name,
                followers=ind.followers,
                tier=tiers[i],
                tier_intl=intl_tier(ind.followers),
                score=round(100.0 * d * base, 2),
                authenticity=round(d, 4),
                reasons=tuple([s.reason for s in signals] + list(ind.missing) + notes + unchecked),
                components=components,
                weights=dict(weights),
                method_version=METHOD_VERSION,
                raw=raw_out,
                flags=tuple(s.code for s in signals),
                index_name=index_name,
                index_value=index_value,
            )
        )
    scores.sort(key=lambda s: (-s.score, -(s.followers or 0), s.platform, s.author_id))
    return Ranking(tuple(scores), reports, METHOD_VERSION, cfg.window_days, now)


def _missing_cause(component: str, ind: indicators.Indicators, pr: float | None) -> str:
    """Why `component` could not be computed for the author (the reason's first half)."""

    if component == REACH:
        return "粉丝数与播放/阅读数均未知"
    if component == ACTIVITY:
        return "发帖数未知"
    if component == GROWTH:
        return "粉丝快照不足"
    if component == RELEVANCE:
        return ind.relevance_note or "相关度未知"
    if not ind.posts_used:
        return "窗口内无帖子"
    if component == ENGAGEMENT:
        if ind.followers is None:
            return "粉丝数未知"
        if ind.followers == 0:
            return "粉丝数为 0"
        return "帖子无互动计数"
    if component == AMPLIFICATION:
        # With a graph every author has a PageRank, so amplification is missing only without one.
        return "帖子无转发数且无转发/提及关系图" if pr is None else "帖子无转发数"
    if component == CONVERSATION:
        return "帖子无评论数"
    return "数据缺失"


def _nanmean(columns: list[FloatArray]) -> FloatArray:
    stacked = np.vstack(columns)
    known = ~np.isnan(stacked)
    count = known.sum(axis=0)
    total = np.where(known, stacked, 0.0).sum(axis=0)
    out = np.full(stacked.shape[1], np.nan)
    has = count > 0
    out[has] = total[has] / count[has]
    return out
