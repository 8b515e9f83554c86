"""/sources: the health table of the workspace's sources (storage.repos.source_health)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot import render
from bot.filters import KnownChat
from bot.routers.common import local_time, read, require_access, send_html
from storage import repos
from storage.bot_repo import ChatAccess
from storage.db import Database

HEALTH_ICON = {"ok": "🟢", "new": "⚪", "rate_limited": "🟡", "network": "🟡"}  # anything else is red


def render_sources(rows: list[repos.SourceHealthRow], tz: str) -> str:
    head = render.bold("数据源 sources")
    if not rows:
        return f"{head}\n{render.escape('此工作区没有数据源。No sources in this workspace.')}"
    lines = [head]
    for r in rows:
        icon = HEALTH_ICON.get(r.health, "🔴") if r.enabled else "⏸"
        target = r.target if len(r.target) <= 40 else r.target[:39] + "…"
        ok = local_time(r.last_ok_at, tz) if r.last_ok_at else "—"
        line = (
            f"{icon} {render.code(f'{r.platform}/{r.kind}')} {render.escape(target)}\n"
            f"    {render.escape(f'{r.health} · 最近成功 last ok {ok} · 帖子 posts {r.posts_total}')}"
        )
        if r.consecutive_failures:
            line += render.escape(f" · 连续失败 failures {r.consecutive_failures}")
        if r.message and r.health != "ok":
            line += "\n    " + render.italic(r.message[:200])
        lines.append(line)
    return "\n".join(lines)


def make_router() -> Router:
    router = Router(name="sources")
    router.message.filter(KnownChat())

    @router.message(Command("sources"))
    async def cmd_sources(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        rows = await read(db, repos.source_health, workspace_id=acc.workspace_id)
        await send_html(message, render_sources(rows, acc.timezone))

    return router
