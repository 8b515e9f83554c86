"""What most commands need first: validated settings, logging, and an opened, migrated database."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from kolwatch.errors import DatabaseUnavailable, SettingsError, UserError
from kolwatch.settings import SETTINGS_ENV, Settings, load_settings, settings_path
from storage import repos
from storage.db import Database, DatabaseError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; that is noise for operators (and URLs may carry keys).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: max instances" is routine


def settings_from(args: argparse.Namespace, *, require_file: bool = False) -> Settings:
    """Settings for a command. Without --settings or $KOLWATCH_SETTINGS and no ./settings.toml,
    `require_file` commands (the service) stop with one line; the others say on stderr that they
    run on the built-in defaults. `--settings /dev/null` asks for the defaults explicitly."""

    explicit = getattr(args, "settings", None)
    file = settings_path(explicit)
    if not explicit and not os.environ.get(SETTINGS_ENV) and not file.exists():
        missing = f"no settings file: {file.resolve()} does not exist"
        hint = f"pass --settings PATH or set {SETTINGS_ENV}"
        if require_file:
            raise SettingsError(f"{missing}; {hint} (--settings /dev/null runs on the built-in defaults)")
        print(f"kolwatch: {missing}; using the built-in defaults ({hint})", file=sys.stderr)
    return load_settings(explicit)


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


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return f"{exc.filename}: a file is in the way (not a folder)" if exc.filename else "not a folder"
    return exc.strerror or str(exc)


def output_dir(path: Path, option: str) -> Path:
    """Create an output folder before any work, so a bad path is one line, not a traceback later."""

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot create the folder: {_os_reason(exc)}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: the folder is not writable")
    return path


def open_output(path: Path, option: str) -> TextIO:
    """Open a file for writing (UTF-8, no newline translation), or fail with one line naming it."""

    try:
        return path.open("w", encoding="utf-8", newline="")
    except IsADirectoryError:
        raise UserError(f"{option} {path}: is a folder; give a file name") from None
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write: {_os_reason(exc)}") from None


def sync_settings(db: Database, settings: Settings) -> None:
    """Workspaces, watches and sources from settings.toml into the database."""

    workspaces = [
        repos.WorkspaceSpec(
            name=ws.name,
            timezone=ws.timezone,
            chats=ws.chats,
            admins=ws.admins,
            watches=tuple(
                repos.WatchSpec(w.name, w.query, w.competitors, dict(w.detectors)) for w in ws.watches
            ),
        )
        for ws in settings.workspaces
    ]
    sources = [
        repos.SourceSpecRow(s.workspace, s.platform, s.kind, s.target, s.every_s, dict(s.options))
        for s in settings.sources
    ]
    with db.write() as session:
        repos.sync_config(session, workspaces=workspaces, sources=sources)


SALT_ENV = "KOLWATCH_PSEUDONYM_SALT"


def privacy_from(settings: Settings, environ: Mapping[str, str] | None = None) -> repos.Privacy:
    """The pseudonymisation rule of `[database] pseudonymise_below`; SettingsError when it is on and
    the salt is missing (an unsalted hash of a uid is reversed by hashing every uid, i.e. no
    pseudonym at all). The service calls this at start-up, so a missing salt stops it there."""

    threshold = settings.database.pseudonymise_below
    if not threshold:
        return repos.Privacy()
    salt = (os.environ if environ is None else environ).get(SALT_ENV, "").strip()
    if not salt:
        raise SettingsError(
            f"{SALT_ENV} is not set: [database] pseudonymise_below = {threshold} stores salted hashes "
            "of account ids and needs a secret salt (a long random string, kept unchanged)"
        )
    return repos.Privacy(pseudonymise_below=threshold, salt=salt)
