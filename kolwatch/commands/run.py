"""`kolwatch run [--once]`: the service, or one collection of every source followed by alerts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from kolwatch.context import open_database, privacy_from, settings_from, setup_logging, sync_settings

if TYPE_CHECKING:
    from kolwatch.service import OnceSummary, Service

log = logging.getLogger("kolwatch")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the service (collectors, alerts, outbox, bot)")
    parser.add_argument(
        "--once", action="store_true", help="collect every enabled source once, send alerts, exit"
    )
    parser.set_defaults(func=run)


def print_once_summary(summary: OnceSummary, out: Any = sys.stdout) -> None:
    print(f"{'source':<44} {'health':<15} {'pages':>5} {'seen':>6} {'new':>6}  message", file=out)
    for r in summary.runs:
        name = f"{r.platform} {r.kind} {r.target}"
        name = name if len(name) <= 44 else name[:41] + "..."
        message = r.message.splitlines()[0][:80] if r.message else ""
        print(f"{name:<44} {r.health:<15} {r.pages:>5} {r.seen:>6} {r.new:>6}  {message}", file=out)
    ok = sum(1 for r in summary.runs if r.health == "ok")
    print(
        f"sources: {len(summary.runs)} ({ok} ok, {len(summary.runs) - ok} failing); "
        f"new posts: {sum(r.new for r in summary.runs)}; alerts: {summary.alerts}; "
        f"delivered: {summary.outbox.sent} "
        f"(retry later: {summary.outbox.retried}, failed: {summary.outbox.failed}); "
        f"KOL scores: {summary.kol_scores}",
        file=out,
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    settings = settings_from(args, require_file=True)  # a service with no sources would idle silently
    privacy_from(settings)  # a missing pseudonym salt stops the service here, not at the first page
    db = open_database(settings)
    sync_settings(db, settings)
    from kolwatch.service import Service  # imports aiogram: only when the service really starts

    service = Service(settings, db)
    if not service.bot_enabled:
        log.info(
            "no KOLWATCH_BOT_TOKEN set: running without the Telegram bot; alerts go to %s",
            ", ".join(sorted(service.notifiers)) or "no channel",
        )
    try:
        if args.once:
            summary = asyncio.run(_once(service))
            print_once_summary(summary)
            return 0
        asyncio.run(service.run_forever())
        return 0
    finally:
        db.dispose()


async def _once(service: Service) -> OnceSummary:
    try:
        return await service.run_once()
    finally:
        await service.aclose()
