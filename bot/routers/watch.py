"""/watch list|show|add|edit|remove: the workspace's watches; changes are for admins only.

Queries are validated with nlp.query before anything is stored; a mistake is answered with the
query and a caret under the offending character (bot/routers/errors.py).
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot import render
from bot.filters import ADMIN_ONLY_TEXT, FirstArg, IsAdmin, KnownChat
from bot.routers.common import command_args, local_time, read, require_access, send_html, write
from storage import bot_repo
from storage.bot_repo import BotRepoError, ChatAccess, WatchView
from storage.db import Database

USAGE = (
    "用法 usage:\n"
    "/watch list\n/watch show <名称 name>\n/watch add <名称 name> <查询 query>\n"
    "/watch edit <名称 name> <查询 query>\n/watch remove <名称 name>\n"
    '查询示例 query example: 瑞幸 OR luckin OR "瑞幸咖啡" NOT 招聘\n'
    "瑞幸 NEAR/5 降价：两词之间最多 5 个字符 at most 5 characters between them"
)


def render_list(watches: list[WatchView]) -> str:
    if not watches:
        return render.escape("还没有监测。No watches yet.\n") + render.code("/watch add <name> <query>")
    lines = [render.bold(f"监测 Watches ({len(watches)})")]
    for w in watches:
        lines.append(f"• {render.bold(w.name)}: {render.code(w.query)}")
    return "\n".join(lines)


def render_watch(w: WatchView, tz: str) -> str:
    lines = [
        f"{render.bold(w.name)}",
        f"查询 query: {render.code(w.query)}",
        f"竞品 competitors: {render.escape(', '.join(w.competitors) or '—')}",
        f"更新 updated: {render.escape(local_time(w.updated_at, tz, '%Y-%m-%d %H:%M'))}",
    ]
    return "\n".join(lines)


def _name_and_query(args: str) -> tuple[str, str]:
    parts = args.split(maxsplit=2)  # sub-command, name, query
    if len(parts) < 3 or not parts[2].strip():
        raise BotRepoError("需要名称和查询 need a name and a query.\n" + USAGE)
    return parts[1], parts[2]


def _name(args: str) -> str:
    parts = args.split()
    if len(parts) != 2:
        raise BotRepoError("需要一个名称 need exactly one watch name.\n" + USAGE)
    return parts[1]


async def _change(
    message: Message, db: Database, acc: ChatAccess, args: str, platforms: frozenset[str] | None
) -> None:
    sub = args.split(maxsplit=1)[0].lower()
    if sub == "remove":
        w = await write(db, bot_repo.remove_watch, workspace_id=acc.workspace_id, name=_name(args))
        text = f"已删除监测 removed watch {render.bold(w.name)} (历史数据保留 history kept)"
    else:
        name, query = _name_and_query(args)
        fn = bot_repo.add_watch if sub == "add" else bot_repo.edit_watch
        w = await write(db, fn, workspace_id=acc.workspace_id, name=name, query=query, platforms=platforms)
        verb = "已添加 added" if sub == "add" else "已修改 updated"
        text = f"{verb} {render.bold(w.name)}: {render.code(w.query)}"
    await send_html(message, text)


def make_router() -> Router:
    router = Router(name="watch")
    router.message.filter(KnownChat())

    @router.message(Command("watch"), FirstArg("add", "edit", "remove"), IsAdmin())
    async def cmd_change(
        message: Message, access: ChatAccess | None, db: Database, known_platforms: frozenset[str] | None
    ) -> None:
        await _change(message, db, require_access(access), command_args(message), known_platforms)

    @router.message(Command("watch"), FirstArg("add", "edit", "remove"))
    async def cmd_change_refused(message: Message) -> None:
        await message.answer(render.escape(ADMIN_ONLY_TEXT))

    @router.message(Command("watch"))
    async def cmd_watch(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        args = command_args(message)
        parts = args.split()
        sub = parts[0].lower() if parts else "list"
        if sub == "list":
            watches = await read(db, bot_repo.list_watches, workspace_id=acc.workspace_id)
            await send_html(message, render_list(watches))
        elif sub == "show":
            watch = await read(db, bot_repo.get_watch, workspace_id=acc.workspace_id, name=_name(args))
            await send_html(message, render_watch(watch, acc.timezone))
        else:
            raise BotRepoError(f"未知子命令 unknown sub-command {sub[:20]!r}.\n" + USAGE)

    return router
