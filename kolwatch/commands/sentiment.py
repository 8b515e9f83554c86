"""`kolwatch sentiment train|eval`: retrain the sentiment model on a labelled CSV and measure it.

Labels may be written as positive/negative/neutral, 1/0 or 正面/负面/中性. Bot corrections exported
as CSV can be concatenated with the team's labelled data and trained on the same way (see
`nlp.sentiment.train_model` for doing it from code).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from kolwatch.errors import UserError
from kolwatch.progress import Progress

# Review and post exports reach a few hundred KB per cell; the csv default (128 KB) is too small.
csv.field_size_limit(16 * 1024 * 1024)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sentiment", help="train or evaluate a sentiment model")
    sub = parser.add_subparsers(dest="sentiment_command", metavar="ACTION", required=True)
    for name, helptext in (
        ("train", "train a model on a labelled CSV"),
        ("eval", "evaluate a model on a labelled CSV"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--data", required=True, help="CSV file with a header row")
        p.add_argument("--text-column", required=True, help="column holding the text")
        p.add_argument("--label-column", required=True, help="column holding the label")
        if name == "train":
            p.add_argument("--out", required=True, help="where to write the model file (.json.gz)")
            p.add_argument(
                "--kind", choices=("linear", "bayes"), default="linear", help="model kind (default linear)"
            )
            p.set_defaults(func=run_train)
        else:
            p.add_argument("--model", help="model file (default: the stock model)")
            p.set_defaults(func=run_eval)


def read_samples(path: str, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, canonical label) rows of a CSV; UserError naming the file, row or column on problems."""
    from nlp.sentiment import canonical_label

    file = Path(path)
    if not file.is_file():
        raise UserError(f"data file not found: {path}")
    samples: list[tuple[str, str]] = []
    try:
        with open(file, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            for column in (text_column, label_column):
                if column not in columns:
                    raise UserError(f"{path}: no column {column!r} (columns: {', '.join(columns) or 'none'})")
            rows: Iterator[dict[str, str]] = iter(reader)
            for row in rows:
                text, raw_label = row.get(text_column), row.get(label_column)
                if text is None or raw_label is None:
                    raise UserError(f"{path}: line {reader.line_num}: missing fields")
                if not raw_label.strip() and not text.strip():
                    continue
                try:
                    samples.append((text, canonical_label(raw_label)))
                except ValueError as exc:
                    raise UserError(f"{path}: line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise UserError(f"{path}: malformed CSV: {exc}") from None
    if not samples:
        raise UserError(f"{path}: no labelled rows")
    return samples


def run_train(args: argparse.Namespace) -> int:
    from nlp.sentiment import TrainOptions, train_model

    samples = read_samples(args.data, args.text_column, args.label_column)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"output directory does not exist: {out.parent}")
    with Progress("preparing", total=len(samples)) as progress:
        try:
            model = train_model(
                samples,
                options=TrainOptions(kind=args.kind),
                meta={"trained_on": Path(args.data).name},
                progress=lambda i: progress.advance() if i else None,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
    model.save(out)
    lo, hi = model.neutral_band
    print(
        f"trained {model.kind} model on {model.meta['samples']} rows "
        f"({model.meta['skipped_non_chinese']} non-Chinese skipped), {len(model.vocabulary)} features, "
        f"neutral band {lo:.2f}-{hi:.2f}; wrote {out}"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from nlp.analyze import resolve_model
    from nlp.sentiment import ModelFileError, evaluate

    samples = read_samples(args.data, args.text_column, args.label_column)
    try:
        model = resolve_model(args.model)
    except ModelFileError as exc:
        raise UserError(str(exc)) from None
    with Progress("scoring", total=len(samples)) as progress:
        result = evaluate(model, samples, progress=lambda i: progress.advance())
    print(result.format(), file=sys.stdout)
    return 0
