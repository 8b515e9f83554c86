"""The `kolwatch` command: argument parsing, the explicit command registry, exit codes.

Every command lives in `kolwatch/commands/<name>.py`; this module only wires them and turns a
`UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from kolwatch.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage twice and exiting on its own."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def _command_modules() -> list[ModuleType]:
    # Imported here, not at module top, so `kolwatch --help` stays fast and a broken optional
    # command cannot stop the others from loading.
    from kolwatch.commands import registry

    return registry.COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kolwatch", description="Social-media and KOL monitoring for brand teams.")
    parser.add_argument(
        "--settings", help="path to settings.toml (default: $KOLWATCH_SETTINGS or ./settings.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return 2
        return func(args)
    except UserError as exc:
        print(f"kolwatch: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kolwatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
