"""Fraud signals one by one, on hand-made data, including hostile comment text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from scoring.authenticity import (
    DEFAULT_COMMENTERS,
    ER_HIGH,
    ER_LOW,
    FOLLOWER_JUMP,
    LIKE_COMMENT,
    NEAR_DUP_COMMENTS,
    Signal,
    comment_signals,
    follower_jump,
    is_default_commenter,
    multiplier,
    near_duplicate_share,
    normalise_comment,
    pool_signals,
    wilson_lower,
)
from scoring.settings import AuthenticitySettings
from scoring.types import CommentFacts, FollowerSnapshot, PostFacts

CFG = AuthenticitySettings()
T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_multiplier_is_the_product_of_penalties() -> None:
    # D = (1 − 0.2)·(1 − 0.3) = 0.56
    assert multiplier([Signal("a", 0.2, ""), Signal("b", 0.3, "")]) == pytest.approx(0.56)
    assert multiplier([]) == 1.0
    assert multiplier([Signal("a", 1.0, "")]) == 0.0


def test_comment_normalisation_strips_noise() -> None:
    assert normalise_comment("回复@小明: 太好用了！！[心] https://t.cn/x  推荐👍") == "太好用了推荐"
    assert normalise_comment("ＡＢＣ１２３") == "abc123"
    assert normalise_comment("[赞][赞]") == "[赞][赞]"  # nothing but emoticons: keep the raw text
    assert normalise_comment("") == ""


def test_near_duplicate_share_hand_cases() -> None:
    texts = [
        "这款真的太好用了强烈推荐给大家",
        "这款真的太好用了强烈推荐给大家！",  # same after normalisation
        "@某人 这款真的太好用了强烈推荐给大家[心]",  # same after normalisation
        "今天排队排了半小时才买到",
        "价格有点贵但是味道不错",
    ]
    assert near_duplicate_share(texts, 0.8) == pytest.approx(3 / 5)
    assert near_duplicate_share(["一二三四五六七八九十", "一二三四五六七八九"], 0.8) == pytest.approx(1.0)
    # 2-gram sets of 10 vs 9 chars: 9 ∩ 8 → Jaccard 8/9 = 0.889 ≥ 0.8; a different text shares nothing
    assert near_duplicate_share(["完全不同的文本内容", "另一个话题在这里"], 0.8) == 0.0
    assert near_duplicate_share([], 0.8) == 0.0
    assert near_duplicate_share(["只有一条"], 0.8) == 0.0


def test_near_duplicate_share_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    alphabet = list("咖啡拿铁好喝贵排队门店新品推荐一般")
    texts = ["".join(rng.choice(alphabet, size=int(rng.integers(3, 12)))) for _ in range(60)]
    texts += [texts[5] + "啊", texts[7], texts[9][:-1]]

    def brute(threshold: float) -> float:
        norm = [normalise_comment(t) for t in texts]
        n = 2 if sorted(len(t) for t in norm)[len(norm) // 2] < 15 else 3
        sets = [frozenset(t[i : i + n] for i in range(len(t) - n + 1)) if len(t) > n else frozenset([t])
                for t in norm]  # fmt: skip
        dup = [any(j != i and len(a & b) / len(a | b) >= threshold for j, b in enumerate(sets))
               for i, a in enumerate(sets)]  # fmt: skip
        return sum(dup) / len(sets)

    for threshold in (0.5, 0.8, 1.0):
        assert near_duplicate_share(texts, threshold) == pytest.approx(brute(threshold))


@pytest.mark.parametrize(
    ("name", "avatar", "posts", "default"),
    [
        ("用户7364829105", None, None, True),
        ("用户73648", None, None, True),
        ("手机用户3921184", None, None, True),
        ("小王爱咖啡", None, None, False),
        ("用户小王", None, None, False),
        ("小王爱咖啡", False, None, True),  # no avatar
        ("小王爱咖啡", True, 0, True),  # never posted
        ("", None, None, False),
    ],
)
def test_default_commenter(name: str, avatar: bool | None, posts: int | None, default: bool) -> None:
    assert is_default_commenter(CommentFacts(name, "x", posts, avatar)) is default


def test_wilson_lower_hand_values() -> None:
    # z = 1.6449; n = 30, p = 0.5: centre 0.5 + 2.7055/60 = 0.54509; margin 1.6449·√(0.25/30 + 2.7055/3600)
    # = 1.6449·0.09535 = 0.15684; ÷ (1 + 2.7055/30 = 1.09018) → 0.35618
    assert wilson_lower(0.5, 30, 0.95) == pytest.approx(0.35618, abs=1e-4)
    assert wilson_lower(0.0, 30, 0.95) == 0.0
    assert wilson_lower(0.3, 0, 0.95) == 0.0


def _comments(n: int, farm: int, default_names: int) -> list[CommentFacts]:
    out = []
    for i in range(n):
        name = f"用户{1000000000 + i}" if i < default_names else f"真实用户{i}号"
        own = f"第{i}条评论说说自己的看法{'啊' * (i % 7)}{i * 7919}"
        text = "宝藏博主每次推荐都超级靠谱爱了" if i < farm else own
        out.append(CommentFacts(name, text))
    return out


def test_comment_farm_and_default_names_are_flagged_with_reasons() -> None:
    signals, notes = comment_signals(_comments(40, farm=30, default_names=30), CFG)
    assert {s.code for s in signals} == {NEAR_DUP_COMMENTS, DEFAULT_COMMENTERS}
    assert not notes
    reasons = " ".join(s.reason for s in signals)
    assert "75%" in reasons and "40 条" in reasons


def test_genuine_sample_and_borderline_sample_are_not_flagged() -> None:
    assert comment_signals(_comments(40, farm=0, default_names=8), CFG) == ([], [])
    # 45% observed in 20 comments is not significantly above 40% (Wilson lower bound 0.27)
    signals, _ = comment_signals(_comments(20, farm=0, default_names=9), CFG)
    assert signals == []


def test_too_few_comments_are_reported_not_judged() -> None:
    signals, notes = comment_signals(_comments(3, farm=3, default_names=3), CFG)
    assert signals == []
    assert "3 条" in notes[0]
    assert "无评论样本" in comment_signals([], CFG)[1][0]


def test_hostile_comment_text_does_not_break_the_checks() -> None:
    hostile = ["", " ", "\x00\x00", "🙂" * 500, "a" * 10_000, "@@@@", "[[[[]]]]", "\u202e反转", "http://",
               "回复@:"]  # fmt: skip
    comments = [CommentFacts(f"n{i}", t) for i, t in enumerate(hostile * 2)]
    signals, _ = comment_signals(comments, CFG)
    assert all(0 <= s.penalty <= 1 for s in signals)


def _history(deltas: list[int], start: int = 10_000) -> list[FollowerSnapshot]:
    level, out = start, [FollowerSnapshot(T0, start)]
    for day, d in enumerate(deltas, start=1):
        level += d
        out.append(FollowerSnapshot(T0 + timedelta(days=day), level))
    return out


def test_follower_jump_without_content_is_flagged() -> None:
    history = _history([20, 22, 18, 21, 19, 20, 5_000, 21, 20])
    posts = [PostFacts(f"p{i}", T0 + timedelta(days=i), likes=30, comments=3, reposts=2) for i in range(9)]
    signal, note = follower_jump(history, posts, CFG)
    assert note is None and signal is not None
    assert signal.code == FOLLOWER_JUMP
    assert "2025-01-08" in signal.reason and "+5,000" in signal.reason


def test_follower_jump_after_a_viral_post_is_not_flagged() -> None:
    history = _history([20, 22, 18, 21, 19, 20, 5_000, 21, 20])
    posts = [PostFacts(f"p{i}", T0 + timedelta(days=i), likes=30, comments=3, reposts=2) for i in range(9)]
    viral_at = T0 + timedelta(days=6, hours=3)
    posts.append(PostFacts("viral", viral_at, likes=20_000, comments=900, reposts=3_000))
    assert follower_jump(history, posts, CFG) == (None, None)


def test_follower_history_too_short_or_hostile() -> None:
    assert follower_jump(_history([5, 5]), [], CFG)[1] == "粉丝快照仅 3 天：未检验粉丝异常跳涨"
    assert follower_jump([], [], CFG) == (None, None)
    bad = [FollowerSnapshot(T0 + timedelta(days=i), -5) for i in range(10)]
    assert follower_jump(bad, [], CFG) == (None, None)
    with pytest.raises(ValueError, match="timezone-aware"):
        follower_jump([FollowerSnapshot(datetime(2025, 1, d), 10) for d in range(1, 10)], [], CFG)


def _pool(m: int = 40) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(11)
    followers = np.full(m, 50_000.0)
    er = 0.05 * rng.lognormal(0.0, 0.1, m)
    likes = er * followers * 5 * 0.8
    comments = er * followers * 5 * 0.1
    return er, followers, likes, comments


def test_er_and_like_comment_outliers_within_tier() -> None:
    er, followers, likes, comments = _pool()
    er[0], er[1] = 0.5, 0.002  # ×10 and ÷25 the tier's norm
    likes[2], comments[2] = 100_000.0, 50.0  # likes without comments
    posts = np.full(len(er), 5, dtype=np.int64)
    groups = [("weibo", "尾部")] * len(er)
    signals, notes = pool_signals(er, followers, likes, comments, posts, groups, CFG)
    assert [s.code for s in signals[0]] == [ER_HIGH]
    assert [s.code for s in signals[1]] == [ER_LOW]
    assert LIKE_COMMENT in [s.code for s in signals[2]]
    assert "同档（尾部）" in signals[0][0].reason
    assert all(not s for s in signals[3:])
    assert all(not n for n in notes)


def test_outliers_need_enough_posts_and_peers() -> None:
    er, followers, likes, comments = _pool()
    er[0] = 0.5
    posts = np.full(len(er), 5, dtype=np.int64)
    posts[0] = 1
    signals, notes = pool_signals(er, followers, likes, comments, posts, [("weibo", "尾部")] * len(er), CFG)
    assert signals[0] == [] and "少于 3 条" in notes[0][0]
    # Three peers in total: nothing to compare with, said so.
    signals, notes = pool_signals(er[:3], followers[:3], likes[:3], comments[:3], posts[:3] * 0 + 5,
                                  [("weibo", "尾部")] * 3, CFG)  # fmt: skip
    assert signals == [[], [], []]
    assert all("未检验互动率离群" in n[0] for n in notes)


def test_missing_followers_and_counts_are_skipped_not_flagged() -> None:
    er, followers, likes, comments = _pool()
    er[0] = np.nan
    followers[0] = np.nan
    likes[1] = comments[1] = np.nan
    posts = np.full(len(er), 5, dtype=np.int64)
    signals, _ = pool_signals(er, followers, likes, comments, posts, [("weibo", "尾部")] * len(er), CFG)
    assert signals[0] == [] and signals[1] == []


def test_off_tier_flags_need_the_usual_rate_for_the_size_to_agree() -> None:
    # 40 accounts of 3k-300k followers whose ER falls steeply with size, and two head accounts
    # (2.5M, 3M) at 0.15% and 0.12%. The head tier has no peers, so they are judged on the
    # platform's followers-ER regression, which, fitted on the smaller accounts, puts them far
    # above its line (robust z ~ +5.5); yet 0.12% is well below the ~1.5% usual at 3M followers.
    # "Unusually high" would contradict the published rate: no ER flag.
    rng = np.random.default_rng(3)
    followers = np.concatenate([np.exp(rng.uniform(np.log(3_000), np.log(300_000), 40)), [2.5e6, 3e6]])
    er = np.concatenate(
        [0.18 * (followers[:40] / 3_000) ** -0.9 * rng.lognormal(0, 0.1, 40), [0.0015, 0.0012]]
    )
    likes, comments = er * followers * 5 * 0.8, er * followers * 5 * 0.1
    posts = np.full(len(er), 5, dtype=np.int64)
    groups = [("weibo", "腰部及以下")] * 40 + [("weibo", "头部")] * 2
    signals, _ = pool_signals(er, followers, likes, comments, posts, groups, CFG)
    assert not {s.code for s in signals[-1]} & {ER_HIGH, ER_LOW}
    # Where the usual rate agrees (the same account at 30%), the regression's flag stands.
    er[-1] = 0.30
    likes[-1], comments[-1] = er[-1] * followers[-1] * 4, er[-1] * followers[-1] * 0.5
    signals, _ = pool_signals(er, followers, likes, comments, posts, groups, CFG)
    flags = [s for s in signals[-1] if s.code in (ER_HIGH, ER_LOW)]
    assert [s.code for s in flags] == [ER_HIGH] and "全平台粉丝-互动回归" in flags[0].reason
