"""Chats no workspace owns: one polite refusal (per RefusalMemory quiet period), nothing else.

Included first, so no feature router ever sees such a chat; callback queries from old buttons in
a chat that was removed from its workspace get the refusal as a toast.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.filters import REFUSAL_TEXT, RefusalMemory, UnknownChat


def make_router(memory: RefusalMemory) -> Router:
    router = Router(name="refusal")
    router.message.filter(UnknownChat())
    router.callback_query.filter(UnknownChat())

    @router.message()
    async def refuse(message: Message) -> None:
        if memory.should_refuse(message.chat.id):
            await message.answer(REFUSAL_TEXT, parse_mode=None)

    @router.callback_query()
    async def refuse_button(query: CallbackQuery) -> None:
        await query.answer(REFUSAL_TEXT[:200], show_alert=True)

    return router
