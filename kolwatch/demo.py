"""The embedded demo: the whole pipeline offline on the bundled sample, against a local fake platform.

`kolwatch demo` starts the fake Weibo/Bilibili server on 127.0.0.1 with the bundled scenario
(fictional brands, a week of ordinary talk and a food-safety incident in the last hours), runs the
real collectors, NLP, matching, detectors, alert rules, outbox (console and file), KOL scoring and
the weekly digest on a temporary SQLite database, then prints the alerts and a digest summary and
writes the digest files. Nothing leaves the machine; no token or setup is needed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.notifiers.console import ConsoleNotifier, FileNotifier
from kolwatch.fake_platform import FakePlatform, load_scenario
from kolwatch.settings import Secrets, Settings, validate_plugins
from storage.db import Database

DEMO_WORKSPACES: list[dict[str, Any]] = [
    {
        "name": "鹿角品牌组",
        "timezone": "Asia/Shanghai",
        "channels": ["console", "file"],
        "watches": [
            {
                "name": "鹿角咖啡",
                "query": '鹿角咖啡 OR 鹿角 OR LuJiao OR "鹿角拿铁"',
                "competitors": ["星巢咖啡", "酷豆咖啡"],
            }
        ],
    },
    {
        "name": "青禾市场部",
        "timezone": "Asia/Shanghai",
        "channels": ["console", "file"],
        "watches": [{"name": "青禾手机", "query": "青禾手机 OR 青禾X5 OR 青禾", "competitors": ["远山手机"]}],
    },
]

SEARCHES = {"鹿角品牌组": ["鹿角咖啡", "星巢咖啡", "酷豆咖啡"], "青禾市场部": ["青禾手机", "远山手机"]}


def demo_settings(base_url: str, database_url: str, out_dir: Path, scenario: dict[str, Any]) -> Settings:
    """Settings for the demo: collectors pointed at the local fake server, fast and unthrottled."""

    fast = {
        "base_url": base_url,
        "rate_per_s": 500.0,
        "burst": 50,
        "max_pages_per_run": 400,
        "retries": 1,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.5,
        "timeout_s": 10.0,
    }
    sources: list[dict[str, Any]] = []
    for workspace, keywords in SEARCHES.items():
        for keyword in keywords:
            sources.append({"workspace": workspace, "platform": "weibo", "kind": "search", "target": keyword})
            sources.append(
                {"workspace": workspace, "platform": "bilibili", "kind": "search", "target": keyword}
            )
    # The biggest accounts are also followed directly (user timelines), as a brand team would.
    big = sorted(
        (a for a in scenario["accounts"] if a["platform"] == "weibo"), key=lambda a: -a["followers"]
    )[:3]
    for account in big:
        sources.append(
            {"workspace": "鹿角品牌组", "platform": "weibo", "kind": "user", "target": str(account["id"])}
        )
    sources.append({"platform": "hotlist", "kind": "hot", "target": "weibo"})
    data = {
        "database": {"url": database_url},
        "service": {"sources_per_tick": 8},
        "digest": {"out_dir": str(out_dir)},
        "collectors": {
            "weibo": fast,
            "bilibili": fast,
            "hotlist": {
                **fast,
                "weibo_url": "/ajax/side/hotSearch",
                "weibo_html_url": "/top/summary?cate=realtimehot",
                "bilibili_url": "/x/web-interface/popular?ps=50&pn=1",
            },
        },
        "workspaces": DEMO_WORKSPACES,
        "sources": sources,
        "path": "<demo>",
    }
    settings = Settings.model_validate(data)
    validate_plugins(settings)
    return settings


@dataclass
class DemoResult:
    posts: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    digest_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


async def run_demo(out_dir: Path, *, stream: TextIO = sys.stdout, db_url: str | None = None) -> DemoResult:
    from kolwatch.context import sync_settings
    from kolwatch.digest_job import run_digest, summarize_digest
    from kolwatch.outbox import LEVEL_NAMES
    from kolwatch.service import Service
    from storage import migrate, queries, repos

    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = load_scenario()
    server = FakePlatform(scenario)
    base_url = await server.start()
    tmp = tempfile.TemporaryDirectory(prefix="kolwatch-demo-")
    try:
        url = db_url or f"sqlite:///{Path(tmp.name) / 'demo.db'}"
        settings = demo_settings(base_url, url, out_dir, scenario)
        migrate.upgrade(url)
        db = Database(url)
        sync_settings(db, settings)
        secrets = Secrets({})  # the demo never uses a real token or webhook
        notifiers = {"console": ConsoleNotifier(stream), "file": FileNotifier(out_dir / "alerts")}
        service = Service(settings, db, secrets=secrets, notifiers=notifiers)
        print(f"kolwatch demo: fake platform at {base_url}, database {url}", file=stream)
        print("collecting, analysing, matching, detecting, alerting ...\n", file=stream)
        try:
            once = await service.run_once()
        finally:
            await service.aclose()
        failing = [r for r in once.runs if r.health != "ok"]
        for r in failing:
            print(f"source problem: {r.platform} {r.kind} {r.target}: {r.health} {r.message}", file=stream)
        result = DemoResult()
        now = datetime.now(UTC)
        with db.read() as session:
            result.posts = repos.post_count(session)
            watch_names = {w.id: w.name for w in repos.active_watches(session)}
            for ws_name, ws_id in repos.workspace_ids(session).items():
                items = queries.alerts_between(
                    session,
                    workspace_id=ws_id,
                    start=now - timedelta(days=30),
                    end=now + timedelta(minutes=1),
                )
                for item in reversed(items):
                    result.alerts.append(
                        {
                            "workspace": ws_name,
                            "watch": watch_names.get(item.watch_id or -1, ""),
                            "level_name": LEVEL_NAMES.get(item.level, str(item.level)),
                            "title": item.title,
                        }
                    )
        for ws in settings.workspaces:
            # The demo prints the digest instead of sending it; `kolwatch run` sends it on cron.
            result.digest_files += await asyncio.to_thread(
                run_digest,
                db,
                settings,
                secrets,
                workspace=ws.name,
                period="week",
                now=now,
                out_dir=out_dir,
                send=False,
            )
        print("\n" + "=" * 72, file=stream)
        print(
            f"collected {result.posts} posts from {len(once.runs)} sources "
            f"({len(once.runs) - len(failing)} healthy); {len(result.alerts)} alerts; "
            f"{once.kol_scores} KOL scores",
            file=stream,
        )
        for alert in result.alerts:
            print(
                f"  [{alert['level_name']}] {alert['workspace']} / {alert['watch'] or '-'}: {alert['title']}",
                file=stream,
            )
        print("", file=stream)
        for ws in settings.workspaces:
            print(summarize_digest(db, settings, workspace=ws.name, period="week", now=now), file=stream)
        print("\nfiles:", file=stream)
        for path in result.digest_files:
            print(f"  {path}", file=stream)
        db.dispose()
        result.seconds = time.monotonic() - started
        print(f"\ndemo finished in {result.seconds:.1f} s", file=stream)
        return result
    finally:
        await server.stop()
        tmp.cleanup()
