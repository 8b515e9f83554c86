"""Access control for the bot: which chats may use it and which users may change things.

A chat sees only the workspace that owns it (`access`, put into handler data by
bot.middlewares.AccessMiddleware, is that workspace and nothing else). Chats no workspace owns get
one polite refusal per `RefusalMemory.quiet_s` and nothing else - no help, no data, no hint of
what exists. Only a workspace's admins may add, edit or remove watches and change alert settings;
`/sources` is read-only for everyone in the chat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message

from storage.bot_repo import ChatAccess

REFUSAL_TEXT = (
    "抱歉，这个聊天还没有加入任何工作区，机器人无法在此使用。请联系管理员把聊天 ID 加入 settings.toml。\n"
    "Sorry, this chat does not belong to any workspace, so the bot cannot be used here. "
    "Ask your administrator to add the chat id to settings.toml."
)
ADMIN_ONLY_TEXT = "只有工作区管理员可以这样做。Only workspace admins can do this."


class KnownChat(BaseFilter):
    """Passes for chats owned by a workspace."""

    async def __call__(self, event: Message | CallbackQuery, access: ChatAccess | None = None) -> bool:
        return access is not None


class UnknownChat(BaseFilter):
    """Passes for chats no workspace owns (the refusal router catches them first)."""

    async def __call__(self, event: Message | CallbackQuery, access: ChatAccess | None = None) -> bool:
        return access is None


class IsAdmin(BaseFilter):
    """Passes for admins of the chat's workspace."""

    async def __call__(self, event: Message | CallbackQuery, access: ChatAccess | None = None) -> bool:
        return access is not None and access.is_admin


class FirstArg(BaseFilter):
    """Passes when the command's first argument is one of `words` (e.g. /watch add ...)."""

    def __init__(self, *words: str) -> None:
        self.words = frozenset(w.lower() for w in words)

    async def __call__(self, event: Message, **_: Any) -> bool:
        parts = (event.text or "").split(maxsplit=2)
        return len(parts) > 1 and parts[1].lower() in self.words


class RefusalMemory:
    """Remembers which unknown chats were refused recently, so a chat gets one refusal, not a stream."""

    def __init__(self, quiet_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s, self.clock = quiet_s, clock
        self._last: dict[int, float] = {}

    def should_refuse(self, chat_id: int) -> bool:
        now = self.clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self.quiet_s:
            return False
        if len(self._last) > 10_000:  # many strangers: forget the ones whose quiet time is over
            self._last = {k: v for k, v in self._last.items() if now - v < self.quiet_s}
        self._last[chat_id] = now
        return True
