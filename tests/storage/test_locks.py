"""The poller singleton: a second holder is refused until the first releases (both databases)."""

from __future__ import annotations

from storage.db import Database
from storage.locks import SingletonLock


def test_only_one_holder_at_a_time(any_db: Database) -> None:
    other = Database(any_db.url)  # a second process would have its own engine
    try:
        first, second = SingletonLock(any_db, "poller"), SingletonLock(other, "poller")
        assert first.acquire()
        assert not second.acquire()
        unrelated = SingletonLock(other, "another-job")
        assert unrelated.acquire()
        unrelated.release()
        first.release()
        assert second.acquire()
        second.release()
    finally:
        other.dispose()
