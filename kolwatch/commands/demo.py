"""`kolwatch demo [--out DIR]`: the whole pipeline offline on the bundled sample data."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from kolwatch.context import output_dir, setup_logging


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline offline on bundled sample data")
    parser.add_argument(
        "--out", default="demo-output", help="where to write the digest files (default: demo-output)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out_dir = output_dir(Path(args.out), "--out")  # before the slow imports: a bad path fails at once
    from kolwatch.demo import run_demo

    setup_logging(args.verbose)
    if not args.verbose:
        # The demo's own output is the story; routine service logs would drown it.
        logging.getLogger().setLevel(logging.WARNING)
    asyncio.run(run_demo(out_dir))
    return 0
