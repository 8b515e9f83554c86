"""storage.alert_queries: what the alert job reads about a period's mentions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from storage import alert_queries, repos
from storage.db import Database
from tests.storage.test_repos import NOW, analysis, author, post, setup_workspace


def test_mention_authors_gives_one_row_per_brand_mention_of_the_period(any_db: Database) -> None:
    watch = setup_workspace(any_db)
    alice = author("u1", followers=3, name="小号")
    bob = dataclasses.replace(author("u2", followers=90_000, name="大V"), posts_count=7)
    posts = [
        post("1", who=alice, minutes_ago=10),
        post("2", who=alice, minutes_ago=20),
        post("3", who=bob, minutes_ago=30),
        post("old", who=bob, minutes_ago=60 * 5),  # before the period
    ]
    with any_db.write() as s:
        stored = repos.upsert_posts(s, posts=posts, analyses=[analysis()] * 4, now=NOW)
        pk = {sp.post.post_id: sp.pk for sp in stored}
        repos.add_mentions(
            s,
            mentions=[
                *(repos.MentionSpec(watch.id, sp.pk, sp.post.created_at) for sp in stored),
                # A competitor mention of post 3 is not the brand's.
                repos.MentionSpec(watch.id, pk["3"], posts[2].created_at, competitor="星巢"),
            ],
        )
    with any_db.read() as s:
        rows = alert_queries.mention_authors(
            s, watch_id=watch.id, start=NOW - timedelta(hours=1), end=NOW
        )
        other_watch = alert_queries.mention_authors(
            s, watch_id=watch.id + 1000, start=NOW - timedelta(hours=1), end=NOW
        )
    assert sorted(rows) == [("大V", 90_000, 7), ("小号", 3, None), ("小号", 3, None)]
    assert other_watch == []
