"""The Telegram bot's composition root: the Bot (pointed at `[bot] api_base`), the Dispatcher with
its middlewares and one router per feature, the command menu, and the polling loop the service
runs until its stop event is set.

Order matters: the refusal router comes first (a chat no workspace owns never reaches a feature),
the fallback router last (a command nobody handled is answered with help). Error handlers sit on
the Dispatcher itself so they see every router's errors.

Only one process may poll a bot token (Telegram answers a second getUpdates with 409 Conflict);
`kolwatch run` starts polling in one process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand

from bot.filters import RefusalMemory
from bot.middlewares import AccessMiddleware, RateLimitMiddleware, RetryAfterMiddleware
from bot.routers import (
    alerts,
    digest,
    errors,
    export,
    feedback,
    kol,
    mentions,
    refusal,
    sentiment,
    sources,
    sov,
    start,
    trending,
    watch,
)
from storage.db import Database

log = logging.getLogger(__name__)

FEATURE_ROUTERS = (
    start.make_router,
    watch.make_router,
    mentions.make_router,
    sentiment.make_router,
    trending.make_router,
    kol.make_router,
    sov.make_router,
    digest.make_router,
    alerts.make_router,
    sources.make_router,
    feedback.make_router,
    export.make_router,
)


class BotConfigError(ValueError):
    """The bot cannot start: the message names what is missing (never the token itself)."""


def build_dispatcher(
    settings: Any,
    db: Database,
    secrets: Any,
    *,
    refusals: RefusalMemory | None = None,
    platforms: frozenset[str] | None = None,
) -> Dispatcher:
    """A fresh Dispatcher (routers attach to one parent only, so never share them). `platforms`:
    the platform names watch queries may use in `platform:` (kolwatch.settings.known_platforms);
    None accepts any."""

    dp = Dispatcher()
    dp["known_platforms"] = platforms
    access = AccessMiddleware(db, settings)
    dp.message.outer_middleware(access)
    dp.callback_query.outer_middleware(access)
    limiter = RateLimitMiddleware(settings.bot.rate_limit_per_minute)
    dp.message.middleware(limiter)
    dp.callback_query.middleware(limiter)
    routers: list[Router] = [refusal.make_router(refusals or RefusalMemory())]
    routers += [make() for make in FEATURE_ROUTERS]
    routers.append(start.make_fallback_router())
    dp.include_routers(*routers)
    errors.register(dp)
    return dp


def build_bot(settings: Any, secrets: Any, *, retry: RetryAfterMiddleware | None = None) -> Bot:
    """A Bot on `[bot] api_base` (Telegram, a self-hosted Bot API server, or a test fake) that
    answers in HTML and waits out 429s."""

    token = secrets.bot_token
    if not token:
        raise BotConfigError("KOLWATCH_BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.bot.api_base))
    session.middleware(retry or RetryAfterMiddleware())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
    )


def command_menu(language: str) -> list[BotCommand]:
    """The setMyCommands list: Chinese descriptions for `zh`, English otherwise."""

    menu = [BotCommand(command="start", description="开始 / 帮助" if language == "zh" else "Start / help")]
    for name, zh, en, _usage in start.COMMANDS:
        menu.append(BotCommand(command=name, description=(zh if language == "zh" else en)[:256]))
    return menu


async def set_commands(bot: Bot) -> None:
    """The client's command menu: English by default, Chinese for users whose app is in Chinese."""

    await bot.set_my_commands(command_menu("en"))
    await bot.set_my_commands(command_menu("zh"), language_code="zh")


async def run_polling(
    settings: Any,
    secrets: Any,
    db: Database,
    stop_event: asyncio.Event,
    *,
    polling_timeout: int = 30,
    bot: Bot | None = None,
    platforms: frozenset[str] | None = None,
) -> None:
    """Poll until `stop_event` is set, then stop cleanly (pending getUpdates cancelled, session
    closed). A crash of the polling loop itself is raised, not swallowed."""

    bot = bot or build_bot(settings, secrets)
    dp = build_dispatcher(settings, db, secrets, platforms=platforms)
    try:
        try:
            await set_commands(bot)
        except TelegramAPIError as exc:  # the menu is a convenience; the bot works without it
            log.warning("setMyCommands failed: %s", exc.message)
        polling = asyncio.create_task(
            dp.start_polling(
                bot, polling_timeout=polling_timeout, handle_signals=False, close_bot_session=False
            )
        )
        stopper = asyncio.create_task(stop_event.wait())
        done, _ = await asyncio.wait({polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if polling in done:
            stopper.cancel()
            polling.result()  # raises what stopped polling
            return
        try:
            await dp.stop_polling()
        except RuntimeError:  # stopped before polling got going: nothing to drain
            polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    finally:
        await bot.session.close()
