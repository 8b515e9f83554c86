"""/start and /help (Chinese and English), and the last-resort router: unknown commands get help.

`COMMANDS` is the one list of commands with their descriptions; bot/app.py sends it with
setMyCommands (the client's command menu) and the help text is built from it.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot import render
from bot.filters import KnownChat
from bot.routers.common import require_access, send_html
from storage.bot_repo import ChatAccess

# (command, Chinese description, English description, usage)
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("help", "使用帮助", "How to use the bot", "/help"),
    (
        "watch",
        "监测：列表、查看、添加、修改、删除",
        "Watches: list, show, add, edit, remove",
        "/watch list | show <名称> | add <名称> <查询> | edit <名称> <查询> | remove <名称>",
    ),
    ("mentions", "最新提及（可翻页）", "Latest mentions (with pages)", "/mentions [监测] [24h|7d]"),
    (
        "sentiment",
        "情感占比、趋势与负面帖",
        "Sentiment shares, trend, top negative posts",
        "/sentiment [监测] [7d]",
    ),
    ("trending", "上升话题词", "Trending terms", "/trending [监测] [24h]"),
    (
        "kol",
        "KOL 排名与解释",
        "KOL ranking and explanations",
        "/kol [监测] [平台] [7d] · /kol explain <作者>",
    ),
    ("sov", "声量份额（对比竞品）", "Share of voice against competitors", "/sov [监测] [7d]"),
    ("digest", "日报 / 周报", "Daily / weekly digest", "/digest [day|week]"),
    (
        "alerts",
        "预警订阅、静音、最低级别",
        "Alert subscription, mute, minimum level",
        "/alerts · /alerts on|off · /alerts mute 2h · /alerts level 1-4",
    ),
    ("sources", "数据源健康状况", "Source health", "/sources"),
    ("feedback", "纠正情感、忽略作者（管理员）", "Correct sentiment; admins ignore authors", "/feedback"),
    ("ignored", "已忽略的作者（管理员可撤销）", "Ignored authors (admins can undo)", "/ignored"),
    ("export", "导出提及 CSV", "Export mentions as CSV", "/export [监测] [7d]"),
)


def help_text(access: ChatAccess) -> str:
    lines = [
        f"{render.bold('kolwatch')} · 工作区 workspace {render.code(access.workspace)}",
        "",
    ]
    for _name, zh, en, usage in COMMANDS:
        lines.append(f"{render.code(usage)}\n  {render.escape(zh)} · {render.escape(en)}")
    lines += [
        "",
        render.escape(
            "时间段 periods: 1h..90d, e.g. 24h 7d 2w；监测名可省略，默认第一个 watch name optional."
        ),
        render.escape(
            '查询 query: AND OR NOT ( ) "短语 phrase" · A NEAR/n B：两词之间最多 n 个字符（不是词）'
            " at most n characters (not words) between A and B · platform: author: lang:"
        ),
        render.escape(
            "每条帖子下方的按钮可纠正情感，管理员可忽略作者 "
            "Buttons under each post fix its sentiment; admins can also ignore its author."
        ),
    ]
    if access.is_admin:
        lines.append(render.italic("你是管理员，可修改监测与预警设置 You are an admin."))
    return "\n".join(lines)


def make_router() -> Router:
    router = Router(name="start")
    router.message.filter(KnownChat())

    @router.message(CommandStart())
    @router.message(Command("help"))
    async def cmd_help(message: Message, access: ChatAccess | None) -> None:
        await send_html(message, help_text(require_access(access)))

    return router


def make_fallback_router() -> Router:
    """Included last: a command nobody handled is answered with help (plain chatter is ignored)."""

    router = Router(name="fallback")
    router.message.filter(KnownChat())

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message, access: ChatAccess | None) -> None:
        word = (message.text or "").split(maxsplit=1)[0][:40]
        head = f"未知命令 unknown command {render.code(word)}\n\n"
        await send_html(message, head + help_text(require_access(access)))

    return router
