"""`kolwatch db upgrade|purge|pseudonymise`: schema migrations, retention and privacy."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from kolwatch.context import open_database, privacy_from, settings_from
from kolwatch.errors import UserError
from kolwatch.settings import parse_duration
from storage import repos


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database: upgrade, purge, pseudonymise")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="apply schema migrations (creates the database)")
    upgrade.set_defaults(func=run_upgrade)
    purge = actions.add_parser("purge", help="delete posts and data older than a duration")
    purge.add_argument("--older-than", default=None, help="e.g. 180d (default: [database] retention_days)")
    purge.set_defaults(func=run_purge)
    pseudo = actions.add_parser(
        "pseudonymise", help="apply [database] pseudonymise_below to authors stored earlier"
    )
    pseudo.set_defaults(func=run_pseudonymise)


def run_upgrade(args: argparse.Namespace) -> int:
    from storage.migrate import current_revision

    settings = settings_from(args)
    db = open_database(settings, migrate=True)
    print(f"database at revision {current_revision(settings.database.url)}")
    db.dispose()
    return 0


def run_purge(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        age = parse_duration(args.older_than) if args.older_than else None
    except ValueError as exc:
        raise UserError(f"--older-than: {exc}") from None
    if age is None:
        from datetime import timedelta

        if settings.database.retention_days is None:
            raise UserError("give --older-than (e.g. 180d) or set [database] retention_days")
        age = timedelta(days=settings.database.retention_days)
    db = open_database(settings)
    cutoff = datetime.now(UTC) - age
    with db.write() as session:
        result = repos.purge_older_than(session, cutoff=cutoff)
    print(result.summary())
    db.dispose()
    return 0


def run_pseudonymise(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    privacy = privacy_from(settings)
    if privacy.pseudonymise_below is None:
        raise UserError("[database] pseudonymise_below is 0 (off); set a follower threshold first")
    db = open_database(settings)
    with db.write() as session:
        result = repos.pseudonymise_existing(session, privacy=privacy)
    print(
        f"pseudonymised {result.authors} authors below {privacy.pseudonymise_below} followers "
        f"({result.merged} merged into pseudonyms stored since); {result.urls} post URLs and "
        f"{result.alerts} stored alerts without the account"
    )
    db.dispose()
    return 0
