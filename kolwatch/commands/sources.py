"""`kolwatch sources`: the source health table (what is collected, how it is doing, why not)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from kolwatch.context import open_database, settings_from, sync_settings
from storage import repos


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sources", help="show every source and its health")
    parser.set_defaults(func=run)


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return f"in {-seconds // 60}m"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def format_health_table(rows: list[repos.SourceHealthRow], now: datetime) -> str:
    lines = [
        f"{'id':>3}  {'workspace':<10} {'source':<40} {'health':<15} {'fails':>5} {'last ok':<10} "
        f"{'next':<8} {'posts':>6}  message"
    ]
    for r in rows:
        source = f"{r.platform} {r.kind} {r.target}"
        source = source if len(source) <= 40 else source[:37] + "..."
        health = r.health if r.enabled else "disabled"
        lines.append(
            f"{r.id:>3}  {(r.workspace or '*'):<10} {source:<40} {health:<15} {r.consecutive_failures:>5} "
            f"{_ago(r.last_ok_at, now):<10} {_ago(r.next_run_at, now):<8} {r.posts_total:>6}  "
            f"{r.message.splitlines()[0][:70] if r.message else ''}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)
    sync_settings(db, settings)
    with db.read() as session:
        rows = repos.source_health(session)
    print(format_health_table(rows, datetime.now(UTC)))
    db.dispose()
    return 0
