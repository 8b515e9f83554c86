"""Benchmark: watch-matching throughput (posts/s) with 1 watch and with 1,000 watches, same run.

Run: `python benchmarks/bench_match.py [--posts N]`. Texts are real hand-labelled Weibo posts from
$KOLWATCH_SHARED/data/sentiment/weibo2018_train.csv when present (default: the `shared` directory
next to the repository), otherwise generated Chinese sentences; the table says which. The 1,000
watches are brand-like queries built from words of the corpus (aliases, a phrase, a NOT, some
platform filters, a NEAR), so a realistic share of posts matches some watch.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp.matcher import WatchMatcher  # noqa: E402
from nlp.query import parse  # noqa: E402

_HAN = re.compile(r"[\u4e00-\u9fff]{2,4}")
_SYLLABLES = "瑞幸咖啡小米华为蜜雪冰城比亚迪新品发布价格门店排队外卖客服投诉体验推荐好喝难吃质量售后活动优惠"


def shared_dir() -> Path:
    return Path(os.environ.get("KOLWATCH_SHARED", REPO / ".." / "shared"))


def load_texts(limit: int) -> tuple[list[str], str]:
    path = shared_dir() / "data" / "sentiment" / "weibo2018_train.csv"
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            texts = [row["review"] for row in csv.DictReader(f) if row.get("review")]
        return texts[:limit], f"weibo2018 ({path.name})"
    rng = random.Random(1)
    texts = [
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(20, 120))) + " luckin xiaomi"
        for _ in range(limit)
    ]
    return texts, "generated"


def make_watches(texts: list[str], n: int, seed: int = 5) -> list[tuple[int, str]]:
    """n brand-like queries whose terms are words that really occur in the texts."""

    counts = Counter(w for t in texts for w in _HAN.findall(t))
    # Rare-but-present words behave like brand names: each in well under 1% of the posts.
    # Three or four characters, like most brand names; two-character words hide inside everything.
    vocab = [w for w, c in counts.items() if 3 <= c <= 15 and len(w) >= 3] or list(counts)
    vocab.sort()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b, c, d = rng.sample(vocab, 4)
        shape = i % 4
        if shape == 0:
            q = f'{a} OR {b} OR "{c}{d}"'
        elif shape == 1:
            q = f"({a} OR {b}) NOT {c}"
        elif shape == 2:
            q = f"{a} OR {b} platform:weibo"
        else:
            q = f"{a} NEAR/10 {b} OR {c}"
        out.append((i, q))
    return out


def bench(matcher: WatchMatcher[int], texts: list[str], rounds: int = 3) -> tuple[float, int]:
    best = float("inf")
    matched = 0
    for _ in range(rounds):
        start = time.perf_counter()
        matched = 0
        for text in texts:
            if matcher.match(text, platform="weibo", author_id="1", author_name="x", lang="zh"):
                matched += 1
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, matched


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=5000)
    args = ap.parse_args(argv)
    texts, origin = load_texts(args.posts)
    queries = make_watches(texts, 1000)
    rows = []
    for n in (1, 1000):
        t0 = time.perf_counter()
        matcher = WatchMatcher.build((i, parse(q)) for i, q in queries[:n])
        build_ms = (time.perf_counter() - t0) * 1000
        rate, matched = bench(matcher, texts)
        rows.append((n, matcher.term_count, f"{build_ms:.0f}", f"{rate:,.0f}", f"{matched / len(texts):.1%}"))
    print(f"texts: {len(texts)} from {origin}, mean {sum(map(len, texts)) / len(texts):.0f} characters")
    print()
    print("| watches | terms | build ms | posts/s | posts matching any watch |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    one = float(rows[0][3].replace(",", ""))
    many = float(rows[1][3].replace(",", ""))
    print()
    print(f"1,000 watches run at {many / one:.2f}x the throughput of 1 watch ({one / many:.2f}x the cost).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
