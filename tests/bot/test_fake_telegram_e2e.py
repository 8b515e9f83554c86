"""A real aiogram Bot + Dispatcher long-polls the fake Bot API server and answers /ping."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.filters import Command
from aiogram.types import Message

from tests.bot.fake_telegram import TOKEN, FakeTelegram


def make_router() -> Router:
    router = Router()  # a fresh Router per Dispatcher: a Router attaches to one parent only

    @router.message(Command("ping"))
    async def ping(message: Message) -> None:
        await message.answer(f"pong <b>{message.from_user.id if message.from_user else 0}</b>")

    return router


async def test_real_dispatcher_polls_fake_and_answers_ping() -> None:
    async with FakeTelegram() as fake:
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url), timeout=10)
        bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        dp = Dispatcher()
        dp.include_router(make_router())
        task = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        try:
            await fake.push_text("/ping", chat_id=777, user_id=555)
            (call,) = await fake.wait_for("sendMessage")
        finally:
            await dp.stop_polling()
            await task
            await bot.session.close()
    assert call.params["chat_id"] == "777"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"] == "pong <b>555</b>"
    methods = [c.method for c in fake.calls]
    assert methods.index("getMe") < methods.index("getUpdates") < methods.index("sendMessage")


async def test_fake_maps_errors_the_way_aiogram_expects() -> None:
    async with FakeTelegram() as fake:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
        try:
            fake.fail_next("sendMessage", 429, retry_after=7)
            with pytest.raises(TelegramRetryAfter) as info:
                await bot.send_message(1, "x")
            assert info.value.retry_after == 7
            with pytest.raises(TelegramBadRequest, match="can't parse entities"):
                await bot.send_message(1, "a < b", parse_mode="HTML")
            with pytest.raises(TelegramBadRequest, match="message is too long"):
                await bot.send_message(1, "字" * 4097)
            with pytest.raises(TelegramBadRequest, match="text is empty"):
                await bot.send_message(1, "<b> </b>", parse_mode="HTML")
            sent = await bot.send_message(1, "字" * 4096)
            assert sent.message_id > 0
        finally:
            await bot.session.close()
