"""Authenticity multiplier D ∈ [0, 1] from fake-engagement signals (research note §7a.3, 西瓜指数 D).

D = Π(1 − p_i) over triggered signals; every triggered signal yields a human-readable reason in
Chinese with its numbers, and a machine code in `flags`:

- er_high / er_low: log engagement rate robust-z within platform × tier beyond ±3 (p 0.2). Tiers
  with too few peers fall back to the residual of a platform-wide log(ER)~log(followers) fit,
  because ER falls steeply with followers (§1.5) and a raw platform-wide z would flag every
  head account as "low".
- like_comment: log(likes:comments) robust-z within tier above +3 (p 0.15): bought likes do not
  come with comments.
- follower_jump: a daily follower delta with EWMA z > 4 and no posts in the 3 days before it that
  drew interactions in proportion (p 0.25): bought followers arrive without content.
- near_dup_comments: share of sampled comments with a near-duplicate (char n-gram Jaccard ≥ 0.8)
  above 30% (p 0.3): comment farms paste templates.
- default_commenters: share of commenters with default nicknames ("用户" + digits), no avatar or
  0 posts above 40% (p 0.3).

Robust z (median/MAD) is used throughout: planted fraud inflates a plain σ and hides itself.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from statistics import NormalDist, median

import numpy as np
from numpy.typing import NDArray

from scoring.normalise import FloatArray, group_index, robust_z
from scoring.settings import AuthenticitySettings
from scoring.tiers import typical_engagement_rate
from scoring.types import CommentFacts, FollowerSnapshot, PostFacts

ER_HIGH = "er_high"
ER_LOW = "er_low"
LIKE_COMMENT = "like_comment"
FOLLOWER_JUMP = "follower_jump"
NEAR_DUP_COMMENTS = "near_dup_comments"
DEFAULT_COMMENTERS = "default_commenters"

# Weibo's auto-assigned nickname is 用户 + a 10-digit number; other platforms use similar forms.
_DEFAULT_NICK = re.compile(r"^(用户|user|bili_|手机用户)[_\-]?\d{5,}$", re.IGNORECASE)
_MENTION = re.compile(r"(回复)?@[^\s:：,，@]{1,30}[:：]?")
_URL = re.compile(r"https?://\S+")
_EMOTICON = re.compile(r"\[[^\[\]]{1,8}\]")
_NON_WORD = re.compile(r"[\W_]+")  # punctuation, symbols, emoji, spaces (CJK counts as \w)


@dataclass(frozen=True, slots=True)
class Signal:
    code: str
    penalty: float
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """One author's authenticity: the multiplier, triggered signals and what could not be checked."""

    multiplier: float
    signals: tuple[Signal, ...]
    unchecked: tuple[str, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.signals)


def multiplier(signals: Sequence[Signal]) -> float:
    d = 1.0
    for s in signals:
        d *= 1.0 - s.penalty
    return max(0.0, min(1.0, d))


# --- comment sample -------------------------------------------------------------------------


def normalise_comment(text: str) -> str:
    """Text with @mentions, URLs, [表情] codes, punctuation and spaces removed, NFKC-folded."""

    folded = unicodedata.normalize("NFKC", text)
    stripped = _EMOTICON.sub("", _URL.sub("", _MENTION.sub("", folded)))
    kept = _NON_WORD.sub("", stripped)
    return kept.lower() or folded.strip()


def _shingles(text: str, n: int) -> frozenset[str]:
    if len(text) <= n:
        return frozenset((text,))
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def near_duplicate_share(texts: Sequence[str], threshold: float) -> float:
    """Share of texts having at least one other text with char n-gram Jaccard ≥ threshold.

    n = 2 when the sample's median normalised length is under 15 characters, else 3 (note §6).
    All-pairs via prefix filtering: with tokens in a fixed rare-first order, two sets with
    Jaccard ≥ t must share a token among the first |s| − ⌈t·|s|⌉ + 1 of each, so only pairs
    sharing such a token are verified. Exact on the result, fast on mostly distinct samples.
    """

    if len(texts) < 2:
        return 0.0
    normalised = [normalise_comment(t) for t in texts]
    lengths = sorted(len(t) for t in normalised)
    n = 2 if lengths[len(lengths) // 2] < 15 else 3
    sets = [_shingles(t, n) for t in normalised]
    freq = Counter(tok for s in sets for tok in s)
    order = [sorted(s, key=lambda tok: (freq[tok], tok)) for s in sets]
    index: dict[str, list[int]] = {}
    has_dup = [False] * len(sets)
    for i in sorted(range(len(sets)), key=lambda k: len(sets[k])):
        size = len(sets[i])
        prefix = size - math.ceil(threshold * size) + 1
        candidates: set[int] = set()
        for tok in order[i][:prefix]:
            candidates.update(index.get(tok, ()))
        for j in candidates:
            # Processing in size order: |s_j| ≤ |s_i|, so Jaccard ≥ t needs |s_j| ≥ t·|s_i|.
            if len(sets[j]) < threshold * size:
                continue
            inter = len(sets[i] & sets[j])
            if inter / (size + len(sets[j]) - inter) >= threshold:
                has_dup[i] = has_dup[j] = True
        for tok in order[i][:prefix]:
            index.setdefault(tok, []).append(i)
    return sum(has_dup) / len(sets)


def is_default_commenter(comment: CommentFacts) -> bool:
    if _DEFAULT_NICK.match(comment.commenter_name.strip()):
        return True
    return comment.commenter_has_avatar is False or comment.commenter_posts == 0


def wilson_lower(share: float, n: int, confidence: float) -> float:
    """One-sided Wilson score lower bound of a proportion observed as `share` in `n` trials."""

    if n <= 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    centre = share + z * z / (2 * n)
    margin = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def comment_signals(
    comments: Sequence[CommentFacts], settings: AuthenticitySettings
) -> tuple[list[Signal], list[str]]:
    """Signals from the comment sample (capped at `max_comments`), and notes on what was skipped."""

    sample = list(comments[: settings.max_comments])
    if len(sample) < settings.min_comments:
        what = "无评论样本" if not sample else f"评论样本仅 {len(sample)} 条（< {settings.min_comments}）"
        return [], [f"{what}：未检验评论雷同与默认昵称"]
    signals: list[Signal] = []
    n = len(sample)
    share = near_duplicate_share([c.text for c in sample], settings.near_dup_jaccard)
    if wilson_lower(share, n, settings.comment_confidence) > settings.near_dup_share:
        signals.append(
            Signal(
                NEAR_DUP_COMMENTS,
                settings.near_dup_penalty,
                f"评论高度雷同：{len(sample)} 条样本中 {share:.0%} 有近似重复（Jaccard ≥ "
                f"{settings.near_dup_jaccard:g}），超过 {settings.near_dup_share:.0%}，"
                f"扣 {settings.near_dup_penalty:.0%}",
            )
        )
    default_share = sum(is_default_commenter(c) for c in sample) / n
    if wilson_lower(default_share, n, settings.comment_confidence) > settings.default_nick_share:
        signals.append(
            Signal(
                DEFAULT_COMMENTERS,
                settings.default_nick_penalty,
                f"默认昵称/无头像/零发帖评论者占 {default_share:.0%}（{len(sample)} 条样本），超过 "
                f"{settings.default_nick_share:.0%}，扣 {settings.default_nick_penalty:.0%}",
            )
        )
    return signals, []


# --- follower history ----------------------------------------------------------------------


def utc_day(moment: datetime) -> date:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC).date()


def _daily(history: Sequence[FollowerSnapshot]) -> list[tuple[date, int]]:
    """The last snapshot of each UTC day, oldest first; impossible counts dropped."""

    last: dict[date, tuple[datetime, int]] = {}
    for snap in history:
        if isinstance(snap.followers, bool) or not isinstance(snap.followers, int) or snap.followers < 0:
            continue
        day = utc_day(snap.at)
        if day not in last or snap.at > last[day][0]:
            last[day] = (snap.at, snap.followers)
    return [(day, last[day][1]) for day in sorted(last)]


def follower_jump(
    history: Sequence[FollowerSnapshot], posts: Sequence[PostFacts], settings: AuthenticitySettings
) -> tuple[Signal | None, str | None]:
    """The largest follower jump not matched by content, if any; else a note when unchecked.

    Daily deltas (a gap of g days spreads its change evenly, the honest reading of sparse
    snapshots) feed an EWMA mean/variance (note §4.3 streaming form): z is taken before the
    update, with σ floored at `follower_sigma_floor_share` of followers.
    """

    days = _daily(history)
    if len(days) < 2:
        return None, None  # the indicators already report that growth is unknown
    if len(days) < settings.follower_warmup_days + 2:
        return None, f"粉丝快照仅 {len(days)} 天：未检验粉丝异常跳涨"
    deltas: list[tuple[date, float, int]] = []
    for (d0, f0), (d1, f1) in pairwise(days):
        gap = (d1 - d0).days
        deltas.append((d1, (f1 - f0) / gap, f0))
    alpha = settings.follower_ewma_alpha
    warm = [x for _, x, _ in deltas[: settings.follower_warmup_days]]
    mu = sum(warm) / len(warm)
    var = sum((x - mu) ** 2 for x in warm) / len(warm)
    by_day: dict[date, list[int]] = {}
    for p in posts:
        by_day.setdefault(utc_day(p.created_at), []).append(
            (p.likes or 0) + (p.reposts or 0) + (p.comments or 0)
        )
    typical = median(x for day in by_day.values() for x in day) if by_day else 0.0
    worst: tuple[float, date, float, float, int] | None = None
    for day, x, before in deltas[settings.follower_warmup_days :]:
        sigma = max(math.sqrt(var), settings.follower_sigma_floor_share * before, 1.0)
        z = (x - mu) / sigma
        if z > settings.follower_jump_z:
            excess = x - mu
            recent = [x for k in range(4) for x in by_day.get(day - timedelta(days=k), ())]
            content = sum(recent)
            spike = bool(recent) and max(recent) >= settings.content_spike_multiple * max(typical, 1.0)
            unmatched = not spike or content < settings.content_interactions_per_follower * excess
            if unmatched and (worst is None or z > worst[0]):
                worst = (z, day, x, mu, content)
        delta = x - mu
        mu += alpha * delta
        var = (1 - alpha) * (var + alpha * delta * delta)
    if worst is None:
        return None, None
    z, day, x, base, content = worst
    return (
        Signal(
            FOLLOWER_JUMP,
            settings.follower_jump_penalty,
            f"粉丝异常跳涨：{day.isoformat()} 单日 {x:+,.0f}（基线 {base:+,.0f}/天，z={z:.1f} > "
            f"{settings.follower_jump_z:g}），此前 3 天无爆款帖（共 {content:,} 次互动），"
            f"扣 {settings.follower_jump_penalty:.0%}",
        ),
        None,
    )


# --- pool-level outliers ---------------------------------------------------------------------


def _peer_z(
    values: FloatArray, groups: Sequence[tuple[str, str]], min_peers: int, fallback: FloatArray | None
) -> tuple[FloatArray, np.ndarray]:
    """Robust z within each (platform, tier) group; small groups use `fallback` (or platform-wide).

    Returns z and a boolean mask of rows that were judged on the fallback.
    """

    z = np.full(values.shape, np.nan)
    used_fallback = np.zeros(values.shape, dtype=bool)
    platform_rows = group_index([g[0] for g in groups])
    for _, rows in group_index(list(groups)).items():
        known = rows[~np.isnan(values[rows])]
        if len(known) >= min_peers:
            z[known] = robust_z(values[known])
        elif len(known):
            used_fallback[known] = True
    for _, rows in platform_rows.items():
        need = rows[used_fallback[rows]]
        if not len(need):
            continue
        if fallback is not None:
            z[need] = fallback[need]
        else:
            known = rows[~np.isnan(values[rows])]
            if len(known) >= min_peers:
                z[need] = robust_z(values[known])[np.searchsorted(known, need)]
    return z, used_fallback


def _residual_z(
    log_er: FloatArray, log_f: FloatArray, platforms: Sequence[str], min_peers: int
) -> FloatArray:
    """Robust z of residuals of log(ER) ~ a + b·log(followers), fitted per platform."""

    z = np.full(log_er.shape, np.nan)
    for _, rows in group_index(list(platforms)).items():
        known = rows[~np.isnan(log_er[rows]) & ~np.isnan(log_f[rows])]
        if len(known) < min_peers:
            continue
        x, y = log_f[known], log_er[known]
        if float(np.ptp(x)) == 0.0:
            resid = y - np.median(y)
        else:
            b, a = np.polyfit(x, y, 1)
            resid = y - (a + b * x)
        z[known] = robust_z(resid)
    return z


def pool_signals(
    engagement_rate: FloatArray,
    followers: FloatArray,
    likes_total: FloatArray,
    comments_total: FloatArray,
    posts_with_counts: NDArray[np.int64],
    groups: Sequence[tuple[str, str]],
    settings: AuthenticitySettings,
) -> tuple[list[list[Signal]], list[list[str]]]:
    """ER and like:comment outliers for every author of the pool (NaN = unknown).

    `groups` are (platform, tier) per row. Authors with fewer than `min_posts_for_rates` posts
    with counts are neither judged nor part of anyone's peer group. Returns signals and
    unchecked notes per row.
    """

    m = len(groups)
    signals: list[list[Signal]] = [[] for _ in range(m)]
    notes: list[list[str]] = [[] for _ in range(m)]
    few = posts_with_counts < settings.min_posts_for_rates
    for i in np.flatnonzero(few & ~np.isnan(engagement_rate)):
        notes[i].append(f"有计数的帖子少于 {settings.min_posts_for_rates} 条：未检验互动率与赞评比离群")
    with np.errstate(divide="ignore", invalid="ignore"):
        # A continuity correction of half an interaction keeps ER = 0 finite (log 0 = −∞).
        log_er = np.log(engagement_rate + 0.5 / followers)
        log_f = np.log(followers)
        interactions = likes_total + comments_total
        log_lc = np.where(
            interactions >= settings.min_interactions_for_ratio,
            np.log((likes_total + 1.0) / (comments_total + 1.0)),
            np.nan,
        )
    log_er[~np.isfinite(log_er) | few] = np.nan
    log_f[~np.isfinite(log_f)] = np.nan
    log_lc[few] = np.nan
    platforms = [g[0] for g in groups]
    resid = _residual_z(log_er, log_f, platforms, settings.min_peer_group)
    er_z, er_fallback = _peer_z(log_er, groups, settings.min_peer_group, resid)
    lc_z, _ = _peer_z(log_lc, groups, settings.min_peer_group, None)
    for i in range(m):
        tier = groups[i][1]
        peer = "全平台粉丝-互动回归" if er_fallback[i] else f"同档（{tier}）"
        z = er_z[i]
        if np.isnan(z):
            if not np.isnan(log_er[i]):
                notes[i].append("同平台作者不足：未检验互动率离群")
        elif abs(z) > settings.er_z and not (
            # The regression is fitted on a pool of mostly small accounts; extrapolated to a
            # head account it can call 0.12% "too high" at 3M followers, where ~1.5% is usual.
            # Off its tier's peers, a flag needs the published rate for the size to agree.
            er_fallback[i] and (z > 0) != (engagement_rate[i] > typical_engagement_rate(followers[i]))
        ):
            code, word = (ER_HIGH, "偏高") if z > 0 else (ER_LOW, "偏低")
            signals[i].append(
                Signal(
                    code,
                    settings.er_penalty,
                    f"互动率异常{word}：中位 {engagement_rate[i]:.2%}，{peer}稳健 z={z:+.1f}"
                    f"（阈值 ±{settings.er_z:g}），扣 {settings.er_penalty:.0%}",
                )
            )
        z = lc_z[i]
        if not np.isnan(z) and z > settings.like_comment_z:
            ratio = (likes_total[i] + 1.0) / (comments_total[i] + 1.0)
            signals[i].append(
                Signal(
                    LIKE_COMMENT,
                    settings.like_comment_penalty,
                    f"赞评比异常：赞/评 = {ratio:.1f}，同档稳健 z={z:+.1f}"
                    f"（阈值 {settings.like_comment_z:g}），扣 {settings.like_comment_penalty:.0%}",
                )
            )
    return signals, notes
