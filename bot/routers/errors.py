"""The dispatcher's error handlers: a request the user got wrong is answered with its message.

`BotRepoError` (bad argument, unknown watch, not found) -> its text; `QuerySyntaxError` -> the
message plus the query with a caret under the mistake, in <pre> so the caret lines up; anything
else is logged with its traceback and the user gets a short apology (never the exception text,
which may hold internals).
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot import render
from nlp.query import QuerySyntaxError
from storage.bot_repo import BotRepoError

log = logging.getLogger(__name__)
INTERNAL_ERROR = "内部错误，已记录。Internal error; it has been logged."


async def _reply(event: ErrorEvent, markup: str, toast: str) -> None:
    update = event.update
    if update.message is not None:
        await _answer(update.message, markup)
    elif update.callback_query is not None:
        query: CallbackQuery = update.callback_query
        await query.answer(toast[:200], show_alert=True)


async def _answer(message: Message, markup: str) -> None:
    for part in render.split_html(markup):
        await message.answer(part)


def query_error_html(exc: QuerySyntaxError) -> str:
    return (
        f"查询有误 query error: {render.escape(exc.one_line())}\n"
        f"{render.pre(exc.caret()) if exc.query else ''}"
    ).rstrip()


def register(router: Router) -> None:
    """Install the handlers on `router` - the Dispatcher itself, because aiogram passes an error
    to the error handlers of the router that raised it and of its parents, never to siblings."""

    @router.errors(ExceptionTypeFilter(QuerySyntaxError))
    async def on_query_error(event: ErrorEvent) -> None:
        exc = event.exception
        assert isinstance(exc, QuerySyntaxError)
        await _reply(event, query_error_html(exc), exc.one_line())

    @router.errors(ExceptionTypeFilter(BotRepoError))
    async def on_user_error(event: ErrorEvent) -> None:
        await _reply(event, render.escape(str(event.exception)), str(event.exception))

    @router.errors()
    async def on_unexpected(event: ErrorEvent) -> None:
        log.error("bot handler failed: %r", event.exception, exc_info=event.exception)
        await _reply(event, render.escape(INTERNAL_ERROR), INTERNAL_ERROR)
