"""/trending [watch] [period]: terms growing against the previous period of equal length."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlmodel import Session

from bot import brand_terms, render
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.routers.common import (
    command_args,
    period_label,
    pick_watch,
    read,
    require_access,
    send_html,
    watch_and_period,
    window,
)
from storage import queries
from storage.bot_repo import ChatAccess
from storage.db import Database

DEFAULT_PERIOD = timedelta(hours=24)
TOP = 15


def _load(
    session: Session, *, workspace_id: int, name: str | None, period: timedelta
) -> tuple[queries.WatchRef, tuple[queries.TermTrend, ...]]:
    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    start, end = window(period)
    # The watch's own words and their pieces are in every mention: the subject, not a trend.
    return watch, brand_terms.trending_terms(session, watch=watch, start=start, end=end, limit=TOP)


def render_trending(watch: queries.WatchRef, terms: tuple[queries.TermTrend, ...], period: str) -> str:
    head = render.bold(f"{watch.name} · 上升话题 trending · {period}")
    if not terms:
        return f"{head}\n{render.escape('暂无上升话题。Nothing trending in this period.')}"
    lines = [head]
    for i, t in enumerate(terms, 1):
        change = "🆕 新 new" if t.is_new else f"↑ {t.previous}→{t.count} ×{t.lift:.1f}"
        lines.append(f"{i}. {render.bold(t.term)} {render.escape(f'{t.count} · {change}')}")
    return "\n".join(lines)


def make_router() -> Router:
    router = Router(name="trending")
    router.message.filter(KnownChat())

    @router.message(Command("trending"), flags={EXPENSIVE: True})
    async def cmd_trending(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        name, period = watch_and_period(command_args(message), DEFAULT_PERIOD)
        watch, terms = await read(db, _load, workspace_id=acc.workspace_id, name=name, period=period)
        await send_html(message, render_trending(watch, terms, period_label(period)))

    return router
