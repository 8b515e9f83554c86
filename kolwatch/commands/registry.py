"""The explicit list of CLI command modules, in the order `kolwatch --help` shows them."""

from __future__ import annotations

from types import ModuleType

COMMAND_MODULES: list[ModuleType] = []
