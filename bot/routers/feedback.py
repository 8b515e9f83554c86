"""Feedback buttons under every post the bot shows, and /feedback (how to use them).

`fb:<post>` asks for the right label (three buttons `fl:<post>:<label>`); the choice is stored as
a SentimentFeedbackRow (training data for the next retrain). Anyone in the chat may do that.
`ig:<post>` ignores the post's author in this workspace (lists hide them); `ui:<author>` undoes
that, from the note sent after ignoring or from /ignored. Ignoring hides an author from everyone in
the workspace, so both are for the workspace's admins; members get a polite refusal. /ignored lists
the ignored authors a page at a time (`ip:<offset>` buttons, like /mentions). Every id is checked
against the caller's workspace: a post no watch of the workspace mentioned reads as "not found",
whatever the button says.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import render
from bot.filters import KnownChat
from bot.routers.common import LABEL_ICON, LABEL_ZH, read, require_access, write
from storage import bot_repo
from storage.bot_repo import ChatAccess
from storage.db import Database

HELP = (
    "每条帖子下方有两个按钮 Every post the bot shows has two buttons:\n"
    "• 情感有误 wrong: 选择正确的情感，用于改进模型 pick the right sentiment; it trains the next model\n"
    "• 忽略作者 ignore（仅管理员 admins only）: 以后的列表不再显示该作者 "
    "hide this author from lists in this workspace\n"
    "/ignored 列出已忽略的作者，管理员可撤销 lists ignored authors; admins can undo"
)
IGNORE_ADMIN_ONLY = (
    "抱歉，只有工作区管理员可以忽略或恢复作者（会影响整个工作区）。你仍然可以用“情感有误”反馈。"
    "Sorry, only workspace admins can ignore or restore authors, as it affects the whole workspace. "
    "You can still mark a sentiment as wrong."
)
IGNORED_PAGE_SIZE = 10
MAX_IGNORED_OFFSET = 100_000


def _positive_id(data: str, prefix: str) -> int:
    (value,) = render.unpack_callback(data, prefix, 1)
    number = int(value)
    if number < 1:
        raise ValueError("id out of range")
    return number


def label_keyboard(post_pk: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{LABEL_ICON[label]} {LABEL_ZH[label]} {label}",
                    callback_data=render.pack_callback("fl", post_pk, label),
                )
                for label in bot_repo.FEEDBACK_LABELS
            ]
        ]
    )


def undo_keyboard(authors: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"↩️ 撤销 undo: {name}"[:60], callback_data=render.pack_callback("ui", author_pk)
                )
            ]
            for author_pk, name in authors
        ]
    )


def render_ignored(page: bot_repo.IgnoredPage) -> str:
    if not page.total:
        return render.escape("没有忽略的作者 no ignored authors in this workspace.")
    if not page.items:
        return render.escape(f"这一页没有作者了 nothing on this page (共 total {page.total})")
    pages = -(-page.total // IGNORED_PAGE_SIZE)
    current = page.offset // IGNORED_PAGE_SIZE + 1
    lines = [
        render.bold(f"已忽略的作者 ignored authors ({page.total})")
        + render.escape(f" · 第 {current}/{pages} 页 page")
    ]
    for n, a in enumerate(page.items, start=page.offset + 1):
        lines.append(
            f"{n}. {render.escape(a.name or '?')} · {render.escape(a.platform)} · "
            f"{render.escape(a.ignored_at.strftime('%Y-%m-%d'))}"
        )
    return "\n".join(lines)


def ignored_keyboard(page: bot_repo.IgnoredPage) -> InlineKeyboardMarkup | None:
    """Undo buttons for the authors shown, then prev/next (`ip:<offset>`) like /mentions."""

    rows = undo_keyboard([(a.author_pk, a.name or "?") for a in page.items]).inline_keyboard
    nav = []
    if page.offset > 0:
        back = max(0, page.offset - IGNORED_PAGE_SIZE)
        nav.append(InlineKeyboardButton(text="◀ 上一页 prev", callback_data=render.pack_callback("ip", back)))
    after = page.offset + IGNORED_PAGE_SIZE
    if after < page.total and after <= MAX_IGNORED_OFFSET:
        nav.append(
            InlineKeyboardButton(text="下一页 next ▶", callback_data=render.pack_callback("ip", after))
        )
    if nav:
        rows = [*rows, nav]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def make_router() -> Router:
    router = Router(name="feedback")
    router.message.filter(KnownChat())
    router.callback_query.filter(KnownChat())

    @router.message(Command("feedback"))
    async def cmd_feedback(message: Message) -> None:
        await message.answer(render.escape(HELP))

    @router.callback_query(F.data.startswith("fb:"))
    async def on_wrong(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        try:
            post_pk = _positive_id(query.data or "", "fb")
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        post = await read(db, bot_repo.visible_post, workspace_id=acc.workspace_id, post_pk=post_pk)
        text = (
            f"帖子 post {render.code(f'{post.platform}:{post.post_id}')} "
            f"({render.escape(post.author_name)}) "
            f"当前 now {render.escape(LABEL_ZH.get(post.label, post.label))}."
            f"\n{render.escape('正确的情感是？ What is the right sentiment?')}"
        )
        if isinstance(query.message, Message):
            await query.message.answer(text, reply_markup=label_keyboard(post_pk))
        await query.answer()

    @router.callback_query(F.data.startswith("fl:"))
    async def on_label(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        try:
            value, label = render.unpack_callback(query.data or "", "fl", 2)
            post_pk = int(value)
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        post = await write(
            db,
            bot_repo.add_feedback,
            workspace_id=acc.workspace_id,
            post_pk=post_pk,
            user_id=query.from_user.id,
            label=label,
        )
        done = (
            f"✅ 已记录 recorded: {render.code(f'{post.platform}:{post.post_id}')} → "
            f"{render.escape(LABEL_ZH[label] + ' ' + label)}"
        )
        if isinstance(query.message, Message):
            await query.message.edit_text(done)
        await query.answer("谢谢 thanks")

    @router.callback_query(F.data.startswith("ig:"))
    async def on_ignore(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        if not acc.is_admin:
            await query.answer(IGNORE_ADMIN_ONLY, show_alert=True)
            return
        try:
            post_pk = _positive_id(query.data or "", "ig")
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        post = await write(db, bot_repo.ignore_author, workspace_id=acc.workspace_id, post_pk=post_pk)
        await query.answer(f"已忽略作者 ignored: {post.author_name}"[:200])
        if isinstance(query.message, Message):
            await query.message.answer(
                f"🙈 {render.bold(post.author_name)} "
                + render.escape("以后不再出现在列表中 will be hidden from lists in this workspace."),
                reply_markup=undo_keyboard([(post.author_pk, post.author_name)]),
            )

    @router.message(Command("ignored"))
    async def cmd_ignored(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        page = await read(
            db, bot_repo.ignored_page, workspace_id=acc.workspace_id, limit=IGNORED_PAGE_SIZE, offset=0
        )
        await message.answer(render_ignored(page), reply_markup=ignored_keyboard(page))

    @router.callback_query(F.data.startswith("ip:"))
    async def on_ignored_page(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        try:
            (value,) = render.unpack_callback(query.data or "", "ip", 1)
            offset = int(value)
            if not 0 <= offset <= MAX_IGNORED_OFFSET:
                raise ValueError("offset out of range")
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        page = await read(
            db, bot_repo.ignored_page, workspace_id=acc.workspace_id, limit=IGNORED_PAGE_SIZE, offset=offset
        )
        if isinstance(query.message, Message):
            await query.message.edit_text(render_ignored(page), reply_markup=ignored_keyboard(page))
        await query.answer()

    @router.callback_query(F.data.startswith("ui:"))
    async def on_unignore(query: CallbackQuery, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        if not acc.is_admin:
            await query.answer(IGNORE_ADMIN_ONLY, show_alert=True)
            return
        try:
            author_pk = _positive_id(query.data or "", "ui")
        except ValueError:
            await query.answer("按钮已失效 this button is no longer valid", show_alert=True)
            return
        restored = await write(
            db, bot_repo.unignore_author, workspace_id=acc.workspace_id, author_pk=author_pk
        )
        # Only this workspace's own ignore rows are touched: a forged id restores nothing.
        await query.answer("已恢复 restored" if restored else "该作者未被忽略 not ignored here")

    return router
