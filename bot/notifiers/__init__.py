"""Delivery channels for notices: the explicit registry `NOTIFIERS` (name -> class).

Construction differs per channel (Telegram needs an aiogram Bot, webhooks an httpx.AsyncClient,
file a directory), so the registry holds classes; the composition root (kolwatch/) builds them,
usually through each webhook class's `from_env(environ, client)`.
"""

from __future__ import annotations

from bot.notifiers.base import Attachment, DeliveryResult, Notice, Notifier, RateRule, Secret
from bot.notifiers.console import ConsoleNotifier, FileNotifier
from bot.notifiers.dingtalk import DingTalkNotifier
from bot.notifiers.feishu import FeishuNotifier
from bot.notifiers.telegram import TelegramNotifier
from bot.notifiers.wecom import WeComNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    TelegramNotifier.name: TelegramNotifier,
    WeComNotifier.name: WeComNotifier,
    DingTalkNotifier.name: DingTalkNotifier,
    FeishuNotifier.name: FeishuNotifier,
    ConsoleNotifier.name: ConsoleNotifier,
    FileNotifier.name: FileNotifier,
}

__all__ = [
    "NOTIFIERS",
    "Attachment",
    "ConsoleNotifier",
    "DeliveryResult",
    "DingTalkNotifier",
    "FeishuNotifier",
    "FileNotifier",
    "Notice",
    "Notifier",
    "RateRule",
    "Secret",
    "TelegramNotifier",
    "WeComNotifier",
]
