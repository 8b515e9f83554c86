"""What most commands need first: validated settings, logging, and an opened, migrated database."""

from __future__ import annotations

import argparse
import logging
import sys

from kolwatch.errors import DatabaseUnavailable
from kolwatch.settings import Settings, load_settings
from storage.db import Database, DatabaseError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; that is noise for operators (and URLs may carry keys).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "settings", None))


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the configured database, failing fast with one line if it cannot be reached."""

    try:
        db = Database(settings.database.url)
        db.check()
        if migrate:
            from storage.migrate import upgrade

            upgrade(settings.database.url)
    except DatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from None
    return db
