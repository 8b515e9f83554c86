"""One module per CLI command group; `kolwatch.cli` registers them explicitly.

Each module exposes `register(subparsers)` that adds its parser(s) and sets `func` (via
`parser.set_defaults(func=run)`) to a function `run(args: argparse.Namespace) -> int`.
User mistakes are raised as `kolwatch.errors.UserError` (exit code 2, one line).
"""
