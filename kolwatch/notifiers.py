"""Builds the notifiers the configured workspaces need (composition root for bot/notifiers).

Console and file notifiers always exist; Telegram exists when KOLWATCH_BOT_TOKEN is set; a webhook
robot channel (wecom/dingtalk/feishu) exists when a workspace lists it, and then its environment
variables must be set (KOLWATCH_WECOM_KEY_<NAME>, KOLWATCH_DINGTALK_TOKEN_<NAME> +
KOLWATCH_DINGTALK_SECRET_<NAME>, KOLWATCH_FEISHU_HOOK_<NAME> + KOLWATCH_FEISHU_SECRET_<NAME>), or
start-up stops with one line naming the missing variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.notifiers import NOTIFIERS
from bot.notifiers.base import Notifier, env_targets
from bot.notifiers.console import ConsoleNotifier, FileNotifier
from bot.notifiers.telegram import TelegramNotifier
from kolwatch.errors import SettingsError
from kolwatch.settings import Secrets, Settings

# channel -> the environment prefix naming its robots (PREFIX for "default", PREFIX_<NAME> for others)
WEBHOOK_CHANNELS = {
    "wecom": "KOLWATCH_WECOM_KEY",
    "dingtalk": "KOLWATCH_DINGTALK_TOKEN",
    "feishu": "KOLWATCH_FEISHU_HOOK",
}


def webhook_channels(settings: Settings) -> dict[str, set[str]]:
    """channel kind -> robot names used by any workspace."""

    used: dict[str, set[str]] = {}
    for ws in settings.workspaces:
        for channel in ws.channels:
            kind, _, name = channel.partition(":")
            if kind in WEBHOOK_CHANNELS:
                used.setdefault(kind, set()).add(name.lower())
    return used


def build_notifiers(
    settings: Settings,
    secrets: Secrets,
    *,
    environ: Mapping[str, str] | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> dict[str, Notifier]:
    env = dict(os.environ if environ is None else environ)
    notifiers: dict[str, Notifier] = {
        "console": ConsoleNotifier(),
        "file": FileNotifier(Path(settings.service.alerts_dir)),
    }
    if secrets.bot_token and settings.bot.enabled:
        notifiers["telegram"] = TelegramNotifier.from_env(
            {"KOLWATCH_BOT_TOKEN": secrets.bot_token}, api_base=settings.bot.api_base
        )
    used = webhook_channels(settings)
    if used:
        client = http_client or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        for kind, names in sorted(used.items()):
            prefix = WEBHOOK_CHANNELS[kind]
            configured = env_targets(env, prefix)
            missing = sorted(n for n in names if n not in configured)
            if missing:
                raise SettingsError(
                    f"channel {kind}:{missing[0]}: set {prefix}_{missing[0].upper()} in the environment"
                )
            try:
                notifiers[kind] = NOTIFIERS[kind].from_env(env, client)  # type: ignore[attr-defined]
            except ValueError as exc:
                raise SettingsError(f"channel {kind}: {exc}") from None
    return notifiers
