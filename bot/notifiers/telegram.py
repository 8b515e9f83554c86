"""Telegram delivery through an aiogram `Bot`: a Notice becomes HTML messages split at 4096
characters, then photos (a media group for 2-10 consecutive images) and documents.

Rate limits (Telegram Bots FAQ): about one message per second per chat and at most 20 per minute
to one group (negative chat id); both are enforced here per chat with the shared RateLimiter.
The global ~30 messages/second across chats is left to the platform's 429s, which become
`retry` results carrying Telegram's `retry_after`.

The bot token comes from `KOLWATCH_BOT_TOKEN`; the API base (`[bot] api_base`) may point at a
self-hosted Bot API server or the fake one in tests.

The posts a notice shows (`Notice.feedback`) get the bot's feedback buttons, one row per post
("情感有误" `fb:<post>`, "忽略作者" `ig:<post>`, handled by bot/routers/feedback.py), as an inline
keyboard on the last text message, at most MAX_FEEDBACK_POSTS rows (Telegram allows about 100
buttons per message); the text says when the list was cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
)

from bot import render
from bot.notifiers.base import (
    LEVEL_LABELS,
    Attachment,
    DeliveryResult,
    HttpOutcome,
    Notice,
    PartSender,
    RateLimiter,
    RateRule,
    Secret,
    deliver_parts,
)

PHOTO_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
MEDIA_GROUP_MAX = 10
MAX_FEEDBACK_POSTS = 40  # two buttons each: 80, under Telegram's ~100 buttons per message
LEVEL_ICONS: Mapping[str, str] = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
_CHAT_RE = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")


def render_notice_html(notice: Notice) -> str:
    """The whole notice as one Telegram HTML document (split later)."""
    head = render.bold(notice.title)
    if notice.level:
        head = f"{LEVEL_ICONS[notice.level]} {render.bold('[' + LEVEL_LABELS[notice.level] + '] ')}{head}"
    lines = [head, *(render.escape(line) for line in notice.body_lines)]
    if notice.links:
        lines.append("")
        lines += [f"🔗 {render.link(label, url)}" for label, url in notice.links]
    if len(notice.feedback) > MAX_FEEDBACK_POSTS:
        n = MAX_FEEDBACK_POSTS
        lines.append(render.italic(f"（反馈按钮只列前 {n} 条帖子 feedback buttons for the first {n} posts）"))
    return "\n".join(lines)


def feedback_buttons(label: str, post_pk: int) -> list[InlineKeyboardButton]:
    """The two feedback buttons of one post (the same everywhere the bot shows a post)."""
    wrong, ignore = render.pack_callback("fb", post_pk), render.pack_callback("ig", post_pk)
    return [
        InlineKeyboardButton(text=f"{label} 情感有误 wrong", callback_data=wrong),
        InlineKeyboardButton(text=f"{label} 忽略作者 ignore", callback_data=ignore),
    ]


def feedback_keyboard(feedback: tuple[tuple[str, int], ...]) -> InlineKeyboardMarkup | None:
    """One row per post, the first MAX_FEEDBACK_POSTS; None when the notice shows no post."""
    rows = [feedback_buttons(label, pk) for label, pk in feedback[:MAX_FEEDBACK_POSTS]]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


@dataclass(frozen=True, slots=True)
class TelegramPart:
    """One API call of a delivery: kind is "message", "photo", "document" or "media_group"."""

    kind: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    feedback: tuple[tuple[str, int], ...] = ()  # (label, post pk): buttons under this message


def render_parts(notice: Notice) -> list[TelegramPart]:
    """The ordered, deterministic parts of a notice (the unit of `resume_from`). The feedback
    buttons go on the last text message, under the whole list of posts."""
    texts = render.split_html(render_notice_html(notice))
    parts = [
        TelegramPart("message", text, feedback=notice.feedback if i == len(texts) - 1 else ())
        for i, text in enumerate(texts)
    ]
    images: list[Attachment] = []

    def flush() -> None:
        for start in range(0, len(images), MEDIA_GROUP_MAX):
            group = tuple(images[start : start + MEDIA_GROUP_MAX])
            parts.append(TelegramPart("photo", attachments=group) if len(group) == 1
                         else TelegramPart("media_group", attachments=group))
        images.clear()

    for att in notice.attachments:
        if att.is_image and att.size <= PHOTO_MAX_BYTES:
            images.append(att)
            continue
        flush()
        if att.size > DOCUMENT_MAX_BYTES:
            raise ValueError(f"attachment {render.clean_text(att.name)!r} is {att.size} bytes, over 50 MB")
        parts.append(TelegramPart("document", attachments=(att,)))
    flush()
    return parts


def _caption(att: Attachment) -> str:
    return render.truncate_html(render.escape(att.name), render.CAPTION_LIMIT)


def _file(att: Attachment) -> BufferedInputFile:
    name = re.sub(r"[\\/\x00-\x1f]", "_", render.clean_text(att.name)).strip() or "file"
    return BufferedInputFile(bytes(att.data), filename=name[:120])


class TelegramNotifier:
    """Sends notices to Telegram chats. `target` is a chat id ("-100123...") or "@channel"."""

    name: ClassVar[str] = "telegram"
    rate_limits: ClassVar[tuple[RateRule, ...]] = (RateRule(1, 1.0),)
    group_rate_limits: ClassVar[tuple[RateRule, ...]] = (RateRule(1, 1.0), RateRule(20, 60.0))

    def __init__(self, bot: Bot, *, limiter: RateLimiter | None = None, max_wait: float = 3.0,
                 owns_bot: bool = False) -> None:
        self._bot = bot
        self._limiter = limiter or RateLimiter()
        self._max_wait = max_wait
        self._owns_bot = owns_bot

    @classmethod
    def from_env(cls, environ: Mapping[str, str], api_base: str = "https://api.telegram.org",
                 **kwargs: object) -> TelegramNotifier:
        """Build with its own Bot from `KOLWATCH_BOT_TOKEN`; ValueError names the missing variable."""
        raw = environ.get("KOLWATCH_BOT_TOKEN", "").strip()
        if not raw:
            raise ValueError("KOLWATCH_BOT_TOKEN is not set")
        token = Secret(raw)
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        return cls(Bot(token.reveal(), session=session), owns_bot=True, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"TelegramNotifier(api={self._bot.session.api.base.split('/bot')[0]!r})"

    async def aclose(self) -> None:
        if self._owns_bot:
            await self._bot.session.close()

    def rules_for(self, target: str) -> tuple[RateRule, ...]:
        return self.group_rate_limits if target.startswith("-") else self.rate_limits

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        target = target.strip()
        if not _CHAT_RE.fullmatch(target):
            return DeliveryResult.failed(0, 0, f"invalid Telegram chat id {render.clean_text(target)[:40]!r}")
        chat_id: int | str = int(target) if target.lstrip("-").isdigit() else target
        try:
            parts = render_parts(notice)
        except ValueError as exc:
            return DeliveryResult.failed(0, 0, str(exc))
        senders: list[PartSender] = [self._sender(chat_id, part) for part in parts]
        return await deliver_parts(senders, resume_from=resume_from, limiter=self._limiter,
                                   key=f"telegram:{target}", rules=self.rules_for(target),
                                   max_wait=self._max_wait)

    def _sender(self, chat_id: int | str, part: TelegramPart) -> PartSender:
        async def call() -> HttpOutcome:
            try:
                await send_part(self._bot, chat_id, part)
            except TelegramRetryAfter as exc:
                return HttpOutcome("retry", float(exc.retry_after), "Telegram 429 Too Many Requests")
            except TelegramMigrateToChat as exc:
                return HttpOutcome("failed", None, f"group migrated to supergroup {exc.migrate_to_chat_id}")
            except (TelegramForbiddenError, TelegramUnauthorizedError, TelegramBadRequest) as exc:
                return HttpOutcome("failed", None, f"{type(exc).__name__}: {exc.message[:200]}")
            except (TimeoutError, TelegramServerError, TelegramNetworkError) as exc:
                return HttpOutcome("retry", None, f"{type(exc).__name__}")
            except TelegramAPIError as exc:
                return HttpOutcome("failed", None, f"{type(exc).__name__}: {exc.message[:200]}")
            return HttpOutcome("ok")

        return call


async def send_part(bot: Bot, chat_id: int | str, part: TelegramPart) -> None:
    """One part of `render_parts` through the Bot API (the notifier and the bot's /digest)."""
    if part.kind == "message":
        await bot.send_message(chat_id, part.text, parse_mode="HTML",
                               link_preview_options=LinkPreviewOptions(is_disabled=True),
                               reply_markup=feedback_keyboard(part.feedback))
    elif part.kind == "photo":
        (att,) = part.attachments
        await bot.send_photo(chat_id, _file(att), caption=_caption(att), parse_mode="HTML")
    elif part.kind == "document":
        (att,) = part.attachments
        await bot.send_document(chat_id, _file(att), caption=_caption(att), parse_mode="HTML")
    elif part.kind == "media_group":
        media = [InputMediaPhoto(media=_file(a), caption=_caption(a), parse_mode="HTML")
                 for a in part.attachments]
        await bot.send_media_group(chat_id, media)  # type: ignore[arg-type]
    else:  # pragma: no cover - render_parts makes only the kinds above
        raise AssertionError(part.kind)
