"""`kolwatch export --format csv|jsonl`: every stored post with author, sentiment and watches."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from kolwatch.context import open_database, open_output, settings_from
from kolwatch.errors import UserError
from kolwatch.progress import Progress
from kolwatch.settings import parse_duration
from storage import repos
from storage.repos import ExportedPost

FIELDS = (
    "platform",
    "post_id",
    "url",
    "author_id",
    "author_name",
    "author_followers",
    "text",
    "created_at",
    "likes",
    "reposts",
    "comments",
    "views",
    "sentiment",
    "label",
    "watches",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", help="export stored posts as CSV or JSONL")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    parser.add_argument("--watch", help="only posts that matched this watch (name)")
    parser.add_argument("--since", help="only posts newer than this duration, e.g. 7d")
    parser.add_argument("--out", help="file to write (default: standard output)")
    parser.set_defaults(func=run)


def post_record(post: ExportedPost) -> dict[str, Any]:
    record = {name: getattr(post, name) for name in FIELDS}
    record["created_at"] = post.created_at.isoformat()
    record["watches"] = list(post.watches)
    return record


def write_posts(posts: Any, fmt: str, out: TextIO) -> int:
    count = 0
    with Progress("exporting") as progress:
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            for post in posts:
                record = post_record(post)
                record["watches"] = "|".join(record["watches"])
                writer.writerow(record)
                count += 1
                progress.advance()
        else:
            for post in posts:
                out.write(json.dumps(post_record(post), ensure_ascii=False) + "\n")
                count += 1
                progress.advance()
    return count


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    settings = settings_from(args)
    since = None
    if args.since:
        try:
            since = datetime.now(UTC) - parse_duration(args.since)
        except ValueError as exc:
            raise UserError(f"--since: {exc}") from None
    db = open_database(settings)
    with db.read() as session:
        watch_id = None
        if args.watch:
            matches = [w for w in repos.active_watches(session) if w.name == args.watch]
            if not matches:
                raise UserError(f"--watch: no watch named {args.watch!r}")
            watch_id = matches[0].id
        posts = repos.iter_posts(session, since=since, watch_id=watch_id)
        if args.out:
            with open_output(Path(args.out), "--out") as handle:
                count = write_posts(posts, args.format, handle)
            print(f"wrote {count} posts to {args.out}", file=sys.stderr)
        else:
            write_posts(posts, args.format, sys.stdout)
    db.dispose()
    return 0
