"""The outbox sender's own boundaries: missing notifier, a digest whose files vanished, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from bot.notifiers.base import DeliveryResult, Notice, RateRule
from kolwatch.outbox import OutboxSender
from storage import alert_queries, repos
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


async def test_an_alert_with_malformed_details_fails_alone(sqlite_db: Database) -> None:
    # Stored details are data (hand-edited, or written by another version): a digest whose
    # feedback list holds a null post id must fail its own delivery, not every drain.
    ws = workspace(sqlite_db)
    broken = {"feedback": [["[1]", None]]}
    enqueue(sqlite_db, ws, kind="digest", key="digest:day:x", title="日报", details=broken)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:ok", title="声量激增")
    notifier = Recorder()
    sender = OutboxSender(
        sqlite_db, {"console": notifier}, owner="t", clock=lambda: NOW + timedelta(seconds=1)
    )
    summary = await sender.drain()
    assert (summary.sent, summary.failed) == (1, 1)
    assert [n.title for n in notifier.sent] == ["声量激增"]


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


# --- transient failures: retried until a deadline, never dropped after an outage -------------


class Outage(Recorder):
    """A channel that answers 5xx (a transient failure) until `until`, then delivers."""

    def __init__(self, clock: list[datetime], until: datetime, result: DeliveryResult | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.until = until
        self.failure = result or DeliveryResult.retry(0, 1, None, "HTTP 502")
        self.attempts: list[datetime] = []

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        self.attempts.append(self.clock[0])
        if self.clock[0] < self.until:
            return self.failure
        return await super().send(notice, target, resume_from=resume_from)


def _next_attempt(db: Database) -> datetime | None:
    from sqlmodel import select

    from storage.models import DeliveryRow

    with db.read() as s:
        due = [repos.as_utc(d.next_attempt_at) for d in s.exec(select(DeliveryRow)) if d.status == "pending"]
    return min(due) if due else None


async def _run_until_settled(sender: OutboxSender, db: Database, clock: list[datetime], limit: int) -> int:
    """Drain, then jump the simulated clock to the next due attempt; no sleeping."""

    for rounds in range(limit):
        await sender.drain()
        due = _next_attempt(db)
        if due is None:
            return rounds
        clock[0] = max(clock[0], due)
    raise AssertionError("deliveries still pending")


async def test_a_six_hour_outage_delays_the_alert_but_never_drops_it(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:outage", title="声量激增")
    clock = [NOW]
    channel = Outage(clock, until=NOW + timedelta(hours=6))
    sender = OutboxSender(sqlite_db, {"console": channel}, owner="t", clock=lambda: clock[0])
    await _run_until_settled(sender, sqlite_db, clock, limit=200)
    assert [n.title for n in channel.sent] == ["声量激增"]
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"sent": 1}
    # Exponential backoff from 5 s, capped at 30 minutes: more than the old 8 attempts, and the
    # alert arrives within one capped wait of the outage's end.
    gaps = [(b - a).total_seconds() for a, b in zip(channel.attempts, channel.attempts[1:], strict=False)]
    assert len(channel.attempts) > 8 and max(gaps) <= 1800 and gaps[0] < 10
    assert channel.attempts[-1] - (NOW + timedelta(hours=6)) <= timedelta(minutes=30)


async def test_rate_limit_retry_after_is_honoured_beyond_the_backoff_cap(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:429", title="声量激增")
    clock = [NOW]
    flood = DeliveryResult.retry(0, 1, 7200.0, "Telegram 429 Too Many Requests")
    channel = Outage(clock, until=NOW + timedelta(hours=3), result=flood)
    sender = OutboxSender(sqlite_db, {"console": channel}, owner="t", clock=lambda: clock[0])
    await _run_until_settled(sender, sqlite_db, clock, limit=10)
    assert channel.attempts == [NOW, NOW + timedelta(hours=2), NOW + timedelta(hours=4)]
    assert len(channel.sent) == 1


async def test_transient_failures_give_up_at_the_deadline_and_tell_the_admins(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:dead", title="声量激增")
    clock = [NOW]
    dead = Outage(clock, until=NOW + timedelta(days=365))
    admin = Recorder()
    reported: list[tuple[str, str]] = [("console", "acme"), ("file", "alerts")]
    sender = OutboxSender(
        sqlite_db,
        {"console": dead, "file": admin},
        owner="t",
        retry_for_s=2 * 86400,
        clock=lambda: clock[0],
        failure_targets=lambda _session, _ws: reported,
    )
    await _run_until_settled(sender, sqlite_db, clock, limit=300)
    # Tried until the deadline (two days after the alert), then failed for good ...
    assert dead.attempts[-1] == NOW + timedelta(days=2) and not dead.sent
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"failed": 1, "sent": 1}
    # ... and the admins heard of it on the other channel (not on the one that is down).
    assert len(admin.sent) == 1 and "spike" not in admin.sent[0].title
    assert "console:acme" in admin.sent[0].title and "声量激增" in "".join(admin.sent[0].body_lines)


async def test_permanent_errors_fail_at_once_and_a_failed_report_does_not_loop(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:403", title="声量激增")
    forbidden = Recorder(DeliveryResult.failed(0, 1, "TelegramForbiddenError: bot was kicked"))
    clock = [NOW + timedelta(seconds=1)]
    sender = OutboxSender(
        sqlite_db,
        {"console": forbidden},
        owner="t",
        clock=lambda: clock[0],
        failure_targets=lambda _session, _ws: [("console", "acme")],  # only the broken channel
    )
    summary = await sender.drain()
    assert (summary.sent, summary.retried, summary.failed) == (0, 0, 1)
    # The report has nowhere else to go: stored (visible in the alert list), not sent, no loop.
    assert await _run_until_settled(sender, sqlite_db, clock, limit=5) == 0
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"failed": 1}
        titles = [a.title for a, _ in alert_queries.alerts_after(s, after_id=0)]
    assert len(titles) == 2 and "delivery failed: console:acme" in titles[1]


async def test_a_report_that_fails_for_good_is_not_reported_again(sqlite_db: Database) -> None:
    # Both channels are broken for good: the alert fails on one, its report fails on the other,
    # and that failure must not start a report about the report (which would ping-pong forever).
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:both", title="声量激增")
    console = Recorder(DeliveryResult.failed(0, 1, "TelegramForbiddenError: bot was kicked"))
    file = Recorder(DeliveryResult.failed(0, 1, "file write failed: read-only file system"))
    clock = [NOW + timedelta(seconds=1)]
    sender = OutboxSender(
        sqlite_db,
        {"console": console, "file": file},
        owner="t",
        clock=lambda: clock[0],
        failure_targets=lambda _session, _ws: [("console", "acme"), ("file", "alerts")],
    )
    await _run_until_settled(sender, sqlite_db, clock, limit=10)
    assert (len(console.sent), len(file.sent)) == (1, 1)
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"failed": 2}
        assert len(alert_queries.alerts_after(s, after_id=0)) == 2


async def test_max_attempts_gives_up_before_the_deadline(sqlite_db: Database) -> None:
    ws = workspace(sqlite_db)
    enqueue(sqlite_db, ws, kind="volume_spike", key="spike:3x", title="声量激增")
    clock = [NOW]
    channel = Outage(clock, until=NOW + timedelta(days=365))
    sender = OutboxSender(
        sqlite_db, {"console": channel}, owner="t", max_attempts=3, clock=lambda: clock[0]
    )
    await _run_until_settled(sender, sqlite_db, clock, limit=10)
    assert len(channel.attempts) == 3 and channel.attempts[-1] < NOW + timedelta(minutes=5)
    with sqlite_db.read() as s:
        assert repos.delivery_counts(s) == {"failed": 1}
