"""清博-compatible communication indices (BCI for Weibo, WCI V14.2 for WeChat, DCI for Douyin).

Computed exactly as published (research note §1.1-1.2), each with a version label to store next to
the value. Sources, as the note grades them: WCI V14.2 from the 清博 usage page (mirror); BCI full
form from a third-party implementation with its evident `20×` typo in the 评论 term read as `0.2×`;
BCI simplified form as printed on provincial data listings; DCI from third-party code with its
parentheses read by evident intent. No worked example published by 清博 itself was found: tests
check the note's own worked examples and hand-computed tables built from these formulas.

The formulas are 清博's; the inputs the KOL ranking can give them are not. 清博 counts every post
the account published in the window (reposts included) and the interactions on all of them; the
ranking sees only the posts our sources collected (for an author found by a brand search, just
those search hits). So the ranking stores its values under the `*_OVER_COLLECTED` labels, which
say so, and never as a 清博 index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import log

from scoring.types import PostFacts

BCI_FULL_VERSION = "清博BCI-full (3rd-party form, 评论 term 0.2)"
BCI_SIMPLIFIED_VERSION = "清博BCI-simplified (provincial listings)"
WCI_VERSION = "清博WCI-V14.2"
DCI_VERSION = "清博DCI (3rd-party form)"
BCI_OVER_COLLECTED = f"BCI-full formula over collected posts, not 清博-comparable ({BCI_FULL_VERSION})"
DCI_OVER_COLLECTED = f"DCI formula over collected videos, not 清博-comparable ({DCI_VERSION})"


def _ln1(x: float) -> float:
    if x < 0:
        raise ValueError(f"index inputs are counts and must be >= 0, got {x}")
    return log(x + 1.0)


@dataclass(frozen=True, slots=True)
class BciInputs:
    """Weibo account totals over the window (清博 definitions: 发博数 includes reposts)."""

    posts: int  # X1 发博数, reposts included
    original_posts: int  # X2 原创微博数
    reposts: int  # X3 转发数 received on all posts
    comments: int  # X4 评论数 received on all posts
    reposts_on_original: int  # X5
    comments_on_original: int  # X6
    likes: int  # X7 点赞数

    def __post_init__(self) -> None:
        if min(self.posts, self.original_posts, self.reposts, self.comments, self.likes) < 0:
            raise ValueError("BCI inputs are counts and must be >= 0")
        if self.original_posts > self.posts:
            raise ValueError("original_posts cannot exceed posts")
        if self.reposts_on_original > self.reposts or self.comments_on_original > self.comments:
            raise ValueError("counts on original posts cannot exceed the totals")


def bci_full(x: BciInputs) -> float:
    """BCI = (0.2·W1 + 0.8·W2) × 160 with the full 7-input W1/W2."""

    w1 = 0.3 * _ln1(x.posts) + 0.7 * _ln1(x.original_posts)
    w2 = (
        0.2 * _ln1(x.reposts)
        + 0.2 * _ln1(x.comments)
        + 0.25 * _ln1(x.reposts_on_original)
        + 0.25 * _ln1(x.comments_on_original)
        + 0.1 * _ln1(x.likes)
    )
    return (0.2 * w1 + 0.8 * w2) * 160.0


def bci_simplified(x: BciInputs) -> float:
    """BCI = (0.2·ln(发博数+1) + 0.8·(0.4·ln(转发+1) + 0.4·ln(评论+1) + 0.2·ln(点赞+1))) × 160."""

    w1 = _ln1(x.posts)
    w2 = 0.4 * _ln1(x.reposts) + 0.4 * _ln1(x.comments) + 0.2 * _ln1(x.likes)
    return (0.2 * w1 + 0.8 * w2) * 160.0


def bci_inputs_from_posts(posts: Iterable[PostFacts]) -> tuple[BciInputs, int]:
    """Totals for BCI from the author's posts, and how many posts had an unknown count.

    An unknown count adds nothing to the totals; the caller reports the number so the index is
    never silently computed on partial data.
    """

    x1 = x2 = x3 = x4 = x5 = x6 = x7 = 0
    unknown = 0
    for post in posts:
        x1 += 1
        if None in (post.reposts, post.comments, post.likes):
            unknown += 1
        reposts, comments, likes = post.reposts or 0, post.comments or 0, post.likes or 0
        x3 += reposts
        x4 += comments
        x7 += likes
        if not post.is_repost:
            x2 += 1
            x5 += reposts
            x6 += comments
    return BciInputs(x1, x2, x3, x4, x5, x6, x7), unknown


def _wci_f(r: float, z: float, lk: float, re: float) -> float:
    return 0.70 * _ln1(r) + 0.09 * _ln1(10 * z) + 0.06 * _ln1(10 * lk) + 0.15 * _ln1(10 * re)


@dataclass(frozen=True, slots=True)
class WciInputs:
    """WeChat official-account totals over `days`; 清博 records "10万+" reads as 100001."""

    days: int
    articles: int
    reads: int
    wows: int  # 在看
    likes: int
    shares: int
    headline_reads: int
    headline_wows: int
    headline_likes: int
    headline_shares: int
    max_reads: int
    max_wows: int
    max_likes: int
    max_shares: int

    def __post_init__(self) -> None:
        if self.days <= 0 or self.articles <= 0:
            raise ValueError("WCI needs days > 0 and articles > 0")


def wci_v14_2(x: WciInputs) -> float:
    """WCI_14.2 = (0.6·O + 0.2·A + 0.1·H + 0.1·P)² × 1.2 × 10."""

    d, n = x.days, x.articles
    o = _wci_f(x.reads / d, x.wows / d, x.likes / d, x.shares / d)
    a = _wci_f(x.reads / n, x.wows / n, x.likes / n, x.shares / n)
    h = _wci_f(x.headline_reads / d, x.headline_wows / d, x.headline_likes / d, x.headline_shares / d)
    p = _wci_f(x.max_reads, x.max_wows, x.max_likes, x.max_shares)
    return (0.6 * o + 0.2 * a + 0.1 * h + 0.1 * p) ** 2 * 1.2 * 10


@dataclass(frozen=True, slots=True)
class DciInputs:
    """Douyin account over the window; `new_followers` is clipped at 0 as published."""

    videos: int
    likes: int
    comments: int
    shares: int
    new_followers: int
    followers: int


def dci(x: DciInputs) -> float:
    """DCI = 100 × [0.10·ln(X1+1) + 0.76·(0.17·ln(X2+1) + 0.37·ln(X3+1) + 0.46·ln(X4+1))
    + 0.14·(0.11·ln(X5+1) + 0.89·ln(X6+1))]."""

    interaction = 0.17 * _ln1(x.likes) + 0.37 * _ln1(x.comments) + 0.46 * _ln1(x.shares)
    fans = 0.11 * _ln1(max(0, x.new_followers)) + 0.89 * _ln1(x.followers)
    return 100.0 * (0.10 * _ln1(x.videos) + 0.76 * interaction + 0.14 * fans)
