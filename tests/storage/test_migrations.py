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
