"""`kolwatch digest --period day|week [--watch NAME] [--workspace NAME] [--out DIR] [--send]`:
build the digest now, write its HTML, CSV and charts, print its numbers; `--send` also puts it in
the outbox (once per workspace and period) for the next `kolwatch run` to deliver."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kolwatch.context import open_database, output_dir, settings_from
from kolwatch.errors import UserError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("digest", help="build the daily or weekly digest now")
    parser.add_argument("--period", choices=("day", "week"), required=True)
    parser.add_argument("--watch", help="only this watch (name)")
    parser.add_argument("--workspace", help="only this workspace (default: every workspace)")
    parser.add_argument("--out", help="directory for the files (default: [digest] out_dir)")
    parser.add_argument("--send", action="store_true", help="also queue it for delivery (outbox)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the digest pulls in matplotlib, which `kolwatch --help` should not pay for.
    from kolwatch.digest_job import digest_summary, run_digest
    from kolwatch.settings import Secrets

    settings = settings_from(args)
    names = [ws.name for ws in settings.workspaces]
    if args.workspace is not None:
        if args.workspace not in names:
            raise UserError(f"--workspace: no workspace named {args.workspace!r} (known: {', '.join(names)})")
        names = [args.workspace]
    if not names:
        raise UserError("no workspaces in settings: add a [[workspaces]] section first")
    if args.watch is not None:
        having = [
            ws.name
            for ws in settings.workspaces
            if ws.name in names and any(w.name == args.watch for w in ws.watches)
        ]
        if not having:
            raise UserError(f"--watch: no watch named {args.watch!r} in settings")
        names = having
    out_option = "--out" if args.out else "[digest] out_dir"
    out_dir = output_dir(Path(args.out or settings.digest.out_dir), out_option)
    db = open_database(settings)
    now = datetime.now(UTC)
    try:
        for name in names:
            try:
                paths = run_digest(
                    db,
                    settings,
                    Secrets(),
                    workspace=name,
                    period=args.period,
                    now=now,
                    out_dir=out_dir,
                    watch=args.watch,
                    send=args.send,
                )
                summary = digest_summary(
                    db, settings, workspace=name, period=args.period, now=now, watch=args.watch
                )
            except LookupError as exc:
                raise UserError(str(exc).strip("'\"")) from None
            print(summary.text())
            for path in paths:
                print(f"  wrote {path}", file=sys.stderr)
            print()
    finally:
        db.dispose()
    return 0
