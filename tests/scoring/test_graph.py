"""Weighted PageRank against hand-solved fixed points."""

from __future__ import annotations

import math

import pytest

from scoring.graph import pagerank
from scoring.types import GraphEdge

A, B, C = ("weibo", "a"), ("weibo", "b"), ("weibo", "c")


def test_two_node_chain_with_dangling_sink() -> None:
    # A → B, B dangling (its mass spreads uniformly), N = 2, δ = 0.85:
    # PR(A) = 0.075 + 0.85·PR(B)/2 and PR(A) + PR(B) = 1 → 1.425·PR(A) = 0.5
    # PR(A) = 0.350877, PR(B) = 0.649123
    pr = pagerank([GraphEdge(A, B)], iterations=200, tolerance=1e-12)
    assert pr[A] == pytest.approx(0.350877, abs=1e-6)
    assert pr[B] == pytest.approx(0.649123, abs=1e-6)


def test_weights_split_a_sources_rank() -> None:
    # A → B (w 3), A → C (w 1); B and C dangling. N = 3, δ = 0.85. Let s = PR(B) + PR(C) = 1 − PR(A):
    # PR(A) = 0.05 + 0.85·s/3;  → PR(A) = 0.05 + 0.28333·(1 − PR(A)) → PR(A) = 0.33333/1.28333 = 0.259740
    # PR(B) = 0.05 + 0.85·(0.75·PR(A) + s/3) = 0.05 + 0.85·(0.194805 + 0.246753) = 0.425325
    # PR(C) = 0.05 + 0.85·(0.25·PR(A) + s/3) = 0.05 + 0.85·(0.064935 + 0.246753) = 0.314935
    pr = pagerank([GraphEdge(A, B, 3.0), GraphEdge(A, C, 1.0)], iterations=200, tolerance=1e-12)
    assert pr[A] == pytest.approx(0.259740, abs=1e-6)
    assert pr[B] == pytest.approx(0.425325, abs=1e-6)
    assert pr[C] == pytest.approx(0.314935, abs=1e-6)
    assert math.fsum(pr.values()) == pytest.approx(1.0)


def test_isolated_pool_members_and_self_loops() -> None:
    # A self-loop is dropped: an account cannot raise its own authority by reposting itself.
    pr = pagerank([GraphEdge(A, A, 50.0)], nodes=[A, B])
    assert pr[A] == pytest.approx(0.5)
    assert pr[B] == pytest.approx(0.5)
    assert pagerank([]) == {}


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_weights_are_rejected(weight: float) -> None:
    with pytest.raises(ValueError, match="weight"):
        pagerank([GraphEdge(A, B, weight)])


def test_bad_damping_is_rejected() -> None:
    with pytest.raises(ValueError, match="damping"):
        pagerank([GraphEdge(A, B)], damping=1.0)
