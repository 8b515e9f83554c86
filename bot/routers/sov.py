"""/sov [watch] [period]: share of voice of the brand against each configured competitor."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlmodel import Session

from bot import render
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.routers.common import (
    bar,
    command_args,
    pct,
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

DEFAULT_PERIOD = timedelta(days=7)


def _load(
    session: Session, *, workspace_id: int, name: str | None, period: timedelta
) -> tuple[queries.WatchRef, queries.ShareOfVoice]:
    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    start, end = window(period)
    return watch, queries.share_of_voice(session, watch_id=watch.id, start=start, end=end)


def render_sov(watch: queries.WatchRef, sov: queries.ShareOfVoice, period: str) -> str:
    head = render.bold(f"{watch.name} · 声量份额 share of voice · {period}")
    if not watch.competitors:
        head += "\n" + render.escape("（此监测未配置竞品 no competitors configured for this watch）")
    if sov.total == 0:
        return f"{head}\n{render.escape('这段时间没有提及。No mentions in this period.')}"
    rows = []
    for e in sov.entries:
        name = e.name if len(e.name) <= 12 else e.name[:11] + "…"
        mark = "*" if e.is_brand else " "
        rows.append(
            f"{mark}{name:<12} {bar(e.share)} {pct(e.share):>4} {e.mentions:>6} neg {pct(e.negative_share)}"
        )
    return (
        f"{head}\n{render.pre(chr(10).join(rows))}{render.escape(f'共 total {sov.total} · * = 本品牌 brand')}"
    )


def make_router() -> Router:
    router = Router(name="sov")
    router.message.filter(KnownChat())

    @router.message(Command("sov"), flags={EXPENSIVE: True})
    async def cmd_sov(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        name, period = watch_and_period(command_args(message), DEFAULT_PERIOD)
        watch, sov = await read(db, _load, workspace_id=acc.workspace_id, name=name, period=period)
        await send_html(message, render_sov(watch, sov, period_label(period)))

    return router
