"""/alerts: this chat's alert preferences (subscribed, muted until, minimum level) and recent
alerts; admins change them with buttons or `/alerts on|off`, `/alerts mute 2h|off`,
`/alerts level 1-4`. Levels are nlp.trends.Level: 1 蓝 IV (all alerts) .. 4 红 I (only the worst).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel import Session

from bot import render
from bot.filters import ADMIN_ONLY_TEXT, KnownChat
from bot.routers.common import command_args, local_time, parse_period, read, require_access, send_html, write
from nlp.trends import Level
from storage import bot_repo, queries
from storage.bot_repo import AlertPrefs, BotRepoError, ChatAccess
from storage.db import Database

RECENT = timedelta(days=1)
MUTE_CHOICES = (("1h", 3600), ("8h", 8 * 3600), ("24h", 86400))
USAGE = "用法 usage: /alerts · /alerts on|off · /alerts mute 2h|off · /alerts level 1-4"


def _overview(
    session: Session, *, workspace_id: int, chat_id: int
) -> tuple[AlertPrefs, tuple[queries.AlertItem, ...]]:
    now = datetime.now(UTC)
    prefs = bot_repo.alert_prefs(session, workspace_id=workspace_id, chat_id=chat_id)
    recent = queries.alerts_between(session, workspace_id=workspace_id, start=now - RECENT, end=now, limit=5)
    return prefs, recent


def render_prefs(prefs: AlertPrefs, recent: tuple[queries.AlertItem, ...], tz: str) -> str:
    now = datetime.now(UTC)
    muted = prefs.muted_until is not None and prefs.muted_until > now
    lines = [
        render.bold("预警设置 alert settings"),
        render.escape(f"订阅 subscribed: {'是 yes' if prefs.subscribed else '否 no'}"),
        render.escape(
            "静音 muted: "
            + (f"至 until {local_time(prefs.muted_until, tz)}" if muted and prefs.muted_until else "否 no")
        ),
        render.escape(f"最低级别 minimum level: {prefs.min_level} ({Level(prefs.min_level).label})"),
    ]
    if recent:
        lines.append("")
        lines.append(render.bold("最近 24 小时 last 24 h"))
        for a in recent:
            lines.append(
                render.escape(f"{Level(a.level).colour_zh} {local_time(a.created_at, tz)} ")
                + render.bold(a.title[:100])
            )
    return "\n".join(lines)


def prefs_keyboard(prefs: AlertPrefs) -> InlineKeyboardMarkup:
    sub = (
        InlineKeyboardButton(text="🔕 退订 unsubscribe", callback_data="al:sub:0")
        if prefs.subscribed
        else InlineKeyboardButton(text="🔔 订阅 subscribe", callback_data="al:sub:1")
    )
    mutes = [
        InlineKeyboardButton(
            text=f"静音 mute {label}", callback_data=render.pack_callback("al", "mute", seconds)
        )
        for label, seconds in MUTE_CHOICES
    ]
    mutes.append(InlineKeyboardButton(text="取消静音 unmute", callback_data="al:mute:0"))
    levels = [
        InlineKeyboardButton(
            text=("✓ " if level.value == prefs.min_level else "") + f"≥{level.colour_zh} {level.roman}",
            callback_data=render.pack_callback("al", "lvl", level.value),
        )
        for level in Level
    ]
    return InlineKeyboardMarkup(inline_keyboard=[[sub], mutes, levels])


def _change(
    session: Session, *, workspace_id: int, chat_id: int, what: str, value: int
) -> tuple[AlertPrefs, tuple[queries.AlertItem, ...]]:
    if what == "sub":
        bot_repo.set_subscribed(session, workspace_id=workspace_id, chat_id=chat_id, subscribed=bool(value))
    elif what == "mute":
        if not 0 <= value <= 90 * 86400:
            raise BotRepoError("静音时长无效 invalid mute duration")
        until = datetime.now(UTC) + timedelta(seconds=value) if value else None
        bot_repo.mute_chat(session, workspace_id=workspace_id, chat_id=chat_id, until=until)
    elif what == "lvl":
        bot_repo.set_min_level(session, workspace_id=workspace_id, chat_id=chat_id, level=value)
    else:
        raise BotRepoError(USAGE)
    return _overview(session, workspace_id=workspace_id, chat_id=chat_id)


def parse_args(args: str) -> tuple[str, int] | None:
    """`on|off|mute <period>|mute off|level n` -> (what, value); None for no arguments."""

    words = args.lower().split()
    if not words:
        return None
    if words == ["on"]:
        return "sub", 1
    if words == ["off"]:
        return "sub", 0
    if len(words) == 2 and words[0] == "mute":
        if words[1] in ("off", "0"):
            return "mute", 0
        period = parse_period(words[1])
        if period is None:
            raise BotRepoError(f"无法识别的时长 not a period: {words[1][:12]!r}. {USAGE}")
        return "mute", int(period.total_seconds())
    if len(words) == 2 and words[0] == "level" and words[1].isdigit():
        return "lvl", int(words[1])
    raise BotRepoError(USAGE)


def make_router() -> Router:
    router = Router(name="alerts")
    router.message.filter(KnownChat())
    router.callback_query.filter(KnownChat())

    @router.message(Command("alerts"))
    async def cmd_alerts(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        change = parse_args(command_args(message))
        if change is None:
            prefs, recent = await read(db, _overview, workspace_id=acc.workspace_id, chat_id=acc.chat_id)
        elif not acc.is_admin:
            await message.answer(render.escape(ADMIN_ONLY_TEXT))
            return
        else:
            prefs, recent = await write(
                db,
                _change,
                workspace_id=acc.workspace_id,
                chat_id=acc.chat_id,
                what=change[0],
                value=change[1],
            )
        await send_html(message, render_prefs(prefs, recent, acc.timezone), prefs_keyboard(prefs))

    @router.callback_query(F.data.startswith("al:"))
    async def on_button(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        if not acc.is_admin:
            await query.answer(ADMIN_ONLY_TEXT, show_alert=True)
            return
        try:
            what, value = render.unpack_callback(query.data or "", "al", 2)
            number = int(value)
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        prefs, recent = await write(
            db, _change, workspace_id=acc.workspace_id, chat_id=acc.chat_id, what=what, value=number
        )
        if isinstance(query.message, Message):
            await query.message.edit_text(
                render_prefs(prefs, recent, acc.timezone), reply_markup=prefs_keyboard(prefs)
            )
        await query.answer("已更新 updated")

    return router
