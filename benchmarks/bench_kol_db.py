"""KOL job, database side: read one watch's pool, rank it and store the ranking, for 1k and 10k authors.

`python benchmarks/bench_kol_db.py [--sizes 1000 10000] [--database-url URL]` builds a throw-away
SQLite database (or uses an empty PostgreSQL given by URL) through the pipeline's own repository
functions: per author 3 brand posts and 1 unrelated post in the window, 10 daily follower
snapshots (so 10 rows per author the daily reduction keeps, plus hourly noise it drops), 2 comments
per author by other accounts, and a repost of a random author's brand post for every fourth author.
It then times `storage.kol_queries.kol_inputs` (the SQL), `scoring.kol.rank_kols` (CPU) and
`storage.kol_queries.store_scores` (one transaction), and prints a table. The data are synthetic
and uniform: this measures query shape and row counts, not scoring quality (bench_kol.py does that).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import SQLModel

from collectors.base import Author, Post
from nlp.types import Analysis
from scoring.kol import rank_kols
from scoring.settings import ScoringSettings
from storage import kol_queries, repos
from storage.db import Database

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _analysis(sentiment: float) -> Analysis:
    return Analysis("", "zh", (), (), (), (), (), (), sentiment, "positive")


def build(db: Database, n: int, rng: random.Random) -> int:
    with db.write() as session:
        repos.sync_config(
            session,
            workspaces=[repos.WorkspaceSpec("bench", watches=(repos.WatchSpec("瑞幸", "瑞幸"),))],
            sources=[],
        )
        watch_id = repos.active_watches(session)[0].id
    authors = [
        Author(
            "weibo",
            f"{7_000_000_000 + i}",
            f"作者{i}",
            followers=int(rng.paretovariate(1.2) * 500),
            posts_count=200,
        )
        for i in range(n)
    ]
    fans = [
        Author("weibo", f"{8_000_000_000 + i}", f"用户{5_800_000_000 + i}", followers=3)
        for i in range(n // 2)
    ]
    # Follower snapshots: ten days, plus a second snapshot on each day that the daily reduction drops.
    for d in range(10, 0, -1):
        with db.write() as session:
            for hour in (3, 9):
                at = NOW - d * DAY + timedelta(hours=hour - 12)
                repos.upsert_authors(
                    session,
                    authors=[
                        Author(a.platform, a.author_id, a.name, followers=(a.followers or 0) - d)
                        for a in authors
                    ],
                    now=at,
                )
    posts: list[tuple[Post, bool]] = []
    for i, a in enumerate(authors):
        for k in range(3):
            at = NOW - timedelta(hours=rng.randint(1, 29 * 24))
            likes = rng.randint(0, 5 * (a.followers or 1) // 100 + 5)
            posts.append(
                (Post("weibo", f"p{i}_{k}", "", a, "瑞幸新品", at, likes, likes // 10, likes // 8), True)
            )
        posts.append((Post("weibo", f"p{i}_off", "", a, "午饭", NOW - 2 * DAY, 3, 0, 1), False))
        for k in range(2):
            fan = fans[rng.randrange(len(fans))]
            posts.append(
                (
                    Post(
                        "weibo",
                        f"c{i}_{k}",
                        "",
                        fan,
                        "支持",
                        NOW - DAY,
                        0,
                        0,
                        0,
                        kind="comment",
                        parent_id=f"p{i}_0",
                    ),
                    False,
                )
            )
        if i % 4 == 0 and i:
            target = rng.randrange(i)
            posts.append(
                (
                    Post(
                        "weibo",
                        f"r{i}",
                        "",
                        a,
                        f"//@作者{target}: 瑞幸",
                        NOW - DAY,
                        1,
                        0,
                        0,
                        is_repost=True,
                        parent_id=f"p{target}_0",
                    ),
                    True,
                )
            )
    for start in range(0, len(posts), 2_000):
        chunk = posts[start : start + 2_000]
        with db.write() as session:
            stored = repos.upsert_posts(
                session, posts=[p for p, _ in chunk], analyses=[_analysis(0.7) for _ in chunk], now=NOW
            )
            brand = {p.post_id for p, m in chunk if m}
            repos.add_mentions(
                session,
                mentions=[
                    repos.MentionSpec(watch_id, sp.pk, sp.post.created_at)
                    for sp in stored
                    if sp.post.post_id in brand
                ],
            )
    return watch_id


def measure(n: int, url: str | None, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(url or f"sqlite:///{tmp}/bench.db")
        if url:
            SQLModel.metadata.drop_all(db.writer)  # sizes run one after another in one database
        db.create_all()
        started = time.perf_counter()
        watch_id = build(db, n, rng)
        built = time.perf_counter() - started
        cfg = ScoringSettings()
        t0 = time.perf_counter()
        with db.read() as session:
            inputs = kol_queries.kol_inputs(
                session, watch_id=watch_id, now=NOW, window_days=cfg.window_days, max_comments=100
            )
        t1 = time.perf_counter()
        ranking = rank_kols(inputs.windows, now=NOW, settings=cfg, edges=inputs.edges or None)
        t2 = time.perf_counter()
        with db.write() as session:
            rows = kol_queries.store_scores(
                session,
                watch_id=watch_id,
                computed_at=NOW,
                window_days=cfg.window_days,
                scores=ranking.scores,
                author_pks=inputs.author_pks,
            )
        t3 = time.perf_counter()
        with db.read() as session:
            kol_queries.latest_rankings(session, watch_id=watch_id, count=1)
        t4 = time.perf_counter()
        db.dispose()
    return {
        "authors": float(len(inputs.windows)),
        "posts": float(sum(len(w.posts) for w in inputs.windows)),
        "snapshots": float(sum(len(w.follower_history) for w in inputs.windows)),
        "edges": float(len(inputs.edges)),
        "rows": float(rows),
        "build_s": built,
        "read_s": t1 - t0,
        "rank_s": t2 - t1,
        "store_s": t3 - t2,
        "reload_s": t4 - t3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--database-url", help="a throw-away PostgreSQL database (its tables are DROPPED)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    results = [measure(n, args.database_url, args.seed) for n in args.sizes]
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"KOL job, database side ({backend}); seconds of wall time on this machine")
    print(
        "| authors | posts read | snapshots read | edges | read s | rank s | store s | reload s | build s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['authors']:,.0f} | {r['posts']:,.0f} | {r['snapshots']:,.0f} | {r['edges']:,.0f} | "
            f"{r['read_s']:.2f} | {r['rank_s']:.2f} | {r['store_s']:.2f} | {r['reload_s']:.2f} | "
            f"{r['build_s']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
