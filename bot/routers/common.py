"""What every feature router shares: argument and period parsing, the database bridge, the
rendering of one post with its feedback buttons, and sending long HTML split at 4096.

Handlers are thin: parse -> `await read(db, fn, ...)` (the query runs in a worker thread, never on
the event loop) -> a pure `render_*` function -> `send_html`. A request the user got wrong raises
`storage.bot_repo.BotRepoError` (or `nlp.query.QuerySyntaxError`); the dispatcher's error handler
(bot/routers/errors.py) answers it with the message, so handlers need no try/except.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel import Session

from bot import render
from bot.notifiers.telegram import feedback_buttons
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE
from storage import queries
from storage.bot_repo import BotRepoError, ChatAccess
from storage.db import Database

T = TypeVar("T")

MAX_PERIOD = timedelta(days=90)
_PERIOD_RE = re.compile(r"(\d{1,4})(h|d|w|小时|天|周)", re.I)
_PERIOD_ALIASES = {
    "day": timedelta(days=1),
    "today": timedelta(days=1),
    "今天": timedelta(days=1),
    "日": timedelta(days=1),
    "week": timedelta(days=7),
    "本周": timedelta(days=7),
    "周": timedelta(days=7),
    "month": timedelta(days=30),
    "月": timedelta(days=30),
}
_UNIT = {"h": 3600, "小时": 3600, "d": 86400, "天": 86400, "w": 604800, "周": 604800}
LABEL_ZH = {POSITIVE: "正面", NEUTRAL: "中性", NEGATIVE: "负面", "unscored": "未评分"}
LABEL_ICON = {POSITIVE: "🟢", NEUTRAL: "⚪", NEGATIVE: "🔴", "unscored": "▫️"}
POST_PREVIEW_CHARS = 160


# --------------------------------------------------------------------------- database bridge


def _in_read(db: Database, fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with db.read() as session:
        return fn(session, **kwargs)


def _in_write(db: Database, fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with db.write() as session:
        return fn(session, **kwargs)


async def read(db: Database, fn: Callable[..., T], **kwargs: Any) -> T:
    """`fn(session, **kwargs)` in a read session, in a worker thread."""

    return await db.run(_in_read, db, fn, kwargs)


async def write(db: Database, fn: Callable[..., T], **kwargs: Any) -> T:
    """`fn(session, **kwargs)` in a write transaction (committed on success), in a worker thread."""

    return await db.run(_in_write, db, fn, kwargs)


# --------------------------------------------------------------------------- arguments


def command_args(message: Message) -> str:
    """The text after the command word (`/cmd@bot a b` -> `a b`)."""

    parts = (message.text or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def parse_period(token: str) -> timedelta | None:
    """`24h`, `7d`, `2w`, `3天`, `day`, `week`, `month` -> timedelta; None when not a period.

    A period that parses but is zero or longer than 90 days raises BotRepoError (the user meant
    a period, so "no watch named 400d" would be the wrong answer).
    """

    token = token.strip().lower()
    if token in _PERIOD_ALIASES:
        return _PERIOD_ALIASES[token]
    match = _PERIOD_RE.fullmatch(token)
    if not match:
        return None
    period = timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2).lower()])
    if not timedelta(hours=1) <= period <= MAX_PERIOD:
        raise BotRepoError(f"时间段应在 1h 到 90d 之间 period must be between 1h and 90d, not {token[:12]!r}")
    return period


def watch_and_period(args: str, default: timedelta) -> tuple[str | None, timedelta]:
    """`[watch] [period]` in either order: a token that parses as a period is the period."""

    tokens = args.split()
    period = None
    rest = []
    for token in tokens:
        parsed = parse_period(token) if period is None else None
        if parsed is not None:
            period = parsed
        else:
            rest.append(token)
    if len(rest) > 1:
        raise BotRepoError(
            f"参数太多 too many arguments: {' '.join(rest)[:60]!r} (expected [watch] [period], e.g. 瑞幸 7d)"
        )
    return (rest[0] if rest else None), (period or default)


def pick_watch(session: Session, *, workspace_id: int, name: str | None) -> queries.WatchRef:
    """The named enabled watch of the workspace, or its first watch when no name is given."""

    watches = queries.watches_of(session, workspace_id=workspace_id)
    if not watches:
        raise BotRepoError("还没有监测。No watches yet: an admin can add one with /watch add <name> <query>")
    if name is None:
        return watches[0]
    for watch in watches:
        if watch.name == name or watch.name.casefold() == name.casefold():
            return watch
    known = ", ".join(w.name for w in watches[:20])
    raise BotRepoError(f"没有这个监测 no watch named {name[:64]!r}. Known: {known}")


def watch_by_id(session: Session, *, workspace_id: int, watch_id: int) -> queries.WatchRef:
    """A watch of this workspace by id (ids come back in callback data, which can be forged)."""

    for watch in queries.watches_of(session, workspace_id=workspace_id):
        if watch.id == watch_id:
            return watch
    raise BotRepoError("这个监测已不存在 that watch no longer exists")


def window(period: timedelta, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[end - period, end) with end = the next whole hour, so counter queries use hour buckets."""

    now = now or datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    if end < now:
        end += timedelta(hours=1)
    return end - period, end


def period_label(period: timedelta) -> str:
    hours = int(period.total_seconds() // 3600)
    if hours % 24 == 0:
        return f"{hours // 24}d"
    return f"{hours}h"


def local_time(moment: datetime, tz: str, fmt: str = "%m-%d %H:%M") -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime(fmt)  # tz was validated when settings loaded


# --------------------------------------------------------------------------- posts


def shorten(text: str, limit: int = POST_PREVIEW_CHARS) -> str:
    text = " ".join(render.clean_text(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def count(value: int | None) -> str:
    if value is None:
        return "?"
    if value >= 10_000:
        return f"{value / 10_000:.1f}万"
    return str(value)


def render_post(item: queries.MentionItem, number: int, tz: str) -> str:
    """One post as Telegram HTML: number, sentiment, author, time, preview, counts, link."""

    icon = LABEL_ICON.get(item.label, "▫️")
    who = item.author_name or item.author_id
    head = (
        f"<b>{number}.</b> {icon} {render.bold(shorten(who, 40))} · {render.escape(item.platform)} · "
        f"{render.escape(local_time(item.created_at, tz))}"
    )
    body = render.escape(shorten(item.title + " " + item.text if item.title else item.text))
    stats = f"👍 {count(item.likes)} 💬 {count(item.comments)} 🔁 {count(item.reposts)}"
    link = render.link("原文 link", item.url) if item.url else ""
    return f"{head}\n{body}\n{render.escape(stats)} {link}".rstrip()


def feedback_rows(
    items: Sequence[queries.MentionItem], first_number: int = 1
) -> list[list[InlineKeyboardButton]]:
    """Two buttons per post shown: "sentiment wrong" and "ignore this author"."""

    return [feedback_buttons(str(first_number + offset), item.post_pk) for offset, item in enumerate(items)]


def keyboard(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def send_html(message: Message, markup: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer with Telegram HTML split at 4096 visible characters; buttons go on the last part."""

    parts = render.split_html(markup)
    if not parts:
        parts = [render.escape("（空）(empty)")]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await message.answer(part, reply_markup=reply_markup if last else None)


def require_access(access: ChatAccess | None) -> ChatAccess:
    """The chat's workspace; handlers only run behind KnownChat, so None here is a wiring bug."""

    if access is None:
        raise RuntimeError("handler reached without a workspace: KnownChat filter missing")
    return access


def bar(share: float, width: int = 10) -> str:
    filled = max(0, min(width, round(share * width)))
    return "█" * filled + "░" * (width - filled)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"
