"""The outbox: who receives an alert (targets), and the sender that delivers stored alerts.

Alerts are written with one pending delivery per target in the same transaction that detected
them. The sender claims due deliveries with a lease, sends through the channel's notifier, and
records the outcome: sent, retry later, or failed for good. Transient trouble (a 429 with its
retry_after, 5xx, timeouts, network errors, a channel whose notifier is not configured yet, a
notifier bug) is retried with exponential backoff capped at `backoff_max_s` (30 min) until
`retry_for_s` (7 days) after the alert was created, so an hours-long outage of Telegram or a robot
delays alerts but does not drop them; only what the notifier calls permanent (bad token, chat
gone, 400/403 with a permanent error code, an alert that cannot be rendered) fails at once. A
delivery that fails for good is logged and reported to the workspace's admins through the other
channels (a `delivery_failed` alert), in the same transaction that records the failure.
A crash between sending and recording leaves the lease to expire; the retry resumes
after the parts already recorded as sent, so a long alert is neither lost nor doubled by a
crash after the fact is recorded. (A crash in the instant between a message reaching Telegram and
its record being written can repeat that one part: the at-least-once edge no outbox avoids.)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.notifiers.base import Notice, Notifier
from kolwatch.settings import Secrets, Settings
from storage import repos
from storage.db import Database
from storage.models import AlertRow

log = logging.getLogger(__name__)

# Severity as in nlp.trends.Level (larger is worse); names follow the 预警 scheme (I is the worst).
LEVEL_NAMES = {4: "红色 I 级", 3: "橙色 II 级", 2: "黄色 III 级", 1: "蓝色 IV 级"}
LEVEL_EMOJI = {4: "🔴", 3: "🟠", 2: "🟡", 1: "🔵"}
_NOTICE_LEVEL = {4: "critical", 3: "critical", 2: "warning", 1: "info"}


def channel_targets(settings: Settings, workspace: str) -> list[tuple[str, str]]:
    """The non-Telegram channels a workspace configured ("console", "wecom:ops" ...)."""

    for ws in settings.workspaces:
        if ws.name == workspace:
            out = []
            for channel in ws.channels:
                kind, _, name = channel.partition(":")
                if kind == "console":
                    out.append(("console", workspace))
                elif kind == "file":
                    out.append(("file", "alerts"))
                elif kind != "telegram":  # Telegram chats are targets of their own (workspace chats)
                    out.append((kind, name.lower()))
            return out
    return []


def alert_targets(
    session: Any,
    settings: Settings,
    secrets: Secrets,
    *,
    workspace_id: int,
    level: int,
    admins_only: bool = False,
) -> list[tuple[str, str]]:
    """Every (channel, target) that should receive an alert of `level` in a workspace.

    Telegram chats are targets only when a bot token is configured; otherwise deliveries would
    wait forever for a bot that does not exist.
    """

    names = {pk: name for name, pk in repos.workspace_ids(session).items()}
    targets: list[tuple[str, str]] = []
    if secrets.bot_token and settings.bot.enabled:
        if admins_only:
            targets += repos.workspace_admin_targets(session, workspace_id=workspace_id)
        else:
            targets += repos.workspace_targets(session, workspace_id=workspace_id, level=level)
    targets += channel_targets(settings, names.get(workspace_id, ""))
    return list(dict.fromkeys(targets))


HEALTH_TEXT = {
    "ok": "恢复正常 (recovered)",
    "network": "网络错误 (network)",
    "rate_limited": "被限流 (rate limited)",
    "login_required": "需要登录/Cookie 失效 (login required)",
    "blocked": "被平台拦截 (blocked: captcha/risk control)",
    "parse_error": "响应格式变化 (parse error)",
    "gone": "来源已不存在 (gone)",
    "error": "程序错误 (internal error)",
}


def source_health_alert(
    session: Any, settings: Settings, secrets: Secrets, *, change: repos.HealthChange, now: datetime
) -> list[int]:
    """One admin alert per health transition of a source (to its workspace, or all for shared sources)."""

    workspaces = (
        [change.workspace_id]
        if change.workspace_id is not None
        else list(repos.workspace_ids(session).values())
    )
    recovered = change.new == "ok"
    level = 1 if recovered else 2  # 蓝 IV for a recovery, 黄 III for a failing source
    what = f"{change.platform} {change.kind} {change.target}"
    title = f"数据源{'恢复' if recovered else '异常'}: {what}"
    body = "\n".join(
        line
        for line in (
            f"状态: {HEALTH_TEXT.get(change.old, change.old)} → {HEALTH_TEXT.get(change.new, change.new)}",
            f"原因: {change.message}" if change.message else "",
            "" if recovered else "采集会按退避计划自动重试；登录/拦截类问题需要更新 Cookie 或降低频率。",
        )
        if line
    )
    ids = []
    for ws_id in workspaces:
        alert_id = repos.enqueue_alert(
            session,
            alert=repos.AlertSpec(
                workspace_id=ws_id,
                kind="source_health",
                level=level,
                key=f"source:{change.source_id}:{change.new}:{now.isoformat()}",
                incident=f"source:{change.source_id}",
                title=title,
                body=body,
                details={"source_id": change.source_id, "old": change.old, "new": change.new},
                created_at=now,
            ),
            targets=alert_targets(
                session, settings, secrets, workspace_id=ws_id, level=level, admins_only=True
            ),
        )
        if alert_id is not None:
            ids.append(alert_id)
    return ids


def alert_notice(alert: AlertRow) -> Notice:
    """The channel-neutral message for a stored alert: level, title, explanation, post links.

    A digest is rendered by bot/digest.py with its charts, HTML report and CSV attached.
    """

    if alert.kind == "digest":
        from bot.digest import notice_from_alert

        return notice_from_alert(alert)

    # Channels print the notice level themselves; the 预警 level name leads the body.
    lines = [f"{LEVEL_EMOJI.get(alert.level, '')} {LEVEL_NAMES.get(alert.level, str(alert.level))}".strip()]
    lines += alert.body.splitlines()
    links = tuple((f"帖子 {i + 1}", url) for i, url in enumerate(alert.post_urls[:10]) if url)
    # Feedback buttons (Telegram) for the posts the body lists as "代表帖子：1. ..." in this order.
    feedback = tuple((f"帖子 {i + 1}", int(pk)) for i, pk in enumerate(alert.post_ids[:10]) if pk)
    return Notice(
        title=alert.title,
        body_lines=tuple(lines),
        level=_NOTICE_LEVEL.get(alert.level, "info"),
        links=links,
        dedup_key=alert.key,
        feedback=feedback,
    )


FAILED_KIND = "delivery_failed"
FailureTargets = Callable[[Any, int], list[tuple[str, str]]]  # (session, workspace id) -> targets


def failure_targets(settings: Settings, secrets: Secrets) -> FailureTargets:
    """Where a delivery that failed for good is reported: the workspace's admin chats and robots."""

    def targets(session: Any, workspace_id: int) -> list[tuple[str, str]]:
        return alert_targets(session, settings, secrets, workspace_id=workspace_id, level=2, admins_only=True)

    return targets


@dataclass
class DrainSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class OutboxSender:
    """Delivers pending deliveries through the notifiers (one sender per process at a time).

    `retry_for_s`: how long after an alert's creation transient failures are retried;
    `backoff_max_s`: the longest wait between two attempts (a retry_after from the platform is
    honoured as given, up to the deadline); `max_attempts`: 0 for no limit besides the deadline.
    `failure_targets` (optional): where to report a delivery that failed for good."""

    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        *,
        owner: str,
        retry_for_s: float = 7 * 86400.0,
        backoff_max_s: float = 1800.0,
        max_attempts: int = 0,
        lease_s: float = 120.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        failure_targets: FailureTargets | None = None,
    ) -> None:
        if retry_for_s <= 0 or backoff_max_s <= 0 or max_attempts < 0:
            raise ValueError("retry_for_s and backoff_max_s must be positive, max_attempts >= 0")
        self.db = db
        self.notifiers = dict(notifiers)
        self.owner = owner
        self.retry_for_s = retry_for_s
        self.backoff_max_s = backoff_max_s
        self.max_attempts = max_attempts
        self.lease_s = lease_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.failure_targets = failure_targets

    def _backoff(self, attempts: int) -> float:
        wait = 5.0 * 2 ** min(attempts, 30) * (0.8 + 0.4 * self.rng.random())
        return min(self.backoff_max_s, wait)

    def _retry_at(
        self, delivery: repos.ClaimedDelivery, now: datetime, wait: float | None
    ) -> datetime | None:
        """When to try again after a transient failure, or None: give up (deadline or attempts)."""

        if self.max_attempts and delivery.attempts + 1 >= self.max_attempts:
            return None
        deadline = repos.as_utc(delivery.alert.created_at) + timedelta(seconds=self.retry_for_s)
        if now >= deadline:
            return None
        at = now + timedelta(seconds=self._backoff(delivery.attempts) if wait is None else wait)
        return min(at, deadline)  # a last attempt at the deadline itself

    async def drain(self, *, limit: int = 50) -> DrainSummary:
        summary = DrainSummary()
        claimed = await self.db.run(self._claim, limit)
        for delivery, notice in claimed:
            await self._deliver(delivery, notice, summary)
        return summary

    def _claim(self, limit: int) -> list[tuple[repos.ClaimedDelivery, Notice | Exception]]:
        """Claim due deliveries and build their notices, both in the worker thread: a digest's
        notice reads its chart and report files, which must not block the bot's event loop."""

        with self.db.write() as session:
            claimed = repos.claim_deliveries(
                session, owner=self.owner, now=self.clock(), lease_s=self.lease_s, limit=limit
            )
        notices: dict[int, Notice | Exception] = {}
        out: list[tuple[repos.ClaimedDelivery, Notice | Exception]] = []
        for delivery in claimed:
            alert_id = delivery.alert.id or 0
            if alert_id not in notices:
                try:
                    notices[alert_id] = alert_notice(delivery.alert)
                except Exception as exc:
                    # A digest file deleted since it was written, or malformed stored details: that
                    # alert's deliveries fail (logged, reported), not the whole claimed batch, which
                    # would stay leased and be claimed, and crash, again on every drain.
                    notices[alert_id] = exc
            out.append((delivery, notices[alert_id]))
        return out

    async def _deliver(
        self, delivery: repos.ClaimedDelivery, notice: Notice | Exception, summary: DrainSummary
    ) -> None:
        notifier = self.notifiers.get(delivery.channel)
        now = self.clock()
        if isinstance(notice, Exception):
            log.error("alert %s cannot be rendered: %s", delivery.alert.id, notice)
            await self._give_up(delivery, f"cannot render: {notice}", parts=0)
            summary.failed += 1
            return
        if notifier is None:
            # A channel configured without its notifier (e.g. Telegram chats before a token is set):
            # keep the delivery pending and look again later instead of dropping it.
            await self._transient(
                delivery, f"no notifier for channel {delivery.channel!r}", None, 0, now, summary
            )
            return
        try:
            result = await notifier.send(notice, delivery.target, resume_from=delivery.parts_sent)
        except Exception as exc:  # a notifier bug must not kill the sender or lose the alert
            log.exception("notifier %s failed on delivery %s", delivery.channel, delivery.id)
            await self._transient(delivery, f"{type(exc).__name__}: {exc}", None, 0, now, summary)
            return
        if result.status == "ok":
            await self._finish(delivery, ok=True, parts=result.parts_sent)
            summary.sent += 1
        elif result.status == "retry":
            await self._transient(
                delivery, result.message, result.retry_after, result.parts_sent, now, summary
            )
        else:
            await self._give_up(delivery, result.message, parts=result.parts_sent)
            summary.failed += 1

    async def _transient(
        self,
        delivery: repos.ClaimedDelivery,
        error: str,
        wait: float | None,
        parts: int,
        now: datetime,
        summary: DrainSummary,
    ) -> None:
        retry_at = self._retry_at(delivery, now, wait)
        if retry_at is None:
            await self._give_up(
                delivery, f"still failing after {delivery.attempts + 1} attempts: {error}", parts=parts
            )
            summary.failed += 1
            return
        await self._finish(delivery, ok=False, error=error, parts=parts, retry_at=retry_at)
        summary.retried += 1

    async def _give_up(self, delivery: repos.ClaimedDelivery, error: str, *, parts: int) -> None:
        log.error(
            "delivery %s of alert %s to %s:%s failed for good: %s",
            delivery.id,
            delivery.alert.id,
            delivery.channel,
            delivery.target,
            error,
        )
        await self._finish(delivery, ok=False, error=error, parts=parts, gave_up=True)

    async def _finish(
        self,
        delivery: repos.ClaimedDelivery,
        *,
        ok: bool,
        parts: int,
        error: str = "",
        retry_at: datetime | None = None,
        gave_up: bool = False,
    ) -> None:
        def write() -> None:
            with self.db.write() as session:
                now = self.clock()
                recorded = repos.finish_delivery(
                    session,
                    delivery_id=delivery.id,
                    owner=self.owner,
                    now=now,
                    ok=ok,
                    parts_sent=parts,
                    error=error,
                    retry_at=retry_at,
                )
                if recorded and gave_up:
                    self._report_failure(session, delivery, error, now)

        await self.db.run(write)

    def _report_failure(
        self, session: Any, delivery: repos.ClaimedDelivery, error: str, now: datetime
    ) -> None:
        """An admin alert about a delivery that failed for good, through the other channels (never
        about a failed failure report: that would loop)."""

        alert = delivery.alert
        if self.failure_targets is None or alert.kind == FAILED_KIND:
            return
        targets = [
            t
            for t in self.failure_targets(session, alert.workspace_id)
            if t != (delivery.channel, delivery.target)
        ]
        where = f"{delivery.channel}:{delivery.target}"
        repos.enqueue_alert(
            session,
            alert=repos.AlertSpec(
                workspace_id=alert.workspace_id,
                kind=FAILED_KIND,
                level=2,
                key=f"{FAILED_KIND}:{delivery.id}",
                incident=f"{FAILED_KIND}:{where}",
                title=f"告警投递失败 delivery failed: {where}",
                body="\n".join(
                    (
                        f"告警「{alert.title}」未能送达 {where}（已放弃重试）。",
                        f"原因 reason: {error[:300]}",
                        f"告警时间 created: {repos.as_utc(alert.created_at).isoformat(timespec='minutes')}",
                        "请检查该渠道的令牌/机器人配置或网络；修复后可在其他渠道查看该告警。",
                    )
                ),
                details={"delivery_id": delivery.id, "alert_id": alert.id, "channel": delivery.channel},
                created_at=now,
            ),
            targets=targets,
        )
