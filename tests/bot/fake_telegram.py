"""A local fake Telegram Bot API server (aiohttp.web on 127.0.0.1) for end-to-end tests.

Point aiogram at it with `AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))`. It
records every call (`fake.calls`), long-polls `getUpdates` from a queue (`push_text`,
`push_callback`, `push_update`), and checks what the real server checks where tests depend on
it: the HTML parse mode (allowed tags, entities, balance; checked with the standard library's
HTMLParser, independently of bot/render.py), the 4096/1024 limits counted after entity parsing,
callback_data <= 64 bytes, media groups of 2-10. Errors can be injected with `fail_next(method,
429, retry_after=n)`. aiogram always POSTs forms: nested objects arrive as JSON strings and
files as multipart parts named by an `attach://<key>` value.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

TOKEN = "42:TEST-token"
BOT_USER = {"id": 42, "is_bot": True, "first_name": "kolwatch test", "username": "kolwatch_test_bot"}
_ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
_FILE_PARAMS = {"sendPhoto": "photo", "sendDocument": "document"}


@dataclass
class Call:
    """One recorded API call: `params` decoded (JSON strings parsed), `files` name -> (filename, bytes)."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    token: str = ""


class _EntityChecker(HTMLParser):
    """Telegram's HTML rules: allowed tags only, balanced, named entities only lt/gt/amp/quot."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'unexpected end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.error = self.error or "unescaped < or >"
        if "&" in data:
            self.error = self.error or "unescaped &"
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.error = self.error or f"unsupported entity &{name};"
        self.text.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(name, "?"))

    def handle_charref(self, name: str) -> None:
        self.text.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))


def parse_html(markup: str) -> tuple[str, str | None]:
    """(visible text, error or None) for Telegram HTML."""
    checker = _EntityChecker()
    try:
        checker.feed(markup)
        checker.close()
    except (ValueError, OverflowError) as exc:
        return "", str(exc)
    if checker.rawdata:
        checker.error = checker.error or "unterminated tag"
    if checker.stack and not checker.error:
        checker.error = f'unclosed start tag "{checker.stack[-1]}"'
    return "".join(checker.text), checker.error


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class FakeTelegram:
    """`async with FakeTelegram() as fake:` gives `fake.base_url` for `TelegramAPIServer.from_base`."""

    def __init__(self, token: str = TOKEN, poll_cap: float = 1.0) -> None:
        self.token = token
        self.poll_cap = poll_cap  # seconds a getUpdates may hang; keeps shutdown fast
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.base_url = ""
        self._failures: dict[str, deque[tuple[int, str, dict[str, Any] | None]]] = {}
        self._changed = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=0.3, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- test controls ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        code: int = 429,
        *,
        retry_after: int | None = 3,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 + retry_after by default)."""
        params = {"retry_after": retry_after} if code == 429 and retry_after is not None else None
        text = description or (
            f"Too Many Requests: retry after {retry_after}" if code == 429 else "Bad Request"
        )
        queue = self._failures.setdefault(method, deque())
        for _ in range(times):
            queue.append((code, text, params))

    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
        return update

    async def push_text(
        self, text: str, *, chat_id: int = 1001, user_id: int = 1001, chat_type: str = "private"
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        chat["title" if chat_type != "private" else "first_name"] = "测试"
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": "用户"},
            "text": text,
        }
        if entities:
            message["entities"] = entities
        return await self.push_update({"message": message})

    async def push_callback(
        self, data: str, *, message_id: int, chat_id: int = 1001, user_id: int = 1001
    ) -> dict[str, Any]:
        message = self._messages.get((str(chat_id), message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": "…",
        }
        return await self.push_update(
            {
                "callback_query": {
                    "id": f"cb{next(self._update_ids)}",
                    "chat_instance": "ci",
                    "from": {"id": user_id, "is_bot": False, "first_name": "用户"},
                    "message": message,
                    "data": data,
                }
            }
        )

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The first `count` calls of `method`, waiting up to `timeout` seconds for them."""

        async def ready() -> list[Call]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.calls_of(method)) >= count)
            return self.calls_of(method)[:count]

        return await asyncio.wait_for(ready(), timeout)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the server ------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params, files = await self._read(request)
        call = Call(method, params, files, token)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            failures = self._failures.get(method)
            if failures:
                code, text, parameters = failures.popleft()
                raise ApiError(code, text, parameters)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(call)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                else:
                    params[key] = _decode(str(value))
        params.update({k: _decode(v) for k, v in request.query.items()})
        return params, files

    def _message(self, call: Call, **extra: Any) -> dict[str, Any]:
        chat_id = str(call.params.get("chat_id", ""))
        if not chat_id:
            raise ApiError(400, "Bad Request: chat_id is empty")
        _check_markup(call.params.get("reply_markup"))
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {
                "id": int(chat_id) if chat_id.lstrip("-").isdigit() else -1,
                "type": "private" if not chat_id.startswith("-") else "supergroup",
            },
            **extra,
        }
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _file(self, call: Call, param: str) -> tuple[str, bytes]:
        ref = str(call.params.get(param, ""))
        if not ref.startswith("attach://") or ref[9:] not in call.files:
            raise ApiError(400, f"Bad Request: there is no {param} in the request")
        return call.files[ref[9:]]

    async def _m_getMe(self, call: Call) -> Any:
        return BOT_USER

    async def _m_deleteWebhook(self, call: Call) -> Any:
        return True

    async def _m_setMyCommands(self, call: Call) -> Any:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or not 0 < len(commands) <= 100:
            raise ApiError(400, "Bad Request: commands must be a list of 1-100 commands")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name == name.lower()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    async def _m_deleteMyCommands(self, call: Call) -> Any:
        return True

    async def _m_answerCallbackQuery(self, call: Call) -> Any:
        if len(str(call.params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _m_sendChatAction(self, call: Call) -> Any:
        return True

    async def _m_getUpdates(self, call: Call) -> Any:
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        timeout = min(float(call.params.get("timeout") or 0), self.poll_cap)
        async with self._changed:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates and timeout > 0:
                # never answer [] at once on a long poll, or the client spins
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.updates)), timeout)
            return self.updates[:limit]

    def _text(self, call: Call, key: str, limit: int, empty_error: str | None) -> str:
        raw = str(call.params.get(key, ""))
        visible = raw
        if call.params.get("parse_mode") == "HTML":
            visible, error = parse_html(raw)
            if error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}")
        if empty_error and not visible.strip():
            raise ApiError(400, empty_error)
        if len(visible) > limit:
            what = "message is too long" if key == "text" else "message caption is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return visible

    async def _m_sendMessage(self, call: Call) -> Any:
        text = self._text(call, "text", 4096, "Bad Request: message text is empty")
        return self._message(call, text=text)

    async def _m_editMessageText(self, call: Call) -> Any:
        text = self._text(call, "text", 4096, "Bad Request: message text is empty")
        key = (str(call.params.get("chat_id", "")), int(call.params.get("message_id") or 0))
        if key not in self._messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        _check_markup(call.params.get("reply_markup"))
        self._messages[key] = {**self._messages[key], "text": text}
        return self._messages[key]

    async def _m_sendPhoto(self, call: Call) -> Any:
        caption = self._text(call, "caption", 1024, None)
        filename, data = self._file(call, "photo")
        if len(data) > 10 * 1024 * 1024:
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        return self._message(call, caption=caption, photo=[_photo_size(filename, data)])

    async def _m_sendDocument(self, call: Call) -> Any:
        caption = self._text(call, "caption", 1024, None)
        filename, data = self._file(call, "document")
        return self._message(
            call,
            caption=caption,
            document={
                "file_id": f"doc-{len(self.calls)}",
                "file_unique_id": f"u{len(self.calls)}",
                "file_name": filename,
                "file_size": len(data),
            },
        )

    async def _m_sendMediaGroup(self, call: Call) -> Any:
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media, must be 2-10")
        messages = []
        for item in media:
            fake = Call(
                call.method,
                {
                    "photo": item.get("media", ""),
                    "caption": item.get("caption", ""),
                    "parse_mode": item.get("parse_mode"),
                },
                call.files,
            )
            caption = self._text(fake, "caption", 1024, None)
            filename, data = self._file(fake, "photo")
            messages.append(self._message(call, caption=caption, photo=[_photo_size(filename, data)]))
        return messages


def _decode(value: str) -> Any:
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _photo_size(filename: str, data: bytes) -> dict[str, Any]:
    return {
        "file_id": f"photo-{filename}",
        "file_unique_id": f"p{len(data)}",
        "width": 800,
        "height": 450,
        "file_size": len(data),
    }
