"""/mentions [watch] [period]: the newest mentions, five per page, with page buttons and the
feedback buttons of every post shown.

A page button carries `mp:<watch id>:<start>:<end>:<offset>` (times as base-36 Unix seconds): the
window is fixed when the first page is shown, so paging is stable while new posts arrive, and it
stays far below Telegram's 64-byte callback_data limit. The watch id is checked against the
caller's workspace on every press, because callback data comes back from the client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel import Session

from bot import render
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.routers.common import (
    command_args,
    feedback_rows,
    local_time,
    period_label,
    pick_watch,
    read,
    render_post,
    require_access,
    send_html,
    watch_and_period,
    watch_by_id,
)
from storage import queries
from storage.bot_repo import BotRepoError, ChatAccess
from storage.db import Database

PAGE_SIZE = 5
DEFAULT_PERIOD = timedelta(hours=24)
MAX_OFFSET = 10_000  # deeper than anyone pages by hand; bounds the OFFSET a forged button can ask for
# The page header's total is counted up to here ("10,000+ 条"): counting every mention of a busy
# 90-day window costs time in proportion to its size, and no one pages past MAX_OFFSET anyway.
TOTAL_CAP = MAX_OFFSET


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if number == 0:
            return out


def pack_page(watch_id: int, start: datetime, end: datetime, offset: int) -> str:
    return render.pack_callback(
        "mp", watch_id, _b36(int(start.timestamp())), _b36(int(end.timestamp())), offset
    )


def unpack_page(data: str) -> tuple[int, datetime, datetime, int]:
    """ValueError for anything `pack_page` did not make."""

    watch, start, end, offset = render.unpack_callback(data, "mp", 4)
    watch_id, offset_n = int(watch), int(offset)
    start_s, end_s = int(start, 36), int(end, 36)
    if watch_id < 1 or not 0 <= offset_n <= MAX_OFFSET or not 0 < start_s < end_s < 253402300799:
        raise ValueError("page data out of range")
    return watch_id, datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC), offset_n


def render_page(watch: queries.WatchRef, page: queries.MentionPage, period: str, tz: str) -> str:
    total = page.total or 0
    current = page.offset // PAGE_SIZE + 1
    head = render.bold(f"{watch.name} · 提及 mentions · {period}")
    if not page.items:
        return f"{head}\n{render.escape('这段时间没有提及。No mentions in this period.')}"
    if total >= TOTAL_CAP:
        where = f"{TOTAL_CAP:,}+ 条 · 第 {current} 页 page"
    else:
        where = f"{total} 条 · 第 {current}/{max(1, -(-total // PAGE_SIZE))} 页 page"
    lines = [f"{head} · {render.escape(where)}"]
    for index, item in enumerate(page.items):
        lines.append("")
        lines.append(render_post(item, page.offset + index + 1, tz))
    return "\n".join(lines)


def page_keyboard(
    watch: queries.WatchRef, page: queries.MentionPage, start: datetime, end: datetime
) -> InlineKeyboardMarkup | None:
    rows = feedback_rows(page.items, page.offset + 1)
    nav = []
    if page.offset > 0:
        nav.append(
            InlineKeyboardButton(
                text="◀ 上一页 prev",
                callback_data=pack_page(watch.id, start, end, max(0, page.offset - PAGE_SIZE)),
            )
        )
    if page.next_cursor is not None and page.offset + PAGE_SIZE <= MAX_OFFSET:
        nav.append(
            InlineKeyboardButton(
                text="下一页 next ▶", callback_data=pack_page(watch.id, start, end, page.offset + PAGE_SIZE)
            )
        )
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _load(
    session: Session,
    *,
    workspace_id: int,
    name: str | None,
    watch_id: int | None,
    start: datetime,
    end: datetime,
    offset: int,
) -> tuple[queries.WatchRef, queries.MentionPage]:
    if watch_id is not None:
        watch = watch_by_id(session, workspace_id=workspace_id, watch_id=watch_id)
    else:
        watch = pick_watch(session, workspace_id=workspace_id, name=name)
    page = queries.mentions(
        session,
        watch_id=watch.id,
        start=start,
        end=end,
        limit=PAGE_SIZE,
        offset=offset,
        with_total=True,
        total_cap=TOTAL_CAP,
    )
    return watch, page


def _period_text(start: datetime, end: datetime, tz: str) -> str:
    return period_label(end - start) if end - start >= timedelta(hours=1) else local_time(start, tz)


def make_router() -> Router:
    router = Router(name="mentions")
    router.message.filter(KnownChat())
    router.callback_query.filter(KnownChat())

    @router.message(Command("mentions"), flags={EXPENSIVE: True})
    async def cmd_mentions(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        name, period = watch_and_period(command_args(message), DEFAULT_PERIOD)
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        start = end - period
        watch, page = await read(
            db, _load, workspace_id=acc.workspace_id, name=name, watch_id=None, start=start, end=end, offset=0
        )
        await send_html(
            message,
            render_page(watch, page, period_label(period), acc.timezone),
            page_keyboard(watch, page, start, end),
        )

    @router.callback_query(F.data.startswith("mp:"), flags={EXPENSIVE: True})
    async def on_page(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        try:
            watch_id, start, end, offset = unpack_page(query.data or "")
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        if not isinstance(query.message, Message):
            raise BotRepoError("原消息太旧 the message is too old to update")
        watch, page = await read(
            db,
            _load,
            workspace_id=acc.workspace_id,
            name=None,
            watch_id=watch_id,
            start=start,
            end=end,
            offset=offset,
        )
        text = render_page(watch, page, _period_text(start, end, acc.timezone), acc.timezone)
        parts = render.split_html(text)
        await query.message.edit_text(parts[0], reply_markup=page_keyboard(watch, page, start, end))
        await query.answer()

    return router
