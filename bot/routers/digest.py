"""/digest [day|week]: the digest of the last 24 hours or 7 days, built on demand with
bot/digest.py (data -> charts -> text + HTML + CSV) and sent here: text, the charts as photos,
the HTML report and the CSV as documents. Nothing is stored: the scheduled digest job owns the
stored, delivered-once digests.

Building renders matplotlib charts, so it runs in a worker thread together with its queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlmodel import Session

from bot import digest
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.notifiers.base import Notice
from bot.notifiers.telegram import render_parts, send_part
from bot.routers.common import command_args, read, require_access
from storage.bot_repo import BotRepoError, ChatAccess
from storage.db import Database

PERIODS = {"day": "day", "日报": "day", "24h": "day", "week": "week", "周报": "week", "7d": "week"}


def _build(session: Session, *, workspace_id: int, period: str, tz: str, watch: str | None) -> Notice:
    now = datetime.now(UTC)
    window = digest.digest_window(period, now=now, tz=tz)
    try:
        data = digest.collect_digest(
            session, workspace_id=workspace_id, window=window, watch=watch, generated_at=now
        )
    except LookupError as exc:
        raise BotRepoError(f"没有这个监测 {exc}") from None
    return digest.rendered_notice(digest.render_digest(session, data))


async def send_notice(bot: Bot, chat_id: int, notice: Notice) -> None:
    """Every part of the notice in order, as the Telegram notifier sends them (render_parts
    decides the split; the posts' feedback buttons go under the last text message)."""

    for part in render_parts(notice):
        await send_part(bot, chat_id, part)


def make_router() -> Router:
    router = Router(name="digest")
    router.message.filter(KnownChat())

    @router.message(Command("digest"), flags={EXPENSIVE: True})
    async def cmd_digest(message: Message, access: ChatAccess | None, db: Database, bot: Bot) -> None:
        acc = require_access(access)
        words = command_args(message).split()
        period = PERIODS.get(words[0].lower() if words else "day")
        if period is None or len(words) > 2:
            raise BotRepoError("用法 usage: /digest [day|week] [监测 watch]")
        watch = words[1] if len(words) > 1 else None
        await bot.send_chat_action(acc.chat_id, "upload_document")
        notice = await read(
            db, _build, workspace_id=acc.workspace_id, period=period, tz=acc.timezone, watch=watch
        )
        await send_notice(bot, message.chat.id, notice)

    return router
