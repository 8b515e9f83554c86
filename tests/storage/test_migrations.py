"""Migration parity: `kolwatch db upgrade` builds exactly the schema the models describe.

Tests elsewhere build their tables with `create_all`, so an index or column added to the models
without a migration would go unnoticed there; deployed databases only ever get the migrations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from storage import migrate
from storage.db import make_engine
from tests.conftest import postgres_url


def _differences(url: str) -> list[object]:
    engine = make_engine(url, writer=False)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))
    finally:
        engine.dispose()


def _empty_postgres() -> str:
    url = postgres_url()
    if not url:
        pytest.skip("no PostgreSQL: set TEST_DATABASE_URL (make test starts one when it can)")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    return _empty_postgres()


def test_upgrade_from_empty_matches_the_models(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == migrate.head_revision()
    assert _differences(empty_url) == []


def test_databases_at_the_initial_revision_get_the_post_parent_index(empty_url: str) -> None:
    migrate.upgrade(empty_url, "75284bf04ba5")
    engine = make_engine(empty_url, writer=False)
    try:
        before = {ix["name"] for ix in inspect(engine).get_indexes("post")}
    finally:
        engine.dispose()
    assert "ix_post_parent" not in before
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == []


_INSERT_POST = (
    "INSERT INTO post (id, platform, post_id, url, author_pk, kind, title, text, created_at, collected_at, "
    "likes, reposts, comments, is_repost, lang, label, keywords, hashtags, signature) "
    "VALUES (:pk, 'weibo', :pid, '', 7, 'post', '', 't', :at, :at, :likes, :reposts, :comments, false, 'zh', "
    ":label, '[]', '[]', '[]')"
)


def test_mentions_get_their_posts_label_engagement_and_author(empty_url: str) -> None:
    migrate.upgrade(empty_url, "49c880c1810d")
    at = "2026-03-01 10:00:00"
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO workspace (id, name, timezone, created_at) VALUES (1, 'w', 'UTC', :at)"),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO watch (id, workspace_id, name, query, competitors, detector_settings, "
                    "enabled, created_at, updated_at) VALUES (1, 1, 'b', 'b', '[]', '{}', true, :at, :at)"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO author (id, platform, author_id, name, url, verified, description, "
                    "pseudonymised, first_seen_at, last_seen_at) "
                    "VALUES (7, 'weibo', 'u7', 'a', '', false, '', false, :at, :at)"
                ),
                {"at": at},
            )
            for pk, likes, comments, reposts, label in (
                (1, 10, 2, 1, "negative"),
                (2, None, None, 4, "positive"),
            ):
                conn.execute(
                    text(_INSERT_POST),
                    {
                        "pk": pk,
                        "pid": f"p{pk}",
                        "at": at,
                        "likes": likes,
                        "reposts": reposts,
                        "comments": comments,
                        "label": label,
                    },
                )
                conn.execute(
                    text(
                        "INSERT INTO mention (watch_id, post_pk, created_at, matched_terms, is_competitor, "
                        "competitor) VALUES (1, :pk, :at, '[]', false, '')"
                    ),
                    {"pk": pk, "at": at},
                )
        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT post_pk, label, engagement, author_pk FROM mention ORDER BY post_pk")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "negative", 10 + 2 * 2 + 3 * 1, 7), (2, "positive", 12, 7)]
    assert _differences(empty_url) == []
