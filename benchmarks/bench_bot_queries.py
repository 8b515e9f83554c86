"""Latency of the queries behind /mentions, /sentiment and /kol with 1,000,000 stored posts.

Generates (once, then reuses) a SQLite file under bench-output/ with bulk inserts: 1M posts over
180 days from 50,000 authors, three watches (the main one matches ~40% of posts, with competitor
mentions), their 5-minute and 1-hour counters, and two KOL computations of 3,000 authors per
watch. Then times each query on the service's own read engine (storage.db.Database) the way the
bot's handlers call it, for each period the bot accepts (24h, 7d, 30d, 90d): /mentions pages by
OFFSET five posts at a time with a total counted up to 10,000, /sentiment by hour up to 48 h
and by day beyond.
Prints p50/p95/max per query. Goal: p95 < 200 ms.

With `--postgres URL` the same rows are copied from that SQLite file into the PostgreSQL database
at URL (its public schema is DROPPED and rebuilt from the models; use a throw-away database, e.g.
`scripts/with-postgres.sh sh -c '... --postgres "$TEST_DATABASE_URL"'`), then `VACUUM ANALYZE`
runs, as autovacuum would have done on a server that collected this data, and the queries are
timed there.

    .venv/bin/python benchmarks/bench_bot_queries.py [--posts N] [--runs N] [--fresh] [--only TEXT]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.routers.mentions import PAGE_SIZE, TOTAL_CAP  # noqa: E402  (page as the bot does)
from storage import queries  # noqa: E402
from storage.db import Database  # noqa: E402

OUT = ROOT / "bench-output"
NOW = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
DAYS = 180
LABELS = ("positive", "neutral", "negative", "unscored")
TERMS = ["拿铁", "新品", "排队", "优惠", "涨价", "外卖", "门店", "口味", "服务", "包装", "异物", "食品安全"]


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(path: Path, posts: int, seed: int = 1) -> None:
    """Bulk-load the benchmark database (tables from the real models, rows with executemany)."""

    if path.exists():
        path.unlink()
    db = Database(f"sqlite:///{path}")
    db.create_all()
    db.dispose()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    started = time.perf_counter()
    con.execute(
        "INSERT INTO workspace (id, name, timezone, created_at) VALUES (1, 'bench', 'Asia/Shanghai', ?)",
        (_ts(NOW),),
    )
    watches = {1: ("鹿角", ["星巢", "酷豆"]), 2: ("青禾", ["远山"]), 3: ("其他", [])}
    for wid, (name, comps) in watches.items():
        con.execute(
            "INSERT INTO watch (id, workspace_id, name, query, competitors, detector_settings, enabled, "
            "created_at, updated_at) VALUES (?, 1, ?, ?, ?, '{}', 1, ?, ?)",
            (wid, name, name, json.dumps(comps), _ts(NOW), _ts(NOW)),
        )
    n_authors = 50_000
    con.executemany(
        "INSERT INTO author (id, platform, author_id, name, url, followers, verified, description, "
        "pseudonymised, first_seen_at, last_seen_at) VALUES (?, 'weibo', ?, ?, ?, ?, 0, '', 0, ?, ?)",
        (
            (
                i,
                f"u{i}",
                f"作者{i}",
                f"https://weibo.com/u/u{i}",
                int(rng.paretovariate(1.2) * 500),
                _ts(NOW),
                _ts(NOW),
            )
            for i in range(1, n_authors + 1)
        ),
    )
    counters: dict[tuple[int, int, int], list[Any]] = {}
    span = DAYS * 86400

    def rows() -> Any:
        for pk in range(1, posts + 1):
            created = NOW - timedelta(seconds=rng.random() * span)
            label = rng.choices(LABELS, weights=(35, 35, 20, 10))[0]
            sentiment = (
                None if label == "unscored" else {"positive": 0.8, "neutral": 0.5, "negative": 0.15}[label]
            )
            kws = rng.sample(TERMS, 3)
            likes, reposts, comments = int(rng.paretovariate(1.5)) - 1, rng.randint(0, 5), rng.randint(0, 20)
            author_pk = rng.randint(1, n_authors)
            yield (
                pk,
                f"p{pk}",
                f"https://m.weibo.cn/status/p{pk}",
                author_pk,
                f"鹿角咖啡 {kws[0]} 第{pk}条 " + "内容" * rng.randint(5, 40),
                _ts(created),
                _ts(NOW),
                likes,
                reposts,
                comments,
                sentiment,
                label,
                json.dumps(kws),
            )
            # Mentions: ~40% for watch 1 (a quarter of them competitors), ~15% watch 2, ~5% watch 3.
            roll = rng.random()
            hits = []
            if roll < 0.40:
                hits.append((1, "" if rng.random() < 0.75 else rng.choice(["星巢", "酷豆"])))
            elif roll < 0.55:
                hits.append((2, "" if rng.random() < 0.8 else "远山"))
            elif roll < 0.60:
                hits.append((3, ""))
            for wid, comp in hits:
                engagement = likes + 2 * comments + 3 * reposts
                mention_rows.append(
                    (wid, pk, _ts(created), '["x"]', 1 if comp else 0, comp, label, engagement, author_pk)
                )
                if comp:
                    continue
                epoch = int(created.timestamp())
                for size in (300, 3600):
                    key = (wid, size, epoch - epoch % size)
                    c = counters.setdefault(key, [0, 0.0, Counter(), Counter()])
                    c[0] += 1
                    c[1] += engagement
                    c[2][label] += 1
                    c[3].update(kws)

    mention_rows: list[tuple[Any, ...]] = []
    batch: list[tuple[Any, ...]] = []
    insert_post = (
        "INSERT INTO post (id, platform, post_id, url, author_pk, kind, title, text, created_at, "
        "collected_at, likes, reposts, comments, is_repost, lang, sentiment, label, keywords, hashtags, "
        "signature) "
        "VALUES (?, 'weibo', ?, ?, ?, 'post', '', ?, ?, ?, ?, ?, ?, 0, 'zh', ?, ?, ?, '[]', '[]')"
    )
    for row in rows():
        batch.append(row)
        if len(batch) >= 20_000:
            con.executemany(insert_post, batch)
            batch.clear()
    con.executemany(insert_post, batch)
    con.executemany(
        "INSERT INTO mention (watch_id, post_pk, created_at, matched_terms, is_competitor, competitor, "
        "label, engagement, author_pk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sorted(mention_rows, key=lambda r: r[2]),  # the pipeline inserts roughly in time order
    )
    con.executemany(
        "INSERT INTO counter (watch_id, bucket_s, bucket_start, volume, raw_volume, unique_authors, "
        "engagement, negative, positive, neutral, scored, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                wid,
                size,
                _ts(datetime.fromtimestamp(start, UTC)),
                c[0],
                c[0],
                c[0],
                c[1],
                c[2]["negative"],
                c[2]["positive"],
                c[2]["neutral"],
                c[0] - c[2]["unscored"],
                json.dumps(dict(c[3].most_common(30))),
            )
            for (wid, size, start), c in counters.items()
        ),
    )
    kol_rows = []
    for wid in watches:
        authors = rng.sample(range(1, n_authors + 1), 3000)
        for when in (NOW - timedelta(hours=1), NOW):
            for a in authors:
                kol_rows.append(
                    (
                        wid,
                        a,
                        _ts(when),
                        30,
                        rng.uniform(0, 100),
                        "腰部",
                        1.0,
                        '{"reach": 0.5}',
                        '{"reach": 0.3}',
                        '["互动高"]',
                        "bench",
                    )
                )
    con.executemany(
        "INSERT INTO kol_score (watch_id, author_pk, computed_at, window_days, score, tier, authenticity, "
        "components, weights, reasons, method_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        kol_rows,
    )
    con.commit()
    # No ANALYZE: the service never runs it, so the planner here works without statistics as there.
    con.close()
    print(
        f"generated {posts:,} posts, {len(mention_rows):,} mentions, {len(counters):,} counter rows, "
        f"{len(kol_rows):,} KOL scores in {time.perf_counter() - started:.1f} s -> {path}"
    )


def _matches_models(path: Path) -> bool:
    """Whether a cached database has every column the models now have (else it is regenerated)."""

    from sqlmodel import SQLModel

    con = sqlite3.connect(path)
    try:
        for table in SQLModel.metadata.sorted_tables:
            have = {row[1] for row in con.execute(f"PRAGMA table_info({table.name})")}
            if not set(table.columns.keys()) <= have:
                return False
    finally:
        con.close()
    return True


# Loaded in this order (foreign keys); every table generate() fills.
TABLES = ("workspace", "watch", "author", "post", "mention", "counter", "kol_score")


def load_postgres(sqlite_path: Path, url: str) -> None:
    """Copy the generated SQLite database into a fresh schema of the PostgreSQL database at url."""

    import psycopg  # the service's PostgreSQL driver; only this option needs it

    db = Database(url)
    with db.writer.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    db.create_all()
    db.dispose()
    started = time.perf_counter()
    source = sqlite3.connect(sqlite_path)
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as pg:
        pg.execute("SET TIME ZONE 'UTC'")  # the SQLite file holds UTC times without an offset
        for table in TABLES:
            columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
            names = ", ".join(columns)
            with pg.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {names} FROM {table}"):
                    copy.write_row(row)
            pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
    source.close()
    print(f"copied into PostgreSQL and vacuumed in {time.perf_counter() - started:.1f} s")


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm the page cache and SQLAlchemy's statement cache
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


# The periods the bot accepts (bot/routers/common.py allows 1h..90d; day/week/month are aliases).
PERIODS = {f"{d}d" if d > 1 else "24h": timedelta(days=d) for d in (1, 7, 30, 90)}
DEEP_PAGE = 50  # deeper than people page by hand (the bot bounds OFFSET at 10,000)


def cases() -> dict[str, Callable[[Any], Any]]:
    """Each query as the bot's handlers call it, for every period the bot accepts."""

    out: dict[str, Callable[[Any], Any]] = {}
    for label, length in PERIODS.items():
        start = NOW - length
        step = "hour" if length <= timedelta(hours=48) else "day"  # as /sentiment picks it
        out[f"/mentions {label} page 1 + total"] = lambda s, a=start: queries.mentions(
            s, watch_id=1, start=a, end=NOW, limit=PAGE_SIZE, offset=0, with_total=True, total_cap=TOTAL_CAP
        )
        out[f"/mentions {label} page {DEEP_PAGE} + total"] = lambda s, a=start: queries.mentions(
            s,
            watch_id=1,
            start=a,
            end=NOW,
            limit=PAGE_SIZE,
            offset=(DEEP_PAGE - 1) * PAGE_SIZE,
            with_total=True,
            total_cap=TOTAL_CAP,
        )
        by = "hourly" if step == "hour" else "daily"
        out[f"/sentiment {label} ({by})"] = lambda s, a=start, st=step: queries.sentiment_summary(
            s, watch_id=1, start=a, end=NOW, step=st, top_negative=3
        )
        out[f"/trending {label}"] = lambda s, a=start: queries.trending_terms(
            s, watch_id=1, start=a, end=NOW, limit=10, exclude=("鹿角", "咖啡")
        )
        out[f"/sov {label}"] = lambda s, a=start: queries.share_of_voice(s, watch_id=1, start=a, end=NOW)
    out["/mentions 7d negative only"] = lambda s: queries.mentions(
        s, watch_id=1, start=NOW - timedelta(days=7), end=NOW, limit=PAGE_SIZE, label="negative"
    )
    out["/kol top 10"] = lambda s: queries.kol_board(s, watch_id=1, top=10)
    out["/kol explain"] = lambda s: queries.author_score(s, watch_id=1, author="作者777")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fresh", action="store_true", help="regenerate the database")
    parser.add_argument("--only", default="", help="run only the queries whose name contains this text")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="copy the data into this PostgreSQL database (schema DROPPED) and time there",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"bot_queries_{args.posts}.db"
    if args.fresh or not path.exists() or not _matches_models(path):
        generate(path, args.posts)
    if args.postgres:
        load_postgres(path, args.postgres)
    db = Database(args.postgres or f"sqlite:///{path}")
    print("database:", db.writer.dialect.name)
    with db.read() as s:
        totals = {
            label: queries.mentions(s, watch_id=1, start=NOW - length, end=NOW, with_total=True).total
            for label, length in PERIODS.items()
        }
    print(
        f"\n{args.posts:,} posts; watch 1 brand mentions: "
        + ", ".join(f"{label} {n:,}" for label, n in totals.items())
        + f"; {args.runs} runs each\n"
    )
    print(f"{'query':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  goal p95 < 200 ms")
    worst = 0.0
    for name, case in cases().items():
        if args.only and args.only not in name:
            continue
        with db.read() as s:
            samples = timed(lambda case=case, s=s: case(s), args.runs)
        p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) >= 2 else samples[0]
        worst = max(worst, p95)
        print(
            f"{name:34} {statistics.median(samples):8.1f} {p95:8.1f} {max(samples):8.1f}  "
            f"{'ok' if p95 < 200 else 'SLOW'}"
        )
    db.dispose()
    return 0 if worst < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
