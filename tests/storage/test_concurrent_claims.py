"""Several workers claiming sources and deliveries at the same moment: each row goes to one worker.

Each worker is a thread with its own Database (its own engine and connections), as separate
service processes would have. On PostgreSQL the claim locks candidates with FOR UPDATE SKIP
LOCKED; on SQLite writers are serialised by BEGIN IMMEDIATE. A worker takes small batches until
nothing is left, all workers released together by a barrier. How the work is shared is up to the
database (on SQLite one worker sometimes wins every round), so only "each row once" is asserted:
without the lock the PostgreSQL case double-claims and the SQLite one fails with "database is
locked" (both checked by removing it).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from storage import repos
from storage.db import Database
from tests.storage.test_repos import FUTURE

WORKERS = 6


def _race(db: Database, claim: Callable[[Database, str], list[int]]) -> dict[str, list[int]]:
    """Run `claim(worker_db, owner)` in WORKERS threads until each gets nothing; ids by owner."""

    url = db.writer.url.render_as_string(hide_password=False)
    taken: dict[str, list[int]] = {f"w{i}": [] for i in range(WORKERS)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def worker(owner: str) -> None:
        mine = Database(url)
        try:
            barrier.wait()
            while batch := claim(mine, owner):
                taken[owner].extend(batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            mine.dispose()

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return taken


def test_each_due_source_is_leased_to_one_worker(any_db: Database) -> None:
    with any_db.write() as s:
        repos.sync_config(
            s,
            workspaces=[repos.WorkspaceSpec("acme")],
            sources=[repos.SourceSpecRow("acme", "weibo", "search", f"词{i}", 600) for i in range(60)],
        )

    def claim(db: Database, owner: str) -> list[int]:
        with db.write() as s:
            return [c.id for c in repos.claim_due_sources(s, owner=owner, now=FUTURE, lease_s=600, limit=3)]

    taken = _race(any_db, claim)
    counts = Counter(i for ids in taken.values() for i in ids)
    assert len(counts) == 60 and set(counts.values()) == {1}


def test_each_pending_delivery_is_claimed_by_one_sender(any_db: Database) -> None:
    with any_db.write() as s:
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme")], sources=[])
        workspace_id = repos.workspace_ids(s)["acme"]
        for i in range(20):
            alert = repos.AlertSpec(
                workspace_id=workspace_id, kind="spike", level=1, key=f"k{i}", title=f"t{i}"
            )
            repos.enqueue_alert(s, alert=alert, targets=[("telegram", "-1001"), ("wecom", "robot")])

    def claim(db: Database, owner: str) -> list[int]:
        with db.write() as s:
            return [d.id for d in repos.claim_deliveries(s, owner=owner, now=FUTURE, lease_s=600, limit=4)]

    taken = _race(any_db, claim)
    counts = Counter(i for ids in taken.values() for i in ids)
    assert len(counts) == 40 and set(counts.values()) == {1}
