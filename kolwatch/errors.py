"""User-facing errors of the kolwatch command line and service start-up.

A `UserError` is printed as one line and ends the command with exit code 2 (bad arguments,
broken settings, unreachable database); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message is the whole explanation, on one line."""

    exit_code = 2


class SettingsError(UserError):
    """settings.toml or an environment override is invalid; the message names the key."""


class DatabaseUnavailable(UserError):
    """The database URL cannot be reached or opened."""
