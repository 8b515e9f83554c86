"""The ranking end to end: a hand-computed score table, missing data, bad input, authenticity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from collectors.base import Author
from scoring.kol import rank_kols
from scoring.report import to_json_dict
from scoring.settings import ScoringSettings
from scoring.types import (
    AuthorWindow,
    CommentFacts,
    FollowerSnapshot,
    GraphEdge,
    KolScore,
    PostFacts,
    TimelineSpan,
)

NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)
# Every author in its own small tier group → within-tier rates are ranked platform-wide, and a
# pool under 30 uses the prior weights: the table below is then computable by hand.
SMALL = ScoringSettings(min_tier_group=50)


def post(
    pid: str,
    days_ago: float,
    likes: int | None,
    reposts: int | None,
    comments: int | None,
    mentions: bool | None = True,
    sentiment: float | None = None,
) -> PostFacts:
    created = NOW - timedelta(days=days_ago)
    return PostFacts(pid, created, likes, reposts, comments, mentions_watch=mentions, sentiment=sentiment)


# Most authors here are followed by a user source, so relevance is known (see the test without).
FOLLOWED = TimelineSpan(NOW - timedelta(days=60), NOW)


def window(aid: str, followers: int | None, *posts: PostFacts, **kw: object) -> AuthorWindow:
    kw.setdefault("timeline", FOLLOWED)
    return AuthorWindow(Author("weibo", aid, f"作者{aid}", followers=followers), tuple(posts), **kw)  # type: ignore[arg-type]


def hand_pool() -> list[AuthorWindow]:
    return [
        window("A", 10_000, post("a1", 1, 100, 10, 20), post("a2", 2, 300, 30, 60)),
        window("B", 1_000, post("b1", 3, 10, 0, 5)),
        window("C", 100_000, post("c1", 4, 50, 5, 5, mentions=False)),
    ]


def by_id(scores: tuple[KolScore, ...]) -> dict[str, KolScore]:
    return {s.author_id: s for s in scores}


def test_hand_computed_score_table() -> None:
    # Raw indicators (window 30 d → posts/week = posts / 4.2857):
    #      followers  median ER             reposts/post  comments/post  comments:likes  posts/wk  relevance
    #   A  10,000     (0.013, 0.039) → 0.026  20            40             80/400 = 0.2    0.4667    1.0
    #   B  1,000      15/1000 = 0.015         0             5              5/10 = 0.5      0.2333    1.0
    #   C  100,000    60/100000 = 0.0006      5             5              5/50 = 0.1      0.2333    0.0
    # Mid-rank percentiles of 3 (1/6, 1/2, 5/6; two tied at the bottom get 1/3, at the top 2/3):
    #   reach A 1/2 B 1/6 C 5/6 | engagement A 5/6 B 1/2 C 1/6 | amplification A 5/6 B 1/6 C 1/2
    #   conversation = mean(comments/post, c:l):
    #     A (5/6+1/2)/2 = 2/3, B (1/3+5/6)/2 = 7/12, C (1/3+1/6)/2 = 1/4
    #   activity A 5/6 B 1/3 C 1/3 | relevance A 2/3 B 2/3 C 1/6
    # Prior weights (pool < 30): engagement .25 amplification .25 reach .20 conversation .15 relevance .10
    # activity .05:
    #   A = .25·5/6 + .25·5/6 + .2·1/2 + .15·2/3 + .1·2/3 + .05·5/6 = 0.725000 → 72.50
    #   B = .25·1/2 + .25·1/6 + .2·1/6 + .15·7/12 + .1·2/3 + .05·1/3 = 0.370833 → 37.08
    #   C = .25·1/6 + .25·1/2 + .2·5/6 + .15·1/4 + .1·1/6 + .05·1/3 = 0.404167 → 40.42
    ranking = rank_kols(hand_pool(), now=NOW, settings=SMALL)
    assert [s.author_id for s in ranking.scores] == ["A", "C", "B"]
    s = by_id(ranking.scores)
    assert s["A"].score == pytest.approx(72.50, abs=0.01)
    assert s["B"].score == pytest.approx(37.08, abs=0.01)
    assert s["C"].score == pytest.approx(40.42, abs=0.01)
    assert s["A"].components == pytest.approx(
        {"reach": 1 / 2, "engagement": 5 / 6, "amplification": 5 / 6, "conversation": 2 / 3,
         "activity": 5 / 6, "relevance": 2 / 3}
    )  # fmt: skip
    assert s["A"].raw["engagement_rate"] == pytest.approx(0.026)
    assert s["A"].weights == pytest.approx(SMALL.prior_weights)
    assert "prior weights only" in ranking.weights["weibo"].note
    assert {x.authenticity for x in ranking.scores} == {1.0}
    assert s["A"].tier == "尾部" and s["B"].tier == "KOC" and s["C"].tier == "腰部"
    # The formula is 清博's, the inputs (collected posts only) are not: the label says so.
    assert s["A"].index_name == (
        "BCI-full formula over collected posts, not 清博-comparable "
        "(清博BCI-full (3rd-party form, 评论 term 0.2))"
    )
    bci_note = "BCI 按本系统采集到的 2 条帖子计算（清博按账号窗口内全部发博计），不可与清博榜单直接比较"
    assert bci_note in s["A"].reasons
    # BCI over A's window by hand: X = (2, 2, 40, 80, 40, 80, 400)
    # W1 = ln 3 = 1.0986; W2 = 0.2·3.7136 + 0.2·4.3944 + 0.25·3.7136 + 0.25·4.3944 + 0.1·5.9940 = 4.2480
    # BCI = (0.21972 + 3.39840)·160 = 578.9
    assert s["A"].index_value == pytest.approx(578.9, abs=0.1)


def test_missing_followers_are_scored_at_the_pool_median_and_said_so() -> None:
    pool = [
        *hand_pool(),
        window("N", None, post("n1", 1, 900, 90, 200), post("n2", 2, 800, 80, 150)),
        window("Z", 500, post("z1", 5, 0, 0, 0), follower_history=(FollowerSnapshot(NOW, 500),)),
    ]
    # N has no follower count and Weibo gives no views: reach and engagement cannot be computed.
    # Percentiles among the 5 authors with a value:
    #   amplification (reposts/post A 20, B 0, C 5, N 85, Z 0) → N 4.5/5 = 0.9
    #   conversation: comments/post N 175 (top) → 0.9; comment:like of the 4 with likes
    #     (C 0.1, A 0.2, N 350/1700 = 0.206, B 0.5) → 2.5/4 = 0.625; mean 0.7625
    #   activity (posts 2, 1, 1, 2, 1) → N (3 + 1)/5 = 0.8; relevance (1, 1, 0, 1, 1) → N 3/5 = 0.6
    # Reach and engagement at the median 0.5 with their full prior weight:
    #   .25·.5 + .25·.9 + .20·.5 + .15·.7625 + .10·.6 + .05·.8 = 0.664375 → 66.44
    # (renormalising over the known 55% of the weight instead gave 0.439375 / 0.55 → 79.89).
    ranking = rank_kols(pool, now=NOW, settings=SMALL)
    s = by_id(ranking.scores)
    n = s["N"]
    assert n.tier == "未知" and n.followers is None
    assert "reach" not in n.components and "engagement" not in n.components
    assert n.score == pytest.approx(66.44, abs=0.01)
    assert n.raw["coverage"] == pytest.approx(0.55)
    assert "粉丝数与播放/阅读数均未知：覆盖按池中位数计（百分位 50，权重 20%）" in n.reasons
    assert "粉丝数未知：互动按池中位数计（百分位 50，权重 25%）" in n.reasons
    # Reach is missing entirely: no note may claim it rests on followers or on views.
    assert not any("覆盖只看" in r for r in n.reasons)
    assert any("增长缺失" in r for r in s["Z"].reasons)  # brand-new author: one snapshot


def test_two_strong_components_do_not_carry_an_author_with_no_counts_to_the_top() -> None:
    # Six authors with full data who mention the brand in 2 of 3 posts, and X: no followers, no
    # interaction counts, 25 brand posts. X tops activity and relevance (percentile 6.5/7 each).
    pool = [
        window(
            f"u{i}", 10_000 * (i + 1),
            *(post(f"u{i}-{k}", k + 1, 200 * (i + 1), 10 * (i + 1), 30 * (i + 1), mentions=k != 2)
              for k in range(3)),
        )
        for i in range(6)
    ]  # fmt: skip
    pool.append(window("X", None, *(post(f"x{k}", k + 0.5, None, None, None) for k in range(25))))
    ranking = rank_kols(pool, now=NOW, settings=SMALL)
    x = by_id(ranking.scores)["X"]
    top = 6.5 / 7
    # Activity (.05) and relevance (.10) at the top, the other 85% of the weight at the median:
    # 100 × (.15·6.5/7 + .85·.5) = 56.43. Renormalising over the two known components gave 92.86
    # and rank 1 of 7.
    assert x.components == pytest.approx({"activity": top, "relevance": top})
    assert x.score == pytest.approx(100 * (0.15 * top + 0.85 * 0.5), abs=0.01)
    assert ranking.scores[0].author_id != "X"
    assert [r for r in x.reasons if "按池中位数计" in r] == [
        "粉丝数未知：互动按池中位数计（百分位 50，权重 25%）",
        "帖子无转发数且无转发/提及关系图：传播按池中位数计（百分位 50，权重 25%）",
        "粉丝数与播放/阅读数均未知：覆盖按池中位数计（百分位 50，权重 20%）",
        "帖子无评论数：讨论按池中位数计（百分位 50，权重 15%）",
    ]
    # No interaction count anywhere: no BCI made of zeros.
    assert x.index_name is None and x.index_value is None
    assert "BCI 未计算：帖子无完整互动计数" in x.reasons


def test_no_posts_in_window_is_reported() -> None:
    pool = [*hand_pool(), window("E", 2_000, post("old", 45, 10, 1, 1))]
    s = by_id(rank_kols(pool, now=NOW, settings=SMALL).scores)["E"]
    assert any("窗口内无帖子" in r for r in s.reasons)
    assert s.raw["posts_in_window"] == 0
    assert s.index_value is None


def test_window_filters_and_bad_counts() -> None:
    w = window(
        "A", 10_000,
        post("in", 1, 100, 10, 10),
        post("in", 1, 100, 10, 10),  # the same post twice counts once
        post("future", -2, 10**9, 0, 0),
        post("old", 31, 10**9, 0, 0),
        post("neg", 3, -5, 2, 1, sentiment=float("nan")),
    )  # fmt: skip
    s = rank_kols([w], now=NOW).scores[0]
    assert s.raw["posts_in_window"] == 2
    assert any("丢弃 2 个异常" in r for r in s.reasons)
    assert s.raw["reposts_per_post"] == pytest.approx(6.0)


def test_bad_input_raises_clearly() -> None:
    with pytest.raises(ValueError, match="duplicate authors"):
        rank_kols(hand_pool() + hand_pool()[:1], now=NOW)
    naive = AuthorWindow(Author("weibo", "x", "x"), (PostFacts("p", datetime(2025, 1, 30)),))
    with pytest.raises(ValueError, match="timezone-aware"):
        rank_kols([naive], now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        rank_kols(hand_pool(), now=datetime(2025, 1, 31))
    with pytest.raises(ValueError, match="unknown indicator"):
        rank_kols(hand_pool(), now=NOW, reference_weights={"weibo": {"followers": 1.0}})
    assert rank_kols([], now=NOW).scores == ()


def test_reference_weights_replace_pool_weights() -> None:
    ranking = rank_kols(hand_pool(), now=NOW, settings=SMALL, reference_weights={"weibo": {"reach": 1.0}})
    s = by_id(ranking.scores)
    assert s["C"].score == pytest.approx(100 * 5 / 6, abs=0.01)  # reach percentile alone
    assert ranking.weights["weibo"].note == "reference weights"


def test_authenticity_scales_the_score() -> None:
    farm = tuple(CommentFacts(f"用户{1000000000 + i}", "宝藏博主每次推荐都超级靠谱爱了") for i in range(20))
    clean = rank_kols(hand_pool(), now=NOW, settings=SMALL)
    pool = hand_pool()
    pool[0] = AuthorWindow(pool[0].author, pool[0].posts, comments=farm, timeline=FOLLOWED)
    dirty = rank_kols(pool, now=NOW, settings=SMALL)
    a_clean, a_dirty = by_id(clean.scores)["A"], by_id(dirty.scores)["A"]
    # near-duplicate (0.3) and default-nickname (0.3) penalties: D = 0.7 × 0.7 = 0.49
    assert a_dirty.authenticity == pytest.approx(0.49)
    assert a_dirty.score == pytest.approx(a_clean.score * 0.49, abs=0.01)
    assert set(a_dirty.flags) == {"near_dup_comments", "default_commenters"}
    assert a_dirty.reasons[0].startswith("评论高度雷同")


def test_graph_feeds_amplification() -> None:
    edges = [GraphEdge(("weibo", "x"), ("weibo", "B"), 5.0), GraphEdge(("weibo", "y"), ("weibo", "B"), 5.0)]
    with_graph = by_id(rank_kols(hand_pool(), now=NOW, settings=SMALL, edges=edges).scores)
    without = by_id(rank_kols(hand_pool(), now=NOW, settings=SMALL).scores)
    assert with_graph["B"].raw["pagerank"] > with_graph["A"].raw["pagerank"]
    assert with_graph["B"].components["amplification"] > without["B"].components["amplification"]
    assert any("无转发/提及关系图" in r for r in without["B"].reasons)


def test_large_pool_uses_blended_weights_and_within_tier_rates() -> None:
    pool = [window(f"u{i}", 1_000 + 500 * i, *(post(f"u{i}-{k}", k + 1, 20 + i * (k + 1), i % 7, 3 + i % 5)
                                               for k in range(4)))
            for i in range(60)]  # fmt: skip
    ranking = rank_kols(pool, now=NOW)
    report = ranking.weights["weibo"]
    assert report.note.startswith("entropy")
    assert sum(report.weights.values()) == pytest.approx(1.0)
    assert all(report.entropy[c] is not None for c in report.weights)
    scores = [s.score for s in ranking.scores]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)


def test_json_shape_is_plain_json() -> None:
    s = rank_kols(hand_pool(), now=NOW, settings=SMALL).scores[0]
    data = json.loads(json.dumps(to_json_dict(s), ensure_ascii=False))
    for key in ("platform", "author_id", "name", "followers", "tier", "score", "authenticity", "reasons",
                "components"):  # fmt: skip
        assert key in data


def test_relevance_of_an_author_known_only_from_search_is_missing_not_one() -> None:
    pool = hand_pool()
    a = pool[0]
    pool[0] = AuthorWindow(a.author, a.posts)  # no user source: only the brand posts search found
    s = by_id(rank_kols(pool, now=NOW, settings=SMALL).scores)["A"]
    assert "relevance" not in s.components and "relevance" not in s.raw
    assert "仅有搜索等来源采到的帖子，作者总发帖数未知：相关按池中位数计（百分位 50，权重 10%）" in s.reasons


def test_douyin_dci_is_labelled_as_computed_over_collected_videos() -> None:
    clip = AuthorWindow(Author("douyin", "d", "d", followers=50_000), (post("v1", 1, 900, 30, 40),))
    s = rank_kols([clip], now=NOW).scores[0]
    assert s.index_name is not None and s.index_name.startswith("DCI formula over collected videos")
    assert any(r.startswith("DCI 按本系统采集到的 1 条视频计算") for r in s.reasons)


def test_a_head_account_in_a_tier_of_its_own_is_judged_against_its_size() -> None:
    # One 3M-follower account at 3.5% (twice the ~1.5% usual for its size) among KOCs at 10-18%
    # (at or below the ~18% usual for theirs). Its tier has no peers, so the raw rate would rank it
    # last on engagement; relative to its size it engages best.
    kocs = [
        window(
            f"k{i}", 5_000, post(f"k{i}a", 1, 500 + 50 * i, 10, 20), post(f"k{i}b", 2, 480 + 50 * i, 10, 20)
        )
        for i in range(6)
    ]
    head = window("H", 3_000_000, post("h1", 1, 100_000, 2_000, 3_000), post("h2", 2, 98_000, 2_000, 3_000))
    scores = by_id(rank_kols([*kocs, head], now=NOW, settings=SMALL).scores)
    engagement = {aid: s.components["engagement"] for aid, s in scores.items()}
    assert engagement["H"] == max(engagement.values())
    assert any("典型互动率" in r for r in scores["H"].reasons)
