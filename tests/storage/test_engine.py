"""storage.db engines: settings that decide how the database plans and runs our queries."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.conftest import postgres_url


@pytest.mark.postgres
def test_postgres_statements_are_planned_for_their_own_values() -> None:
    """Never server-side prepared: a generic plan, shared by a 24-hour and a 90-day period, made
    the KOL board's brand-sentiment query 5x slower after its tenth run (bench_bot_queries)."""

    url = postgres_url()
    if not url:
        pytest.skip("no PostgreSQL: set TEST_DATABASE_URL (make test starts one when it can)")
    engine = make_engine(url, writer=False)
    try:
        with engine.connect() as conn:
            for _ in range(12):  # past psycopg's default threshold of 5
                conn.execute(text("SELECT count(*) FROM pg_class WHERE relpages >= :n"), {"n": 0})
            raw = conn.connection.driver_connection
            assert raw is not None and raw.prepare_threshold is None
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    finally:
        engine.dispose()
    assert prepared == 0
