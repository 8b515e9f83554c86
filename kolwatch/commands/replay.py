"""`kolwatch replay --posts FILE.jsonl [--watch NAME [--query Q]] [--db URL]`: backtest alert settings.

Prints every alert that would have fired as JSONL on standard output (created_at in simulated
time, watch, kind, level 1..4 with 4 = 红 I, level_name, key, title, post_ids, incident,
bucket_s); nothing is delivered. A summary line
goes to standard error; progress is drawn only on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kolwatch.context import settings_from
from kolwatch.errors import UserError
from kolwatch.progress import Progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="feed exported posts through matching, detectors and alert rules (no delivery)",
        description="Prints one JSON line per alert that would have fired: created_at (simulated "
        "time), watch, kind, level, level_name, key, title, post_ids, incident, bucket_s (300 or "
        "3600: the bucket that fired). `level` counts up "
        "with severity, 1 = 蓝 IV, 2 = 黄 III, 3 = 橙 II, 4 = 红 I (the reverse of the Roman "
        "numerals); level_name spells it out, e.g. 橙色预警 II.",
    )
    parser.add_argument("--posts", required=True, help="JSONL in the `kolwatch export` shape ('-' = stdin)")
    parser.add_argument("--watch", help="replay only this watch of the settings (or name the --query)")
    parser.add_argument("--query", help="an ad-hoc watch query, e.g. '瑞幸 OR luckin' (needs --watch NAME)")
    parser.add_argument(
        "--db",
        help="a NEW database to replay into, kept for inspection or `kolwatch export` (created and "
        "migrated; a database that already holds data is refused). Default: temporary, in memory",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kolwatch.pipeline import default_analyzer
    from kolwatch.replay import open_replay_database, read_records, replay, replay_settings

    settings = replay_settings(settings_from(args), watch=args.watch, query=args.query)
    try:
        if args.posts == "-":
            records = read_records(sys.stdin)
        else:
            with open(args.posts, encoding="utf-8") as handle:
                records = read_records(handle)
    except FileNotFoundError:
        raise UserError(f"--posts: no such file {args.posts!r}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"--posts: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"--posts: cannot read {args.posts!r}: {exc.strerror}") from None

    db = open_replay_database(args.db) if args.db else None

    def emit(alert: Any) -> None:
        sys.stdout.write(json.dumps(alert.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    try:
        with Progress("replaying", total=len(records)) as progress:
            summary = replay(
                records,
                settings=settings,
                analyzer=default_analyzer(settings),
                db=db,
                on_alert=emit,
                progress=progress,
            )
    finally:
        if db is not None:
            db.dispose()
    print(
        f"replayed {summary.posts} posts ({summary.stored} new, {summary.mentions} mentions), "
        f"{summary.job_runs} alert-job runs, {len(summary.alerts)} alerts",
        file=sys.stderr,
    )
    return 0
