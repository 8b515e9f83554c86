"""`kolwatch sentiment train|eval|feedback`: retrain the sentiment model and measure it.

Labels may be written as positive/negative/neutral, 1/0 or 正面/负面/中性. `train --with-feedback`
adds the corrections users made with the bot's feedback buttons (read from the configured database)
to the labelled CSV, or trains on them alone; `feedback` writes those corrections as a CSV that
`train --data` and `eval --data` read (text,label columns), so a team can version its labels.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kolwatch.errors import UserError
from kolwatch.progress import Progress

if TYPE_CHECKING:
    from storage.feedback_queries import FeedbackSample

# Review and post exports reach a few hundred KB per cell; the csv default (128 KB) is too small.
csv.field_size_limit(16 * 1024 * 1024)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sentiment", help="train or evaluate a sentiment model")
    sub = parser.add_subparsers(dest="sentiment_command", metavar="ACTION", required=True)
    for name, helptext in (
        ("train", "train a model on a labelled CSV and/or the bot's corrections"),
        ("eval", "evaluate a model on a labelled CSV"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--data", required=name == "eval", help="CSV file with a header row")
        p.add_argument("--text-column", default="text", help="column holding the text (default text)")
        p.add_argument("--label-column", default="label", help="column holding the label (default label)")
        if name == "train":
            p.add_argument("--out", required=True, help="where to write the model file (.json.gz)")
            p.add_argument(
                "--kind", choices=("linear", "bayes"), default="linear", help="model kind (default linear)"
            )
            p.add_argument(
                "--with-feedback",
                action="store_true",
                help="also train on the sentiment corrections made in the bot (from the database)",
            )
            p.add_argument("--workspace", help="with --with-feedback: only this workspace's corrections")
            p.set_defaults(func=run_train)
        else:
            p.add_argument("--model", help="model file (default: the stock model)")
            p.set_defaults(func=run_eval)
    p = sub.add_parser("feedback", help="write the bot's sentiment corrections as a labelled CSV")
    p.add_argument("--workspace", help="only this workspace's corrections")
    p.add_argument("--out", help="CSV file to write (default: standard output)")
    p.set_defaults(func=run_feedback)


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


def _feedback(args: argparse.Namespace) -> list[FeedbackSample]:
    from kolwatch.context import open_database, settings_from
    from storage.feedback_queries import UnknownWorkspace, feedback_samples

    db = open_database(settings_from(args))
    try:
        with db.read() as session:
            return feedback_samples(session, workspace=args.workspace)
    except UnknownWorkspace as exc:
        raise UserError(f"--workspace: no workspace named {exc.args[0]!r} in the database") from None
    finally:
        db.dispose()


def training_samples(
    data: list[tuple[str, str]], feedback: list[FeedbackSample]
) -> tuple[list[tuple[str, str]], int]:
    """The labelled rows plus the corrections; (samples, neutral corrections left out).

    A correction replaces a data row with the same text (a team member looked at that text again).
    A model trained on two-class data calls posts neutral through its calibrated band, so neutral
    corrections only join when the data (or the corrections alone) give the model a neutral class.
    """
    from nlp.types import NEUTRAL

    keep_neutral = not data or any(label == NEUTRAL for _, label in data)
    used = [(f.text, f.label) for f in feedback if keep_neutral or f.label != NEUTRAL]
    corrected = {text for text, _ in used}
    kept = [(text, label) for text, label in data if text not in corrected]
    return kept + used, len(feedback) - len(used)


def run_train(args: argparse.Namespace) -> int:
    from nlp.sentiment import TrainOptions, train_model

    if not args.data and not args.with_feedback:
        raise UserError("nothing to train on: give --data CSV and/or --with-feedback")
    if args.workspace and not args.with_feedback:
        raise UserError("--workspace only applies with --with-feedback")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"output directory does not exist: {out.parent}")
    data = read_samples(args.data, args.text_column, args.label_column) if args.data else []
    feedback = _feedback(args) if args.with_feedback else []
    if args.with_feedback and not feedback:
        print("no sentiment corrections in the database yet", file=sys.stderr)
    samples, neutral_left_out = training_samples(data, feedback)
    if not samples:
        raise UserError("nothing to train on: no labelled rows and no corrections")
    meta: dict[str, object] = {"trained_on": Path(args.data).name if args.data else "feedback"}
    if args.with_feedback:
        meta["feedback_corrections"] = len(feedback) - neutral_left_out
    with Progress("preparing", total=len(samples)) as progress:
        try:
            model = train_model(
                samples,
                options=TrainOptions(kind=args.kind),
                meta=meta,
                progress=lambda i: progress.advance() if i else None,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
    model.save(out)
    lo, hi = model.neutral_band
    used = f", {meta['feedback_corrections']} of them bot corrections" if args.with_feedback else ""
    print(
        f"trained {model.kind} model on {model.meta['samples']} rows{used} "
        f"({model.meta['skipped_non_chinese']} non-Chinese skipped), {len(model.vocabulary)} features, "
        f"neutral band {lo:.2f}-{hi:.2f}; wrote {out}"
    )
    if neutral_left_out:
        print(
            f"{neutral_left_out} neutral corrections left out: the data is two-class, so the model "
            "calls posts neutral through its calibrated band",
            file=sys.stderr,
        )
    return 0


FEEDBACK_FIELDS = ("text", "label", "corrections", "disagreeing", "platform", "post_id", "corrected_at")


def run_feedback(args: argparse.Namespace) -> int:
    from kolwatch.context import open_output

    samples = _feedback(args)
    out = open_output(Path(args.out), "--out") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=FEEDBACK_FIELDS, lineterminator="\n")
        writer.writeheader()
        for sample in samples:
            writer.writerow(
                {
                    "text": sample.text,
                    "label": sample.label,
                    "corrections": sample.corrections,
                    "disagreeing": sample.disagreeing,
                    "platform": sample.platform,
                    "post_id": sample.post_id,
                    "corrected_at": sample.corrected_at.isoformat(),
                }
            )
    finally:
        if out is not sys.stdout:
            out.close()
    if args.out:
        print(f"wrote {len(samples)} corrections to {args.out}", file=sys.stderr)
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
