"""A post counts for every workspace whose source collects it, once each.

Posts are stored once (natural key); the first workspace's source to store a post used to be
the only one it was matched for, so a second workspace watching the same brand never got the
mention. Re-seen posts (collectors yield the first page again to refresh counts) must add no
mention and change no counter for a workspace that has matched them already.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from kolwatch.matching import MatcherCache
from kolwatch.pipeline import DuplicateWindow, store_new_posts
from storage import repos
from storage.db import Database
from storage.models import MentionRow
from tests.storage.test_repos import NOW, analysis, post


def two_workspaces(db: Database) -> dict[str, repos.WatchInfo]:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec("A", watches=(repos.WatchSpec("鹿角A", "鹿角"),)),
                repos.WorkspaceSpec("B", watches=(repos.WatchSpec("鹿角B", "鹿角", ("星巢",)),)),
            ],
            sources=[],
        )
        return {w.workspace: w for w in repos.active_watches(s)}


class Collector:
    """Stores pages the way the pipeline does, for one source's workspace (None = all)."""

    def __init__(self, db: Database, workspace_id: int | None) -> None:
        self.db, self.workspace_id = db, workspace_id
        self.matchers, self.duplicates = MatcherCache(), DuplicateWindow(0.7)

    def page(self, *pids: str, likes: int = 1) -> tuple[int, int]:
        posts = [post(pid, likes=likes) for pid in pids]
        analyses = [replace(analysis(), text=p.text) for p in posts]
        with self.db.write() as s:
            new, mentions = store_new_posts(
                s,
                posts=posts,
                analyses=analyses,
                now=NOW,
                privacy=repos.Privacy(),
                matchers=self.matchers,
                duplicates=self.duplicates,
                workspace_id=self.workspace_id,
            )
        return len(new), mentions


def counters(db: Database, watch: repos.WatchInfo) -> list[tuple[object, ...]]:
    with db.read() as s:
        return [
            (p.bucket_start, p.volume, p.raw_volume, p.unique_authors, p.engagement)
            for size in repos.BUCKETS_S
            for p in repos.counter_series(
                s,
                watch_id=watch.id,
                bucket_s=size,
                start=NOW - timedelta(days=1),
                end=NOW + timedelta(days=1),
            )
        ]


def mentions(db: Database) -> list[tuple[int, str]]:
    with db.read() as s:
        return sorted((m.watch_id, m.competitor) for m in s.exec(select(MentionRow)).all())


def test_a_post_stored_by_one_workspace_is_matched_for_the_next(any_db: Database) -> None:
    watches = two_workspaces(any_db)
    a = Collector(any_db, watches["A"].workspace_id)
    b = Collector(any_db, watches["B"].workspace_id)
    assert a.page("1", "2") == (2, 2)
    assert b.page("1", "3") == (1, 2)  # post 1 is not new, but B never matched it
    assert mentions(any_db) == sorted([(watches["A"].id, "")] * 2 + [(watches["B"].id, "")] * 2)
    assert [c[2] for c in counters(any_db, watches["B"])] == [2, 2]  # 5-minute and hour buckets


def test_re_seen_posts_add_no_mention_and_change_no_counter(any_db: Database) -> None:
    watches = two_workspaces(any_db)
    a = Collector(any_db, watches["A"].workspace_id)
    b = Collector(any_db, watches["B"].workspace_id)
    a.page("1", "2")
    b.page("1")
    before = (mentions(any_db), counters(any_db, watches["A"]), counters(any_db, watches["B"]))
    assert a.page("1", "2") == (0, 0)
    assert b.page("1") == (0, 0)
    assert b.page("1", "2") == (0, 1)  # post 2 is new to B only
    after_b = counters(any_db, watches["B"])
    assert a.page("2", "1") == (0, 0)
    assert mentions(any_db) == sorted(before[0] + [(watches["B"].id, "")])
    assert counters(any_db, watches["A"]) == before[1]
    assert [c[2] for c in after_b] == [2, 2] and counters(any_db, watches["B"]) == after_b


def test_sources_of_all_workspaces_still_match_new_posts_only(any_db: Database) -> None:
    watches = two_workspaces(any_db)
    a = Collector(any_db, watches["A"].workspace_id)
    shared = Collector(any_db, None)
    a.page("1")
    assert shared.page("1") == (0, 0)  # as before: a re-seen post is not re-matched for everyone
    assert shared.page("9") == (1, 2)  # a new one is matched for every workspace's watches
    assert mentions(any_db) == sorted([(watches["A"].id, "")] * 2 + [(watches["B"].id, "")])
