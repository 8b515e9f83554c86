"""aiogram middlewares: the caller's workspace and the database for handlers, a per-user rate limit
on expensive commands, and a session middleware that honours Telegram's 429 retry_after.

- `AccessMiddleware` (outer, on messages and callback queries): one database lookup in a worker
  thread gives `data["db"]`, `data["access"]` (`storage.bot_repo.ChatAccess` or None for a chat no
  workspace owns) and `data["settings"]`; filters (bot/filters.py) decide from `access`.
- `RateLimitMiddleware` (inner, so it sees handler flags): handlers flagged `expensive` may run at
  most `per_minute` times per user in a sliding minute; beyond that the user is told how long to
  wait, once per window, and the handler is skipped.
- `RetryAfterMiddleware` (on the Bot's session): a `TelegramRetryAfter` is waited out and the call
  repeated, up to `max_retries` times and only while the wait stays under `max_wait` seconds (a
  handler should not hang for minutes; the outbox has its own, longer-lived retries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject

from storage import bot_repo
from storage.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
EXPENSIVE = "expensive"  # handler flag: counts against the per-user rate limit


def chat_and_user(event: TelegramObject) -> tuple[int | None, int | None]:
    if isinstance(event, Message):
        return event.chat.id, event.from_user.id if event.from_user else None
    if isinstance(event, CallbackQuery):
        chat = event.message.chat.id if event.message is not None else None
        return chat, event.from_user.id
    return None, None


class AccessMiddleware(BaseMiddleware):
    """Puts `db`, `settings` and `access` (the chat's workspace, or None) into the handler data."""

    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat_id, user_id = chat_and_user(event)
        access = None
        if chat_id is not None:
            access = await self.db.run(self._lookup, chat_id, user_id)
        data["db"] = self.db
        data["settings"] = self.settings
        data["access"] = access
        return await handler(event, data)

    def _lookup(self, chat_id: int, user_id: int | None) -> bot_repo.ChatAccess | None:
        with self.db.read() as session:
            return bot_repo.chat_access(session, chat_id=chat_id, user_id=user_id)


class SlidingWindow:
    """At most `limit` events per `window` seconds per key; `clock` is injectable for tests."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def hit(self, key: int) -> float:
        """0.0 when allowed (and counted), else the seconds until the next event would be allowed."""

        now = self.clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) < self.limit:
            events.append(now)
            return 0.0
        return max(0.1, events[0] + self.window - now)

    def should_warn(self, key: int) -> bool:
        """True once per window for a key that is over its limit (so a flood gets one answer)."""

        now = self.clock()
        last = self._warned.get(key)
        if last is not None and now - last < self.window:
            return False
        self._warned[key] = now
        if len(self._warned) > 10_000:  # forget old keys; a flood of ids must not grow memory forever
            cutoff = now - self.window
            self._warned = {k: v for k, v in self._warned.items() if v >= cutoff}
            self._events = {k: v for k, v in self._events.items() if v and v[-1] >= cutoff}
        return True


class RateLimitMiddleware(BaseMiddleware):
    """Skips `expensive` handlers for a user over `per_minute` calls, with one polite answer."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = SlidingWindow(per_minute, 60.0, clock)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not get_flag(data, EXPENSIVE):
            return await handler(event, data)
        _, user_id = chat_and_user(event)
        if user_id is None:
            return await handler(event, data)
        wait = self.window.hit(user_id)
        if wait == 0.0:
            return await handler(event, data)
        text = f"请求太频繁，请 {wait:.0f} 秒后再试。Too many requests: try again in {wait:.0f} s."
        if isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=False)
        elif isinstance(event, Message) and self.window.should_warn(user_id):
            await event.answer(text)
        return None


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Waits out Telegram 429s (`retry_after` seconds) and repeats the request."""

    def __init__(
        self,
        max_retries: int = 3,
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.max_retries, self.max_wait, self.sleep = max_retries, max_wait, sleep
        self.waited: list[float] = []  # seconds waited per retry, for tests and diagnostics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if attempt > self.max_retries or exc.retry_after > self.max_wait:
                    raise
                log.info(
                    "telegram 429 on %s: waiting %s s (retry %d)",
                    type(method).__name__,
                    exc.retry_after,
                    attempt,
                )
                self.waited.append(float(exc.retry_after))
                await self.sleep(float(exc.retry_after))
