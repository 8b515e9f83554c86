"""Tests of the bot package: rendering, notifiers, charts, and the fake Telegram Bot API server."""
