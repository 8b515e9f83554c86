"""The explicit list of CLI command modules, in the order `kolwatch --help` shows them."""

from __future__ import annotations

from types import ModuleType

from kolwatch.commands import analyze, db, digest, export, replay, run, sentiment, sources

COMMAND_MODULES: list[ModuleType] = [
    run,
    sources,
    export,
    digest,
    replay,
    db,
    analyze,
    sentiment,
]
