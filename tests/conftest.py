"""Shared fixtures: databases on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared fixtures/data folder beside the checkout (configurable with KOLWATCH_SHARED)."""

    return Path(os.environ.get("KOLWATCH_SHARED", ROOT.parent / "shared"))


def postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url and os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL suite must run in CI")
    return url


def _reset_postgres(url: str) -> Database:
    db = Database(url)
    with db.writer.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    SQLModel.metadata.create_all(db.writer)
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on a SQLite file and on PostgreSQL."""

    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'test.db'}")
        db.create_all()
    else:
        url = postgres_url()
        if not url:
            pytest.skip("no PostgreSQL: set TEST_DATABASE_URL (make test starts one when it can)")
        db = _reset_postgres(url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'test.db'}")
    db.create_all()
    yield db
    db.dispose()
