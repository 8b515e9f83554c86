"""Process-wide singleton locks: only one process may run the Telegram poller at a time.

On PostgreSQL a session advisory lock held on a dedicated connection (released when the process
dies, so a crashed poller never blocks the next). On SQLite, where processes share a file, an
exclusive `flock` on a file beside the database does the same job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database


class SingletonLock:
    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self._conn: Any = None
        self._file: IO[bytes] | None = None
        # Advisory lock keys are 64-bit integers; a CRC of the name is stable across processes.
        self._key = zlib.crc32(f"kolwatch:{name}".encode())

    def acquire(self) -> bool:
        """Try once, without waiting; True when this process now holds the lock."""

        if self.held:
            return True
        if self.db.dialect == "postgresql":
            conn = self.db.writer.connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        database = make_url(self.db.url).database or ""
        if database in ("", ":memory:"):
            return True  # an in-memory database lives in one process only
        path = Path(f"{database}.{self.name}.lock")
        handle = path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
