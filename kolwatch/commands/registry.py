"""The explicit list of CLI command modules, in the order `kolwatch --help` shows them."""

from __future__ import annotations

from types import ModuleType

from kolwatch.commands import analyze, db, demo, digest, export, kol, replay, run, sentiment, sources

COMMAND_MODULES: list[ModuleType] = [
    demo,
    run,
    sources,
    export,
    digest,
    kol,
    replay,
    db,
    analyze,
    sentiment,
]
