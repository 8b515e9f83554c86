"""Weighted PageRank over the repost/@mention graph of one watch (research note §2.4).

Edge v → u with weight w_vu = how often v reposted or mentioned u in the window.
PR(u) = (1−δ)/N + δ·Σ_{v→u} PR(v)·w_vu / Σ_k w_vk, dangling mass spread uniformly; stop after
`iterations` or when the L1 change is below `tolerance`. O(iterations·|E|) with numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from scoring.types import GraphEdge

Key = tuple[str, str]


def pagerank(
    edges: Iterable[GraphEdge],
    nodes: Sequence[Key] = (),
    *,
    damping: float = 0.85,
    iterations: int = 30,
    tolerance: float = 1e-6,
) -> dict[Key, float]:
    """PageRank of every node (edge ends plus `nodes`), summing to 1.

    Self-loops (an author reposting themself) are dropped: they would let an account inflate its
    own authority. Non-finite or non-positive weights are a caller bug and raise ValueError.
    """

    if not 0 < damping < 1:
        raise ValueError("damping must be in (0, 1)")
    index: dict[Key, int] = {}
    for key in nodes:
        index.setdefault(key, len(index))
    src: list[int] = []
    dst: list[int] = []
    wts: list[float] = []
    for edge in edges:
        if not (edge.weight > 0 and np.isfinite(edge.weight)):
            raise ValueError(f"edge weight must be a positive finite number, got {edge.weight!r}")
        if edge.source == edge.target:
            continue
        src.append(index.setdefault(edge.source, len(index)))
        dst.append(index.setdefault(edge.target, len(index)))
        wts.append(float(edge.weight))
    n = len(index)
    if n == 0:
        return {}
    s = np.asarray(src, dtype=np.int64)
    d = np.asarray(dst, dtype=np.int64)
    w = np.asarray(wts, dtype=np.float64)
    out_weight = np.bincount(s, weights=w, minlength=n)
    dangling = out_weight == 0
    # Each edge carries the share w_vu / Σ_k w_vk of its source's rank.
    share = w / out_weight[s] if len(s) else w
    pr = np.full(n, 1.0 / n)
    for _ in range(iterations):
        flow = np.bincount(d, weights=pr[s] * share, minlength=n) if len(s) else np.zeros(n)
        new = (1.0 - damping) / n + damping * (flow + pr[dangling].sum() / n)
        change = float(np.abs(new - pr).sum())
        pr = new
        if change < tolerance:
            break
    keys = list(index)
    return {keys[i]: float(pr[i]) for i in range(n)}
