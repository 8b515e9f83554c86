"""The storage suite: runs on SQLite and on PostgreSQL (any_db) with the same assertions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from collectors.base import Author, HotEntry, Post
from nlp.types import Analysis
from storage import repos
from storage.db import Database
from storage.models import AuthorRow, FollowerSnapshotRow, IgnoredAuthorRow, KolScoreRow, MentionRow, PostRow

NOW = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
# Sources are due from the moment they are created (wall clock), so lease tests run later than that.
FUTURE = datetime(2031, 1, 1, tzinfo=UTC)


def analysis(
    label: str = "neutral", sentiment: float | None = 0.5, keywords: tuple[str, ...] = ()
) -> Analysis:
    return Analysis(
        text="t",
        lang="zh",
        tokens=(),
        keywords=keywords,
        hashtags=(),
        emoticons=(),
        mentions=(),
        urls=(),
        sentiment=sentiment,
        label=label,
    )


def author(uid: str = "u1", followers: int | None = 1200, name: str = "小鹿") -> Author:
    return Author("weibo", uid, name, url=f"https://weibo.com/u/{uid}", followers=followers)


def post(pid: str, *, who: Author | None = None, minutes_ago: int = 0, likes: int | None = 1) -> Post:
    return Post(
        platform="weibo",
        post_id=pid,
        url=f"https://m.weibo.cn/status/{pid}",
        author=who or author(),
        text=f"鹿角咖啡 第{pid}条",
        created_at=NOW - timedelta(minutes=minutes_ago),
        likes=likes,
        reposts=0,
        comments=0,
    )


def setup_workspace(db: Database) -> repos.WatchInfo:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec(
                    "acme",
                    chats=(-1001,),
                    admins=(42,),
                    watches=(repos.WatchSpec("鹿角", "鹿角", ("星巢",)),),
                )
            ],
            sources=[
                repos.SourceSpecRow("acme", "weibo", "search", "鹿角", 600),
                repos.SourceSpecRow(None, "hotlist", "hot", "weibo", 600),
            ],
        )
        return repos.active_watches(s)[0]


def test_upsert_posts_returns_only_new_rows_and_refreshes_counts(any_db: Database) -> None:
    with any_db.write() as s:
        first = repos.upsert_posts(s, posts=[post("1"), post("2")], analyses=[analysis()] * 2, now=NOW)
    assert sorted(p.post.post_id for p in first) == ["1", "2"]
    with any_db.write() as s:
        again = repos.upsert_posts(
            s, posts=[post("2", likes=99), post("3")], analyses=[analysis()] * 2, now=NOW
        )
    assert [p.post.post_id for p in again] == ["3"]
    with any_db.read() as s:
        rows = {r.post_id: r for r in s.exec(select(PostRow)).all()}
    assert set(rows) == {"1", "2", "3"}
    assert rows["2"].likes == 99
    assert rows["1"].created_at.replace(tzinfo=UTC) == NOW


def test_mentions_copy_the_posts_label_author_and_current_engagement(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    with any_db.write() as s:
        stored = repos.upsert_posts(
            s, posts=[post("1", likes=5)], analyses=[analysis(label="negative")], now=NOW
        )
        touched = repos.add_mentions(
            s,
            mentions=[
                repos.MentionSpec(watch.id, stored[0].pk, NOW),
                repos.MentionSpec(watch.id, stored[0].pk, NOW, competitor="星巢"),
            ],
        )
        repos.recompute_counters(s, touched=touched)

    def hourly_engagement() -> list[float]:
        with any_db.read() as s:
            series = repos.counter_series(
                s,
                watch_id=watch.id,
                bucket_s=3600,
                start=NOW - timedelta(hours=1),
                end=NOW + timedelta(hours=1),
            )
        return [c.engagement for c in series]

    assert hourly_engagement() == [5.0]
    seen_again = dataclasses.replace(post("1", likes=40), reposts=2, comments=None)
    with any_db.write() as s:
        repos.upsert_posts(s, posts=[seen_again], analyses=[analysis()], now=NOW)
    with any_db.read() as s:
        rows = s.exec(select(MentionRow)).all()
    assert sorted((m.competitor, m.label, m.engagement, m.author_pk) for m in rows) == [
        ("", "negative", 40 + 3 * 2, stored[0].author_pk),  # comments unknown now: 0 were stored
        ("星巢", "negative", 40 + 3 * 2, stored[0].author_pk),
    ]
    assert hourly_engagement() == [46.0]  # the period's engagement total follows the post too


def test_a_mention_of_a_post_that_is_not_stored_is_refused(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    with any_db.write() as s, pytest.raises(LookupError, match="not stored: \\[987\\]"):
        repos.add_mentions(s, mentions=[repos.MentionSpec(watch.id, 987, NOW)])


def test_store_posts_returns_the_seen_posts_even_when_another_process_stored_them_meanwhile(
    any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with any_db.write() as s:
        [first] = repos.upsert_posts(s, posts=[post("1")], analyses=[analysis()], now=NOW)
    with any_db.write() as s:
        batch = repos.store_posts(s, posts=[post("1"), post("2")], analyses=[analysis()] * 2, now=NOW)
    assert [sp.post.post_id for sp in batch.new] == ["2"]
    assert [(sp.pk, sp.author_pk) for sp in batch.seen] == [(first.pk, first.author_pk)]

    # The lookup misses post 1 (stored by another process just after it), so its insert conflicts.
    lookup = repos._stored_keys
    calls: list[int] = []

    def racing(session: object, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
        calls.append(len(keys))
        return {} if len(calls) == 1 else lookup(session, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(repos, "_stored_keys", racing)
    with any_db.write() as s:
        raced = repos.store_posts(s, posts=[post("1")], analyses=[analysis()], now=NOW)
    assert raced.new == [] and [sp.pk for sp in raced.seen] == [first.pk] and len(calls) == 2


def test_unknown_count_does_not_erase_a_known_one(any_db: Database) -> None:
    with any_db.write() as s:
        repos.upsert_posts(s, posts=[post("1", likes=7)], analyses=[analysis()], now=NOW)
    with any_db.write() as s:
        repos.upsert_posts(s, posts=[post("1", likes=None)], analyses=[analysis()], now=NOW)
        repos.upsert_authors(s, authors=[author(followers=None, name="")], now=NOW)
    with any_db.read() as s:
        assert s.exec(select(PostRow)).one().likes == 7
        stored = s.exec(select(AuthorRow)).one()
        assert (stored.followers, stored.name) == (1200, "小鹿")


def test_follower_snapshots_once_per_hour(any_db: Database) -> None:
    with any_db.write() as s:
        repos.upsert_authors(s, authors=[author(followers=100)], now=NOW)
        repos.upsert_authors(s, authors=[author(followers=110)], now=NOW + timedelta(minutes=10))
        repos.upsert_authors(s, authors=[author(followers=150)], now=NOW + timedelta(hours=1))
    with any_db.read() as s:
        snaps = sorted(r.followers for r in s.exec(select(FollowerSnapshotRow)).all())
    assert snaps == [100, 150]


def test_duplicate_posts_in_one_batch_are_stored_once(any_db: Database) -> None:
    with any_db.write() as s:
        new = repos.upsert_posts(
            s, posts=[post("1", likes=1), post("1", likes=5)], analyses=[analysis()] * 2, now=NOW
        )
    assert len(new) == 1
    assert new[0].post.likes == 5


def test_source_lease_is_exclusive_and_expires(any_db: Database) -> None:
    setup_workspace(any_db)
    with any_db.write() as s:
        a = repos.claim_due_sources(s, owner="A", now=FUTURE, lease_s=60)
    with any_db.write() as s:
        b = repos.claim_due_sources(s, owner="B", now=FUTURE + timedelta(seconds=30), lease_s=60)
    assert len(a) == 2 and b == []
    with any_db.write() as s:
        c = repos.claim_due_sources(s, owner="C", now=FUTURE + timedelta(seconds=61), lease_s=60)
    assert {x.id for x in c} == {x.id for x in a}
    with any_db.write() as s:
        # A's lease is gone: its late result must not overwrite C's run.
        assert repos.finish_source(s, source_id=a[0].id, owner="A", now=NOW, health="ok") is None
        assert not repos.advance_cursor(s, source_id=a[0].id, owner="A", cursor={"x": 1}, new_posts=0)
        assert repos.advance_cursor(s, source_id=a[0].id, owner="C", cursor={"x": 2}, new_posts=3)


def test_health_change_reported_once_per_transition(any_db: Database) -> None:
    setup_workspace(any_db)
    with any_db.read() as s:
        source_id = repos.source_health(s)[0].id
    changes = []
    for step, health in enumerate(["ok", "blocked", "blocked", "ok", "ok"]):
        now = FUTURE + timedelta(hours=step)
        with any_db.write() as s:
            claimed = repos.claim_due_sources(
                s, owner="W", now=now, lease_s=60, ignore_schedule=True, only_ids=[source_id]
            )
            changes.append(
                repos.finish_source(
                    s,
                    source_id=claimed[0].id,
                    owner="W",
                    now=now,
                    health=health,
                    message="418" if health != "ok" else "",
                )
            )
    moved = [(c.old, c.new) for c in changes if c is not None]
    assert moved == [("ok", "blocked"), ("blocked", "ok")]
    with any_db.read() as s:
        rows = repos.source_health(s)
    row = next(r for r in rows if r.id == claimed[0].id)
    assert row.health == "ok" and row.consecutive_failures == 0


def test_failure_reschedules_with_retry_after(any_db: Database) -> None:
    setup_workspace(any_db)
    now = FUTURE
    with any_db.write() as s:
        src = repos.claim_due_sources(s, owner="W", now=now, lease_s=60, limit=1)[0]
        repos.finish_source(
            s, source_id=src.id, owner="W", now=now, health="rate_limited", retry_after_s=7200
        )
    with any_db.read() as s:
        row = next(r for r in repos.source_health(s) if r.id == src.id)
    assert row.next_run_at == now + timedelta(seconds=7200)


def test_counters_are_recomputed_exactly_and_collapse_duplicates(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    other = author("u2", name="阿豆")
    posts = [post("1", minutes_ago=1), post("2", minutes_ago=2, who=other), post("3", minutes_ago=3)]
    analyses = [analysis("negative", 0.1, ("异物",)), analysis("negative", 0.2, ("异物", "门店")), analysis()]
    with any_db.write() as s:
        stored = repos.upsert_posts(s, posts=posts, analyses=analyses, now=NOW)
        first_pk = stored[0].pk
        # post 3 is a copy of post 1 (near-duplicate collapse): it counts in raw volume only.
        s.exec(update(PostRow).where(PostRow.post_id == "3").values(dup_of=first_pk))
        specs = [repos.MentionSpec(watch.id, sp.pk, sp.post.created_at) for sp in stored]
        specs.append(repos.MentionSpec(watch.id, stored[0].pk, NOW, competitor=""))  # repeated: ignored
        touched = repos.add_mentions(s, mentions=specs)
        repos.recompute_counters(s, touched=touched)
        repos.recompute_counters(s, touched=touched)  # idempotent
    with any_db.read() as s:
        hour = repos.counter_series(
            s,
            watch_id=watch.id,
            bucket_s=3600,
            start=NOW - timedelta(hours=1),
            end=NOW + timedelta(hours=1),
            terms=True,
        )
    assert len(hour) == 1
    point = hour[0]
    assert (point.raw_volume, point.volume, point.unique_authors, point.negative) == (3, 2, 2, 2)
    assert point.terms == {"异物": 2, "门店": 1}
    assert point.engagement == 3.0  # three posts with one like each


def test_competitor_mentions_stay_out_of_brand_volume(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    with any_db.write() as s:
        stored = repos.upsert_posts(s, posts=[post("9")], analyses=[analysis()], now=NOW)
        touched = repos.add_mentions(
            s, mentions=[repos.MentionSpec(watch.id, stored[0].pk, NOW, competitor="星巢")]
        )
        repos.recompute_counters(s, touched=touched)
        points = repos.counter_series(
            s, watch_id=watch.id, bucket_s=300, start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1)
        )
    assert [p.raw_volume for p in points] == [0]


def test_alert_outbox_is_unique_per_key_and_tracks_deliveries(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    spec = repos.AlertSpec(
        workspace_id=watch.workspace_id, kind="spike", level=2, key="spike:1:a", title="声量激增"
    )
    with any_db.write() as s:
        alert_id = repos.enqueue_alert(s, alert=spec, targets=[("telegram", "-1001"), ("console", "-")])
        assert repos.enqueue_alert(s, alert=spec, targets=[("telegram", "-1001")]) is None
    assert alert_id is not None
    now = NOW + timedelta(days=400)
    with any_db.write() as s:
        claimed = repos.claim_deliveries(s, owner="S", now=now, lease_s=30)
        assert repos.claim_deliveries(s, owner="T", now=now, lease_s=30) == []
    assert sorted((d.channel, d.target) for d in claimed) == [("console", "-"), ("telegram", "-1001")]
    tg = next(d for d in claimed if d.channel == "telegram")
    console = next(d for d in claimed if d.channel == "console")
    with any_db.write() as s:
        assert repos.finish_delivery(s, delivery_id=console.id, owner="S", now=now, ok=True, parts_sent=1)
        assert repos.finish_delivery(
            s,
            delivery_id=tg.id,
            owner="S",
            now=now,
            ok=False,
            parts_sent=1,
            error="429",
            retry_at=now + timedelta(seconds=30),
        )
    with any_db.write() as s:
        assert repos.claim_deliveries(s, owner="S", now=now + timedelta(seconds=10), lease_s=30) == []
        again = repos.claim_deliveries(s, owner="S", now=now + timedelta(seconds=31), lease_s=30)
        assert [(d.id, d.parts_sent, d.attempts) for d in again] == [(tg.id, 1, 1)]
        assert repos.delivery_counts(s) == {"sent": 1, "pending": 1}


def test_hot_entries_are_idempotent(any_db: Database) -> None:
    entry = HotEntry("weibo", "realtime", 3, "鹿角咖啡 异物", 812345, "https://s.weibo.com/weibo?q=x", NOW)
    with any_db.write() as s:
        assert repos.store_hot_entries(s, entries=[entry]) == 1
        assert repos.store_hot_entries(s, entries=[entry]) == 0


def test_export_streams_posts_with_watch_names(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    with any_db.write() as s:
        stored = repos.upsert_posts(
            s, posts=[post(str(i), minutes_ago=i) for i in range(25)], analyses=[analysis()] * 25, now=NOW
        )
        repos.add_mentions(s, mentions=[repos.MentionSpec(watch.id, stored[0].pk, stored[0].post.created_at)])
    with any_db.read() as s:
        out = list(repos.iter_posts(s, batch=7))
    assert len(out) == 25
    assert [p.created_at for p in out] == sorted(p.created_at for p in out)
    assert sum(1 for p in out if p.watches == ("鹿角",)) == 1


def test_purge_removes_old_posts_and_orphan_authors(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    long_ago = 60 * 24 * 200
    # Four authors lose their only post; a recent KOL score or an ignore mark keeps two of them.
    old, scored, ignored = author("old", name="旧号"), author("kol", name="达人"), author("ign", name="屏蔽")
    with any_db.write() as s:
        stored = repos.upsert_posts(
            s,
            posts=[
                post("old", who=old, minutes_ago=long_ago),
                post("kol", who=scored, minutes_ago=long_ago),
                post("ign", who=ignored, minutes_ago=long_ago),
                post("new"),
            ],
            analyses=[analysis()] * 4,
            now=NOW,
        )
        repos.add_mentions(
            s, mentions=[repos.MentionSpec(watch.id, sp.pk, sp.post.created_at) for sp in stored]
        )
        pks = {sp.post.post_id: sp.author_pk for sp in stored}
        s.add(KolScoreRow(watch_id=watch.id, author_pk=pks["kol"], computed_at=NOW, score=1.0, tier="尾部"))
        s.add(IgnoredAuthorRow(workspace_id=watch.workspace_id, author_pk=pks["ign"]))
    with any_db.write() as s:
        result = repos.purge_older_than(s, cutoff=NOW - timedelta(days=180))
    assert (result.posts, result.mentions, result.authors) == (3, 3, 1)
    with any_db.read() as s:
        assert [r.post_id for r in s.exec(select(PostRow)).all()] == ["new"]
        assert sorted(r.author_id for r in s.exec(select(AuthorRow)).all()) == ["ign", "kol", "u1"]


def test_pseudonymisation_hashes_small_accounts(any_db: Database) -> None:
    privacy = repos.Privacy(pseudonymise_below=1000, salt="pepper")
    small, big = author("s1", followers=50, name="路人甲"), author("b1", followers=50000, name="大V")
    with any_db.write() as s:
        repos.upsert_posts(
            s,
            posts=[post("1", who=small), post("2", who=big)],
            analyses=[analysis()] * 2,
            now=NOW,
            privacy=privacy,
        )
    with any_db.read() as s:
        rows = {r.name: r for r in s.exec(select(AuthorRow)).all()}
    assert set(rows) == {"", "大V"}
    hidden = rows[""]
    assert hidden.pseudonymised and hidden.author_id.startswith("anon-") and "s1" not in hidden.author_id
    assert hidden.url == ""
    assert rows["大V"].author_id == "b1"
    # The same small account seen again maps to the same pseudonym (stable across runs).
    assert privacy.author_id(small) == hidden.author_id


def test_pseudonymise_existing_rows(any_db: Database) -> None:
    with any_db.write() as s:
        repos.upsert_authors(
            s, authors=[author("s1", followers=10, name="路人"), author("b1", followers=10**6)], now=NOW
        )
    with any_db.write() as s:
        changed = repos.pseudonymise_existing(s, privacy=repos.Privacy(pseudonymise_below=1000, salt="x"))
    assert changed.authors == 1
    with any_db.read() as s:
        names = sorted(r.name for r in s.exec(select(AuthorRow)).all())
    assert names == ["", "小鹿"]


def test_sync_config_disables_what_settings_drop(any_db: Database) -> None:
    setup_workspace(any_db)
    with any_db.write() as s:
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme")], sources=[])
    with any_db.read() as s:
        assert repos.active_watches(s) == []
        assert all(not r.enabled for r in repos.source_health(s))


def test_mismatched_posts_and_analyses_are_rejected(any_db: Database) -> None:
    with any_db.write() as s, pytest.raises(ValueError):
        repos.upsert_posts(s, posts=[post("1")], analyses=[], now=NOW)
