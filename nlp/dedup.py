"""Near-duplicate detection for copy-paste waves: MinHash over character shingles, LSH banding.

Spam waves and 水军 campaigns post the same text with a changed mention, emoji or suffix. Jaccard
similarity of character 3-gram sets (2-grams for texts under 15 characters) catches that where
word-level hashing does not, because short Chinese posts have few words. The text is reduced
first: normalised, mentions/URLs/emoticon codes/whitespace/punctuation removed.

`signature(text)` gives NUM_PERM 31-bit minimum hashes (stable across processes and machines:
CRC32 of the shingle, then fixed universal-hash permutations). `NearDuplicateIndex` buckets
signatures by bands and verifies candidates on the estimated Jaccard; `cluster()` groups a batch.
The default threshold of 0.7 is the one measured on real posts by benchmarks/bench_nlp.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from nlp import _speedups
from nlp.text import EMOTICON_RE, normalize

NUM_PERM = 64
DEFAULT_THRESHOLD = 0.7
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20240607)  # fixed seed: signatures must match across runs and hosts
_A = _rng.integers(1, _PRIME, size=NUM_PERM, dtype=np.int64)
_B = _rng.integers(0, _PRIME, size=NUM_PERM, dtype=np.int64)
_A_BYTES, _B_BYTES = _A.tobytes(), _B.tobytes()
_DROP_RE = re.compile(r"[\W_]+")
_SHORT = 15


def dedup_text(text: str) -> str:
    """The part of a post that identifies a copy: words only, no mentions, links, emoticons."""
    norm = normalize(text)
    return reduce_body(norm.body)


def reduce_body(body: str) -> str:
    """Like `dedup_text` for an already normalised body (see `nlp.text.Normalized.body`)."""
    return _DROP_RE.sub("", EMOTICON_RE.sub("", body)).lower()


def shingles(reduced: str) -> set[str]:
    """Character 3-grams, or 2-grams for texts under 15 characters; the whole text if shorter."""
    size = 2 if len(reduced) < _SHORT else 3
    if len(reduced) <= size:
        return {reduced} if reduced else set()
    return {reduced[i : i + size] for i in range(len(reduced) - size + 1)}


def signature_of(reduced: str) -> tuple[int, ...]:
    """MinHash signature of a reduced text; () for empty text (it duplicates nothing)."""
    return signatures_of([reduced])[0]


def signatures_of(reduced: Sequence[str]) -> list[tuple[int, ...]]:
    """MinHash signatures of a batch of reduced texts, in order (C loop, nlp/_speedups.c)."""
    return [_speedups.minhash(text, _A_BYTES, _B_BYTES, _SHORT) for text in reduced]


def signature(text: str) -> tuple[int, ...]:
    """MinHash signature of a raw post."""
    return signature_of(dedup_text(text))


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two signatures (0.0 if either is empty or they differ in size)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two reduced texts' shingle sets (for checks and calibration)."""
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def choose_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) for LSH so that pairs at `threshold` are candidates with high probability.

    Minimises the weighted false-negative area above the threshold (weight 0.8) plus the
    false-positive area below it (0.2): missed duplicates cost more than extra verifications.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1")
    grid = np.linspace(0.0, 1.0, 201)
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        p = 1 - (1 - grid**rows) ** bands
        fp = np.trapezoid(np.where(grid < threshold, p, 0.0), grid)
        fn = np.trapezoid(np.where(grid >= threshold, 1 - p, 0.0), grid)
        cost = 0.2 * fp + 0.8 * fn
        if best is None or cost < best[0]:
            best = (float(cost), bands, rows)
    assert best is not None
    return best[1], best[2]


class NearDuplicateIndex:
    """Incremental LSH index: `add(key, sig)` returns the key of the cluster the post joins.

    A post joins the cluster of the first indexed post whose estimated Jaccard is >= threshold;
    otherwise it starts its own cluster (its own key). Memory is O(bands) per indexed post.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = choose_bands(threshold, num_perm)
        self._buckets: list[dict[tuple[int, ...], list[Hashable]]] = [
            defaultdict(list) for _ in range(self.bands)
        ]
        self._signatures: dict[Hashable, tuple[int, ...]] = {}
        self._cluster: dict[Hashable, Hashable] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def _band_keys(self, sig: Sequence[int]) -> list[tuple[int, ...]]:
        r = self.rows
        return [tuple(sig[i * r : (i + 1) * r]) for i in range(self.bands)]

    def query(self, sig: Sequence[int]) -> list[Hashable]:
        """Indexed keys whose estimated similarity to `sig` is >= threshold, best first."""
        if len(sig) != self.num_perm:
            return []
        seen: set[Hashable] = set()
        for band, key in zip(self._buckets, self._band_keys(sig), strict=True):
            seen.update(band.get(key, ()))
        scored = [(similarity(sig, self._signatures[k]), k) for k in seen]
        return [k for s, k in sorted(scored, key=lambda sk: -sk[0]) if s >= self.threshold]

    def add(self, key: Hashable, sig: Sequence[int]) -> Hashable:
        """Index a post; returns its cluster key. Empty signatures never join a cluster."""
        if key in self._cluster:
            return self._cluster[key]
        sig = tuple(sig)
        if len(sig) != self.num_perm:
            if sig:
                raise ValueError(f"signature has {len(sig)} values, index expects {self.num_perm}")
            self._cluster[key] = key
            return key
        matches = self.query(sig)
        cluster = self._cluster[matches[0]] if matches else key
        self._signatures[key] = sig
        self._cluster[key] = cluster
        for band, band_key in zip(self._buckets, self._band_keys(sig), strict=True):
            band[band_key].append(key)
        return cluster


def cluster(signatures: Iterable[Sequence[int]], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """Cluster id per signature (the index of the first member of its cluster), in input order."""
    index = NearDuplicateIndex(threshold)
    return [int(index.add(i, sig)) for i, sig in enumerate(signatures)]  # type: ignore[call-overload]
