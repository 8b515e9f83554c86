"""Engines and sessions: SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writers) or PostgreSQL.

`Database` owns two engines over one URL: a writer whose transactions take SQLite's write lock up
front (a deferred transaction that upgrades from read to write gets SQLITE_BUSY without waiting,
see research/botstack.md section 5) and a reader for queries. On PostgreSQL both are ordinary.
Async code calls `await db.run(fn, ...)`, which runs the repository function in a worker thread so
the event loop (the bot's polling) never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.exc import DatabaseError as DriverDatabaseError
from sqlalchemy.pool import NullPool, StaticPool
from sqlmodel import Session, SQLModel, create_engine

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseError(Exception):
    """The database cannot be opened or reached; the message says which URL (without password)."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database url>"


def driver_reason(exc: BaseException) -> str:
    """The first line of a driver error (no SQL, no parameters, no "Background on this error")."""

    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_pragmas(immediate: bool) -> Callable[[Engine], None]:
    def install(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_con: sqlite3.Connection, _record: Any) -> None:
            # Stop pysqlite from issuing its own deferred BEGIN; we send BEGIN ourselves.
            dbapi_con.isolation_level = None
            for pragma in ("journal_mode=WAL", "busy_timeout=60000", "synchronous=NORMAL", "foreign_keys=ON"):
                dbapi_con.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return install


def _create_sqlite_folder(database: str, url: str) -> None:
    folder = Path(database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (
            "a file is in the way (not a folder)"
            if isinstance(exc, FileExistsError | NotADirectoryError)
            else exc.strerror or str(exc)
        )
        raise DatabaseError(
            f"cannot create the folder of database {safe_url(url)}: {exc.filename or folder}: {reason}"
        ) from None


def make_engine(url: str, *, writer: bool = True) -> Engine:
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseError(f"invalid database url {safe_url(url)!r}: {exc}") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            in_memory = database in ("", ":memory:")
            if not in_memory:
                _create_sqlite_folder(database, url)
            engine = create_engine(
                url,
                connect_args={"timeout": 60, "check_same_thread": False},
                poolclass=StaticPool if in_memory else NullPool,
            )
            _sqlite_pragmas(immediate=writer)(engine)
            return engine
        connect_args: dict[str, Any] = {}
        if parsed.get_driver_name() == "psycopg":
            # psycopg prepares a statement on its 5th execution, and PostgreSQL then switches it to
            # a generic plan after five more: one plan for every period and watch. For the KOL
            # board's brand-sentiment query that plan took 150 ms instead of 27 ms at 1M posts
            # (benchmarks/RESULTS-bot-queries.md). Unprepared, each query is planned for its values.
            connect_args["prepare_threshold"] = None
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args)
    except ImportError as exc:
        # The dialect is known to SQLAlchemy but its DB-API driver is not installed (mysql://).
        raise DatabaseError(
            f"database url {safe_url(url)}: its driver is not installed ({exc}); "
            "kolwatch ships drivers for sqlite:/// and postgresql+psycopg://"
        ) from None


class Database:
    """The database of one kolwatch process: writer and reader engines, sessions, async bridge."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.writer = make_engine(url, writer=True)
        parsed = make_url(url)
        in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
        # An in-memory SQLite database exists once per connection: readers must share the writer's.
        self.reader = self.writer if in_memory else make_engine(url, writer=False)
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.writer.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    def check(self) -> None:
        """Open a connection now, so an unreachable database is reported at start-up."""

        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (DriverDatabaseError, OSError) as exc:
            # DriverDatabaseError covers OperationalError (unreachable, unopenable) and a file that
            # is not a database at all ("file is not a database").
            raise DatabaseError(f"cannot open database {safe_url(self.url)}: {driver_reason(exc)}") from None

    def create_all(self) -> None:
        """Create missing tables directly (tests, the demo); services use `kolwatch db upgrade`."""

        SQLModel.metadata.create_all(self.writer)

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any exception.

        SQLite has one writer at a time. Threads of this process queue on a lock here instead of
        inside SQLite, where the busy timeout would turn a long queue of concurrent page stores into
        "database is locked" errors; other processes still wait through the busy timeout.
        """

        with self._write_lock, Session(self.writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking repository call in a worker thread."""

        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
