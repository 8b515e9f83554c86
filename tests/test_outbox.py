"""The outbox sender's own boundaries: missing notifier, a digest whose files vanished, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from bot.notifiers.base import DeliveryResult, Notice, RateRule
from kolwatch.outbox import OutboxSender
from storage import repos
from storage.db import Database

NOW = datetime(2031, 1, 1, tzinfo=UTC)


class Recorder:
    name: ClassVar[str] = "console"
    rate_limits: ClassVar[tuple[RateRule, ...]] = ()

    def __init__(self, result: DeliveryResult | None = None) -> None:
        self.sent: list[Notice] = []
        self.result = result

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        self.sent.append(notice)
        return self.result or DeliveryResult.delivered(1)

    async def aclose(self) -> None:
        return None


def workspace(db: Database) -> int:
    with db.write() as s:
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme")], sources=[])
        return repos.workspace_ids(s)["acme"]


def enqueue(db: Database, ws: int, **kw: object) -> None:
    spec = repos.AlertSpec(workspace_id=ws, level=2, created_at=NOW, **kw)  # type: ignore[arg-type]
    with db.write() as s:
        repos.enqueue_alert(s, alert=spec, targets=[("console", "acme")])


async def test_digest_with_vanished_file_fails_that_delivery_only(
    sqlite_db: Database, tmp_path: Path
) -> None:
    ws = workspace(sqlite_db)
    missing = tmp_path / "gone.png"
    enqueue(
        sqlite_db, ws, kind="digest", key="digest:week:x", title="周报", details={"files": [str(missing)]}
    )
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:1", title="声量激增", body="观测 30 条")
    notifier = Recorder()
    sender = OutboxSender(
        sqlite_db, {"console": notifier}, owner="t", clock=lambda: NOW + timedelta(seconds=1)
    )
    summary = await sender.drain()
    assert (summary.sent, summary.failed) == (1, 1)
    assert [n.title for n in notifier.sent] == ["声量激增"]
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"sent": 1, "failed": 1}


async def test_retry_after_reschedules_and_missing_notifier_waits(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:2", title="声量激增")
    throttled = Recorder(DeliveryResult.retry(0, 1, 30.0, "429"))
    sender = OutboxSender(
        sqlite_db, {"console": throttled}, owner="t", clock=lambda: NOW + timedelta(seconds=1)
    )
    assert (await sender.drain()).retried == 1
    assert (await sender.drain()).retried == 0  # not due again before retry_after
    later = OutboxSender(sqlite_db, {}, owner="u", clock=lambda: NOW + timedelta(seconds=40))
    assert (await later.drain()).retried == 1  # no notifier for the channel: kept pending, not dropped
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"pending": 1}
