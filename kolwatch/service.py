"""Builds the running service from settings and runs it: once, or forever under the scheduler.

`Service` wires the database, the pipeline, the periodic jobs, the outbox sender with its
notifiers and (when a token is set) the Telegram bot. `run --once` is one collection of every
enabled source, then alerts, outbox and KOL scores, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.notifiers.base import Notifier
from kolwatch import jobs, kol_job, retention_job
from kolwatch.notifiers import build_notifiers
from kolwatch.outbox import DrainSummary, OutboxSender, failure_targets
from kolwatch.pipeline import Analyzer, Pipeline, RunSummary, process_owner
from kolwatch.scheduler import build_scheduler
from kolwatch.settings import Secrets, Settings, known_platforms, parse_duration
from storage.db import Database
from storage.repos import PurgeResult

log = logging.getLogger(__name__)


@dataclass
class OnceSummary:
    runs: list[RunSummary] = field(default_factory=list)
    alerts: int = 0
    outbox: DrainSummary = field(default_factory=DrainSummary)
    kol_scores: int = 0


class Service:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        secrets: Secrets | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        base_urls: Mapping[str, str] | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        analyzer: Analyzer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.db = db
        self.secrets = secrets or Secrets()
        self.owner = process_owner()
        self.clock = clock
        self.pipeline = Pipeline(
            db=db,
            settings=settings,
            secrets=self.secrets,
            analyzer=analyzer,
            transport=transport,
            base_urls=dict(base_urls or {}),
            clock=clock,
            owner=self.owner,
        )
        self.notifiers = dict(notifiers) if notifiers is not None else build_notifiers(settings, self.secrets)
        service = settings.service
        self.sender = OutboxSender(
            db,
            self.notifiers,
            owner=self.owner,
            retry_for_s=parse_duration(service.delivery_retry_for).total_seconds(),
            backoff_max_s=parse_duration(service.delivery_backoff_max).total_seconds(),
            max_attempts=service.max_delivery_attempts,
            clock=clock,
            failure_targets=failure_targets(settings, self.secrets),
        )
        self._stop = asyncio.Event()

    @property
    def bot_enabled(self) -> bool:
        return bool(self.secrets.bot_token) and self.settings.bot.enabled

    async def aclose(self) -> None:
        await self.pipeline.aclose()
        for notifier in self.notifiers.values():
            with contextlib.suppress(Exception):
                await notifier.aclose()

    # ------------------------------------------------------------------ jobs

    async def collect_tick(self) -> list[RunSummary]:
        return await self.pipeline.collect_due()

    async def alerts_tick(self) -> int:
        return await self.db.run(jobs.run_alert_rules, self.db, self.settings, self.secrets, now=self.clock())

    async def outbox_tick(self) -> DrainSummary:
        total = DrainSummary()
        while True:
            batch = await self.sender.drain()
            total.sent += batch.sent
            total.retried += batch.retried
            total.failed += batch.failed
            if batch.sent + batch.retried + batch.failed == 0 or batch.retried:
                return total

    async def kol_tick(self) -> int:
        return await self.db.run(kol_job.run_kol_scoring, self.db, self.settings, now=self.clock())

    async def retention_tick(self) -> PurgeResult | None:
        return await self.db.run(retention_job.run_retention, self.db, self.settings, now=self.clock())

    async def digest_tick(self, workspace: str, period: str) -> list[Path]:
        from kolwatch.digest_job import run_digest

        return await self.db.run(
            run_digest,
            self.db,
            self.settings,
            self.secrets,
            workspace=workspace,
            period=period,
            now=self.clock(),
            out_dir=Path(self.settings.digest.out_dir),
        )

    async def run_once(self) -> OnceSummary:
        """Every enabled source once (whatever its schedule), then alerts, outbox and KOL scores."""

        summary = OnceSummary()
        while True:
            runs = await self.pipeline.collect_due(
                ignore_schedule=True, exclude=[r.source_id for r in summary.runs]
            )
            if not runs:
                break
            summary.runs += runs
        summary.alerts = await self.alerts_tick()
        summary.outbox = await self.outbox_tick()
        summary.kol_scores = await self.kol_tick()
        return summary

    # ------------------------------------------------------------------ forever

    async def _poll_when_leader(self, retry_s: float = 30.0) -> None:
        """Run the Telegram poller in exactly one process: Telegram answers 409 Conflict to a
        second getUpdates consumer of the same token. The others wait and take over if it dies."""

        from bot.app import run_polling
        from storage.locks import SingletonLock

        lock = SingletonLock(self.db, "telegram-poller")
        try:
            while not self._stop.is_set():
                if await asyncio.to_thread(lock.acquire):
                    log.info("this process runs the Telegram bot")
                    await run_polling(
                        self.settings,
                        self.secrets,
                        self.db,
                        self._stop,
                        platforms=known_platforms(self.settings),
                    )
                    return
                log.info("another process runs the Telegram bot; standing by")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=retry_s)
        finally:
            await asyncio.to_thread(lock.release)

    def stop(self) -> None:
        self._stop.set()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        scheduler = build_scheduler(self)
        scheduler.start()
        bot_task: asyncio.Task[None] | None = None
        if self.bot_enabled:
            bot_task = asyncio.create_task(self._poll_when_leader())
        try:
            await self._stop.wait()
        finally:
            # Pause first and let in-flight jobs finish: cancelling a job mid-transaction would only
            # produce CancelledError noise (the transaction is rolled back either way).
            scheduler.pause()
            scheduler.shutdown(wait=False)
            if bot_task is not None:
                bot_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await bot_task
            await self.aclose()
