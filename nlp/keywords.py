"""Keyword extraction from tokens: TF-IDF (per post, fast) and TextRank (for longer texts).

The IDF table is jieba's bundled `analyse/idf.txt` (MIT, shipped with the jieba we depend on),
read once per process; `Idf.fit()` builds a table from a team's own corpus instead. Candidates are
tokens of two or more characters that are not stopwords, numbers or emoticon codes.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jieba

from nlp.segment import stopwords

_NUMERIC_RE = re.compile(r"[\d.,%+\-#&_]+")
_JIEBA_IDF = Path(jieba.__file__).parent / "analyse" / "idf.txt"


@dataclass(frozen=True, slots=True)
class Idf:
    """Inverse document frequencies; `default` is used for words the table has never seen."""

    table: Mapping[str, float]
    default: float

    @classmethod
    def fit(cls, documents: Iterable[Sequence[str]]) -> Idf:
        """IDF over token lists: log(N / df), with unseen words at the median."""
        df: Counter[str] = Counter()
        n = 0
        for tokens in documents:
            n += 1
            df.update(set(tokens))
        if n == 0:
            raise ValueError("Idf.fit needs at least one document")
        table = {word: math.log(n / count) for word, count in df.items()}
        return cls(table=table, default=_median(table.values()) if table else math.log(n))


def _median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


_jieba_idf: Idf | None = None
_idf_lock = threading.Lock()


def jieba_idf() -> Idf:
    """jieba's IDF table, loaded on first use (about 350,000 words)."""
    global _jieba_idf
    if _jieba_idf is None:
        with _idf_lock:
            if _jieba_idf is None:
                table: dict[str, float] = {}
                for line in _JIEBA_IDF.read_text(encoding="utf-8").splitlines():
                    word, _, value = line.rpartition(" ")
                    if word:
                        table[word] = float(value)
                _jieba_idf = Idf(table=table, default=_median(table.values()))
    return _jieba_idf


def is_candidate(token: str) -> bool:
    """Could this token be a keyword? Two or more characters, not a stopword, number or emoticon."""
    return (
        len(token) >= 2
        and not token.startswith("[")
        and _NUMERIC_RE.fullmatch(token) is None
        and token not in stopwords()
    )


def tfidf(tokens: Sequence[str], top_k: int = 5, *, idf: Idf | None = None) -> list[str]:
    """The `top_k` tokens with the highest tf*idf, ties broken by first appearance."""
    if top_k <= 0:
        return []
    idf = idf or jieba_idf()
    sw = stopwords()
    match_numeric = _NUMERIC_RE.fullmatch
    # Insertion order of `counts` is first appearance, and sorted() is stable: ties keep it.
    counts: dict[str, int] = {}
    for t in tokens:
        if len(t) >= 2 and t[0] != "[" and t not in sw and match_numeric(t) is None:
            counts[t] = counts.get(t, 0) + 1
    if not counts:
        return []
    table, default = idf.table, idf.default
    ranked = sorted(counts, key=lambda t: -counts[t] * table.get(t, default))
    return ranked[:top_k]


def textrank(
    tokens: Sequence[str],
    top_k: int = 5,
    *,
    window: int = 5,
    damping: float = 0.85,
    iterations: int = 30,
    tolerance: float = 1e-6,
) -> list[str]:
    """TextRank (Mihalcea & Tarau 2004): PageRank over a co-occurrence graph of candidate tokens.

    Edges join candidates that occur within `window` positions of each other, weighted by how
    often they do. Needs a few dozen tokens to beat TF-IDF; on a one-line post they agree.
    """
    if top_k <= 0:
        return []
    candidates = [t for t in tokens if is_candidate(t)]
    if not candidates:
        return []
    edges: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for i, word in enumerate(candidates):
        for other in candidates[i + 1 : i + window]:
            if other != word:
                edges[word][other] += 1
                edges[other][word] += 1
    nodes = list(dict.fromkeys(candidates))
    if len(nodes) == 1 or not edges:
        return nodes[:top_k]
    out_weight = {node: sum(edges[node].values()) for node in nodes}
    score = dict.fromkeys(nodes, 1.0)
    for _ in range(iterations):
        new = {}
        for node in nodes:
            incoming = sum(w * score[src] / out_weight[src] for src, w in edges[node].items())
            new[node] = (1 - damping) + damping * incoming
        delta = max(abs(new[n] - score[n]) for n in nodes)
        score = new
        if delta < tolerance:
            break
    order = {t: i for i, t in enumerate(nodes)}
    return sorted(nodes, key=lambda t: (-score[t], order[t]))[:top_k]
