"""Killing `kolwatch run` mid-collection (SIGKILL, a real subprocess) loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kolwatch.fake_platform import FakePlatform, load_scenario
from tests.conftest import ROOT

KEYWORD = "鹿角咖啡"


def write_settings(path: Path, base_url: str, db_file: Path) -> None:
    path.write_text(
        f"""
[database]
url = "sqlite:///{db_file}"

[service]
tick_s = 0.2
lease_s = 2
alerts_every_s = 3600
kol_every_s = 3600
outbox_every_s = 3600
alerts_dir = "{path.parent / "alerts"}"

[collectors.weibo]
base_url = "{base_url}"
rate_per_s = 1000
burst = 100
max_pages_per_run = 1000
retries = 0

[[workspaces]]
name = "acme"
channels = ["file"]

[[workspaces.watches]]
name = "鹿角"
query = "鹿角咖啡 OR 鹿角"
competitors = ["星巢咖啡"]

[[sources]]
workspace = "acme"
platform = "weibo"
kind = "search"
target = "{KEYWORD}"
every = "1h"
""",
        encoding="utf-8",
    )


def count(db_file: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db_file, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


def kolwatch(settings: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kolwatch", "--settings", str(settings), *args]


@pytest.mark.slow
def test_sigkill_mid_collection_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    scenario = load_scenario()
    server = FakePlatform(scenario, page_size=10)
    base_url = server.start_in_thread()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOLWATCH")}
    try:
        # Every search page takes a while, so the kill lands in the middle of the crawl.
        server.inject("slow", path="/api/container/getIndex", times=10_000, delay=0.15)
        db_file = tmp_path / "kw.db"
        settings = tmp_path / "settings.toml"
        write_settings(settings, base_url, db_file)
        expected = {p["id"] for p in scenario["posts"] if p["platform"] == "weibo" and KEYWORD in p["text"]}
        assert len(expected) > 60, "the scenario should need several pages"

        log = tmp_path / "run.log"
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                kolwatch(settings, "run"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file
            )
            deadline = time.monotonic() + 60
            while count(db_file, "SELECT count(*) FROM post") < 25:
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "collection did not start:\n" + log.read_text(
                    errors="replace"
                )
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        stored_at_kill = count(db_file, "SELECT count(*) FROM post")
        assert stored_at_kill < len(expected), "killed too late: the crawl had finished"

        server.clear_faults()
        time.sleep(2.5)  # the dead worker's lease expires; nobody else may take it before
        done = subprocess.run(
            kolwatch(settings, "run", "--once"), cwd=ROOT, env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()

        with sqlite3.connect(db_file) as conn:
            stored = {r[0] for r in conn.execute("SELECT post_id FROM post WHERE platform = 'weibo'")}
            assert expected <= stored  # nothing lost
            rows = conn.execute(
                "SELECT count(*), count(DISTINCT post_pk || ':' || competitor) FROM mention"
            ).fetchone()
            assert rows[0] == rows[1]  # nothing doubled
            matched = {
                r[0]
                for r in conn.execute(
                    "SELECT p.post_id FROM mention m JOIN post p ON p.id = m.post_pk"
                    " WHERE m.is_competitor = 0"
                )
            }
            assert expected <= matched
            hourly = conn.execute(
                "SELECT coalesce(sum(raw_volume), 0) FROM counter WHERE bucket_s = 3600"
            ).fetchone()
            brand_mentions = conn.execute("SELECT count(*) FROM mention WHERE is_competitor = 0").fetchone()
            assert hourly[0] == brand_mentions[0]  # counters agree with mentions exactly

        again = subprocess.run(
            kolwatch(settings, "run", "--once"), cwd=ROOT, env=env, capture_output=True, timeout=120
        )
        assert again.returncode == 0, again.stderr.decode()
        assert count(db_file, "SELECT count(*) FROM post") == len(stored)
        assert "new posts: 0" in again.stdout.decode()
    finally:
        server.stop_thread()
